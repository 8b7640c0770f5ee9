package storetest

import (
	"context"
	"errors"
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
	}
}

func testRateLimits(t *testing.T, s central.Store) {
	ctx := context.Background()
	const burst, every = 3, 10 * time.Second
	if w, err := s.BudgetWait(ctx, "addr:a", t0, every, burst); err != nil || w != 0 {
		t.Fatalf("BudgetWait of an unknown key = %v, %v", w, err)
	}
	for i := range burst {
		if w, err := s.BudgetWait(ctx, "addr:a", t0, every, burst); err != nil || w != 0 {
			t.Fatalf("BudgetWait after %d of %d = %v, %v", i, burst, w, err)
		}
		if ok, _, err := s.SpendBudget(ctx, "addr:a", t0, every, burst); err != nil || !ok {
			t.Fatalf("spend %d of %d = %v, %v", i+1, burst, ok, err)
		}
	}
	if w, err := s.BudgetWait(ctx, "addr:a", t0, every, burst); err != nil || w != every {
		t.Errorf("BudgetWait with the budget spent = %v, %v; want %v", w, err, every)
	}
	ok, wait, err := s.SpendBudget(ctx, "addr:a", t0.Add(time.Second), every, burst)
	if err != nil || ok || wait != every-time.Second {
		t.Errorf("spend past the budget = %v, %v, %v; want refused, wait %v", ok, wait, err, every-time.Second)
	}
	// A refused spend spends nothing: one interval later there is a unit.
	if ok, _, err := s.SpendBudget(ctx, "addr:a", t0.Add(every), every, burst); err != nil || !ok {
		t.Errorf("spend an interval later = %v, %v; want ok", ok, err)
	}
	if ok, _, err := s.SpendBudget(ctx, "addr:a", t0.Add(every), every, burst); err != nil || ok {
		t.Errorf("a second spend an interval later = %v, %v; want refused", ok, err)
	}
	if ok, _, err := s.SpendBudget(ctx, "addr:b", t0, every, burst); err != nil || !ok {
		t.Errorf("another key = %v, %v; want ok", ok, err)
	}
	// Long after, the budget is whole again.
	later := t0.Add(time.Hour)
	for i := range burst {
		if ok, _, err := s.SpendBudget(ctx, "addr:a", later, every, burst); err != nil || !ok {
			t.Fatalf("spend %d an hour later = %v, %v", i+1, ok, err)
		}
	}
}

// testRateLimitsConcurrent: spends of one key at once (instances sharing
// the store) never exceed the budget.
func testRateLimitsConcurrent(t *testing.T, s central.Store) {
	ctx := context.Background()
	wins := concurrentWins(24, func(int) error {
		ok, _, err := s.SpendBudget(ctx, "partner:p1", t0, time.Minute, 5)
		if err == nil && !ok {
			err = errors.New("refused")
		}
		return err
	})
	if wins != 5 {
		t.Errorf("%d of 24 concurrent spends of a budget of 5 succeeded", wins)
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
		if ok, _, err := s.SpendBudget(ctx, "addr:x", t0, time.Minute, 2); err != nil || !ok {
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
	if w, err := s.BudgetWait(ctx, "addr:x", t0, time.Minute, 2); err != nil || w != time.Minute {
		t.Errorf("a budget spent before the restart waits %v, %v; want 1m", w, err)
	}
}
