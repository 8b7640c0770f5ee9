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

// heldStore holds the first spend on its way to the store's write until
// release is closed.
type heldStore struct {
	httpx.Budgets
	held    atomic.Bool
	arrived chan struct{}
	release chan struct{}
}

func (h *heldStore) SpendBudget(ctx context.Context, key string, now func() time.Time, interval time.Duration, burst int) (bool, time.Duration, error) {
	if h.held.CompareAndSwap(false, true) {
		close(h.arrived)
		<-h.release
	}
	return h.Budgets.SpendBudget(ctx, key, now, interval, burst)
}

// TestBudgetSpendsInClockOrder: two requests of one key at once, a budget
// of two. The first is held on its way to the store's write (a loaded
// machine); the clock moves on and the second is written first. Both are
// taken: the store reads each spend's clock in its write, so the first is
// judged at a time after the second's. When Allow read the clock before
// the store, the first, written after at its earlier time, was judged
// against the tat the second had pushed on and refused: the 429 the hosted
// flow's captures (CaptureBurst at once) met on a loaded machine. The
// second is not held behind the first in this instance either.
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
	got := map[string]result{"second": <-spend()}
	close(h.release)
	got["first"] = <-first
	for name, r := range got {
		if r.err != nil || !r.ok {
			t.Errorf("the %s of 2 spends at once with a budget of 2: ok=%v err=%v", name, r.ok, r.err)
		}
	}
}
