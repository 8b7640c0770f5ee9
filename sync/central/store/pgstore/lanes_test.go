package pgstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// TestRenewLane: a lease is renewed while it is the holder's, so another
// caller keeps waiting past its first end; once it ran out and was taken
// by another, or the event was recorded delivered, it is lost. A lease at
// nanoseconds renews: Until is the column's microseconds.
func TestRenewLane(t *testing.T) {
	ctx := context.Background()
	s := openFresh(t)
	defer s.Close()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	ev := central.WebhookEvent{ID: "e1", PartnerID: "p1", SessionID: "s1", Type: "t", Payload: []byte(`{}`), CreatedAt: t0}
	if err := s.AppendEvents(ctx, []central.WebhookEvent{ev}); err != nil {
		t.Fatal(err)
	}
	lane := central.Lane{PartnerID: "p1", SessionID: "s1"}
	hold := 4 * time.Second
	a, err := s.LeaseLane(ctx, lane, t0, hold)
	if err != nil || !a.Held {
		t.Fatalf("lease = %+v, %v", a, err)
	}
	// Renewed before it ends: past its first end the lane is still held.
	until, err := s.RenewLane(ctx, a, t0.Add(3*time.Second), hold)
	if want := t0.Add(7 * time.Second).Truncate(time.Microsecond); err != nil || !until.Equal(want) {
		t.Fatalf("renewal = %v, %v; want %v", until, err, want)
	}
	a.Until = until
	if l, err := s.LeaseLane(ctx, lane, t0.Add(5*time.Second), hold); err != nil || l.Held || !l.Wait.Equal(until) {
		t.Fatalf("another caller after the first end = %+v, %v; want held until %v", l, err, until)
	}
	// The old Until is no token any more.
	stale := a
	stale.Until = t0.Add(hold).Truncate(time.Microsecond)
	if _, err := s.RenewLane(ctx, stale, t0.Add(6*time.Second), hold); !errors.Is(err, central.ErrLeaseLost) {
		t.Errorf("renewal with a stale lease = %v, want ErrLeaseLost", err)
	}
	// Ran out and taken by another: lost to the first holder, the
	// second's renews.
	b, err := s.LeaseLane(ctx, lane, t0.Add(8*time.Second), hold)
	if err != nil || !b.Held {
		t.Fatalf("lease after it ran out = %+v, %v", b, err)
	}
	if _, err := s.RenewLane(ctx, a, t0.Add(9*time.Second), hold); !errors.Is(err, central.ErrLeaseLost) {
		t.Errorf("the first holder's renewal = %v, want ErrLeaseLost", err)
	}
	if _, err := s.RenewLane(ctx, b, t0.Add(9*time.Second), hold); err != nil {
		t.Errorf("the second holder's renewal = %v", err)
	}
	// Delivered: nothing left to hold.
	if err := s.RecordAttempt(ctx, central.DeliveryAttempt{EventID: "e1", At: t0.Add(10 * time.Second), Status: 200}, true, time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RenewLane(ctx, b, t0.Add(10*time.Second), hold); !errors.Is(err, central.ErrLeaseLost) {
		t.Errorf("renewal after delivery = %v, want ErrLeaseLost", err)
	}
}
