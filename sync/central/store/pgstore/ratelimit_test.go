package pgstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openkyc/kyc/sync/central"
)

// TestSpendSQLIsSpendGCRA: the statement's arithmetic is SpendGCRA's for
// tats before, at and after now (and beyond the spends' reach, left by a
// clock put back), nanosecond clocks and intervals, bursts of 1 to 600,
// and a key never spent: the same taken or refused, the same
// new tat (to the microsecond pgx writes), a refusal's exact wait, and a
// refused spend writes no row version (xmin unchanged).
func TestSpendSQLIsSpendGCRA(t *testing.T) {
	s := openFresh(t)
	defer s.Close()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(36, 1))
	base := time.Date(2026, 12, 5, 16, 0, 0, 123456789, time.UTC)
	type tc struct {
		tat      *time.Duration // relative to now; nil: no row
		interval time.Duration
		burst    int
	}
	d := func(x time.Duration) *time.Duration { return &x }
	cases := []tc{
		{nil, time.Second, 1}, {nil, 10 * time.Second, 3}, {nil, time.Minute / 7, 600},
		{d(0), time.Second, 1}, {d(time.Second), time.Second, 1}, {d(time.Second - 1), time.Second, 2},
		{d(time.Second), time.Second, 2}, {d(time.Second + time.Microsecond), time.Second, 2},
		{d(-time.Hour), time.Second, 1}, {d(29 * time.Second), 10 * time.Second, 3},
		{d(20*time.Second + 1), 10 * time.Second, 3}, {d(20 * time.Second), 10 * time.Second, 3},
		// Tats a clock put back left beyond the spends' reach (central.BudgetClockSlack past it is pulled in).
		{d(30*time.Second + central.BudgetClockSlack), 10 * time.Second, 3},
		{d(30*time.Second + central.BudgetClockSlack + time.Microsecond), 10 * time.Second, 3},
		{d(time.Hour), time.Second, 5}, {d(5 * 365 * 24 * time.Hour), time.Minute, 1},
	}
	for range 300 {
		iv := time.Duration(1 + rng.Int64N(int64(time.Minute)))
		b := 1 + rng.IntN(20)
		off := time.Duration(rng.Int64N(int64(b+2)*int64(iv))) - 2*iv
		cases = append(cases, tc{d(off), iv, b})
	}
	for i, c := range cases {
		key := fmt.Sprintf("k%d", i)
		now := base.Add(time.Duration(rng.Int64N(int64(time.Hour))))
		tat := time.Unix(0, 0)
		var xmin uint32
		if c.tat != nil {
			if err := s.pool.QueryRow(ctx, `INSERT INTO rate_limits (key, tat) VALUES ($1, $2) RETURNING tat, xmin::text::bigint`, key, now.Add(*c.tat)).Scan(&tat, &xmin); err != nil {
				t.Fatal(err)
			}
		}
		wantTAT, wantOK, wantWait := central.SpendGCRA(tat, now, c.interval, c.burst)
		var taken bool
		var refusedAt *time.Time
		err := s.pool.QueryRow(ctx, spendSQL, key, now.UnixNano(), int64(c.interval), int64(c.burst), int64(central.BudgetClockSlack)).Scan(&taken, &refusedAt)
		if c.tat == nil && !wantOK && errors.Is(err, pgx.ErrNoRows) {
			err, refusedAt = nil, &tat // no row, none inserted
		}
		if err != nil || taken != wantOK || (!taken && !refusedAt.Equal(tat)) {
			t.Fatalf("case %d %+v: statement = %v, %v, %v; SpendGCRA ok=%v at %v", i, c, taken, refusedAt, err, wantOK, tat)
		}
		var gotTAT time.Time
		var gotXmin uint32
		err = s.pool.QueryRow(ctx, `SELECT tat, xmin::text::bigint FROM rate_limits WHERE key = $1`, key).Scan(&gotTAT, &gotXmin)
		switch {
		case wantOK && (err != nil || !gotTAT.Equal(wantTAT.Truncate(time.Microsecond))):
			t.Fatalf("case %d %+v: tat %v, %v; want %v", i, c, gotTAT, err, wantTAT.Truncate(time.Microsecond))
		case !wantOK && c.tat != nil && (err != nil || !gotTAT.Equal(tat) || gotXmin != xmin):
			t.Fatalf("case %d %+v: refused, row %v xmin %d, %v; want %v xmin %d", i, c, gotTAT, gotXmin, err, tat, xmin)
		}
		if wantOK {
			continue
		}
		// SpendBudget's refusal and its wait, at the same clock.
		ok, wait, err := s.SpendBudget(ctx, key, func() time.Time { return now }, c.interval, c.burst)
		if err != nil || ok || wait != wantWait {
			t.Fatalf("case %d %+v: SpendBudget = %v, %v, %v; want refused, wait %v", i, c, ok, wait, err, wantWait)
		}
	}
}

