package storetest

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/partnerapi"
	"github.com/openkyc/kyc/sync/central/seal"
)

// userA is the partner's user reference of the sealed user tests: an
// e-mail address, as partners send.
const userA = "alice@example.com"

// userBodies are the event bodies of the sealed user tests: a webhook's
// (as the emitter writes it, and spaced, which must read back byte for
// byte) and a push's, whose reference is nested.
func userBodies(user string) (webhook, push json.RawMessage) {
	return json.RawMessage(`{"type":"submission.completed","data":{"session_id":"s1", "partner_user_id" :  "` + user +
			`","partner_user_id_type":"email","status":"COMPLETED"}}`),
		json.RawMessage(`{"type":"kyc.submission","user":{"partner_user_id":"` + user + `","session_id":"s1"},"images":[{"partner_user_id":1}]}`)
}

// storeUserFlow stores, through s, session pa/s1 of userA with a webhook
// event written with its update and a push event appended, and returns
// the events as given.
func storeUserFlow(t *testing.T, s central.Store) []central.WebhookEvent {
	t.Helper()
	ctx := context.Background()
	f := flow("pa", "s1", t0.Add(time.Hour))
	f.UserID = userA
	if err := s.CreateFlow(ctx, f); err != nil {
		t.Fatal(err)
	}
	wh, push := event("e1", "pa", "s1", t0), event("e2", "pa", central.PushLane("s1"), t0)
	wh.Payload, push.Payload = userBodies(userA)
	push.Type = "push.submission"
	_, err := s.UpdateFlow(ctx, "pa", "s1", func(f *central.FlowSession) ([]central.WebhookEvent, error) {
		if f.UserID != userA {
			t.Errorf("UpdateFlow's fn sees user %q, want %q", f.UserID, userA)
		}
		f.Status, f.Submissions = central.FlowCompleted, []central.SubmissionRef{{DeviceID: "d1", Key: "k1"}}
		return []central.WebhookEvent{wh}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvents(ctx, []central.WebhookEvent{push}); err != nil {
		t.Fatal(err)
	}
	// The receiver's answer echoes the reference.
	echo := central.DeliveryAttempt{EventID: "e1", At: t0.Add(time.Second), Status: 200, LatencyMS: 1, Excerpt: userEcho}
	if err := s.RecordAttempt(ctx, echo, true, time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	return []central.WebhookEvent{wh, push}
}

// userEcho is a receiver's answer that echoes userA.
const userEcho = `{"received":{"partner_user_id":"` + userA + `"}}`

// testSealedUser: a session's user reference, its events' bodies and the
// excerpts of their delivery attempts reach the store sealed and read back
// as given through every read (the bodies byte for byte: they are signed
// as stored); a sealed reference moved to
// another session does not open; a kiosk's own session keeps its device
// id clear; rows stored before sealing read as they are; erasure scrubs
// the sealed reference.
func testSealedUser(t *testing.T, e sealedEnv) {
	ctx := context.Background()
	evs := storeUserFlow(t, e.s)

	rawFlow, err := e.raw.Flow(ctx, "pa", "s1")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(rawFlow.UserID, "alice") || rawFlow.UserID == "" {
		t.Errorf("stored user reference = %q, want it sealed", rawFlow.UserID)
	}
	rawEvs, err := e.raw.Events(ctx, "pa", 0, 10)
	if err != nil || len(rawEvs) != 2 {
		t.Fatalf("raw Events = %d, %v; want 2", len(rawEvs), err)
	}
	for _, ev := range rawEvs {
		if bytes.Contains(ev.Payload, []byte("alice")) || !json.Valid(ev.Payload) {
			t.Errorf("stored body of %s = %s, want valid JSON with the user reference sealed", ev.ID, ev.Payload)
		}
	}

	if as, err := e.raw.Attempts(ctx, "e1"); err != nil || len(as) != 1 || strings.Contains(as[0].Excerpt, "alice") {
		t.Errorf("stored attempts = %+v, %v; want one, its excerpt sealed", as, err)
	}
	if as, err := e.s.Attempts(ctx, "e1"); err != nil || len(as) != 1 || as[0].Excerpt != userEcho {
		t.Errorf("Attempts = %+v, %v; want the excerpt %s", as, err, userEcho)
	}
	if h, err := e.s.WebhookHealth(ctx, "pa", 10); err != nil || h.Last.Excerpt != userEcho {
		t.Errorf("WebhookHealth = %+v, %v; want the last excerpt %s", h, err, userEcho)
	}

	byID := map[string]json.RawMessage{}
	for _, ev := range evs {
		byID[ev.ID] = ev.Payload
	}
	checkEvents := func(what string, got []central.WebhookEvent, err error) {
		t.Helper()
		if err != nil || len(got) == 0 {
			t.Fatalf("%s = %d events, %v", what, len(got), err)
		}
		for _, ev := range got {
			if !bytes.Equal(ev.Payload, byID[ev.ID]) {
				t.Errorf("%s: body of %s = %s, want %s", what, ev.ID, ev.Payload, byID[ev.ID])
			}
		}
	}
	got, err := e.s.Events(ctx, "pa", 0, 10)
	checkEvents("Events", got, err)
	got, err = e.s.DueEvents(ctx, t0, 10)
	checkEvents("DueEvents", got, err)
	l, err := e.s.LeaseLane(ctx, central.Lane{PartnerID: "pa", SessionID: central.PushLane("s1")}, t0, time.Minute)
	if !l.Held {
		t.Errorf("LeaseLane = %+v, want the push held", l)
	}
	checkEvents("LeaseLane", []central.WebhookEvent{l.Event}, err)

	open := map[string]func() (central.FlowSession, error){
		"Flow":         func() (central.FlowSession, error) { return e.s.Flow(ctx, "pa", "s1") },
		"FlowByLaunch": func() (central.FlowSession, error) { return e.s.FlowByLaunch(ctx, rawFlow.LaunchHash) },
	}
	for name, fn := range open {
		if f, err := fn(); err != nil || f.UserID != userA {
			t.Errorf("%s = user %q, %v; want %q", name, f.UserID, err, userA)
		}
	}
	open2 := flow("pa", "s2", t0.Add(time.Minute))
	open2.UserID = userA
	if err := e.s.CreateFlow(ctx, open2); err != nil {
		t.Fatal(err)
	}
	if fs, err := e.s.ExpiredFlows(ctx, t0.Add(time.Hour), 10); err != nil || len(fs) != 1 || fs[0].UserID != userA {
		t.Errorf("ExpiredFlows = %+v, %v; want s2 of %q", fs, err, userA)
	}

	// s1's sealed reference moved to s3 does not open.
	moved := flow("pa", "s3", t0.Add(time.Hour))
	moved.UserID = rawFlow.UserID
	if err := e.raw.CreateFlow(ctx, moved); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Flow(ctx, "pa", "s3"); !errors.Is(err, seal.ErrTampered) {
		t.Errorf("Flow with a reference moved from another session: %v, want ErrTampered", err)
	}

	// A kiosk's own session: its reference is the device's id, kept clear.
	kiosk := flow("pa", "k1", t0.Add(time.Hour))
	kiosk.UserID, kiosk.UserIDType = "d1", partnerapi.KioskUserIDType
	if err := e.s.CreateFlow(ctx, kiosk); err != nil {
		t.Fatal(err)
	}
	if f, err := e.raw.Flow(ctx, "pa", "k1"); err != nil || f.UserID != "d1" {
		t.Errorf("kiosk session stored with user %q, %v; want the device id", f.UserID, err)
	}

	// Stored before sealing: read as it is.
	plain := flow("pb", "s1", t0.Add(time.Hour))
	plain.UserID = "bob@example.com"
	plainEv := event("e9", "pb", "s1", t0)
	plainEv.Payload, _ = userBodies(plain.UserID)
	if err := e.raw.CreateFlow(ctx, plain); err != nil {
		t.Fatal(err)
	}
	if err := e.raw.AppendEvents(ctx, []central.WebhookEvent{plainEv}); err != nil {
		t.Fatal(err)
	}
	if f, err := e.s.Flow(ctx, "pb", "s1"); err != nil || f.UserID != plain.UserID {
		t.Errorf("Flow stored clear = user %q, %v; want %q", f.UserID, err, plain.UserID)
	}
	if got, err := e.s.Events(ctx, "pb", 0, 10); err != nil || len(got) != 1 || !bytes.Equal(got[0].Payload, plainEv.Payload) {
		t.Errorf("Events stored clear = %v, %v; want the body as stored", got, err)
	}
	// Updated, a sealed reference is stored as it was, a clear one is
	// sealed.
	for _, c := range []struct {
		partner, user string
		wasSealed     bool
	}{{"pa", userA, true}, {"pb", plain.UserID, false}} {
		before, err := e.raw.Flow(ctx, c.partner, "s1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.UpdateFlow(ctx, c.partner, "s1", func(f *central.FlowSession) ([]central.WebhookEvent, error) {
			f.Attempts++
			return nil, nil
		}); err != nil {
			t.Fatal(err)
		}
		after, err := e.raw.Flow(ctx, c.partner, "s1")
		if err != nil {
			t.Fatal(err)
		}
		if (after.UserID == before.UserID) != c.wasSealed || strings.Contains(after.UserID, "@") {
			t.Errorf("%s/s1 updated: stored user %q, then %q", c.partner, before.UserID, after.UserID)
		}
		if got, err := e.s.Flow(ctx, c.partner, "s1"); err != nil || got.UserID != c.user {
			t.Errorf("%s/s1 updated = user %q, %v; want %q", c.partner, got.UserID, err, c.user)
		}
	}

	// Erasure scrubs the sealed reference.
	if _, _, err := e.s.EraseFlows(ctx, central.SubmissionRef{DeviceID: "d1", Key: "k1"}, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if f, err := e.s.Flow(ctx, "pa", "s1"); err != nil || f.UserID != central.ErasedUserID {
		t.Errorf("erased session = user %q, %v; want %q", f.UserID, err, central.ErasedUserID)
	}
}

// RunSealedUserAtRest stores, through seal.Store over the store open
// returns, a session of user "alice@example.com" with a webhook and a push
// event and an attempt whose answer echoes the address, and checks that dump (every byte the store holds: its file, or
// its tables' rows as text) has the address nowhere, neither as text nor
// in hex (PostgreSQL's text of a bytea), while it has the event's
// type (so dump does see the rows).
func RunSealedUserAtRest(t *testing.T, open func(t *testing.T) central.Store, dump func(t *testing.T, raw central.Store) []byte) {
	raw := open(t)
	t.Cleanup(func() {
		if err := raw.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	storeUserFlow(t, Sealed(func(*testing.T) central.Store { return raw })(t))
	all := dump(t, raw)
	for _, form := range []string{userA, hex.EncodeToString([]byte(userA))} {
		if bytes.Contains(all, []byte(form)) {
			t.Errorf("the store holds %q in clear", form)
		}
	}
	if !bytes.Contains(all, []byte(central.EventSubmissionCompleted)) {
		t.Errorf("the dump (%d bytes) does not hold the event's type: it shows nothing", len(all))
	}
}
