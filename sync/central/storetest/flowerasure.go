package storetest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// testEraseFlows: erasing a submission scrubs every session holding it
// (the partner's user reference, the hosted result) and the payload of
// each of its webhook and push events, delivered or still owed; the owed
// one stays due, with the scrubbed body. Other sessions and their events are left.
func testEraseFlows(t *testing.T, s central.Store) {
	ctx := context.Background()
	ref := central.SubmissionRef{DeviceID: "d1", Key: "k1"}
	body := func(user string) json.RawMessage {
		return json.RawMessage(`{"type":"submission.completed","timestamp":"2025-03-01T09:00:00Z","data":{"session_id":"x","partner_user_id":"` +
			user + `","partner_user_id_type":"email","status":"COMPLETED","decision":"approve","score":0.93,"reason_codes":["OK"]}}`)
	}
	mine, other := flow("pa", "s1", t0.Add(time.Hour)), flow("pa", "s2", t0.Add(time.Hour))
	mine.UserID, other.UserID = "siti.nurhaliza@example.com", "budi@example.com"
	for _, f := range []central.FlowSession{mine, other} {
		if err := s.CreateFlow(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	update := func(id string, sub central.SubmissionRef, evs ...central.WebhookEvent) {
		t.Helper()
		_, err := s.UpdateFlow(ctx, "pa", id, func(f *central.FlowSession) ([]central.WebhookEvent, error) {
			f.Submissions, f.Status = append(f.Submissions, sub), central.FlowCompleted
			f.Hosted = &central.HostedFlow{Stage: "result", Decision: "approve", Message: "verified", BrowserHash: hash("browser"), Sums: map[string][]byte{"selfie": hash("selfie")}}
			return evs, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	delivered, owed, kept := event("e1", "pa", "s1", t0), event("e2", "pa", "s1", t0.Add(time.Minute)), event("e3", "pa", "s2", t0)
	delivered.Payload, owed.Payload, kept.Payload = body(mine.UserID), body(mine.UserID), body(other.UserID)
	push := event("e4", "pa", central.PushLane("s1"), t0)
	push.Type, push.Payload = "push.submission", body(mine.UserID)
	update("s1", ref, delivered, owed, push)
	update("s2", central.SubmissionRef{DeviceID: "d1", Key: "k2"}, kept)
	attempt(t, s, "e1", t0.Add(time.Second), true, time.Time{}, time.Time{})

	at := t0.Add(2 * time.Hour)
	for run := range 2 { // a retried erasure scrubs the same again
		if flows, events, err := s.EraseFlows(ctx, ref, at.Add(time.Duration(run)*time.Minute)); err != nil || flows != 1 || events != 3 {
			t.Fatalf("run %d: EraseFlows = %d sessions, %d events, %v; want 1, 3 (two webhooks, one push)", run, flows, events, err)
		}
	}
	got, err := s.Flow(ctx, "pa", "s1")
	if err != nil {
		t.Fatal(err)
	}
	if got.UserID != central.ErasedUserID || !got.ErasedAt.Equal(at) || got.Status != central.FlowCompleted ||
		got.Hosted == nil || got.Hosted.Decision != "" || got.Hosted.Message != "" || got.Hosted.BrowserHash != nil || got.Hosted.Sums != nil || got.Hosted.Stage != "result" {
		t.Errorf("erased session = user %q, erased at %v, status %s, hosted %+v; want the user erased at %v, the status and stage kept, no result",
			got.UserID, got.ErasedAt, got.Status, got.Hosted, at)
	}
	if got, err := s.Flow(ctx, "pa", "s2"); err != nil || got.UserID != other.UserID || !got.ErasedAt.IsZero() {
		t.Errorf("another session = %+v, %v; want it untouched", got, err)
	}
	evs, err := s.Events(ctx, "pa", 0, 10)
	if err != nil || len(evs) != 4 {
		t.Fatalf("Events = %d, %v", len(evs), err)
	}
	for _, ev := range evs {
		p := string(ev.Payload)
		if ev.SessionID == "s2" {
			if p != string(kept.Payload) {
				t.Errorf("event %s of another session changed: %s", ev.ID, p)
			}
			continue
		}
		for _, personal := range []string{"siti", "approve", "0.93", "reason_codes"} {
			if strings.Contains(p, personal) {
				t.Errorf("event %s still holds %q: %s", ev.ID, personal, p)
			}
		}
		if !strings.Contains(p, `"erased":true`) || !strings.Contains(p, `"type":"`+ev.Type+`"`) || !strings.Contains(p, `"status":"COMPLETED"`) {
			t.Errorf("event %s = %s; want its type and status, erased", ev.ID, p)
		}
	}
	due, err := s.DueEvents(ctx, at, 10)
	if err != nil {
		t.Fatal(err)
	}
	var owedDue bool
	for _, ev := range due {
		if ev.ID == "e2" {
			owedDue = strings.Contains(string(ev.Payload), `"erased":true`)
		}
	}
	if !owedDue {
		t.Errorf("the event still owed is not due with its scrubbed body: %+v", due)
	}
	if flows, events, err := s.EraseFlows(ctx, central.SubmissionRef{DeviceID: "d9", Key: "k9"}, at); err != nil || flows != 0 || events != 0 {
		t.Errorf("EraseFlows of a submission no session holds = %d, %d, %v", flows, events, err)
	}
}