// TestSpendInstancesAtOnce: four instances (pools) spending one key at
// once, 48 spends at one clock against a budget of 5, a fresh key: exactly
// 5 taken, and the refused ones wait the intervals the budget needs.
func TestSpendInstancesAtOnce(t *testing.T) {
	first := openFresh(t)
	defer first.Close()
	ctx := context.Background()
	stores := []*Store{first}
	for range 3 {
		s, err := Open(ctx, first.pool.Config().ConnString())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores = append(stores, s)
	}
	t0 := time.Date(2026, 12, 5, 16, 0, 0, 0, time.UTC)
	clock := func() time.Time { return t0 }
	const n, burst, every = 48, 5, time.Minute
	var mu sync.Mutex
	taken, waits := 0, map[time.Duration]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			ok, wait, err := stores[i%len(stores)].SpendBudget(ctx, "partner:p", clock, every, burst)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Error(err)
			} else if ok {
				taken++
			} else {
				waits[wait]++
			}
		})
	}
	close(start)
	wg.Wait()
	if taken != burst || waits[every] != n-burst {
		t.Errorf("%d spends at once of a budget of %d: %d taken, waits %v; want %d taken, the rest waiting %v", n, burst, taken, waits, burst, every)
	}
}

// BenchmarkSpendBudget: a spend as one statement (SpendBudget) against
// the transaction it replaced (spendLocked), taken (a budget never
// exhausted) and refused (a budget of one, spent), one spend at a time:
// the latency a partner request or sign-in pays. The two alternate within
// each iteration, so a machine whose load changes during the run weighs
// on both alike; each reports its own ns/op (locked-ns/op,
// statement-ns/op) and their ratio.
func BenchmarkSpendBudget(b *testing.B) {
	s := openFresh(b)
	defer s.Close()
	ctx := context.Background()
	t0 := time.Now()
	type spendFunc func(context.Context, string, func() time.Time, time.Duration, int) (bool, time.Duration, error)
	impls := []struct {
		name  string
		spend spendFunc
	}{{"locked", s.spendLocked}, {"statement", s.SpendBudget}}
	run := func(b *testing.B, want bool, key func(impl string, n int) string, clock func() time.Time, interval time.Duration, burst int) {
		spent := make([]time.Duration, len(impls))
		for n := 0; b.Loop(); n++ {
			for i, impl := range impls {
				start := time.Now()
				ok, _, err := impl.spend(ctx, key(impl.name, n), clock, interval, burst)
				spent[i] += time.Since(start)
				if err != nil || ok != want {
					b.Fatal(impl.name, ok, err)
				}
			}
		}
		for i, impl := range impls {
			b.ReportMetric(float64(spent[i].Nanoseconds())/float64(b.N), impl.name+"-ns/op")
		}
		b.ReportMetric(float64(spent[0])/float64(spent[1]), "locked/statement")
	}
	var i int64
	clock := func() time.Time { i++; return t0.Add(time.Duration(i) * time.Millisecond) }
	taken := func(impl string, n int) string { return fmt.Sprintf("%s:%d", impl, n%64) }
	b.Run("taken", func(b *testing.B) { run(b, true, taken, clock, time.Millisecond, 1_000_000) })
	b.Run("refused", func(b *testing.B) {
		clock := func() time.Time { return t0 }
		for _, impl := range impls {
			if _, _, err := impl.spend(ctx, impl.name+":spent", clock, time.Hour, 1); err != nil {
				b.Fatal(err)
			}
		}
		run(b, false, func(impl string, _ int) string { return impl + ":spent" }, clock, time.Hour, 1)
	})
	// Without waiting for the commit's WAL flush, which a taken spend
	// pays either way: what the round trips cost.
	b.Run("taken-async-commit", func(b *testing.B) {
		if _, err := s.pool.Exec(ctx, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET synchronous_commit = off', current_database()); END $$`); err != nil {
			b.Fatal(err)
		}
		s.pool.Reset() // new connections take the setting
		run(b, true, taken, clock, time.Millisecond, 1_000_000)
	})
}

// TestSpendRefusalWaitsForNoLock: a refused spend locks and writes
// nothing, so it is answered while another transaction holds the key's
// row (a spend under the row's lock, spendLocked, waited for its commit).
func TestSpendRefusalWaitsForNoLock(t *testing.T) {
	s := openFresh(t)
	defer s.Close()
	ctx := context.Background()
	t0 := time.Date(2026, 12, 5, 16, 0, 0, 0, time.UTC)
	clock := func() time.Time { return t0 }
	if ok, _, err := s.SpendBudget(ctx, "addr:x", clock, time.Minute, 1); err != nil || !ok {
		t.Fatalf("first spend = %v, %v", ok, err)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT tat FROM rate_limits WHERE key = 'addr:x' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ok, wait, err := s.SpendBudget(short, "addr:x", clock, time.Minute, 1)
	if err != nil || ok || wait != time.Minute {
		t.Errorf("a spend past the budget while the row is locked = %v, %v, %v; want refused at once, wait 1m", ok, wait, err)
	}
}

// TestSpendHugeBurst: a burst whose intervals overflow an int64 (the load
// test's unlimited submissions, math.MaxInt32 at a minute) is a budget
// capped at a century of units, not a bigint error failing the request.
func TestSpendHugeBurst(t *testing.T) {
	s := openFresh(t)
	defer s.Close()
	now := time.Now()
	for i := range 3 {
		ok, _, err := s.SpendBudget(context.Background(), "huge", func() time.Time { return now }, time.Minute, math.MaxInt32)
		if err != nil || !ok {
			t.Fatalf("spend %d of an unlimited budget: %v, %v", i, ok, err)
		}
	}
}
