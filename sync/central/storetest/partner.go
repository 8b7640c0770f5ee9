package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// The tests of this file are about what the partner API keeps: partners,
// their tokens, flows and idempotency keys, the webhook events and their
// delivery, and the log of completed submissions the partner API follows.
// They hold for a plain store and one wrapped by seal.Store alike.

func partnerTests() []storeTest {
	return []storeTest{
		{"Partners", testPartners},
		{"PartnerTokens", testPartnerTokens},
		{"Flows", testFlows},
		{"FlowEventsAtomic", testFlowEventsAtomic},
		{"ExpiredFlows", testExpiredFlows},
		{"Idempotent", testIdempotent},
		{"IdempotentConcurrent", testIdempotentConcurrent},
		{"WebhookOrder", testWebhookOrder},
		{"WebhookAttempts", testWebhookAttempts},
		{"WebhookReplay", testWebhookReplay},
		{"WebhookListing", testWebhookListing},
		{"WebhookHeld", testWebhookHeld},
		{"WebhookHeldBefore", testWebhookHeldBefore},
		{"WebhookHealth", testWebhookHealth},
		{"Cursors", testCursors},
		{"Completed", testCompleted},
		{"CompletedConcurrent", testCompletedConcurrent},
		{"ExpirePartnerData", testExpirePartnerData},
		{"EraseFlows", testEraseFlows},
		{"EraseFlowsTraces", testEraseFlowsTraces},
		{"EraseFlowsIndex", testEraseFlowsIndex},
		{"ExpireDecisionScrubsFlows", testExpireDecisionScrubsFlows},
	}
}

