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
	hold := 4 * time.Second
	lane, a := leasedEvent(t, s, t0, hold)
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

// TestRecordLeased: an attempt is recorded only under the lease it was
// made in. Once that lease ran out and another took the event, the late
// record (a success, a failure with a retry, a death) writes nothing and
// is ErrLeaseLost: the new lease stays and the attempts are the new
// holder's. The holder's own record counts and ends its lease; after it
// (delivered) a stale record is lost too.
func TestRecordLeased(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	hold := 4 * time.Second
	for _, tc := range []struct {
		name           string
		delivered      bool
		nextAt, deadAt time.Time
	}{
		{"delivered", true, time.Time{}, time.Time{}},
		{"retry", false, t0.Add(time.Minute), time.Time{}},
		{"dead", false, time.Time{}, t0.Add(time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := openFresh(t)
			defer s.Close()
			lane, a := leasedEvent(t, s, t0, hold)
			b, err := s.LeaseLane(ctx, lane, t0.Add(hold+time.Second), hold)
			if err != nil || !b.Held {
				t.Fatalf("b's lease after a's ran out = %+v, %v", b, err)
			}
			late := central.DeliveryAttempt{EventID: "e1", At: t0.Add(hold + 2*time.Second), Status: 200}
			if err := s.RecordLeased(ctx, a, late, tc.delivered, tc.nextAt, tc.deadAt); !errors.Is(err, central.ErrLeaseLost) {
				t.Fatalf("a's late record = %v, want ErrLeaseLost", err)
			}
			if l, err := s.LeaseLane(ctx, lane, t0.Add(hold+3*time.Second), hold); err != nil || l.Held || !l.Wait.Equal(b.Until) ||
				l.Event.Attempts != 0 || !l.Event.NextAt.Equal(t0) {
				t.Fatalf("after a's late record: %+v, %v; want b's lease until %v, the event untouched", l, err, b.Until)
			}
			if err := s.RecordLeased(ctx, b, central.DeliveryAttempt{EventID: "e1", At: t0.Add(hold + 4*time.Second), Status: 200}, true, time.Time{}, time.Time{}); err != nil {
				t.Fatalf("b's record = %v", err)
			}
			if as, err := s.Attempts(ctx, "e1"); err != nil || len(as) != 1 || !as[0].At.Equal(t0.Add(hold+4*time.Second)) {
				t.Errorf("attempts %+v, %v; want b's only", as, err)
			}
			if err := s.RecordLeased(ctx, b, late, tc.delivered, tc.nextAt, tc.deadAt); !errors.Is(err, central.ErrLeaseLost) {
				t.Errorf("a record after delivery = %v, want ErrLeaseLost", err)
			}
		})
	}
}

// TestReleaseLane: a released lease lets the next caller hold the event
// at once, its state unchanged; a stale lease releases nothing.
func TestReleaseLane(t *testing.T) {
	ctx := context.Background()
	s := openFresh(t)
	defer s.Close()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	hold := 4 * time.Second
	lane, a := leasedEvent(t, s, t0, hold)
	if err := s.ReleaseLane(ctx, a); err != nil {
		t.Fatalf("release = %v", err)
	}
	b, err := s.LeaseLane(ctx, lane, t0.Add(time.Second), hold)
	if err != nil || !b.Held || b.Event.Attempts != 0 {
		t.Fatalf("lease after the release = %+v, %v; want held at once, no attempt", b, err)
	}
	if err := s.ReleaseLane(ctx, a); !errors.Is(err, central.ErrLeaseLost) {
		t.Errorf("a stale release = %v, want ErrLeaseLost", err)
	}
	if l, err := s.LeaseLane(ctx, lane, t0.Add(2*time.Second), hold); err != nil || l.Held || !l.Wait.Equal(b.Until) {
		t.Errorf("after a stale release: %+v, %v; want b's lease until %v", l, err, b.Until)
	}
}

// TestReplayKeepsLease: replaying an event that is still pending and held
// keeps the holder's lease, so no other caller sends it at the same time.
func TestReplayKeepsLease(t *testing.T) {
	ctx := context.Background()
	s := openFresh(t)
	defer s.Close()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	hold := 4 * time.Second
	lane, a := leasedEvent(t, s, t0, hold)
	if err := s.ReplayEvent(ctx, "e1", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if l, err := s.LeaseLane(ctx, lane, t0.Add(2*time.Second), hold); err != nil || l.Held || !l.Wait.Equal(a.Until) {
		t.Fatalf("another caller after the replay = %+v, %v; want a's lease until %v", l, err, a.Until)
	}
	if _, err := s.RenewLane(ctx, a, t0.Add(2*time.Second), hold); err != nil {
		t.Errorf("a's renewal after the replay = %v", err)
	}
}

// leasedEvent appends one pending event to lane p1/s1 and leases the lane
// at t0 for hold.
func leasedEvent(t *testing.T, s *Store, t0 time.Time, hold time.Duration) (central.Lane, central.LaneLease) {
	t.Helper()
	ctx := context.Background()
	ev := central.WebhookEvent{ID: "e1", PartnerID: "p1", SessionID: "s1", Type: "t", Payload: []byte(`{}`), CreatedAt: t0}
	if err := s.AppendEvents(ctx, []central.WebhookEvent{ev}); err != nil {
		t.Fatal(err)
	}
	lane := central.Lane{PartnerID: "p1", SessionID: "s1"}
	a, err := s.LeaseLane(ctx, lane, t0, hold)
	if err != nil || !a.Held {
		t.Fatalf("lease = %+v, %v", a, err)
	}
	return lane, a
}
