package storetest

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/partnerapi"
	"github.com/openkyc/kyc/sync/central/seal"
)

// brokenRewriter is a store whose user rewriting fails at its failAt-th
// batch (0: never), as a central stopped between two batches would.
type brokenRewriter struct {
	central.Store
	calls, failAt int
}

var errStopped = errors.New("stopped between batches")

func (b *brokenRewriter) stop() bool {
	b.calls++
	return b.calls == b.failAt
}

func (b *brokenRewriter) RewriteFlowUsers(ctx context.Context, after central.FlowKey, limit int, fn func(*central.FlowSession) error) (central.FlowKey, int, error) {
	if b.stop() {
		return after, 0, errStopped
	}
	return b.Store.(central.StoredUserRewriter).RewriteFlowUsers(ctx, after, limit, fn)
}

func (b *brokenRewriter) RewriteEventUsers(ctx context.Context, afterSeq int64, limit int, fn func(*central.WebhookEvent, []central.DeliveryAttempt) error) (int64, int, error) {
	if b.stop() {
		return afterSeq, 0, errStopped
	}
	return b.Store.(central.StoredUserRewriter).RewriteEventUsers(ctx, afterSeq, limit, fn)
}

// RunSealStoredUsers stores sessions, events and an attempt in the clear
// form of a release before partners' user references were sealed, then
// seals them with seal.Store.SealStoredUsers, two records a batch: stopped
// in the sessions' batches and again in the events', every record reads
// back with its reference; once through, dump (the store's every byte in
// use, or its rows as text) holds no reference in clear, neither as text
// nor in hex, every record still reads back the same, and running it again,
// even from the start, changes nothing.
func RunSealStoredUsers(t *testing.T, open func(t *testing.T) central.Store, dump func(t *testing.T, raw central.Store) []byte) {
	ctx := context.Background()
	raw := open(t)
	t.Cleanup(func() {
		if err := raw.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	kr, err := seal.LoadOrCreateKeyring(filepath.Join(t.TempDir(), "central.keys"))
	if err != nil {
		t.Fatal(err)
	}
	s := seal.New(raw, kr, kr)

	// Clear, as stored before: five sessions of partner users, a kiosk's
	// own and an erased one; a webhook and a push event of each user,
	// and an attempt whose answer echoes one.
	var users []string
	flows := map[central.FlowKey]string{}
	var evs []central.WebhookEvent
	for i := range 5 {
		user := fmt.Sprintf("user%d.clear@example.com", i)
		f := flow("pa", fmt.Sprint("s", i), t0.Add(time.Hour))
		f.UserID = user
		if err := raw.CreateFlow(ctx, f); err != nil {
			t.Fatal(err)
		}
		users, flows[central.FlowKey{PartnerID: f.PartnerID, ID: f.ID}] = append(users, user), user
		wh, push := event(fmt.Sprint("wh", i), "pa", f.ID, t0), event(fmt.Sprint("push", i), "pa", central.PushLane(f.ID), t0)
		wh.Payload, push.Payload = userBodies(user)
		evs = append(evs, wh, push)
	}
	kiosk := flow("pa", "k1", t0.Add(time.Hour))
	kiosk.UserID, kiosk.UserIDType = "d1", partnerapi.KioskUserIDType
	erased := flow("pa", "x1", t0.Add(time.Hour))
	erased.UserID = central.ErasedUserID
	for _, f := range []central.FlowSession{kiosk, erased} {
		if err := raw.CreateFlow(ctx, f); err != nil {
			t.Fatal(err)
		}
		flows[central.FlowKey{PartnerID: f.PartnerID, ID: f.ID}] = f.UserID
	}
	if err := raw.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	echo := `{"received":{"partner_user_id":"` + users[0] + `"}}`
	if err := raw.RecordAttempt(ctx, central.DeliveryAttempt{EventID: "wh0", At: t0.Add(time.Second), Status: 200, LatencyMS: 1, Excerpt: echo},
		true, time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	// Stored sealed already, by this release: sealed once, not twice.
	sealedFlow := flow("pa", "new", t0.Add(time.Hour))
	sealedFlow.UserID = userA
	sealedEv := event("new", "pa", "new", t0)
	sealedEv.Payload, _ = userBodies(userA)
	if err := s.CreateFlow(ctx, sealedFlow); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvents(ctx, []central.WebhookEvent{sealedEv}); err != nil {
		t.Fatal(err)
	}
	flows[central.FlowKey{PartnerID: "pa", ID: "new"}] = userA
	evs = append(evs, sealedEv)

	readBack := func(when string) {
		t.Helper()
		for k, user := range flows {
			if f, err := s.Flow(ctx, k.PartnerID, k.ID); err != nil || f.UserID != user {
				t.Errorf("%s: session %s = user %q, %v; want %q", when, k.ID, f.UserID, err, user)
			}
		}
		got, err := s.Events(ctx, "pa", 0, 100)
		if err != nil || len(got) != len(evs) {
			t.Fatalf("%s: Events = %d, %v; want %d", when, len(got), err, len(evs))
		}
		for i, ev := range got {
			if ev.ID != evs[i].ID || !bytes.Equal(ev.Payload, evs[i].Payload) {
				t.Errorf("%s: event %s = %s, want %s %s", when, ev.ID, ev.Payload, evs[i].ID, evs[i].Payload)
			}
		}
		if as, err := s.Attempts(ctx, "wh0"); err != nil || len(as) != 1 || as[0].Excerpt != echo {
			t.Errorf("%s: Attempts = %+v, %v; want the excerpt %s", when, as, err, echo)
		}
	}
	clearIn := func(all []byte) []string {
		var found []string
		for _, u := range append(users, userA) {
			if bytes.Contains(all, []byte(u)) || bytes.Contains(all, []byte(hex.EncodeToString([]byte(u)))) {
				found = append(found, u)
			}
		}
		return found
	}
	if found := clearIn(dump(t, raw)); len(found) != len(users) {
		t.Fatalf("before: the dump holds %q in clear, want the %d stored clear: it shows nothing", found, len(users))
	}

	// Stopped in the sessions' second batch, then in the events' second.
	for _, failAt := range []int{2, 7} {
		b := &brokenRewriter{Store: raw, failAt: failAt}
		if _, err := seal.New(b, kr, kr).SealStoredUsers(ctx, 2); !errors.Is(err, errStopped) {
			t.Fatalf("stopped at batch %d: %v", failAt, err)
		}
		readBack(fmt.Sprint("stopped at batch ", failAt))
	}
	n, err := s.SealStoredUsers(ctx, 2)
	if err != nil || n == 0 {
		t.Errorf("SealStoredUsers = %d, %v; want records changed", n, err)
	}
	if found := clearIn(dump(t, raw)); len(found) != 0 {
		t.Errorf("after: the dump holds %q in clear", found)
	}
	readBack("after")
	if f, err := raw.Flow(ctx, "pa", "k1"); err != nil || f.UserID != "d1" {
		t.Errorf("the kiosk's session stored with user %q, %v; want its device id", f.UserID, err)
	}
	if f, err := raw.Flow(ctx, "pa", "s0"); err != nil || !strings.HasPrefix(f.UserID, "~") {
		t.Errorf("s0 stored with user %q, %v; want it sealed", f.UserID, err)
	}

	// Again: done, nothing to do; from the start (cursors lost): nothing
	// clear left, nothing changed.
	stored, err := raw.Events(ctx, "pa", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.SealStoredUsers(ctx, 2); err != nil || n != 0 {
		t.Errorf("SealStoredUsers again = %d, %v; want 0", n, err)
	}
	for _, c := range []string{"seal-users-flows", "seal-users-events"} {
		if err := raw.PutCursor(ctx, c, 0); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.SealStoredUsers(ctx, 2); err != nil || n != 0 {
		t.Errorf("SealStoredUsers from the start = %d, %v; want 0", n, err)
	}
	again, err := raw.Events(ctx, "pa", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for i := range again {
		if !bytes.Equal(again[i].Payload, stored[i].Payload) {
			t.Errorf("event %s rewritten by a second run", again[i].ID)
		}
	}
	if !json.Valid(again[0].Payload) {
		t.Errorf("stored body %s is not JSON", again[0].Payload)
	}
	readBack("again")
}
