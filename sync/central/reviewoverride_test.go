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

// TestDeviceReviewsOverride: a proposed override (waiting for a second
// user) changes nothing the device sees, and names no one: over the
// engine's decision the case stays open with no outcome; over an earlier
// override the device goes on getting the decision in force.
func TestDeviceReviewsOverride(t *testing.T) {
	now := time.Now()
	decidedAt := now.Add(-time.Hour).UTC().Truncate(time.Second)
	for _, tc := range []struct {
		name     string
		proposal central.Review
		want     protocol.ReviewUpdate
	}{
		{"of the engine's decision", central.Review{State: central.ReviewOverride, Assignee: "alice", Outcome: central.OutcomeReject, Reason: "spoof",
			Note: "alice: replayed screen", DecidedBy: "alice", DecidedAt: now},
			protocol.ReviewUpdate{State: string(central.ReviewOpen)}},
		{"of an override", central.Review{State: central.ReviewOverride, Assignee: "alice", Outcome: central.OutcomeApprove,
			Note: "alice: the customer's appeal holds", DecidedBy: "alice", DecidedAt: now,
			Standing: &central.Standing{Assignee: "carol", Outcome: central.OutcomeReject, Reason: "spoof", DecidedBy: "carol", DecidedAt: decidedAt, SecondBy: "dave"}},
			protocol.ReviewUpdate{State: string(central.ReviewDecided), Outcome: central.OutcomeReject, Reason: "spoof", DecidedAt: decidedAt}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := openBolt(t)
			c := start(t, central.Config{Store: store})
			d := c.enrol(t)
			if resp, e := d.submit(t, "auto-1", d.attestation(t, now, ""), ""); resp.StatusCode != http.StatusOK {
				t.Fatalf("submit: %d %+v", resp.StatusCode, e)
			}
			ref := central.SubmissionRef{DeviceID: d.id.DeviceID(), Key: protocol.SubmissionKey("auto-1")}
			if _, err := store.UpdateReview(context.Background(), ref, func(central.Case) (central.Review, central.AuditEvent, error) {
				return tc.proposal, central.AuditEvent{ID: "ev-auto-1", At: now, Actor: "user:alice", Action: "review.test", Subject: "case:" + ref.DeviceID + "/" + ref.Key}, nil
			}); err != nil {
				t.Fatal(err)
			}
			var page protocol.ReviewUpdates
			if resp, e := d.do(t, http.MethodGet, protocol.ReviewsPath(0), nil, &page); resp.StatusCode != http.StatusOK {
				t.Fatalf("reviews: %d %+v", resp.StatusCode, e)
			}
			raw, _ := json.Marshal(page)
			if len(page.Reviews) != 1 || page.Reviews[0].State != tc.want.State || page.Reviews[0].Outcome != tc.want.Outcome ||
				page.Reviews[0].Reason != tc.want.Reason || !page.Reviews[0].DecidedAt.Equal(tc.want.DecidedAt) ||
				strings.Contains(string(raw), "alice") || strings.Contains(string(raw), "carol") {
				t.Errorf("the device sees the pending override as %s", raw)
			}
		})
	}
}
