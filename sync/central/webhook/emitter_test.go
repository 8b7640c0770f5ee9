package webhook

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/protocol"
)

// devicePayload is a payload captured from a real `kyc verify` (the
// console's testdata), with its session id set.
func devicePayload(t testing.TB, session string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "console", "testdata", "payload_device.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["session_id"] = session
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// personalStrings are the payload's document strings (names, numbers,
// dates), which no event may carry.
func personalStrings(t testing.TB, payload []byte) []string {
	t.Helper()
	var m struct {
		Report struct {
			Document any `json:"document"`
		} `json:"report"`
	}
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		case string:
			if len(v) >= 4 {
				out = append(out, v)
			}
		}
	}
	walk(m.Report.Document)
	if len(out) == 0 {
		t.Fatal("the payload has no document strings to look for")
	}
	return out
}

// enrol records a device of branch.
func enrol(t testing.TB, st central.Store, id, branch string) {
	t.Helper()
	ctx := context.Background()
	h := sha256.Sum256([]byte("token-" + id))
	now := time.Now().UTC()
	if err := st.CreateEnrollToken(ctx, central.EnrollToken{Hash: h, CreatedAt: now, ExpiresAt: now.Add(time.Hour), Branch: branch}); err != nil {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	if err := st.Enroll(ctx, h, central.Device{ID: id, PublicKey: pub, Branch: branch, EnrolledAt: now}); err != nil {
		t.Fatal(err)
	}
}

// storeSubmission stores a complete submission (no images: complete at
// once, as central's ingest stores one) and returns its ref.
func storeSubmission(t testing.TB, st central.Store, device, id string, pl []byte) central.SubmissionRef {
	t.Helper()
	return storeSubmissionCreated(t, st, device, id, pl, time.Now().UTC().Add(-time.Minute))
}

// storeSubmissionCreated is storeSubmission for a capture the device dated
// created.
func storeSubmissionCreated(t testing.TB, st central.Store, device, id string, pl []byte, created time.Time) central.SubmissionRef {
	t.Helper()
	now := time.Now().UTC()
	sum := central.Summarize(pl)
	key := protocol.SubmissionKey(id)
	sub := central.Submission{DeviceID: device, Key: key, ID: id, ManifestHash: []byte(id), CreatedAt: created.UTC(),
		ReceivedAt: now, Verdict: "ok", AttestationFresh: true, Payload: pl, Summary: &sum}
	if _, _, err := st.BeginSubmission(context.Background(), sub); err != nil {
		t.Fatal(err)
	}
	return central.SubmissionRef{DeviceID: device, Key: key}
}

// decide records a reviewer's final decision.
func decide(t testing.TB, st central.Store, ref central.SubmissionRef, outcome string) {
	t.Helper()
	_, err := st.UpdateReview(context.Background(), ref, func(c central.Case) (central.Review, central.AuditEvent, error) {
		now := time.Now().UTC()
		rv := c.Review
		rv.State, rv.Outcome, rv.DecidedBy, rv.DecidedAt = central.ReviewDecided, outcome, "ana", now
		if outcome == central.OutcomeReject {
			rv.Reason = "document_expired"
		}
		return rv, central.AuditEvent{ID: "decide-" + c.ID + outcome, At: now, Actor: "user:ana", Action: "case.decide",
			Subject: "case:" + c.Ref.DeviceID + "/" + c.Ref.Key}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func newEmitter(t testing.TB, st EmitterStore, notify func()) *Emitter {
	t.Helper()
	e, err := NewEmitter(EmitterConfig{Store: st, Notify: notify})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func runEmitter(t testing.TB, e *Emitter, want int) {
	t.Helper()
	n, err := e.RunOnce(context.Background())
	if err != nil || n != want {
		t.Fatalf("RunOnce = %d, %v; want %d events", n, err, want)
	}
}

// allowedData are the only keys an event's data may have.
var allowedData = map[string]bool{"session_id": true, "partner_user_id": true, "partner_user_id_type": true, "status": true,
	"next_action": true, "error_code": true, "attempts": true, "decision": true, "score": true, "reason_codes": true,
	"attempt": true, "review": true}

func decodeBody(t testing.TB, ev central.WebhookEvent) (Body, map[string]any) {
	t.Helper()
	var b Body
	var raw struct {
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(ev.Payload, &b); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(ev.Payload, &raw); err != nil {
		t.Fatal(err)
	}
	for k := range raw.Data {
		if !allowedData[k] {
			t.Errorf("event data carries %q", k)
		}
	}
	return b, raw.Data
}

func TestEmitterKioskSessions(t *testing.T) {
	eachStore(t, func(t *testing.T, st central.Store) {
		ctx := context.Background()
		notified := 0
		e := newEmitter(t, st, func() { notified++ })
		runEmitter(t, e, 0) // no partner, nothing at all

		addPartner(t, st, "p1", "", []string{"JKT-Selatan"})
		addPartner(t, st, "p2", "", []string{"BDG"})
		enrol(t, st, "dev-a", "JKT-Selatan")
		enrol(t, st, "dev-x", "Surabaya") // a branch nobody owns
		pl := devicePayload(t, "sess-1")
		ref := storeSubmission(t, st, "dev-a", "sub-1", pl)
		storeSubmission(t, st, "dev-x", "sub-x", devicePayload(t, "sess-x"))

		runEmitter(t, e, 1)
		if notified != 1 {
			t.Fatalf("worker notified %d times", notified)
		}
		evs, err := st.Events(ctx, "", 0, 100)
		if err != nil || len(evs) != 1 {
			t.Fatalf("events %+v, %v", evs, err)
		}
		ev := evs[0]
		if ev.PartnerID != "p1" || ev.SessionID != "sess-1" || ev.Type != central.EventSubmissionCompleted || !strings.HasPrefix(ev.ID, "evt_") {
			t.Fatalf("event %+v", ev)
		}
		body, _ := decodeBody(t, ev)
		sum := central.Summarize(pl)
		if body.Type != ev.Type || body.Data.SessionID != "sess-1" || body.Data.Status != central.FlowCompleted ||
			body.Data.Decision != sum.Decision || body.Data.Score == nil || *body.Data.Score != sum.Score ||
			body.Data.NextAction != sum.NextAction || len(body.Data.ReasonCodes) == 0 || body.Data.Attempts != 1 ||
			body.Data.PartnerUserID != "dev-a" || body.Data.PartnerUserIDType != KioskUserIDType {
			t.Fatalf("body %+v", body)
		}
		for _, s := range personalStrings(t, pl) {
			if strings.Contains(string(ev.Payload), s) {
				t.Errorf("the event carries the document's %q", s)
			}
		}
		f, err := st.Flow(ctx, "p1", "sess-1")
		if err != nil || f.Status != central.FlowCompleted || len(f.Submissions) != 1 || f.Submissions[0] != ref || f.NextAction != sum.NextAction {
			t.Fatalf("flow %+v, %v", f, err)
		}
		if _, err := st.Flow(ctx, "p2", "sess-1"); err == nil {
			t.Fatal("another partner has the session")
		}

		// A pass repeated from the start (central stopped before the cursor
		// moved) adds nothing.
		if err := st.PutCursor(ctx, CursorCompleted, 0); err != nil {
			t.Fatal(err)
		}
		runEmitter(t, e, 0)

		// A reviewer's decisions: claimed (nothing), then decided.
		if _, err := st.UpdateReview(ctx, ref, func(c central.Case) (central.Review, central.AuditEvent, error) {
			rv := c.Review
			rv.State, rv.Assignee = central.ReviewClaimed, "ana"
			return rv, central.AuditEvent{ID: "claim", At: time.Now().UTC(), Actor: "user:ana", Action: "case.claim"}, nil
		}); err != nil {
			t.Fatal(err)
		}
		runEmitter(t, e, 0)
		decide(t, st, ref, central.OutcomeReject)
		runEmitter(t, e, 1)
		decide(t, st, ref, central.OutcomeResubmit)
		runEmitter(t, e, 1)
		if err := st.PutCursor(ctx, CursorReviews, 0); err != nil {
			t.Fatal(err)
		}
		// The log holds each review once, at its last change: the resubmission
		// again, counted as written and skipped by the store as known.
		runEmitter(t, e, 1)
		evs, _ = st.Events(ctx, "p1", 0, 100)
		var types []string
		for _, ev := range evs {
			types = append(types, ev.Type)
		}
		if strings.Join(types, " ") != "submission.completed decision.changed resubmission.requested" {
			t.Fatalf("events %v", types)
		}
		dc, _ := decodeBody(t, evs[1])
		if dc.Data.Decision != central.OutcomeReject || dc.Data.Review == nil || dc.Data.Review.Outcome != central.OutcomeReject ||
			dc.Data.Review.Reason != "document_expired" || dc.Data.Review.EngineDecision != sum.Decision || dc.Data.NextAction != NextExit {
			t.Fatalf("decision.changed %+v", dc.Data)
		}
		rs, _ := decodeBody(t, evs[2])
		if rs.Data.Decision != central.OutcomeResubmit || rs.Data.NextAction != NextRetry {
			t.Fatalf("resubmission.requested %+v", rs.Data)
		}
		if f, _ := st.Flow(ctx, "p1", "sess-1"); f.NextAction != NextRetry {
			t.Fatalf("flow after resubmission %+v", f)
		}

		// The device's second attempt in the same session.
		storeSubmission(t, st, "dev-a", "sub-2", devicePayload(t, "sess-1"))
		runEmitter(t, e, 1)
		if f, _ := st.Flow(ctx, "p1", "sess-1"); len(f.Submissions) != 2 || f.Attempts != 2 {
			t.Fatalf("flow after a second attempt %+v", f)
		}

		// A kiosk whose clock reads 2000-01-01: the session the partner
		// sees was created when central received the capture, by central's
		// clock, not when the device claims.
		before := time.Now().UTC()
		storeSubmissionCreated(t, st, "dev-a", "sub-cmos", devicePayload(t, "sess-cmos"), time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))
		runEmitter(t, e, 1)
		if f, err := st.Flow(ctx, "p1", "sess-cmos"); err != nil || f.CreatedAt.Before(before.Add(-time.Second)) {
			t.Fatalf("the session of a capture dated 2000 was created at %v (%v), want central's receipt", f.CreatedAt, err)
		}
	})
}

// TestEmitterKioskSessionsOnlyTheirOwn: a kiosk's submission whose session
// id (chosen by the device) is that of one of its partner's own sessions,
// initiated for a customer, is not taken as that customer's result: the
// session gets neither the submission nor the reviewer's decision on it,
// and the partner no event saying so.
func TestEmitterKioskSessionsOnlyTheirOwn(t *testing.T) {
	eachStore(t, func(t *testing.T, st central.Store) {
		ctx := context.Background()
		e := newEmitter(t, st, nil)
		addPartner(t, st, "p1", "", []string{"JKT-Selatan"})
		enrol(t, st, "dev-a", "JKT-Selatan")
		now := time.Now().UTC()
		if err := st.CreateFlow(ctx, central.FlowSession{ID: "acme-onb-1", PartnerID: "p1", UserID: "cust-1", UserIDType: "customer_id",
			Config: json.RawMessage(`{}`), Status: central.FlowCreated, CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		ref := storeSubmission(t, st, "dev-a", "sub-1", devicePayload(t, "acme-onb-1"))
		runEmitter(t, e, 0)
		decide(t, st, ref, central.OutcomeApprove)
		runEmitter(t, e, 0)
		f, err := st.Flow(ctx, "p1", "acme-onb-1")
		if err != nil || f.Status != central.FlowCreated || len(f.Submissions) != 0 || f.NextAction != "" || f.UserID != "cust-1" {
			t.Errorf("the customer's session after the kiosk's submission: %+v, %v", f, err)
		}
		if evs, err := st.Events(ctx, "p1", 0, 100); err != nil || len(evs) != 0 {
			t.Errorf("events %+v, %v", evs, err)
		}
	})
}

func TestEmitterExpiresSessions(t *testing.T) {
	eachStore(t, func(t *testing.T, st central.Store) {
		ctx := context.Background()
		addPartner(t, st, "p1", "", nil)
		now := time.Now().UTC()
		for _, f := range []central.FlowSession{
			{ID: "ses_old", PartnerID: "p1", UserID: "u-42", UserIDType: "customer_id", Config: json.RawMessage(`{}`), Status: central.FlowCreated,
				CreatedAt: now.Add(-2 * time.Hour), UpdatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)},
			{ID: "ses_live", PartnerID: "p1", Config: json.RawMessage(`{}`), Status: central.FlowInProgress,
				CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(time.Hour)},
			{ID: "ses_done", PartnerID: "p1", Config: json.RawMessage(`{}`), Status: central.FlowCompleted,
				CreatedAt: now.Add(-2 * time.Hour), UpdatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)},
		} {
			if err := st.CreateFlow(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
		e := newEmitter(t, st, nil)
		runEmitter(t, e, 1)
		runEmitter(t, e, 0)
		evs, _ := st.Events(ctx, "p1", 0, 10)
		if len(evs) != 1 || evs[0].Type != central.EventSessionExpired || evs[0].SessionID != "ses_old" {
			t.Fatalf("events %+v", evs)
		}
		b, _ := decodeBody(t, evs[0])
		if b.Data.Status != central.FlowExpired || b.Data.PartnerUserID != "u-42" || b.Data.PartnerUserIDType != "customer_id" {
			t.Fatalf("session.expired %+v", b.Data)
		}
		if f, _ := st.Flow(ctx, "p1", "ses_old"); f.Status != central.FlowExpired {
			t.Fatalf("flow %+v", f)
		}
	})
}

// TestEmitterKeepsToDeviceSessions: a device names its session in its own
// payload, so the session id is the device's claim. Its submission joins
// only a kiosk session of that device: naming another device's session,
// or a hosted session of the partner (whose id a kiosk's hand-off is told),
// changes neither and emits nothing, so no device marks someone else's
// session completed with a decision of its own making, nor sends the
// partner a decision for it.
func TestEmitterKeepsToDeviceSessions(t *testing.T) {
	eachStore(t, func(t *testing.T, st central.Store) {
		ctx := context.Background()
		e := newEmitter(t, st, nil)
		addPartner(t, st, "p1", "", []string{"JKT-Selatan"})
		enrol(t, st, "dev-a", "JKT-Selatan")
		enrol(t, st, "dev-b", "JKT-Selatan")
		now := time.Now().UTC()
		hosted := central.FlowSession{ID: "ses-hosted", PartnerID: "p1", UserID: "cust-1", UserIDType: "user_id", Config: json.RawMessage(`{}`),
			Status: central.FlowInProgress, CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(time.Hour),
			Hosted: &central.HostedFlow{Stage: "document"}}
		// A hand-off's hosted session that says it is dev-b's kiosk session.
		handoff := hosted
		handoff.ID, handoff.UserID, handoff.UserIDType = "ses-handoff", "dev-b", KioskUserIDType
		for _, f := range []central.FlowSession{hosted, handoff} {
			if err := st.CreateFlow(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
		own := storeSubmission(t, st, "dev-a", "sub-a", devicePayload(t, "sess-a"))
		runEmitter(t, e, 1)

		for _, tc := range []struct{ name, id, session string }{
			{"another device's kiosk session", "sub-b1", "sess-a"},
			{"a hosted session of the partner", "sub-b2", "ses-hosted"},
			{"a hosted session naming the device", "sub-b3", "ses-handoff"},
		} {
			ref := storeSubmission(t, st, "dev-b", tc.id, devicePayload(t, tc.session))
			if n, err := e.RunOnce(ctx); err != nil || n != 0 {
				t.Errorf("%s: RunOnce = %d, %v; want no event", tc.name, n, err)
			}
			decide(t, st, ref, central.OutcomeApprove)
			if n, err := e.RunOnce(ctx); err != nil || n != 0 {
				t.Errorf("%s, approved by a reviewer: RunOnce = %d, %v; want no event", tc.name, n, err)
			}
		}
		if f, err := st.Flow(ctx, "p1", "sess-a"); err != nil || len(f.Submissions) != 1 || f.Submissions[0] != own {
			t.Errorf("dev-a's session %+v, %v; want its own submission alone", f, err)
		}
		for _, id := range []string{"ses-hosted", "ses-handoff"} {
			if f, err := st.Flow(ctx, "p1", id); err != nil || len(f.Submissions) != 0 || f.Status != central.FlowInProgress || f.NextAction != "" {
				t.Errorf("the hosted session %s %+v, %v; want it untouched", id, f, err)
			}
		}
		evs, err := st.Events(ctx, "p1", 0, 100)
		var got []string
		for _, ev := range evs {
			got = append(got, ev.SessionID+" "+ev.Type)
		}
		if err != nil || len(evs) != 1 || evs[0].SessionID != "sess-a" {
			t.Errorf("events %v, %v; want dev-a's one", got, err)
		}
	})
}

// TestEmitterHostedReview: a reviewer's final decision on an attempt of a
// session the partner initiated (stored by the hosted flow under a hosted
// pseudo-device) reaches the partner as decision.changed or
// resubmission.requested, next action EXIT: the session is over. A hand-off
// of a kiosk no partner owns, and an attempt its session does not list,
// tell nobody.
func TestEmitterHostedReview(t *testing.T) {
	eachStore(t, func(t *testing.T, st central.Store) {
		ctx := context.Background()
		e := newEmitter(t, st, nil)
		addPartner(t, st, "p1", "", nil)
		now := time.Now().UTC()
		hosted := func(partner, session string, attempt int, listed bool) central.SubmissionRef {
			t.Helper()
			ref := storeSubmission(t, st, central.HostedDevice(""), fmt.Sprintf("%s:%s-%d", partner, session, attempt), devicePayload(t, session))
			fs := central.FlowSession{ID: session, PartnerID: partner, UserID: "cust-" + session, UserIDType: "customer_id",
				Config: json.RawMessage(`{}`), Status: central.FlowCompleted, NextAction: "STATUS", Attempts: attempt,
				CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(time.Hour), Hosted: &central.HostedFlow{Stage: "result"}}
			if listed {
				fs.Submissions = []central.SubmissionRef{ref}
			}
			if err := st.CreateFlow(ctx, fs); err != nil {
				t.Fatal(err)
			}
			return ref
		}
		approved := hosted("p1", "onb-1", 1, true)
		resubmit := hosted("p1", "onb-2", 2, true)
		unlisted := hosted("p1", "onb-3", 1, false)
		kiosk := hosted(central.KioskPartner, "kiosk-1", 1, true)
		runEmitter(t, e, 0) // hosted submissions: the hosted flow wrote their completion

		decide(t, st, approved, central.OutcomeApprove)
		decide(t, st, unlisted, central.OutcomeApprove)
		decide(t, st, kiosk, central.OutcomeApprove)
		runEmitter(t, e, 1)
		decide(t, st, resubmit, central.OutcomeResubmit)
		runEmitter(t, e, 1)
		if err := st.PutCursor(ctx, CursorReviews, 0); err != nil {
			t.Fatal(err)
		}
		runEmitter(t, e, 2) // written again, skipped by the store as known

		evs, err := st.Events(ctx, "", 0, 100)
		if err != nil || len(evs) != 2 {
			t.Fatalf("events %+v, %v; want the two of p1's listed sessions", evs, err)
		}
		for i, want := range []struct{ session, typ, decision string }{
			{"onb-1", central.EventDecisionChanged, central.OutcomeApprove},
			{"onb-2", central.EventResubmission, central.OutcomeResubmit},
		} {
			ev := evs[i]
			b, _ := decodeBody(t, ev)
			if ev.PartnerID != "p1" || ev.SessionID != want.session || ev.Type != want.typ || b.Data.Decision != want.decision ||
				b.Data.NextAction != NextExit || b.Data.Review == nil || b.Data.Review.Outcome != want.decision ||
				b.Data.Review.EngineDecision == "" || b.Data.PartnerUserID != "cust-"+want.session {
				t.Errorf("event %d: %+v %+v", i, ev, b.Data)
			}
			if f, err := st.Flow(ctx, "p1", want.session); err != nil || f.NextAction != NextExit || f.Status != central.FlowCompleted {
				t.Errorf("session %s after the review: %+v, %v", want.session, f, err)
			}
		}
	})
}

// TestEmitterReviewsPastAPage: more review changes between two passes
// than one read takes (DefaultBatch), with a case confirmed and then an
// override proposed over it among them: the log keeps the case once, at
// the proposal, after the first page, and the confirmed decision the
// proposal holds aside was made final before that page ended. It is
// told all the same, once.
func TestEmitterReviewsPastAPage(t *testing.T) {
	eachStore(t, func(t *testing.T, st central.Store) {
		ctx := context.Background()
		e := newEmitter(t, st, nil)
		addPartner(t, st, "p1", "", []string{"JKT-Selatan"})
		enrol(t, st, "dev-a", "JKT-Selatan")
		enrol(t, st, "dev-x", "Surabaya") // a branch nobody owns: no events
		ref := storeSubmission(t, st, "dev-a", "sub-1", devicePayload(t, "sess-1"))
		var others []central.SubmissionRef
		for i := range DefaultBatch {
			others = append(others, storeSubmission(t, st, "dev-x", fmt.Sprint("sub-x", i), devicePayload(t, fmt.Sprint("sess-x", i))))
		}
		runEmitter(t, e, 1) // sub-1's submission.completed

		decide(t, st, ref, central.OutcomeApprove)
		for _, o := range others {
			decide(t, st, o, central.OutcomeReject)
		}
		if _, err := st.UpdateReview(ctx, ref, func(c central.Case) (central.Review, central.AuditEvent, error) {
			in, _ := c.Review.InForce()
			rv := c.Review
			rv.State, rv.Outcome, rv.Assignee, rv.Standing = central.ReviewOverride, central.OutcomeReject, "bo", &in
			return rv, central.AuditEvent{ID: "override", At: time.Now().UTC(), Actor: "user:bo", Action: "case.override"}, nil
		}); err != nil {
			t.Fatal(err)
		}
		runEmitter(t, e, 1)
		runEmitter(t, e, 0)
		evs, err := st.Events(ctx, "p1", 0, 100)
		if err != nil || len(evs) != 2 || evs[1].Type != central.EventDecisionChanged {
			t.Fatalf("events %+v, %v; want submission.completed, decision.changed", evs, err)
		}
		if b, _ := decodeBody(t, evs[1]); b.Data.Decision != central.OutcomeApprove {
			t.Errorf("decision.changed %+v; want the confirmed approve", b.Data)
		}
	})
}
