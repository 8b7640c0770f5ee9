package storetest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// Issue 22's state: what central kept in one instance's memory and now
// keeps in the store, so instances share it and a restart forgets none of
// it: the rate limits (RateLimits) and, on every store, request nonces.

func scaleTests() []storeTest {
	return []storeTest{
		{"RateLimits", testRateLimits},
		{"RateLimitsConcurrent", testRateLimitsConcurrent},
		{"RateLimitsClockInWrite", testRateLimitsClockInWrite},
		{"RateLimitsClockPutBack", testRateLimitsClockPutBack},
	}
}

// at is a clock stopped at t.
func at(t time.Time) func() time.Time { return func() time.Time { return t } }

func testRateLimits(t *testing.T, s central.Store) {
	ctx := context.Background()
	const burst, every = 3, 10 * time.Second
	if w, err := s.BudgetWait(ctx, "addr:a", at(t0), every, burst); err != nil || w != 0 {
		t.Fatalf("BudgetWait of an unknown key = %v, %v", w, err)
	}
	for i := range burst {
		if w, err := s.BudgetWait(ctx, "addr:a", at(t0), every, burst); err != nil || w != 0 {
			t.Fatalf("BudgetWait after %d of %d = %v, %v", i, burst, w, err)
		}
		if ok, _, err := s.SpendBudget(ctx, "addr:a", at(t0), every, burst); err != nil || !ok {
			t.Fatalf("spend %d of %d = %v, %v", i+1, burst, ok, err)
		}
	}
	if w, err := s.BudgetWait(ctx, "addr:a", at(t0), every, burst); err != nil || w != every {
		t.Errorf("BudgetWait with the budget spent = %v, %v; want %v", w, err, every)
	}
	ok, wait, err := s.SpendBudget(ctx, "addr:a", at(t0.Add(time.Second)), every, burst)
	if err != nil || ok || wait != every-time.Second {
		t.Errorf("spend past the budget = %v, %v, %v; want refused, wait %v", ok, wait, err, every-time.Second)
	}
	// A refused spend spends nothing: one interval later there is a unit.
	if ok, _, err := s.SpendBudget(ctx, "addr:a", at(t0.Add(every)), every, burst); err != nil || !ok {
		t.Errorf("spend an interval later = %v, %v; want ok", ok, err)
	}
	if ok, _, err := s.SpendBudget(ctx, "addr:a", at(t0.Add(every)), every, burst); err != nil || ok {
		t.Errorf("a second spend an interval later = %v, %v; want refused", ok, err)
	}
	if ok, _, err := s.SpendBudget(ctx, "addr:b", at(t0), every, burst); err != nil || !ok {
		t.Errorf("another key = %v, %v; want ok", ok, err)
	}
	// Long after, the budget is whole again.
	later := t0.Add(time.Hour)
	for i := range burst {
		if ok, _, err := s.SpendBudget(ctx, "addr:a", at(later), every, burst); err != nil || !ok {
			t.Fatalf("spend %d an hour later = %v, %v", i+1, ok, err)
		}
	}
}

