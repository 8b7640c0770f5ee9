package pgstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// The lane lease's contract is storetest's (laneTests, in TestConformance);
// here is what only PostgreSQL has: databases from before.

// TestMigrationLeaseOwner: a database of schema 15 (a lease was its end
// time, no owner) holding a lease an instance of that build took is
// migrated: the lease still holds the event until it runs out (that
// instance may still be sending under it), but its end time is no token
// any more, so nothing is renewed, recorded or released under it; once
// it ran out the event is leased with an owner, whose record counts.
func TestMigrationLeaseOwner(t *testing.T) {
	ctx := context.Background()
	dsn, conn := databaseAtSchema(t, 15)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	old := t0.Add(4 * time.Second)
	if _, err := conn.Exec(ctx, `INSERT INTO webhook_events (seq, id, partner_id, session_id, type, payload, created_at, next_at, lease_until)
		VALUES (1, 'e1', 'p1', 's1', 't', '{}', $1, $1, $2)`, t0, old); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `UPDATE webhook_counter SET seq = 1 WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lane := central.Lane{PartnerID: "p1", SessionID: "s1"}
	l, err := s.LeaseLane(ctx, lane, t0.Add(time.Second), time.Minute)
	if err != nil || l.Held || !l.Wait.Equal(old) {
		t.Fatalf("the lane under the old lease = %+v, %v; want held until %v", l, err, old)
	}
	stale := central.LaneLease{Event: l.Event, Held: true, Until: old} // as the old build knew it
	if _, err := s.RenewLane(ctx, stale, t0.Add(time.Second), time.Minute); !errors.Is(err, central.ErrLeaseLost) {
		t.Errorf("renewal by end time = %v, want ErrLeaseLost", err)
	}
	if err := s.RecordLeased(ctx, stale, central.DeliveryAttempt{EventID: "e1", At: t0.Add(time.Second), Status: 200}, true, time.Time{}, time.Time{}); !errors.Is(err, central.ErrLeaseLost) {
		t.Errorf("record by end time = %v, want ErrLeaseLost", err)
	}
	if err := s.ReleaseLane(ctx, stale); !errors.Is(err, central.ErrLeaseLost) {
		t.Errorf("release by end time = %v, want ErrLeaseLost", err)
	}
	a, err := s.LeaseLane(ctx, lane, old, time.Minute)
	if err != nil || !a.Held || a.Owner == "" {
		t.Fatalf("the lane once the old lease ran out = %+v, %v; want held, with an owner", a, err)
	}
	if err := s.RecordLeased(ctx, a, central.DeliveryAttempt{EventID: "e1", At: old, Status: 200}, true, time.Time{}, time.Time{}); err != nil {
		t.Fatalf("the new holder's record = %v", err)
	}
	if as, err := s.Attempts(ctx, "e1"); err != nil || len(as) != 1 {
		t.Errorf("attempts %+v, %v; want the new holder's", as, err)
	}
}
