package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// testExpireDecisionScrubsFlows: retention that deletes a submission
// (ExpireDecision) scrubs the partner sessions holding it in the same
// call, as an erasure does (EraseFlows): the user reference, the Config's
// URLs cut to their origins, the events' bodies and their attempts'
// answer excerpts, and the session's Idempotency-Key answers. A session
// holding a submission still kept is left whole.
func testExpireDecisionScrubsFlows(t *testing.T, s central.Store) {
	ctx := context.Background()
	at := t0.Add(400 * 24 * time.Hour)
	old, young := decided("d1", "old", t0, nil), decided("d1", "young", at.Add(-time.Hour), nil)
	upload(t, s, old, nil)
	upload(t, s, young, nil)
	mine, other := flow("pa", "s1", at.Add(time.Hour)), flow("pa", "s2", at.Add(time.Hour))
	mine.UserID = "siti.nurhaliza@example.com"
	mine.Config = json.RawMessage(`{"liveness_type":"passive","callback_url":"https://shop.example/cb?user=siti"}`)
	for _, f := range []central.FlowSession{mine, other} {
		if err := s.CreateFlow(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	personal := json.RawMessage(`{"type":"submission.completed","data":{"session_id":"s1","partner_user_id":"siti.nurhaliza@example.com","status":"COMPLETED","decision":"approve"}}`)
	for id, sub := range map[string]central.Submission{"s1": old, "s2": young} {
		ev := event("e-"+id, "pa", id, t0)
		ev.Payload = personal
		_, err := s.UpdateFlow(ctx, "pa", id, func(f *central.FlowSession) ([]central.WebhookEvent, error) {
			f.Submissions, f.Status = append(f.Submissions, central.SubmissionRef{DeviceID: sub.DeviceID, Key: sub.Key}), central.FlowCompleted
			return []central.WebhookEvent{ev}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		a := central.DeliveryAttempt{EventID: ev.ID, At: t0, Status: 200, Excerpt: `{"echo":"siti"}`}
		if err := s.RecordAttempt(ctx, a, true, time.Time{}, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	idem := func(key, session string) (ran bool) {
		t.Helper()
		body := []byte(`{"session_id":"` + session + `","config":{"callback_url":"https://shop.example/cb?user=siti"}}`)
		_, _, replayed, err := s.Idempotent(ctx, "pa", key, hash(key), at.Add(-time.Hour), func() (int, []byte, error) { return 201, body, nil })
		if err != nil {
			t.Fatalf("Idempotent(%s): %v", key, err)
		}
		return !replayed
	}
	idem("flows:1", "s1")
	idem("flows:2", "s2")

	if n, err := s.Expire(ctx, central.ExpireDecision, at.Add(-365*24*time.Hour), at, 100); err != nil || n != 1 {
		t.Fatalf("Expire(decision) = %d, %v; want 1", n, err)
	}
	if _, err := s.Upload(ctx, old.DeviceID, old.Key); !errors.Is(err, central.ErrNotFound) {
		t.Fatalf("the expired submission = %v, want ErrNotFound", err)
	}
	got, err := s.Flow(ctx, "pa", "s1")
	if err != nil {
		t.Fatal(err)
	}
	if got.UserID != central.ErasedUserID || !got.ErasedAt.Equal(at) || strings.Contains(string(got.Config), "siti") {
		t.Errorf("session of the expired submission = user %q, erased at %v, config %s; want it scrubbed at %v", got.UserID, got.ErasedAt, got.Config, at)
	}
	if got, err := s.Flow(ctx, "pa", "s2"); err != nil || got.UserID != other.UserID || !got.ErasedAt.IsZero() {
		t.Errorf("session of a kept submission = %+v, %v; want it untouched", got, err)
	}
	evs, err := s.Events(ctx, "pa", 0, 10)
	if err != nil || len(evs) != 2 {
		t.Fatalf("Events = %d, %v", len(evs), err)
	}
	for _, ev := range evs {
		scrubbed := !strings.Contains(string(ev.Payload), "siti") && strings.Contains(string(ev.Payload), `"erased":true`)
		if scrubbed != (ev.SessionID == "s1") {
			t.Errorf("event %s of session %s = %s; want it scrubbed only for s1", ev.ID, ev.SessionID, ev.Payload)
		}
		as, err := s.Attempts(ctx, ev.ID)
		if err != nil || len(as) != 1 || (as[0].Excerpt == "") != (ev.SessionID == "s1") {
			t.Errorf("attempts of event %s = %+v, %v; want the excerpt emptied only for s1", ev.ID, as, err)
		}
	}
	for key, wantRun := range map[string]bool{"flows:1": true, "flows:2": false} {
		if ran := idem(key, strings.Replace(key, "flows:", "s", 1)); ran != wantRun {
			t.Errorf("after retention, Idempotency-Key %s ran again: %v, want %v", key, ran, wantRun)
		}
	}
}
