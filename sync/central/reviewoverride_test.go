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

// TestDeviceReviewsOverride: a proposed override of the engine's decision
// (waiting for a second user) reaches the device as an open case with no
// outcome and no name: until confirmed, it changes nothing there.
func TestDeviceReviewsOverride(t *testing.T) {
	store := openBolt(t)
	c := start(t, central.Config{Store: store})
	d := c.enrol(t)
	now := time.Now()
	if resp, e := d.submit(t, "auto-1", d.attestation(t, now, ""), ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("submit: %d %+v", resp.StatusCode, e)
	}
	ref := central.SubmissionRef{DeviceID: d.id.DeviceID(), Key: protocol.SubmissionKey("auto-1")}
	proposal := central.Review{State: central.ReviewOverride, Assignee: "alice", Outcome: central.OutcomeReject, Reason: "spoof",
		Note: "alice: replayed screen", DecidedBy: "alice", DecidedAt: now}
	if _, err := store.UpdateReview(context.Background(), ref, func(central.Case) (central.Review, central.AuditEvent, error) {
		return proposal, central.AuditEvent{ID: "ev-auto-1", At: now, Actor: "user:alice", Action: "review.test", Subject: "case:" + ref.DeviceID + "/" + ref.Key}, nil
	}); err != nil {
		t.Fatal(err)
	}
	var page protocol.ReviewUpdates
	if resp, e := d.do(t, http.MethodGet, protocol.ReviewsPath(0), nil, &page); resp.StatusCode != http.StatusOK {
		t.Fatalf("reviews: %d %+v", resp.StatusCode, e)
	}
	raw, _ := json.Marshal(page)
	if len(page.Reviews) != 1 || page.Reviews[0].State != string(central.ReviewOpen) || page.Reviews[0].Outcome != "" ||
		page.Reviews[0].Reason != "" || strings.Contains(string(raw), "alice") {
		t.Errorf("the device sees the pending override as %s", raw)
	}
}
