package pgstore

import (
	"context"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/storetest"
)

// TestReopen: nonces and rate limits survive a restart.
func TestReopen(t *testing.T) {
	storetest.RunReopen(t, func(t *testing.T) (central.Store, func() (central.Store, error)) {
		ctx := context.Background()
		dsn, err := server.NewDatabase(ctx)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		return s, func() (central.Store, error) { return Open(ctx, dsn) }
	})
}

// TestLeaseLane: a lane's head is its oldest pending event, held by one
// caller at a time until its lease runs out or an attempt is recorded;
// one not yet due says when it is; UpTo leaves later events out.
func TestLeaseLane(t *testing.T) {
	ctx := context.Background()
	s := openFresh(t)
	defer s.Close()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var evs []central.WebhookEvent
	for i, id := range []string{"e1", "e2", "e3"} {
		evs = append(evs, central.WebhookEvent{ID: id, PartnerID: "p1", SessionID: "s1", Type: "t", Payload: []byte(`{}`),
			CreatedAt: t0.Add(time.Duration(i) * time.Millisecond)})
	}
	if err := s.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	stored, err := s.Events(ctx, "p1", 0, 10)
	if err != nil || len(stored) != 3 {
		t.Fatalf("Events = %d, %v", len(stored), err)
	}
	lane := central.Lane{PartnerID: "p1", SessionID: "s1"}
	now := t0.Add(time.Second)
	l, err := s.LeaseLane(ctx, lane, now, 4*time.Second)
	if err != nil || !l.Held || l.Event.ID != "e1" || !l.Until.Equal(now.Add(4*time.Second)) {
		t.Fatalf("first lease = %+v, %v; want e1 held", l, err)
	}
	// Held: another caller waits for the lease, even for a later event.
	if l, err := s.LeaseLane(ctx, central.Lane{PartnerID: "p1", SessionID: "s1", UpTo: 3}, now.Add(time.Second), time.Second); err != nil ||
		l.Held || l.Event.ID != "e1" || !l.Wait.Equal(now.Add(4*time.Second)) {
		t.Errorf("lease while held = %+v, %v; want e1 busy until the lease ends", l, err)
	}
	// A lease that ran out (its holder died) is taken over.
	if l, err := s.LeaseLane(ctx, lane, now.Add(5*time.Second), time.Second); err != nil || !l.Held || l.Event.ID != "e1" {
		t.Errorf("lease after it ran out = %+v, %v; want e1 held", l, err)
	}
	// A failed attempt releases it, due again later.
	retry := now.Add(time.Minute)
	if err := s.RecordAttempt(ctx, central.DeliveryAttempt{EventID: "e1", At: now, Status: 500}, false, retry, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if l, err := s.LeaseLane(ctx, lane, now.Add(6*time.Second), time.Second); err != nil || l.Held || l.Event.ID != "e1" || !l.Wait.Equal(retry) {
		t.Errorf("lease before the retry = %+v, %v; want e1 waiting until %v", l, err, retry)
	}
	if err := s.RecordAttempt(ctx, central.DeliveryAttempt{EventID: "e1", At: retry, Status: 200}, true, time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	// Delivered: the head moves on; up to e1 the lane is empty.
	if l, err := s.LeaseLane(ctx, central.Lane{PartnerID: "p1", SessionID: "s1", UpTo: stored[1].Seq}, retry, time.Second); err != nil || !l.Held || l.Event.ID != "e2" {
		t.Errorf("next lease = %+v, %v; want e2 held", l, err)
	}
	if l, err := s.LeaseLane(ctx, central.Lane{PartnerID: "p1", SessionID: "s1", UpTo: stored[0].Seq}, retry, time.Second); err != nil || !l.Empty {
		t.Errorf("lane up to e1 = %+v, %v; want empty", l, err)
	}
	if l, err := s.LeaseLane(ctx, central.Lane{PartnerID: "p1", SessionID: "other"}, retry, time.Second); err != nil || !l.Empty {
		t.Errorf("another session = %+v, %v; want empty", l, err)
	}
}
