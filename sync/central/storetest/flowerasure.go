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

// testEraseFlowsTraces: erasure reaches what else names the person. The
// session's Config URLs keep only their origins (the partner's user id
// rides in paths and queries), the rest of the Config stays; its events'
// attempts lose the receiver's answer (it may echo the payload) and keep
// status, time and latency, and a transport error (central's words);
// the Idempotency-Key answer of its Initiate Flow is dropped (a retry
// runs again), while other sessions' answers and answers naming no
// session stay.
func testEraseFlowsTraces(t *testing.T, s central.Store) {
	ctx := context.Background()
	ref := central.SubmissionRef{DeviceID: "d1", Key: "k1"}
	mine, other := flow("pa", "s1", t0.Add(time.Hour)), flow("pa", "s2", t0.Add(time.Hour))
	mine.Config = json.RawMessage(`{"liveness_type":"passive","max_retries":3,"callback_url":"https://shop.example/cb?user=siti%40example.com","redirect_url":"https://Shop.example:8443/u/siti/done#x"}`)
	for _, f := range []central.FlowSession{mine, other} {
		if err := s.CreateFlow(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	answer := func(session string) []byte {
		return []byte(`{"session_id":"` + session + `","status":"CREATED","config":{"callback_url":"https://shop.example/cb?user=siti%40example.com"}}`)
	}
	idem := func(key, body string) (ran bool) {
		t.Helper()
		st, _, replayed, err := s.Idempotent(ctx, "pa", key, hash(key), t0, func() (int, []byte, error) { return 201, []byte(body), nil })
		if err != nil || st != 201 {
			t.Fatalf("Idempotent(%s) = %d, %v", key, st, err)
		}
		return !replayed
	}
	keys := map[string]string{"flows:1": string(answer("s1")), "flows:2": string(answer("s2")), "face-match:1": `{"match":true,"similarity":0.91}`}
	for k, body := range keys {
		idem(k, body)
	}
	_, err := s.UpdateFlow(ctx, "pa", "s1", func(f *central.FlowSession) ([]central.WebhookEvent, error) {
		f.Submissions, f.Status = append(f.Submissions, ref), central.FlowCompleted
		return []central.WebhookEvent{event("e1", "pa", "s1", t0)}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvents(ctx, []central.WebhookEvent{event("e2", "pa", "s2", t0)}); err != nil {
		t.Fatal(err)
	}
	echo := `{"received":{"partner_user_id":"siti@example.com"}}`
	for _, a := range []central.DeliveryAttempt{
		{EventID: "e1", At: t0, Status: 0, LatencyMS: 3, Excerpt: "dial tcp 192.0.2.1:443: connection refused"},
		{EventID: "e1", At: t0.Add(time.Minute), Status: 200, LatencyMS: 7, Excerpt: echo},
		{EventID: "e2", At: t0, Status: 200, LatencyMS: 7, Excerpt: echo},
	} {
		if err := s.RecordAttempt(ctx, a, a.Status == 200, t0.Add(time.Hour), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}

	if _, _, err := s.EraseFlows(ctx, ref, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Flow(ctx, "pa", "s1")
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(got.Config, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg["callback_url"] != "https://shop.example" || cfg["redirect_url"] != "https://Shop.example:8443" ||
		cfg["liveness_type"] != "passive" || cfg["max_retries"] != float64(3) {
		t.Errorf("erased session's config = %s; want the URLs' origins and the rest kept", got.Config)
	}
	as, err := s.Attempts(ctx, "e1")
	if err != nil || len(as) != 2 {
		t.Fatalf("Attempts(e1) = %+v, %v", as, err)
	}
	if as[0].Excerpt != "dial tcp 192.0.2.1:443: connection refused" || as[1].Excerpt != "" || as[1].Status != 200 ||
		!as[1].At.Equal(t0.Add(time.Minute)) || as[1].LatencyMS != 7 {
		t.Errorf("erased session's attempts = %+v; want the answer's excerpt emptied, the rest kept", as)
	}
	if as, err := s.Attempts(ctx, "e2"); err != nil || len(as) != 1 || as[0].Excerpt != echo {
		t.Errorf("another session's attempts = %+v, %v; want them kept", as, err)
	}
	for k, wantRun := range map[string]bool{"flows:1": true, "flows:2": false, "face-match:1": false} {
		if ran := idem(k, keys[k]); ran != wantRun {
			t.Errorf("after the erasure, Idempotency-Key %s ran again: %v, want %v", k, ran, wantRun)
		}
	}
}

// testEraseFlowsIndex: the sessions of a submission are found however
// they came to hold it (created with it, as a kiosk's session is, or
// given it by an update, several sessions at once), and not once
// retention deleted them.
func testEraseFlowsIndex(t *testing.T, s central.Store) {
	ctx := context.Background()
	ref := central.SubmissionRef{DeviceID: "kiosk-1", Key: "k1"}
	kiosk := flow("pa", "kiosk-s", t0.Add(time.Hour))
	kiosk.Submissions = []central.SubmissionRef{ref}
	hosted, gone := flow("pb", "h1", t0.Add(time.Hour)), flow("pb", "h2", t0.Add(time.Minute))
	for _, f := range []central.FlowSession{kiosk, hosted, gone} {
		if err := s.CreateFlow(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"h1", "h2"} {
		_, err := s.UpdateFlow(ctx, "pb", id, func(f *central.FlowSession) ([]central.WebhookEvent, error) {
			f.Submissions = append(f.Submissions, central.SubmissionRef{DeviceID: "kiosk-1", Key: "k0"}, ref)
			return nil, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.Expire(ctx, central.ExpireFlows, t0.Add(30*time.Minute), t0.Add(30*time.Minute), 10); err != nil || n != 1 {
		t.Fatalf("Expire(flows) = %d, %v; want h2", n, err)
	}
	if flows, _, err := s.EraseFlows(ctx, ref, t0.Add(time.Hour)); err != nil || flows != 2 {
		t.Errorf("EraseFlows = %d sessions, %v; want the kiosk's and h1", flows, err)
	}
	if flows, _, err := s.EraseFlows(ctx, central.SubmissionRef{DeviceID: "kiosk-1", Key: "k"}, t0.Add(time.Hour)); err != nil || flows != 0 {
		t.Errorf("EraseFlows of a key prefixing one held = %d sessions, %v; want none", flows, err)
	}
	for _, id := range []struct{ partner, id string }{{"pa", "kiosk-s"}, {"pb", "h1"}} {
		if f, err := s.Flow(ctx, id.partner, id.id); err != nil || f.ErasedAt.IsZero() {
			t.Errorf("session %s = erased at %v, %v; want erased", id.id, f.ErasedAt, err)
		}
	}
}
