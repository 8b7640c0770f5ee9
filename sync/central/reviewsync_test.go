package central_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/protocol"
)

// TestDeviceReviews: GET /v1/reviews answers a signed device its own
// review changes after a sequence number, with the decision and never the
// reviewer's name or note; a malformed cursor or an unsigned request is
// refused.
func TestDeviceReviews(t *testing.T) {
	ctx := context.Background()
	store := openBolt(t)
	c := start(t, central.Config{Store: store})
	d, other := c.enrol(t), c.enrol(t)
	now := time.Now()
	for i, s := range []struct {
		d  *dev
		id string
	}{{d, "mine-1"}, {d, "mine-2"}, {other, "theirs"}} {
		// Each submission needs its own attestation.
		if resp, e := s.d.submit(t, s.id, s.d.attestation(t, now.Add(-time.Duration(i)*time.Second), ""), ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("submit %s: %d %+v", s.id, resp.StatusCode, e)
		}
	}
	decide := func(dv *dev, id string, rv central.Review) {
		t.Helper()
		ref := central.SubmissionRef{DeviceID: dv.id.DeviceID(), Key: protocol.SubmissionKey(id)}
		if _, err := store.UpdateReview(ctx, ref, func(central.Case) (central.Review, central.AuditEvent, error) {
			return rv, central.AuditEvent{ID: "ev-" + id, At: now, Actor: rv.DecidedBy, Action: "review.test", Subject: "case:" + ref.DeviceID + "/" + ref.Key}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	decide(other, "theirs", central.Review{State: central.ReviewDecided, Outcome: central.OutcomeApprove, DecidedBy: "bob", DecidedAt: now})
	decide(d, "mine-1", central.Review{State: central.ReviewDecided, Outcome: central.OutcomeResubmit, Reason: "blurred",
		Note: "ask for a sharper photo", DecidedBy: "alice", DecidedAt: now})
	decide(d, "mine-2", central.Review{State: central.ReviewClaimed, Assignee: "alice", ClaimedAt: now})

	for _, tt := range []struct {
		name   string
		path   string
		status int
		ids    []string
	}{
		{"from the start", protocol.ReviewsPath(0), http.StatusOK, []string{"mine-1", "mine-2"}},
		{"without a cursor", protocol.PathReviews, http.StatusOK, []string{"mine-1", "mine-2"}},
		{"after everything", protocol.ReviewsPath(1 << 40), http.StatusOK, nil},
		{"a word for a cursor", protocol.PathReviews + "?after=yesterday", http.StatusBadRequest, nil},
		{"a negative cursor", protocol.ReviewsPath(-1), http.StatusBadRequest, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var page protocol.ReviewUpdates
			resp, e := d.do(t, http.MethodGet, tt.path, nil, &page)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d %+v, want %d", resp.StatusCode, e, tt.status)
			}
			if tt.status != http.StatusOK {
				return
			}
			var ids []string
			for _, u := range page.Reviews {
				ids = append(ids, u.SubmissionID)
			}
			if strings.Join(ids, ",") != strings.Join(tt.ids, ",") || page.More {
				t.Fatalf("reviews %+v, want %v", page, tt.ids)
			}
			raw, _ := json.Marshal(page)
			for _, secret := range []string{"alice", "bob", "sharper"} {
				if strings.Contains(string(raw), secret) {
					t.Errorf("the answer carries %q: %s", secret, raw)
				}
			}
			for _, u := range page.Reviews {
				switch u.SubmissionID {
				case "mine-1":
					if u.State != "decided" || u.Outcome != central.OutcomeResubmit || u.Reason != "blurred" || u.DecidedAt.IsZero() || u.Seq == 0 {
						t.Errorf("decided review %+v", u)
					}
				case "mine-2":
					if u.State != "claimed" || u.Outcome != "" || !u.DecidedAt.IsZero() {
						t.Errorf("claimed review %+v", u)
					}
				}
			}
		})
	}

	req, err := http.NewRequest(http.MethodGet, c.URL+protocol.ReviewsPath(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp, e := c.send(t, req, nil); resp.StatusCode != http.StatusUnauthorized || e.Code != "unsigned" {
		t.Errorf("unsigned request: %d %+v", resp.StatusCode, e)
	}
}