// testRateLimitsClockPutBack: a key spent while central's clock read an
// hour or five years later than it does after a correction is refused
// for at most one interval, not until the clock catches up with its
// spends; then its budget is spent as usual.
func testRateLimitsClockPutBack(t *testing.T, s central.Store) {
	ctx := context.Background()
	const burst, every = 3, 10 * time.Second
	for _, ahead := range []time.Duration{time.Hour, 5 * 365 * 24 * time.Hour} {
		key := fmt.Sprintf("partner:ahead-%v", ahead)
		for i := range burst {
			if ok, _, err := s.SpendBudget(ctx, key, at(t0.Add(ahead)), every, burst); err != nil || !ok {
				t.Fatalf("spend %d with the clock %v ahead = %v, %v", i+1, ahead, ok, err)
			}
		}
		if w, err := s.BudgetWait(ctx, key, at(t0), every, burst); err != nil || w != 0 {
			t.Errorf("BudgetWait after the clock was put back %v = %v, %v; want 0", ahead, w, err)
		}
		if ok, wait, err := s.SpendBudget(ctx, key, at(t0), every, burst); err != nil || !ok {
			t.Errorf("spend after the clock was put back %v = %v, wait %v, %v; want ok", ahead, ok, wait, err)
		}
		// That spend set the key's time by the clock as it reads now: the
		// budget is spent, and one interval later has a unit again.
		if ok, wait, err := s.SpendBudget(ctx, key, at(t0), every, burst); err != nil || ok || wait != every {
			t.Errorf("a second spend after the clock was put back %v = %v, wait %v, %v; want refused, wait %v", ahead, ok, wait, err, every)
		}
		if ok, _, err := s.SpendBudget(ctx, key, at(t0.Add(every)), every, burst); err != nil || !ok {
			t.Errorf("a spend %v after the clock was put back %v = %v, %v; want ok", every, ahead, ok, err)
		}
	}
	// An instance whose clock is 30s ahead spent the budget: one whose
	// clock is right still refuses the key (instances' clocks differ a
	// little; each pulling in what the other pushed on would grant a
	// unit at every call).
	for i := range burst {
		if ok, _, err := s.SpendBudget(ctx, "partner:skew", at(t0.Add(30*time.Second)), every, burst); err != nil || !ok {
			t.Fatalf("spend %d on the instance 30s ahead = %v, %v", i+1, ok, err)
		}
	}
	if ok, wait, err := s.SpendBudget(ctx, "partner:skew", at(t0), every, burst); err != nil || ok || wait != every+30*time.Second {
		t.Errorf("a spend on the instance 30s behind = %v, wait %v, %v; want refused, wait %v", ok, wait, err, every+30*time.Second)
	}
}

// testRateLimitsConcurrent: spends of one key at once (instances sharing
// the store) never exceed the budget.
func testRateLimitsConcurrent(t *testing.T, s central.Store) {
	ctx := context.Background()
	wins := concurrentWins(24, func(int) error {
		ok, _, err := s.SpendBudget(ctx, "partner:p1", at(t0), time.Minute, 5)
		if err == nil && !ok {
			err = errors.New("refused")
		}
		return err
	})
	if wins != 5 {
		t.Errorf("%d of 24 concurrent spends of a budget of 5 succeeded", wins)
	}
}

// testRateLimitsClockInWrite: the store reads a spend's clock inside its
// write of the key, so spends of one key at once are judged in the order
// they commit. A budget of one a second; the clock moves an hour at each
// reading and yields one to four times right after it, as a loaded
// machine would. Each spend is taken only if no spend read the clock
// before it and committed after it: that one would be judged an hour
// before the tat this one pushed on, and refused. A store reading the
// clock before its write (a bolt batch's queue, a row lock's wait)
// refuses some.
func testRateLimitsClockInWrite(t *testing.T, s central.Store) {
	ctx := context.Background()
	const n = 24
	var readings atomic.Int64
	now := func() time.Time {
		r := readings.Add(1)
		for range 1 + r%4 {
			runtime.Gosched()
		}
		return t0.Add(time.Duration(r) * time.Hour)
	}
	wins := concurrentWins(n, func(int) error {
		ok, wait, err := s.SpendBudget(ctx, "addr:c", now, time.Second, 1)
		if err == nil && !ok {
			err = fmt.Errorf("refused, wait %v", wait)
		}
		return err
	})
	if wins != n {
		t.Errorf("%d of %d spends at once, each at a clock read an hour after the last, were taken; want all", wins, n)
	}
	if r := readings.Load(); r < n {
		t.Errorf("the clock was read %d times for %d spends", r, n)
	}
}

// RunReopen checks that what a store keeps survives closing it: open
// returns a store and a function reopening its data once the first is
// closed (a restart).
func RunReopen(t *testing.T, open func(t *testing.T) (central.Store, func() (central.Store, error))) {
	ctx := context.Background()
	s, reopen := open(t)
	exp := t0.Add(10 * time.Minute)
	if err := s.UseNonce(ctx, "d1", "n1", t0, exp); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if ok, _, err := s.SpendBudget(ctx, "addr:x", at(t0), time.Minute, 2); err != nil || !ok {
			t.Fatalf("spend = %v, %v", ok, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := reopen()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.UseNonce(ctx, "d1", "n1", t0.Add(time.Minute), exp.Add(time.Minute)); !errors.Is(err, central.ErrReplay) {
		t.Errorf("a nonce used before the restart = %v, want ErrReplay", err)
	}
	if w, err := s.BudgetWait(ctx, "addr:x", at(t0), time.Minute, 2); err != nil || w != time.Minute {
		t.Errorf("a budget spent before the restart waits %v, %v; want 1m", w, err)
	}
}