// testExpirePartnerData: retention deletes webhook events delivered or
// dead before the cutoff, with their attempts, in batches, and keeps one
// still owed however old; it deletes partner sessions whose life ended
// before the cutoff with their launch and expiry entries.
func testExpirePartnerData(t *testing.T, s central.Store) {
	ctx := context.Background()
	m := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	later := t0.Add(40 * 24 * time.Hour)
	evs := []central.WebhookEvent{event("old-done", "pa", "s1", m(0)), event("old-dead", "pa", "s2", m(1)),
		event("old-owed", "pa", "s3", m(2)), event("old-replayed", "pa", "s5", m(3)), event("new-done", "pa", "s4", later)}
	if err := s.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	// Delivered, then replayed by an admin: owed again.
	attempt(t, s, "old-replayed", m(4), true, time.Time{}, time.Time{})
	if err := s.ReplayEvent(ctx, "old-replayed", m(5)); err != nil {
		t.Fatal(err)
	}
	attempt(t, s, "old-done", m(5), true, time.Time{}, time.Time{})
	attempt(t, s, "old-dead", m(5), false, time.Time{}, m(5))
	attempt(t, s, "old-owed", m(5), false, later.Add(time.Hour), time.Time{})
	attempt(t, s, "new-done", later, true, time.Time{}, time.Time{})
	cutoff, at := t0.Add(30*24*time.Hour), later.Add(time.Hour)
	n1, err := s.Expire(ctx, central.ExpireWebhooks, cutoff, at, 1)
	if err != nil || n1 != 1 {
		t.Fatalf("first batch of events = %d, %v; want 1", n1, err)
	}
	n2, err := s.Expire(ctx, central.ExpireWebhooks, cutoff, at, 10)
	if err != nil || n2 != 1 {
		t.Errorf("second batch of events = %d, %v; want 1", n2, err)
	}
	if n, err := s.Expire(ctx, central.ExpireWebhooks, cutoff, at, 10); err != nil || n != 0 {
		t.Errorf("a third sweep of events = %d, %v; want 0", n, err)
	}
	left, err := s.Events(ctx, "", 0, 100)
	if err != nil || len(left) != 3 || left[0].ID != "old-owed" || left[1].ID != "old-replayed" || left[2].ID != "new-done" {
		t.Errorf("events after retention = %+v, %v; want old-owed, old-replayed and new-done", left, err)
	}
	for _, id := range []string{"old-done", "old-dead"} {
		if atts, err := s.Attempts(ctx, id); len(atts) != 0 || err != nil && !errors.Is(err, central.ErrNotFound) {
			t.Errorf("attempts of the expired event %s = %+v, %v", id, atts, err)
		}
	}
	if atts, err := s.Attempts(ctx, "new-done"); err != nil || len(atts) != 1 {
		t.Errorf("attempts of a kept event = %+v, %v", atts, err)
	}
	if got := dueIDs(t, s, later.Add(2*time.Hour), 10); got != "old-replayed,old-owed" {
		t.Errorf("due after retention = %q, want the events still owed", got)
	}

	old, oldOpen, fresh := flow("pa", "f-old", t0.Add(time.Hour)), flow("pa", "f-old-open", t0.Add(2*time.Hour)), flow("pa", "f-new", later)
	old.Status = central.FlowCompleted
	for _, f := range []central.FlowSession{old, oldOpen, fresh} {
		if err := s.CreateFlow(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.Expire(ctx, central.ExpireFlows, cutoff, at, 10); err != nil || n != 2 {
		t.Errorf("expired sessions = %d, %v; want 2", n, err)
	}
	for _, f := range []central.FlowSession{old, oldOpen} {
		if _, err := s.Flow(ctx, "pa", f.ID); !errors.Is(err, central.ErrNotFound) {
			t.Errorf("session %s after retention: %v", f.ID, err)
		}
		if _, err := s.FlowByLaunch(ctx, f.LaunchHash); !errors.Is(err, central.ErrNotFound) {
			t.Errorf("session %s by its launch after retention: %v", f.ID, err)
		}
	}
	if _, err := s.Flow(ctx, "pa", "f-new"); err != nil {
		t.Errorf("the session still alive: %v", err)
	}
	if open, err := s.ExpiredFlows(ctx, later.Add(time.Hour), 10); err != nil || len(open) != 1 || open[0].ID != "f-new" {
		t.Errorf("expired open sessions after retention = %+v, %v", open, err)
	}
}

func partner(id, client string) central.Partner {
	return central.Partner{ID: id, Name: "Partner " + id, ClientID: client,
		Keys:     []central.PartnerKey{{Hash: "$argon2id$" + id, CreatedAt: t0}},
		Branches: []string{"jakarta-1"},
		Webhook:  central.WebhookEndpoint{URL: "https://" + id + ".example/hook", Secrets: []central.WebhookSecret{{Sealed: []byte{1, 2, 3}, CreatedAt: t0}}},
		Config:   json.RawMessage(`{"rate":10}`), CreatedAt: t0}
}

func samePartner(a, b central.Partner) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

func testPartners(t *testing.T, s central.Store) {
	ctx := context.Background()
	p1, p2 := partner("p1", "client-1"), partner("p0", "client-0")
	for _, p := range []central.Partner{p1, p2} {
		if err := s.CreatePartner(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		p    central.Partner
	}{{"same id", partner("p1", "other")}, {"same client id", partner("p9", "client-0")}} {
		if err := s.CreatePartner(ctx, c.p); !errors.Is(err, central.ErrPartnerExists) {
			t.Errorf("CreatePartner(%s) = %v, want ErrPartnerExists", c.name, err)
		}
	}
	if got, err := s.Partner(ctx, "p1"); err != nil || !samePartner(got, p1) {
		t.Errorf("Partner(p1) = %+v, %v; want %+v", got, err, p1)
	}
	if got, err := s.PartnerByClientID(ctx, "client-0"); err != nil || got.ID != "p0" {
		t.Errorf("PartnerByClientID(client-0) = %+v, %v", got, err)
	}
	for _, err := range []error{
		func() error { _, err := s.Partner(ctx, "nope"); return err }(),
		func() error { _, err := s.PartnerByClientID(ctx, "nope"); return err }(),
		func() error { _, err := s.PartnerByClientID(ctx, "other"); return err }(),
		func() error {
			_, err := s.UpdatePartner(ctx, "nope", func(*central.Partner) error { return nil })
			return err
		}(),
	} {
		if !errors.Is(err, central.ErrNotFound) {
			t.Errorf("unknown partner: %v, want ErrNotFound", err)
		}
	}
	// A change of client id moves the lookup; fn cannot change the id.
	got, err := s.UpdatePartner(ctx, "p1", func(p *central.Partner) error {
		p.ClientID, p.Name, p.ID = "client-1b", "Renamed", "hijack"
		p.Keys = append(p.Keys, central.PartnerKey{Hash: "new", CreatedAt: t0.Add(time.Hour)})
		return nil
	})
	if err != nil || got.ID != "p1" || got.Name != "Renamed" || len(got.Keys) != 2 {
		t.Errorf("UpdatePartner = %+v, %v", got, err)
	}
	if _, err := s.PartnerByClientID(ctx, "client-1"); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("the old client id still finds the partner: %v", err)
	}
	if got, err := s.PartnerByClientID(ctx, "client-1b"); err != nil || got.ID != "p1" || got.Name != "Renamed" {
		t.Errorf("PartnerByClientID(new) = %+v, %v", got, err)
	}
	if _, err := s.Partner(ctx, "hijack"); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("fn changed the partner's id: %v", err)
	}
	// Taking another partner's client id fails and changes nothing; an
	// error from fn is returned as is.
	if _, err := s.UpdatePartner(ctx, "p1", func(p *central.Partner) error { p.ClientID, p.Name = "client-0", "Thief"; return nil }); !errors.Is(err, central.ErrPartnerExists) {
		t.Errorf("UpdatePartner to a taken client id = %v, want ErrPartnerExists", err)
	}
	errMine := errors.New("mine")
	if _, err := s.UpdatePartner(ctx, "p1", func(p *central.Partner) error { p.Name = "Aborted"; return errMine }); err != errMine {
		t.Errorf("UpdatePartner with fn failing = %v, want fn's error", err)
	}
	if got, err := s.Partner(ctx, "p1"); err != nil || got.Name != "Renamed" || got.ClientID != "client-1b" {
		t.Errorf("after failed updates: %+v, %v", got, err)
	}
	list, err := s.PartnersList(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "p0" || list[1].ID != "p1" {
		t.Errorf("PartnersList = %+v, %v; want p0, p1", list, err)
	}
}

func hash(s string) []byte { h := token(s); return h[:] }

func testPartnerTokens(t *testing.T, s central.Store) {
	ctx := context.Background()
	t1 := central.PartnerToken{Hash: hash("t1"), PartnerID: "p1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := s.PutPartnerToken(ctx, t1); err != nil {
		t.Fatal(err)
	}
	byHash := func(h []byte, now time.Time) (string, error) {
		got, err := s.PartnerTokenByHash(ctx, h, now)
		if err != nil {
			return "", err
		}
		if got.PartnerID != "p1" || !got.CreatedAt.Equal(t0) && !got.CreatedAt.Equal(t0.Add(50*time.Minute)) {
			t.Errorf("PartnerTokenByHash = %+v", got)
		}
		return string(got.Hash), nil
	}
	for _, c := range []struct {
		name string
		hash []byte
		now  time.Time
		want error
	}{
		{"valid", t1.Hash, t0.Add(59 * time.Minute), nil},
		{"at expiry", t1.Hash, t0.Add(time.Hour), central.ErrNotFound},
		{"after expiry", t1.Hash, t0.Add(2 * time.Hour), central.ErrNotFound},
		{"unknown", hash("zz"), t0, central.ErrNotFound},
		// The partner API tells an expired token from an unknown one by
		// its own clock: a zero now finds a token whatever its expiry.
		{"zero now", t1.Hash, time.Time{}, nil},
	} {
		if h, err := byHash(c.hash, c.now); !errors.Is(err, c.want) || err == nil && h != string(c.hash) {
			t.Errorf("%s: PartnerTokenByHash = %x, %v; want %v", c.name, h, err, c.want)
		}
	}
	valid := func(partner string, minExpiry time.Time) []byte {
		t.Helper()
		got, err := s.ValidPartnerToken(ctx, partner, minExpiry)
		if errors.Is(err, central.ErrNotFound) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		return got.Hash
	}
	// Reuse: the same token while it stays valid long enough.
	if h := valid("p1", t0.Add(30*time.Minute)); !bytes.Equal(h, t1.Hash) {
		t.Errorf("ValidPartnerToken = %x, want t1", h)
	}
	if h := valid("p1", t0.Add(61*time.Minute)); h != nil {
		t.Errorf("ValidPartnerToken past every expiry = %x, want none", h)
	}
	if h := valid("p2", t0); h != nil {
		t.Errorf("another partner's token handed out: %x", h)
	}
	t2 := central.PartnerToken{Hash: hash("t2"), PartnerID: "p1", CreatedAt: t0.Add(50 * time.Minute), ExpiresAt: t0.Add(110 * time.Minute)}
	if err := s.PutPartnerToken(ctx, t2); err != nil {
		t.Fatal(err)
	}
	if h := valid("p1", t0.Add(55*time.Minute)); !bytes.Equal(h, t2.Hash) {
		t.Errorf("ValidPartnerToken with two valid = %x, want the newest", h)
	}
	if h, err := byHash(t1.Hash, t0.Add(55*time.Minute)); err != nil || h != string(t1.Hash) {
		t.Errorf("the older token stopped working before its expiry: %v", err)
	}
}

func flow(partnerID, id string, expires time.Time) central.FlowSession {
	return central.FlowSession{ID: id, PartnerID: partnerID, UserID: "user-" + id, UserIDType: "email",
		Config: json.RawMessage(`{"liveness_type":"passive"}`), LaunchHash: hash("launch-" + partnerID + id),
		Status: central.FlowCreated, CreatedAt: t0, UpdatedAt: t0, ExpiresAt: expires}
}

func event(id, partnerID, session string, at time.Time) central.WebhookEvent {
	return central.WebhookEvent{ID: id, PartnerID: partnerID, SessionID: session, Type: central.EventSubmissionCompleted,
		Payload: json.RawMessage(`{"type": "submission.completed",  "id":"` + id + `"}`), CreatedAt: at}
}

func testFlows(t *testing.T, s central.Store) {
	ctx := context.Background()
	a, b := flow("pa", "s1", t0.Add(time.Hour)), flow("pb", "s2", t0.Add(time.Hour))
	sameID := flow("pb", "s1", t0.Add(time.Hour))
	for _, f := range []central.FlowSession{a, b, sameID} {
		if err := s.CreateFlow(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateFlow(ctx, flow("pa", "s1", t0)); !errors.Is(err, central.ErrPartnerExists) {
		t.Errorf("CreateFlow twice = %v, want ErrPartnerExists", err)
	}
	got, err := s.Flow(ctx, "pa", "s1")
	if err != nil || got.UserID != "user-s1" || got.Status != central.FlowCreated || !got.ExpiresAt.Equal(a.ExpiresAt) || got.Version != 1 ||
		!json.Valid(got.Config) || !bytes.Equal(got.LaunchHash, a.LaunchHash) {
		t.Errorf("Flow = %+v, %v", got, err)
	}
	// Isolation: a partner never reaches another's session.
	if _, err := s.Flow(ctx, "pa", "s2"); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("Flow of another partner's session = %v, want ErrNotFound", err)
	}
	if _, err := s.UpdateFlow(ctx, "pa", "s2", func(f *central.FlowSession) ([]central.WebhookEvent, error) {
		t.Error("fn ran on another partner's session")
		return nil, nil
	}); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("UpdateFlow of another partner's session = %v, want ErrNotFound", err)
	}
	if got, err := s.Flow(ctx, "pb", "s1"); err != nil || got.PartnerID != "pb" {
		t.Errorf("the same session id under another partner = %+v, %v", got, err)
	}
	if got, err := s.FlowByLaunch(ctx, b.LaunchHash); err != nil || got.PartnerID != "pb" || got.ID != "s2" {
		t.Errorf("FlowByLaunch = %+v, %v", got, err)
	}
	if _, err := s.FlowByLaunch(ctx, hash("nope")); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("FlowByLaunch(unknown) = %v, want ErrNotFound", err)
	}
	// An update with events: the change, its version and the events.
	got, err = s.UpdateFlow(ctx, "pa", "s1", func(f *central.FlowSession) ([]central.WebhookEvent, error) {
		if f.Status != central.FlowCreated || f.Version != 1 {
			t.Errorf("fn got %+v", f)
		}
		f.Status, f.NextAction, f.Attempts, f.UpdatedAt = central.FlowCompleted, "EXIT", 1, t0.Add(time.Minute)
		f.Submissions = []central.SubmissionRef{{DeviceID: "d1", Key: "k1"}}
		f.ID, f.PartnerID = "moved", "pb"
		e := event("evt_1", "", "", t0.Add(time.Minute))
		return []central.WebhookEvent{e}, nil
	})
	if err != nil || got.Version != 2 || got.Status != central.FlowCompleted || got.ID != "s1" || got.PartnerID != "pa" {
		t.Fatalf("UpdateFlow = %+v, %v", got, err)
	}
	if got, err := s.Flow(ctx, "pa", "s1"); err != nil || got.Status != central.FlowCompleted || got.NextAction != "EXIT" ||
		len(got.Submissions) != 1 || got.Submissions[0].Key != "k1" || got.Version != 2 {
		t.Errorf("Flow after update = %+v, %v", got, err)
	}
	evs, err := s.Events(ctx, "pa", 0, 10)
	if err != nil || len(evs) != 1 || evs[0].ID != "evt_1" || evs[0].PartnerID != "pa" || evs[0].SessionID != "s1" || evs[0].Seq <= 0 {
		t.Errorf("the update's events = %+v, %v", evs, err)
	}
}

func testFlowEventsAtomic(t *testing.T, s central.Store) {
	ctx := context.Background()
	if err := s.CreateFlow(ctx, flow("pa", "s1", t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	errMine := errors.New("mine")
	_, err := s.UpdateFlow(ctx, "pa", "s1", func(f *central.FlowSession) ([]central.WebhookEvent, error) {
		f.Status = central.FlowError
		return []central.WebhookEvent{event("evt_x", "pa", "s1", t0)}, errMine
	})
	if err != errMine {
		t.Errorf("UpdateFlow with fn failing = %v, want fn's error", err)
	}
	// An event that cannot be stored (no id) aborts the change too.
	_, err = s.UpdateFlow(ctx, "pa", "s1", func(f *central.FlowSession) ([]central.WebhookEvent, error) {
		f.Status = central.FlowError
		return []central.WebhookEvent{event("evt_y", "pa", "s1", t0), event("", "pa", "s1", t0)}, nil
	})
	if err == nil {
		t.Error("UpdateFlow stored an event without an id")
	}
	if got, err := s.Flow(ctx, "pa", "s1"); err != nil || got.Status != central.FlowCreated || got.Version != 1 {
		t.Errorf("Flow after aborted updates = %+v, %v; want unchanged", got, err)
	}
	if evs, err := s.Events(ctx, "", 0, 10); err != nil || len(evs) != 0 {
		t.Errorf("events of aborted updates stored: %+v, %v", evs, err)
	}
}

func testExpiredFlows(t *testing.T, s central.Store) {
	ctx := context.Background()
	for i, st := range []central.FlowStatus{central.FlowCreated, central.FlowInProgress, central.FlowCompleted, central.FlowError, central.FlowExpired, central.FlowCreated} {
		f := flow("pa", fmt.Sprint("s", i), t0.Add(time.Duration(i)*time.Minute))
		f.Status = st
		if err := s.CreateFlow(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(now time.Time, limit int) string {
		t.Helper()
		fs, err := s.ExpiredFlows(ctx, now, limit)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, f := range fs {
			out = append(out, f.ID)
		}
		return strings.Join(out, ",")
	}
	if got := ids(t0.Add(10*time.Minute), 10); got != "s0,s1,s5" {
		t.Errorf("ExpiredFlows = %s, want s0,s1,s5", got)
	}
	if got := ids(t0.Add(time.Minute), 10); got != "s0" {
		t.Errorf("ExpiredFlows at s1's expiry = %s, want s0 (expiry is strictly before now)", got)
	}
	if got := ids(t0.Add(10*time.Minute), 2); got != "s0,s1" {
		t.Errorf("ExpiredFlows limit 2 = %s", got)
	}
	// Marking one expired (or moving its expiry) takes it off the list.
	if _, err := s.UpdateFlow(ctx, "pa", "s0", func(f *central.FlowSession) ([]central.WebhookEvent, error) {
		f.Status = central.FlowExpired
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateFlow(ctx, "pa", "s1", func(f *central.FlowSession) ([]central.WebhookEvent, error) {
		f.ExpiresAt = t0.Add(time.Hour)
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := ids(t0.Add(10*time.Minute), 10); got != "s5" {
		t.Errorf("ExpiredFlows after updates = %s, want s5", got)
	}
}

// idemFn is an fn for Idempotent counting its runs.
func idemFn(runs *atomic.Int32, status int, body string) func() (int, []byte, error) {
	return func() (int, []byte, error) {
		runs.Add(1)
		return status, []byte(body), nil
	}
}

func testIdempotent(t *testing.T, s central.Store) {
	ctx := context.Background()
	var runs atomic.Int32
	h1, h2 := hash("request-1"), hash("request-2")
	type result struct {
		status   int
		body     string
		replayed bool
		err      error
	}
	call := func(partnerID, key string, h []byte, now time.Time, fn func() (int, []byte, error)) result {
		t.Helper()
		st, body, replayed, err := s.Idempotent(ctx, partnerID, key, h, now, fn)
		return result{st, string(body), replayed, err}
	}
	errMine := errors.New("mine")
	failing := func() (int, []byte, error) { runs.Add(1); return 0, nil, errMine }
	for _, c := range []struct {
		name     string
		partner  string
		key      string
		hash     []byte
		now      time.Time
		fn       func() (int, []byte, error)
		want     result
		wantRuns int32
	}{
		{"fn failing stores nothing", "pa", "k1", h1, t0, failing, result{err: errMine}, 1},
		{"first", "pa", "k1", h1, t0, idemFn(&runs, 201, `{"id":1}`), result{201, `{"id":1}`, false, nil}, 2},
		{"same request replays", "pa", "k1", h1, t0.Add(time.Hour), idemFn(&runs, 500, "x"), result{201, `{"id":1}`, true, nil}, 2},
		{"another request", "pa", "k1", h2, t0.Add(time.Hour), idemFn(&runs, 500, "x"), result{err: central.ErrIdempotency}, 2},
		{"another partner's key", "pb", "k1", h2, t0.Add(time.Hour), idemFn(&runs, 202, "b"), result{202, "b", false, nil}, 3},
		{"another key", "pa", "k2", h2, t0.Add(time.Hour), idemFn(&runs, 203, "c"), result{203, "c", false, nil}, 4},
		{"just before 24 h", "pa", "k1", h1, t0.Add(24*time.Hour - time.Second), idemFn(&runs, 500, "x"), result{201, `{"id":1}`, true, nil}, 4},
		{"after 24 h the key is new", "pa", "k1", h2, t0.Add(24 * time.Hour), idemFn(&runs, 204, "d"), result{204, "d", false, nil}, 5},
		{"and replays the new answer", "pa", "k1", h2, t0.Add(25 * time.Hour), idemFn(&runs, 500, "x"), result{204, "d", true, nil}, 5},
	} {
		got := call(c.partner, c.key, c.hash, c.now, c.fn)
		if got.status != c.want.status || got.body != c.want.body || got.replayed != c.want.replayed || !errors.Is(got.err, c.want.err) {
			t.Errorf("%s: Idempotent = %+v, want %+v", c.name, got, c.want)
		}
		if n := runs.Load(); n != c.wantRuns {
			t.Errorf("%s: fn ran %d times in all, want %d", c.name, n, c.wantRuns)
		}
	}
}

// testIdempotentConcurrent: calls with one key at once run fn once; the
// others get its answer. The first fn holds until every other call has
// been made, so most of them arrive while it runs (whatever the
// interleaving, fn must run once).
func testIdempotentConcurrent(t *testing.T, s central.Store) {
	ctx := context.Background()
	const callers = 6
	var runs atomic.Int32
	entered, release := make(chan struct{}), make(chan struct{})
	fn := func() (int, []byte, error) {
		if runs.Add(1) == 1 {
			close(entered)
			<-release
		}
		return 201, []byte("created"), nil
	}
	type result struct {
		status   int
		body     string
		replayed bool
		err      error
	}
	results := make(chan result, callers)
	run := func() {
		st, body, replayed, err := s.Idempotent(ctx, "pa", "same-key", hash("r"), t0, fn)
		results <- result{st, string(body), replayed, err}
	}
	go run()
	<-entered
	var wg sync.WaitGroup
	for range callers - 1 {
		wg.Go(run)
	}
	close(release)
	wg.Wait()
	replays := 0
	for range callers {
		r := <-results
		if r.err != nil || r.status != 201 || r.body != "created" {
			t.Errorf("concurrent Idempotent = %+v", r)
		}
		if r.replayed {
			replays++
		}
	}
	if n := runs.Load(); n != 1 || replays != callers-1 {
		t.Errorf("fn ran %d times and %d calls replayed; want once and %d", n, replays, callers-1)
	}
}

func dueIDs(t *testing.T, s central.Store, now time.Time, limit int) string {
	t.Helper()
	evs, err := s.DueEvents(context.Background(), now, limit)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, e.ID)
	}
	return strings.Join(out, ",")
}

func attempt(t *testing.T, s central.Store, id string, at time.Time, delivered bool, next, dead time.Time) {
	t.Helper()
	status := 500
	if delivered {
		status = 200
	}
	a := central.DeliveryAttempt{EventID: id, At: at, Status: status, LatencyMS: 12.5, Excerpt: fmt.Sprint("status ", status)}
	if err := s.RecordAttempt(context.Background(), a, delivered, next, dead); err != nil {
		t.Fatal(err)
	}
}

// testWebhookOrder: one event per session at a time, its oldest
// undelivered; a failing session holds back only itself.
func testWebhookOrder(t *testing.T, s central.Store) {
	ctx := context.Background()
	m := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	evs := []central.WebhookEvent{
		event("a1", "pa", "sa", m(0)), event("a2", "pa", "sa", m(1)), event("b1", "pa", "sb", m(2)),
		event("c1", "pb", "sa", m(2)), event("d1", "pb", "sd", m(5)),
	}
	if err := s.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	// Known ids are skipped, not changed.
	again := event("a1", "pa", "sa", m(9))
	again.Payload = json.RawMessage(`{"changed":true}`)
	if err := s.AppendEvents(ctx, []central.WebhookEvent{again}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name  string
		do    func()
		now   time.Time
		limit int
		want  string
	}{
		{"before any", nil, m(0).Add(-time.Nanosecond), 10, ""},
		{"first of each session", nil, m(2), 10, "a1,b1,c1"},
		{"by NextAt then Seq, limited", nil, m(10), 2, "a1,b1"},
		{"all due", nil, m(10), 10, "a1,b1,c1,d1"},
		{"a1 fails: sa waits, the others do not", func() { attempt(t, s, "a1", m(10), false, m(20), time.Time{}) }, m(10), 10, "b1,c1,d1"},
		{"a1 retried after the others", nil, m(20), 10, "b1,c1,d1,a1"},
		{"b1 delivered", func() { attempt(t, s, "b1", m(10), true, time.Time{}, time.Time{}) }, m(20), 10, "c1,d1,a1"},
		{"a1 delivered: a2 next", func() { attempt(t, s, "a1", m(20), true, time.Time{}, time.Time{}) }, m(20), 10, "a2,c1,d1"},
		{"a2 dead", func() { attempt(t, s, "a2", m(21), false, time.Time{}, m(21)) }, m(30), 10, "c1,d1"},
		{"new event of a drained session", func() {
			if err := s.AppendEvents(ctx, []central.WebhookEvent{event("a3", "pa", "sa", m(3))}); err != nil {
				t.Fatal(err)
			}
		}, m(30), 10, "c1,a3,d1"},
	}
	for _, st := range steps {
		if st.do != nil {
			st.do()
		}
		if got := dueIDs(t, s, st.now, st.limit); got != st.want {
			t.Errorf("%s: DueEvents = %s, want %s", st.name, got, st.want)
		}
	}
	all, err := s.Events(ctx, "", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]central.WebhookEvent{}
	for i, e := range all {
		byID[e.ID] = e
		if i > 0 && e.Seq <= all[i-1].Seq {
			t.Errorf("Events not by Seq: %d after %d", e.Seq, all[i-1].Seq)
		}
	}
	if len(all) != 6 {
		t.Errorf("%d events stored, want 6", len(all))
	}
	a1 := byID["a1"]
	if string(a1.Payload) != string(evs[0].Payload) || a1.Attempts != 2 || !a1.DeliveredAt.Equal(m(20)) || !a1.NextAt.IsZero() || !a1.CreatedAt.Equal(m(0)) {
		t.Errorf("a1 = %+v (payload %s)", a1, a1.Payload)
	}
	if a2 := byID["a2"]; !a2.DeadAt.Equal(m(21)) || !a2.DeliveredAt.IsZero() || !a2.NextAt.IsZero() || a2.Attempts != 1 {
		t.Errorf("a2 = %+v", a2)
	}
	if d1 := byID["d1"]; !d1.NextAt.Equal(m(5)) || d1.Attempts != 0 || d1.Type != central.EventSubmissionCompleted || d1.PartnerID != "pb" {
		t.Errorf("d1 = %+v", d1)
	}
}

func testWebhookAttempts(t *testing.T, s central.Store) {
	ctx := context.Background()
	if err := s.AppendEvents(ctx, []central.WebhookEvent{event("e1", "pa", "s1", t0), event("e2", "pa", "s2", t0)}); err != nil {
		t.Fatal(err)
	}
	attempt(t, s, "e1", t0.Add(time.Second), false, t0.Add(time.Minute), time.Time{})
	attempt(t, s, "e1", t0.Add(time.Minute), true, time.Time{}, time.Time{})
	// A late attempt of a delivered event (another worker's) is logged
	// and changes nothing.
	attempt(t, s, "e1", t0.Add(2*time.Minute), false, t0.Add(time.Hour), time.Time{})
	as, err := s.Attempts(ctx, "e1")
	if err != nil || len(as) != 3 {
		t.Fatalf("Attempts = %+v, %v", as, err)
	}
	if a := as[0]; a.EventID != "e1" || !a.At.Equal(t0.Add(time.Second)) || a.Status != 500 || a.LatencyMS != 12.5 || a.Excerpt != "status 500" {
		t.Errorf("first attempt = %+v", a)
	}
	if as[1].Status != 200 || !as[2].At.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("attempts = %+v", as)
	}
	if as, err := s.Attempts(ctx, "e2"); err != nil || len(as) != 0 {
		t.Errorf("Attempts of an event never tried = %+v, %v", as, err)
	}
	evs, err := s.Events(ctx, "pa", 0, 10)
	if err != nil || len(evs) != 2 || !evs[0].DeliveredAt.Equal(t0.Add(time.Minute)) || evs[0].Attempts != 3 {
		t.Errorf("e1 after its attempts = %+v, %v", evs, err)
	}
	if got := dueIDs(t, s, t0.Add(2*time.Hour), 10); got != "e2" {
		t.Errorf("DueEvents = %s, want e2", got)
	}
	for _, err := range []error{
		s.RecordAttempt(ctx, central.DeliveryAttempt{EventID: "nope", At: t0}, true, time.Time{}, time.Time{}),
		s.ReplayEvent(ctx, "nope", t0),
		func() error { _, err := s.Attempts(ctx, "nope"); return err }(),
	} {
		if !errors.Is(err, central.ErrNotFound) {
			t.Errorf("unknown event: %v, want ErrNotFound", err)
		}
	}
}

func testWebhookReplay(t *testing.T, s central.Store) {
	ctx := context.Background()
	m := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	if err := s.AppendEvents(ctx, []central.WebhookEvent{event("e1", "pa", "s1", m(0)), event("e2", "pa", "s1", m(1)), event("e3", "pa", "s2", m(2))}); err != nil {
		t.Fatal(err)
	}
	attempt(t, s, "e1", m(1), true, time.Time{}, time.Time{})
	attempt(t, s, "e3", m(3), false, time.Time{}, m(3))
	if got := dueIDs(t, s, m(10), 10); got != "e2" {
		t.Fatalf("DueEvents = %s, want e2", got)
	}
	// Replaying e1 puts it before e2 again (oldest of its session), due now.
	if err := s.ReplayEvent(ctx, "e1", m(10)); err != nil {
		t.Fatal(err)
	}
	if err := s.ReplayEvent(ctx, "e3", m(11)); err != nil {
		t.Fatal(err)
	}
	if got := dueIDs(t, s, m(10), 10); got != "e1" {
		t.Errorf("DueEvents after replays at 10 = %s, want e1", got)
	}
	if got := dueIDs(t, s, m(11), 10); got != "e1,e3" {
		t.Errorf("DueEvents after replays at 11 = %s, want e1,e3", got)
	}
	evs, err := s.Events(ctx, "pa", 0, 10)
	if err != nil || len(evs) != 3 {
		t.Fatal(evs, err)
	}
	if e := evs[0]; !e.DeliveredAt.IsZero() || !e.NextAt.Equal(m(10)) || e.Attempts != 1 {
		t.Errorf("replayed e1 = %+v", e)
	}
	if e := evs[2]; !e.DeadAt.IsZero() || !e.NextAt.Equal(m(11)) {
		t.Errorf("replayed e3 = %+v", e)
	}
	attempt(t, s, "e1", m(12), true, time.Time{}, time.Time{})
	if got := dueIDs(t, s, m(12), 10); got != "e2,e3" {
		t.Errorf("DueEvents after the replay's delivery = %s, want e2,e3", got)
	}
}

// testWebhookHeld: DueEvents passes over the events of a disabled partner
// (held, their state unchanged) and gives them again, in order, once it is
// enabled; a deleted partner's events stay due.
func testWebhookHeld(t *testing.T, s central.Store) {
	ctx := context.Background()
	m := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	for _, id := range []string{"pa", "pb"} {
		if err := s.CreatePartner(ctx, partner(id, "cli_"+id)); err != nil {
			t.Fatal(err)
		}
	}
	setDisabled := func(id string, disabled bool, at time.Time) {
		t.Helper()
		if _, err := s.UpdatePartner(ctx, id, func(p *central.Partner) error { p.SetDisabled(disabled, at); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	setDisabled("pa", true, m(0))
	if err := s.AppendEvents(ctx, []central.WebhookEvent{
		event("a1", "pa", "s1", m(0)), event("a2", "pa", "s1", m(1)), event("b1", "pb", "s1", m(2)), event("g1", "gone", "s1", m(3)),
	}); err != nil {
		t.Fatal(err)
	}
	if got := dueIDs(t, s, m(10), 10); got != "b1,g1" {
		t.Errorf("DueEvents while pa is disabled = %s, want b1,g1", got)
	}
	// Held events do not use up the limit.
	if got := dueIDs(t, s, m(10), 1); got != "b1" {
		t.Errorf("DueEvents limit 1 while pa is disabled = %s, want b1", got)
	}
	setDisabled("pa", false, m(10))
	if got := dueIDs(t, s, m(10), 10); got != "a1,b1,g1" {
		t.Errorf("DueEvents once pa is enabled = %s, want a1,b1,g1", got)
	}
	// The time disabled is kept, for the held events' MaxAge.
	if p, err := s.Partner(ctx, "pa"); err != nil || p.Disabled || !p.DisabledAt.IsZero() || p.HeldFor != 10*time.Minute {
		t.Errorf("pa once enabled = %+v, %v; want held for 10m", p, err)
	}
	attempt(t, s, "a1", m(11), true, time.Time{}, time.Time{})
	if got := dueIDs(t, s, m(11), 10); got != "a2,b1,g1" {
		t.Errorf("DueEvents after a1 = %s, want a2,b1,g1", got)
	}
	if evs, err := s.Events(ctx, "pa", 0, 10); err != nil || len(evs) != 2 || evs[1].Attempts != 0 || !evs[1].NextAt.Equal(m(1)) {
		t.Errorf("pa's events = %+v, %v", evs, err)
	}
	// A partner created disabled holds the events already there for it.
	late := partner("gone", "cli_gone")
	late.Disabled = true
	if err := s.CreatePartner(ctx, late); err != nil {
		t.Fatal(err)
	}
	if got := dueIDs(t, s, m(11), 10); got != "a2,b1" {
		t.Errorf("DueEvents once gone is created disabled = %s, want a2,b1", got)
	}
}

// testWebhookHeldBefore: an event keeps its first attempt's Held (its
// partner's time held then), which later attempts leave as it is.
func testWebhookHeldBefore(t *testing.T, s central.Store) {
	ctx := context.Background()
	if err := s.AppendEvents(ctx, []central.WebhookEvent{event("e1", "pa", "s1", t0), event("e2", "pa", "s2", t0)}); err != nil {
		t.Fatal(err)
	}
	for i, held := range []time.Duration{3 * time.Hour, 50 * time.Hour} {
		at := t0.Add(time.Duration(i+1) * time.Minute)
		a := central.DeliveryAttempt{EventID: "e1", At: at, Status: 503, Held: held}
		if err := s.RecordAttempt(ctx, a, false, at, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	due, err := s.DueEvents(ctx, t0.Add(time.Hour), 10)
	if err != nil || len(due) != 2 || due[0].ID != "e2" || due[1].ID != "e1" {
		t.Fatalf("DueEvents = %+v, %v; want e2, e1", due, err)
	}
	if due[1].HeldBefore != 3*time.Hour || due[0].HeldBefore != 0 {
		t.Errorf("DueEvents: HeldBefore of e1 %v, of e2 %v; want 3h and 0", due[1].HeldBefore, due[0].HeldBefore)
	}
	if evs, err := s.Events(ctx, "pa", 0, 10); err != nil || len(evs) != 2 || evs[0].HeldBefore != 3*time.Hour {
		t.Errorf("Events = %d events, %v; want e1 held 3h before its first attempt", len(evs), err)
	}
}

func testWebhookListing(t *testing.T, s central.Store) {
	ctx := context.Background()
	var evs []central.WebhookEvent
	for i := range 7 {
		evs = append(evs, event(fmt.Sprint("e", i), []string{"pa", "pb"}[i%2], "s", t0.Add(time.Duration(i)*time.Second)))
	}
	if err := s.AppendEvents(ctx, evs[:4]); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvents(ctx, evs[3:]); err != nil {
		t.Fatal(err)
	}
	list := func(partner string, after int64, limit int) ([]string, []int64) {
		t.Helper()
		got, err := s.Events(ctx, partner, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		var seqs []int64
		for _, e := range got {
			ids = append(ids, e.ID)
			seqs = append(seqs, e.Seq)
		}
		return ids, seqs
	}
	all, seqs := list("", 0, 100)
	if strings.Join(all, ",") != "e0,e1,e2,e3,e4,e5,e6" || !slices.IsSorted(seqs) {
		t.Fatalf("Events = %v %v", all, seqs)
	}
	for _, c := range []struct {
		partner string
		after   int64
		limit   int
		want    string
	}{
		{"pa", 0, 100, "e0,e2,e4,e6"},
		{"pb", 0, 100, "e1,e3,e5"},
		{"pa", seqs[2], 100, "e4,e6"},
		{"pa", seqs[2], 1, "e4"},
		{"", seqs[5], 100, "e6"},
		{"pc", 0, 100, ""},
	} {
		if got, _ := list(c.partner, c.after, c.limit); strings.Join(got, ",") != c.want {
			t.Errorf("Events(%q, %d, %d) = %v, want %s", c.partner, c.after, c.limit, got, c.want)
		}
	}
}

// testWebhookHealth: the owed and dead among a partner's newest events,
// no more than the window, and the latest attempt among them.
func testWebhookHealth(t *testing.T, s central.Store) {
	ctx := context.Background()
	m := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	evs := []central.WebhookEvent{event("e1", "pa", "s1", m(0)), event("e2", "pa", "s2", m(0)), event("e3", "pa", "s3", m(0)),
		event("e4", "pa", "s4", m(0)), event("f1", "pb", "s1", m(0)), event("g1", "pab", "s1", m(0))}
	if err := s.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	attempt(t, s, "e1", m(1), true, time.Time{}, time.Time{})
	attempt(t, s, "e2", m(3), false, time.Time{}, m(3))
	attempt(t, s, "e3", m(2), false, m(20), time.Time{})
	attempt(t, s, "f1", m(9), false, m(20), time.Time{})
	cases := []struct {
		partner            string
		window             int
		events, owed, dead int
		lastEvent          string
		lastAt             time.Time
	}{
		{"pa", 10, 4, 2, 1, "e2", m(3)},
		{"pa", 2, 2, 2, 0, "e3", m(2)},
		{"pa", 0, 0, 0, 0, "", time.Time{}},
		{"pab", 10, 1, 1, 0, "", time.Time{}},
		{"pb", 10, 1, 1, 0, "f1", m(9)}, // the last partner in key order
		{"p", 10, 0, 0, 0, "", time.Time{}},
		{"pz", 10, 0, 0, 0, "", time.Time{}},
	}
	for _, c := range cases {
		h, err := s.WebhookHealth(ctx, c.partner, c.window)
		if err != nil {
			t.Fatalf("WebhookHealth(%s, %d): %v", c.partner, c.window, err)
		}
		if h.Events != c.events || h.Owed != c.owed || h.Dead != c.dead || h.Last.EventID != c.lastEvent || !h.Last.At.Equal(c.lastAt) {
			t.Errorf("WebhookHealth(%s, %d) = %+v, want %d events, %d owed, %d dead, last %q at %v",
				c.partner, c.window, h, c.events, c.owed, c.dead, c.lastEvent, c.lastAt)
		}
		if c.lastEvent != "" && (h.Last.Status != 500 || h.Last.Excerpt != "status 500" || h.Last.LatencyMS != 12.5) {
			t.Errorf("WebhookHealth(%s, %d).Last = %+v", c.partner, c.window, h.Last)
		}
	}
}

func testCursors(t *testing.T, s central.Store) {
	ctx := context.Background()
	if n, err := s.Cursor(ctx, "completed"); err != nil || n != 0 {
		t.Errorf("Cursor never stored = %d, %v; want 0", n, err)
	}
	for _, c := range []struct {
		name string
		seq  int64
	}{{"completed", 5}, {"reviews", 9}, {"completed", 7}} {
		if err := s.PutCursor(ctx, c.name, c.seq); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]int64{"completed": 7, "reviews": 9} {
		if n, err := s.Cursor(ctx, name); err != nil || n != want {
			t.Errorf("Cursor(%s) = %d, %v; want %d", name, n, err, want)
		}
	}
}

// testCompleted: every way a submission completes gives it the next
// CompletedSeq in that transaction, and Completed lists by it.
func testCompleted(t *testing.T, s central.Store) {
	ctx := context.Background()
	imgs := map[string][]byte{"selfie": image(1, 300)}
	a := decided("d1", "no-images", t0, nil)
	b := decided("d1", "with-images", t0.Add(time.Minute), imgs)
	c := decided("d2", "no-images-later", t0.Add(2*time.Minute), nil)
	begin(t, s, a, b, c)
	if cs, err := s.Case(ctx, ref(b)); err != nil || cs.CompletedSeq != 0 {
		t.Errorf("uploading case: CompletedSeq %d, %v; want 0", cs.CompletedSeq, err)
	}
	check := func(after int64, limit int, want string) []central.Case {
		t.Helper()
		cs, err := s.Completed(ctx, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for i, c := range cs {
			ids = append(ids, c.ID)
			if c.Seal != nil || c.CompletedAt.IsZero() {
				t.Errorf("completed case %+v", c)
			}
			if i > 0 && c.CompletedSeq <= cs[i-1].CompletedSeq {
				t.Errorf("Completed not in CompletedSeq order")
			}
		}
		if strings.Join(ids, ",") != want {
			t.Errorf("Completed(%d, %d) = %v, want %s", after, limit, ids, want)
		}
		return cs
	}
	first := check(0, 10, "no-images,no-images-later")
	if len(first) != 2 || first[0].CompletedSeq <= 0 {
		t.Fatalf("Completed = %+v", first)
	}
	if _, err := appendChunk(t, s, b, "selfie", 0, imgs["selfie"]); err != nil {
		t.Fatal(err)
	}
	// Retries change nothing.
	begin(t, s, a, b)
	all := check(0, 10, "no-images,no-images-later,with-images")
	check(all[0].CompletedSeq, 1, "no-images-later")
	check(all[2].CompletedSeq, 10, "")
	for _, want := range all {
		got, err := s.Case(ctx, want.Ref)
		if err != nil || got.CompletedSeq != want.CompletedSeq || got.ID != want.ID {
			t.Errorf("Case(%s).CompletedSeq = %d, %v; want %d", want.ID, got.CompletedSeq, err, want.CompletedSeq)
		}
	}
	if cs, _, err := s.Queue(ctx, central.QueueFilter{}); err != nil || len(cs) != 3 || cs[1].CompletedSeq != all[2].CompletedSeq {
		t.Errorf("Queue's CompletedSeq = %+v, %v", cs, err)
	}
	// Erased submissions leave the log; new ones continue it.
	if err := s.DeleteSubmission(ctx, "d1", a.Key); err != nil {
		t.Fatal(err)
	}
	d := decided("d3", "after-erasure", t0.Add(3*time.Minute), nil)
	begin(t, s, d)
	got := check(0, 10, "no-images-later,with-images,after-erasure")
	if got[2].CompletedSeq <= all[2].CompletedSeq {
		t.Errorf("a new completion got seq %d after %d", got[2].CompletedSeq, all[2].CompletedSeq)
	}
	// An upload closed by retention is complete: it joins the log.
	e := decided("d4", "abandoned", t0.Add(4*time.Minute), imgs)
	begin(t, s, e)
	if n, err := s.Expire(ctx, central.ExpireImages, t0.Add(5*time.Minute), t0.Add(time.Hour), 10); err != nil || n != 2 {
		t.Fatalf("Expire(images) = %d, %v", n, err)
	}
	got = check(got[2].CompletedSeq, 10, "abandoned")
	if got[0].CompletedSeq <= 0 || !got[0].CompletedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("closed upload = %+v", got[0])
	}
}

// testCompletedConcurrent: completions at once get distinct seqs, and the
// log lists each once.
func testCompletedConcurrent(t *testing.T, s central.Store) {
	ctx := context.Background()
	const writers, each = 4, 8
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				sub := decided(fmt.Sprint("d", w), fmt.Sprint("s", i), t0.Add(time.Duration(i)*time.Second), nil)
				if _, _, err := s.BeginSubmission(ctx, sub); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	cs, err := s.Completed(ctx, 0, 100)
	if err != nil || len(cs) != writers*each {
		t.Fatalf("Completed = %d cases, %v; want %d", len(cs), err, writers*each)
	}
	for i, c := range cs {
		if c.CompletedSeq != int64(i+1) {
			t.Errorf("case %d has CompletedSeq %d, want %d", i, c.CompletedSeq, i+1)
		}
	}
}
