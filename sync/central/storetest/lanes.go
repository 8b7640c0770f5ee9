package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// The tests of this file are the contract of a lane's lease
// (central.WebhookLanes), which both webhook workers record through: one
// sender at a time holds a session's head, and only the lease's owner
// renews, records or releases it.

func laneTests() []storeTest {
	return []storeTest{
		{"LeaseLane", testLeaseLane},
		{"RenewLane", testRenewLane},
		{"RecordLeased", testRecordLeased},
		{"ReleaseLane", testReleaseLane},
		{"ReplayKeepsLease", testReplayKeepsLease},
		{"LeaseOwnerNotTime", testLeaseOwnerNotTime},
		{"LaneClockPutBack", testLaneClockPutBack},
	}
}

// laneT0 is the lane tests' clock, at microseconds (as PostgreSQL keeps
// times).
var laneT0 = time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)

// testLeaseLane: a lane's head is its oldest pending event, held by one
// caller at a time until its lease runs out or an attempt is recorded;
// one not yet due says when it is; UpTo leaves later events out.
func testLeaseLane(t *testing.T, s central.Store) {
	ctx := context.Background()
	var evs []central.WebhookEvent
	for i, id := range []string{"e1", "e2", "e3"} {
		evs = append(evs, central.WebhookEvent{ID: id, PartnerID: "p1", SessionID: "s1", Type: "t", Payload: []byte(`{}`),
			CreatedAt: laneT0.Add(time.Duration(i) * time.Millisecond)})
	}
	if err := s.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	stored, err := s.Events(ctx, "p1", 0, 10)
	if err != nil || len(stored) != 3 {
		t.Fatalf("Events = %d, %v", len(stored), err)
	}
	lane := central.Lane{PartnerID: "p1", SessionID: "s1"}
	now := laneT0.Add(time.Second)
	until := now.Add(4 * time.Second).Truncate(time.Microsecond)
	l, err := s.LeaseLane(ctx, lane, now, 4*time.Second)
	if err != nil || !l.Held || l.Event.ID != "e1" || !l.Until.Equal(until) || l.Owner == "" {
		t.Fatalf("first lease = %+v, %v; want e1 held until %v, with an owner", l, err, until)
	}
	// Held: another caller waits for the lease, even for a later event.
	if l, err := s.LeaseLane(ctx, central.Lane{PartnerID: "p1", SessionID: "s1", UpTo: stored[2].Seq}, now.Add(time.Second), time.Second); err != nil ||
		l.Held || l.Event.ID != "e1" || !l.Wait.Equal(until) {
		t.Errorf("lease while held = %+v, %v; want e1 busy until the lease ends", l, err)
	}
	// A lease that ran out (its holder died) is taken over, by another owner.
	if l2, err := s.LeaseLane(ctx, lane, now.Add(5*time.Second), time.Second); err != nil || !l2.Held || l2.Event.ID != "e1" || l2.Owner == l.Owner {
		t.Errorf("lease after it ran out = %+v, %v; want e1 held by a new owner", l2, err)
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

// testRenewLane: a lease is renewed while it is the holder's, so another
// caller keeps waiting past its first end; once it ran out and was taken
// by another, or the event was recorded delivered, it is lost.
func testRenewLane(t *testing.T, s central.Store) {
	ctx := context.Background()
	hold := 4 * time.Second
	lane, a := leasedEvent(t, s, laneT0, hold)
	// Renewed before it ends: past its first end the lane is still held.
	until, err := s.RenewLane(ctx, a, laneT0.Add(3*time.Second), hold)
	if want := laneT0.Add(7 * time.Second).Truncate(time.Microsecond); err != nil || !until.Equal(want) {
		t.Fatalf("renewal = %v, %v; want %v", until, err, want)
	}
	a.Until = until
	if l, err := s.LeaseLane(ctx, lane, laneT0.Add(5*time.Second), hold); err != nil || l.Held || !l.Wait.Equal(until) {
		t.Fatalf("another caller after the first end = %+v, %v; want held until %v", l, err, until)
	}
	// Never shortened.
	if got, err := s.RenewLane(ctx, a, laneT0.Add(time.Second), hold); err != nil || !got.Equal(until) {
		t.Errorf("an earlier renewal = %v, %v; want %v kept", got, err, until)
	}
	// Another owner is no holder, whatever its Until.
	stranger := a
	stranger.Owner = "someone else"
	if _, err := s.RenewLane(ctx, stranger, laneT0.Add(6*time.Second), hold); !errors.Is(err, central.ErrLeaseLost) {
		t.Errorf("renewal by another owner = %v, want ErrLeaseLost", err)
	}
	// Ran out and taken by another: lost to the first holder, the
	// second's renews.
	b, err := s.LeaseLane(ctx, lane, laneT0.Add(8*time.Second), hold)
	if err != nil || !b.Held {
		t.Fatalf("lease after it ran out = %+v, %v", b, err)
	}
	if _, err := s.RenewLane(ctx, a, laneT0.Add(9*time.Second), hold); !errors.Is(err, central.ErrLeaseLost) {
		t.Errorf("the first holder's renewal = %v, want ErrLeaseLost", err)
	}
	if _, err := s.RenewLane(ctx, b, laneT0.Add(9*time.Second), hold); err != nil {
		t.Errorf("the second holder's renewal = %v", err)
	}
	// Delivered: nothing left to hold.
	if err := s.RecordAttempt(ctx, central.DeliveryAttempt{EventID: "e1", At: laneT0.Add(10 * time.Second), Status: 200}, true, time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RenewLane(ctx, b, laneT0.Add(10*time.Second), hold); !errors.Is(err, central.ErrLeaseLost) {
		t.Errorf("renewal after delivery = %v, want ErrLeaseLost", err)
	}
}

// testRecordLeased: an attempt is recorded only under the lease it was
// made in. Once that lease ran out and another took the event, the late
// record (a success, a failure with a retry, a death) writes nothing and
// is ErrLeaseLost: the new lease stays and the attempts are the new
// holder's. The holder's own record counts and ends its lease; after it
// (delivered) a stale record is lost too.
func testRecordLeased(t *testing.T, s central.Store) {
	hold := 4 * time.Second
	for i, tc := range []struct {
		name           string
		delivered      bool
		nextAt, deadAt time.Time
	}{
		{"delivered", true, time.Time{}, time.Time{}},
		{"retry", false, laneT0.Add(time.Minute), time.Time{}},
		{"dead", false, time.Time{}, laneT0.Add(time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			pid := "p" + string(rune('1'+i)) // a lane of its own on the one store
			ev := central.WebhookEvent{ID: "e-" + pid, PartnerID: pid, SessionID: "s1", Type: "t", Payload: []byte(`{}`), CreatedAt: laneT0}
			if err := s.AppendEvents(ctx, []central.WebhookEvent{ev}); err != nil {
				t.Fatal(err)
			}
			lane := central.Lane{PartnerID: pid, SessionID: "s1"}
			a, err := s.LeaseLane(ctx, lane, laneT0, hold)
			if err != nil || !a.Held {
				t.Fatalf("a's lease = %+v, %v", a, err)
			}
			b, err := s.LeaseLane(ctx, lane, laneT0.Add(hold+time.Second), hold)
			if err != nil || !b.Held {
				t.Fatalf("b's lease after a's ran out = %+v, %v", b, err)
			}
			late := central.DeliveryAttempt{EventID: ev.ID, At: laneT0.Add(hold + 2*time.Second), Status: 200}
			if err := s.RecordLeased(ctx, a, late, tc.delivered, tc.nextAt, tc.deadAt); !errors.Is(err, central.ErrLeaseLost) {
				t.Fatalf("a's late record = %v, want ErrLeaseLost", err)
			}
			if l, err := s.LeaseLane(ctx, lane, laneT0.Add(hold+3*time.Second), hold); err != nil || l.Held || !l.Wait.Equal(b.Until) ||
				l.Event.Attempts != 0 || !l.Event.NextAt.Equal(laneT0) {
				t.Fatalf("after a's late record: %+v, %v; want b's lease until %v, the event untouched", l, err, b.Until)
			}
			if err := s.RecordLeased(ctx, b, central.DeliveryAttempt{EventID: ev.ID, At: laneT0.Add(hold + 4*time.Second), Status: 200}, true, time.Time{}, time.Time{}); err != nil {
				t.Fatalf("b's record = %v", err)
			}
			if as, err := s.Attempts(ctx, ev.ID); err != nil || len(as) != 1 || !as[0].At.Equal(laneT0.Add(hold+4*time.Second)) {
				t.Errorf("attempts %+v, %v; want b's only", as, err)
			}
			if err := s.RecordLeased(ctx, b, late, tc.delivered, tc.nextAt, tc.deadAt); !errors.Is(err, central.ErrLeaseLost) {
				t.Errorf("a record after delivery = %v, want ErrLeaseLost", err)
			}
		})
	}
}

// testReleaseLane: a released lease lets the next caller hold the event
// at once, its state unchanged; a stale lease releases nothing.
func testReleaseLane(t *testing.T, s central.Store) {
	ctx := context.Background()
	hold := 4 * time.Second
	lane, a := leasedEvent(t, s, laneT0, hold)
	if err := s.ReleaseLane(ctx, a); err != nil {
		t.Fatalf("release = %v", err)
	}
	b, err := s.LeaseLane(ctx, lane, laneT0.Add(time.Second), hold)
	if err != nil || !b.Held || b.Event.Attempts != 0 {
		t.Fatalf("lease after the release = %+v, %v; want held at once, no attempt", b, err)
	}
	if err := s.ReleaseLane(ctx, a); !errors.Is(err, central.ErrLeaseLost) {
		t.Errorf("a stale release = %v, want ErrLeaseLost", err)
	}
	if l, err := s.LeaseLane(ctx, lane, laneT0.Add(2*time.Second), hold); err != nil || l.Held || !l.Wait.Equal(b.Until) {
		t.Errorf("after a stale release: %+v, %v; want b's lease until %v", l, err, b.Until)
	}
}

// testReplayKeepsLease: replaying an event that is still pending and held
// keeps the holder's lease, so no other caller sends it at the same time.
func testReplayKeepsLease(t *testing.T, s central.Store) {
	ctx := context.Background()
	hold := 4 * time.Second
	lane, a := leasedEvent(t, s, laneT0, hold)
	if err := s.ReplayEvent(ctx, "e1", laneT0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if l, err := s.LeaseLane(ctx, lane, laneT0.Add(2*time.Second), hold); err != nil || l.Held || !l.Wait.Equal(a.Until) {
		t.Fatalf("another caller after the replay = %+v, %v; want a's lease until %v", l, err, a.Until)
	}
	if _, err := s.RenewLane(ctx, a, laneT0.Add(2*time.Second), hold); err != nil {
		t.Errorf("a's renewal after the replay = %v", err)
	}
}

// testLeaseOwnerNotTime: a lease is its owner's, not its end time's. a
// takes the lane at t0 and stalls; b, whose clock is ahead, finds a's
// lease run out, takes the lane and is cut off by shutdown (released); c,
// whose clock agrees with a's to the microsecond, takes it at t0 too: its
// lease ends when a's did. a's late record, renewal and release are
// another owner's and change nothing; c's lease stays and its record
// counts.
func testLeaseOwnerNotTime(t *testing.T, s central.Store) {
	ctx := context.Background()
	hold := 4 * time.Second
	lane, a := leasedEvent(t, s, laneT0, hold)
	b, err := s.LeaseLane(ctx, lane, laneT0.Add(hold), hold)
	if err != nil || !b.Held {
		t.Fatalf("b's lease once a's ran out = %+v, %v", b, err)
	}
	if err := s.ReleaseLane(ctx, b); err != nil {
		t.Fatal(err)
	}
	c, err := s.LeaseLane(ctx, lane, laneT0, hold)
	if err != nil || !c.Held || !c.Until.Equal(a.Until) {
		t.Fatalf("c's lease at a's instant = %+v, %v; want held until %v", c, err, a.Until)
	}
	if _, err := s.RenewLane(ctx, a, laneT0.Add(time.Second), hold); !errors.Is(err, central.ErrLeaseLost) {
		t.Errorf("a's renewal under c's lease = %v, want ErrLeaseLost", err)
	}
	late := central.DeliveryAttempt{EventID: "e1", At: laneT0.Add(time.Second), Status: 200}
	if err := s.RecordLeased(ctx, a, late, true, time.Time{}, time.Time{}); !errors.Is(err, central.ErrLeaseLost) {
		t.Errorf("a's record under c's lease = %v, want ErrLeaseLost", err)
	}
	if err := s.ReleaseLane(ctx, a); !errors.Is(err, central.ErrLeaseLost) {
		t.Errorf("a's release of c's lease = %v, want ErrLeaseLost", err)
	}
	if l, err := s.LeaseLane(ctx, lane, laneT0.Add(2*time.Second), hold); err != nil || l.Held || !l.Wait.Equal(c.Until) || l.Event.Attempts != 0 {
		t.Fatalf("the lane after a's stale calls = %+v, %v; want c's lease, no attempt", l, err)
	}
	if err := s.RecordLeased(ctx, c, central.DeliveryAttempt{EventID: "e1", At: laneT0.Add(3 * time.Second), Status: 200}, true, time.Time{}, time.Time{}); err != nil {
		t.Fatalf("c's record = %v", err)
	}
	if as, err := s.Attempts(ctx, "e1"); err != nil || len(as) != 1 || !as[0].At.Equal(laneT0.Add(3*time.Second)) {
		t.Errorf("attempts %+v, %v; want c's only", as, err)
	}
}

// leasedEvent appends one pending event e1 to lane p1/s1 and leases the
// lane at at for hold.
func leasedEvent(t *testing.T, s central.Store, at time.Time, hold time.Duration) (central.Lane, central.LaneLease) {
	t.Helper()
	ctx := context.Background()
	ev := central.WebhookEvent{ID: "e1", PartnerID: "p1", SessionID: "s1", Type: "t", Payload: []byte(`{}`), CreatedAt: at}
	if err := s.AppendEvents(ctx, []central.WebhookEvent{ev}); err != nil {
		t.Fatal(err)
	}
	lane := central.Lane{PartnerID: "p1", SessionID: "s1"}
	a, err := s.LeaseLane(ctx, lane, at, hold)
	if err != nil || !a.Held {
		t.Fatalf("lease = %+v, %v", a, err)
	}
	return lane, a
}

// testLaneClockPutBack: an event made, and a lease taken, while central's
// clock read five years ahead, then corrected, would keep the event, and
// its session's later events, waiting for as long as the clock was off.
// A next attempt or a lease further ahead than any wait sets
// (central.EventMaxWait and its minute) is due, or run out, now; one an
// hour ahead (a retry's wait) is kept.
func testLaneClockPutBack(t *testing.T, s central.Store) {
	ctx := context.Background()
	const years = 5 * 365 * 24 * time.Hour
	evs := []central.WebhookEvent{
		{ID: "ahead", PartnerID: "p1", SessionID: "s1", Type: "t", Payload: []byte(`{}`), CreatedAt: laneT0.Add(years)},
		{ID: "later", PartnerID: "p1", SessionID: "s1", Type: "t", Payload: []byte(`{}`), CreatedAt: laneT0},
		{ID: "hour", PartnerID: "p1", SessionID: "s2", Type: "t", Payload: []byte(`{}`), CreatedAt: laneT0.Add(time.Hour)},
		{ID: "leased", PartnerID: "p1", SessionID: "s3", Type: "t", Payload: []byte(`{}`), CreatedAt: laneT0},
	}
	if err := s.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	due, err := s.DueEvents(ctx, laneT0, 10)
	ids := map[string]bool{}
	for _, e := range due {
		ids[e.ID] = true
	}
	if err != nil || !ids["ahead"] || !ids["leased"] || ids["hour"] || ids["later"] {
		t.Errorf("DueEvents after the clock was put back = %v, %v; want ahead and leased", ids, err)
	}
	if l, err := s.LeaseLane(ctx, central.Lane{PartnerID: "p1", SessionID: "s3"}, laneT0.Add(years), 4*time.Second); err != nil || !l.Held {
		t.Fatalf("lease with the clock ahead = %+v, %v", l, err)
	}
	if l, err := s.LeaseLane(ctx, central.Lane{PartnerID: "p1", SessionID: "s3"}, laneT0, 4*time.Second); err != nil || !l.Held || l.Event.ID != "leased" {
		t.Errorf("a lane leased with the clock five years ahead, after it was put back = %+v, %v; want held", l, err)
	}
	if l, err := s.LeaseLane(ctx, central.Lane{PartnerID: "p1", SessionID: "s1"}, laneT0, 4*time.Second); err != nil || !l.Held || l.Event.ID != "ahead" {
		t.Errorf("a lane whose head was made with the clock five years ahead, after it was put back = %+v, %v; want its head held", l, err)
	}
	if l, err := s.LeaseLane(ctx, central.Lane{PartnerID: "p1", SessionID: "s2"}, laneT0, 4*time.Second); err != nil || l.Held || !l.Wait.Equal(laneT0.Add(time.Hour)) {
		t.Errorf("a lane whose head is due in an hour = %+v, %v; want it waiting", l, err)
	}
}
