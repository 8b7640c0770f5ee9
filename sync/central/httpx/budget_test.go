package httpx_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central/httpx"
	"github.com/openkyc/kyc/sync/central/store/boltstore"
)

// heldStore holds the first spend in the store, its clock read, until
// release is closed.
type heldStore struct {
	httpx.Budgets
	held    atomic.Bool
	arrived chan struct{}
	release chan struct{}
}

func (h *heldStore) SpendBudget(ctx context.Context, key string, now time.Time, interval time.Duration, burst int) (bool, time.Duration, error) {
	if h.held.CompareAndSwap(false, true) {
		close(h.arrived)
		<-h.release
	}
	return h.Budgets.SpendBudget(ctx, key, now, interval, burst)
}

// TestBudgetSpendsInClockOrder: two requests of one key at once, a budget
// of two. The first reads the clock and is held before its write (a
// loaded machine); the second reads it a little later. Both are taken.
// Before the key's spends took turns the second wrote first, at its later
// time, and the first, written after at its earlier time, was judged
// against the tat the second had pushed on and refused: the 429 the hosted
// flow's captures (CaptureBurst at once) met on a loaded machine.
func TestBudgetSpendsInClockOrder(t *testing.T) {
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "central.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var off atomic.Int64
	t0 := time.Now()
	now := func() time.Time { return t0.Add(time.Duration(off.Load())) }
	h := &heldStore{Budgets: s, arrived: make(chan struct{}), release: make(chan struct{})}
	b := httpx.NewBudget(h, "test", 2, time.Second, now)
	waiting := make(chan struct{}, 1)
	httpx.SetWaiting(b, func(string) {
		select {
		case waiting <- struct{}{}:
		default:
		}
	})
	type result struct {
		ok  bool
		err error
	}
	spend := func() <-chan result {
		c := make(chan result, 1)
		go func() {
			ok, _, err := b.Allow(context.Background(), "k")
			c <- result{ok, err}
		}()
		return c
	}
	first := spend()
	<-h.arrived
	off.Add(int64(100 * time.Millisecond))
	second := spend()
	got := map[string]result{}
	// The second either waits for the first's turn, or (spends not taking
	// turns) is written before it.
	select {
	case <-waiting:
	case r := <-second:
		got["second"] = r
		second = nil
	}
	close(h.release)
	got["first"] = <-first
	if second != nil {
		got["second"] = <-second
	}
	for name, r := range got {
		if r.err != nil || !r.ok {
			t.Errorf("the %s of 2 spends at once with a budget of 2: ok=%v err=%v", name, r.ok, r.err)
		}
	}
}
