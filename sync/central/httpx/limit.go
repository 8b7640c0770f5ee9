package httpx

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Slots bounds concurrent work: Acquire takes a slot without waiting,
// Wait waits for one.
type Slots struct {
	ch chan struct{}
}

// NewSlots returns n slots.
func NewSlots(n int) *Slots { return &Slots{ch: make(chan struct{}, n)} }

// Acquire takes a slot, or reports false when all are taken.
func (s *Slots) Acquire() bool {
	select {
	case s.ch <- struct{}{}:
		return true
	default:
		return false
	}
}

// Wait takes a slot, waiting for one until ctx is done; false then. A
// free slot is taken even if ctx is done.
func (s *Slots) Wait(ctx context.Context) bool {
	if s.Acquire() {
		return true
	}
	select {
	case s.ch <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// Release returns a slot taken by Acquire or Wait.
func (s *Slots) Release() { <-s.ch }

// InUse is the number of slots taken.
func (s *Slots) InUse() int { return len(s.ch) }

// Cap is the number of slots.
func (s *Slots) Cap() int { return cap(s.ch) }

// KeyedSlots bounds concurrent work per key (a device): at most n at once
// for each key. Keys without work hold no memory.
type KeyedSlots struct {
	n  int
	mu sync.Mutex
	m  map[string]int
}

// NewKeyedSlots returns n slots per key.
func NewKeyedSlots(n int) *KeyedSlots { return &KeyedSlots{n: n, m: map[string]int{}} }

// Acquire takes one of key's slots, or reports false when all are taken.
func (k *KeyedSlots) Acquire(key string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m[key] >= k.n {
		return false
	}
	k.m[key]++
	return true
}

// Release returns a slot of key taken by Acquire.
func (k *KeyedSlots) Release(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m[key]--; k.m[key] <= 0 {
		delete(k.m, key)
	}
}

// FailureLimiter rate-limits failures per key (a client address) in this
// process's memory; where instances share a store, Budget keeps the same
// budget there instead. Each key may fail burst times at once, then once
// per interval. A key whose budget is spent is Blocked until it refills.
// Keys whose budget is full again are forgotten, so the map stays as small
// as the set of recent offenders (bounded by maxKeys: past it, the fullest
// keys are forgotten first).
type FailureLimiter struct {
	every   rate.Limit
	burst   int
	maxKeys int
	now     func() time.Time

	mu    sync.Mutex
	m     map[string]*rate.Limiter
	swept time.Time
}

// NewFailureLimiter allows burst failures per key, refilled one per
// interval. now is the clock (nil: time.Now).
func NewFailureLimiter(burst int, interval time.Duration, now func() time.Time) *FailureLimiter {
	if now == nil {
		now = time.Now
	}
	return &FailureLimiter{every: rate.Every(interval), burst: burst, maxKeys: 100_000, now: now, m: map[string]*rate.Limiter{}}
}

// Blocked reports whether key has no failure budget left, and when to try
// again.
func (f *FailureLimiter) Blocked(key string) (bool, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.m[key]
	if !ok {
		return false, 0
	}
	now := f.now()
	tok := l.TokensAt(now)
	if tok >= 1 {
		return false, 0
	}
	return true, time.Duration((1 - tok) / float64(f.every) * float64(time.Second))
}

// Take spends one of key's budget, or reports false and when one is
// there: the same per-key budget, spent on every request (a device's
// requests, package central) rather than on failures.
func (f *FailureLimiter) Take(key string) (bool, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	l := f.limiter(key, now)
	if l.AllowN(now, 1) {
		return true, 0
	}
	return false, time.Duration((1 - l.TokensAt(now)) / float64(f.every) * float64(time.Second))
}

// Fail spends one of key's failures.
func (f *FailureLimiter) Fail(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	f.limiter(key, now).AllowN(now, 1)
}

// limiter is key's budget, made full if it has none; f.mu is held.
func (f *FailureLimiter) limiter(key string, now time.Time) *rate.Limiter {
	f.sweep(now)
	l, ok := f.m[key]
	if !ok {
		l = rate.NewLimiter(f.every, f.burst)
		f.m[key] = l
	}
	return l
}

// sweep forgets keys whose budget is full again, at most once a second,
// or at once when the map has grown past maxKeys.
func (f *FailureLimiter) sweep(now time.Time) {
	if now.Sub(f.swept) < time.Second && len(f.m) < f.maxKeys {
		return
	}
	f.swept = now
	for k, l := range f.m {
		if l.TokensAt(now) >= float64(f.burst) {
			delete(f.m, k)
		}
	}
	for k := range f.m { // still too many: forget arbitrary ones
		if len(f.m) < f.maxKeys {
			break
		}
		delete(f.m, k)
	}
}

// AddrKey is the key a budget spends for key (and what a caller keys an
// address's count by, within a key of its own): an IPv6 address stands for
// its /64, since one subscriber or host is given a whole /64 and could
// otherwise take a fresh budget for every guess; an IPv4-mapped address is
// its IPv4 one. Other keys (a partner, a session) are kept as they are.
func AddrKey(key string) string {
	a, err := netip.ParseAddr(key)
	if err != nil {
		return key
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	return netip.PrefixFrom(a, 64).Masked().String()
}

// Budgets is where a Budget keeps its keys: central's store
// (central.RateLimits), shared by every instance.
type Budgets interface {
	SpendBudget(ctx context.Context, key string, now func() time.Time, interval time.Duration, burst int) (ok bool, wait time.Duration, err error)
	BudgetWait(ctx context.Context, key string, now func() time.Time, interval time.Duration, burst int) (time.Duration, error)
}

// Budget rate-limits by key (a client address, a partner) in a store that
// instances share: each key may spend burst units at once, then one per
// interval. Failure budgets spend on failures (Fail) and refuse once
// spent (Blocked); request rate limits spend on every request (Allow).
// Keys are prefixed with the budget's name, so budgets share the store.
//
// The store reads the clock inside its write of the key
// (central.RateLimits), so a key's spends, here or in another instance,
// are judged in the order they commit: a burst sent at once is not refused
// for a spend held between a clock reading and its write.
type Budget struct {
	store    Budgets
	name     string
	burst    int
	interval time.Duration
	now      func() time.Time
}

// NewBudget returns the budget name in store. now is the clock (nil:
// time.Now).
func NewBudget(store Budgets, name string, burst int, interval time.Duration, now func() time.Time) *Budget {
	if now == nil {
		now = time.Now
	}
	return &Budget{store: store, name: name + ":", burst: burst, interval: interval, now: now}
}

// Blocked reports whether key has no unit left, and when to try again.
func (b *Budget) Blocked(ctx context.Context, key string) (bool, time.Duration, error) {
	wait, err := b.store.BudgetWait(ctx, b.name+AddrKey(key), b.now, b.interval, b.burst)
	if err != nil {
		return false, 0, fmt.Errorf("reading the %s budget: %w", strings.TrimSuffix(b.name, ":"), err)
	}
	return wait > 0, wait, nil
}

// Fail spends one of key's units (a failure); with none left it changes
// nothing.
func (b *Budget) Fail(ctx context.Context, key string) error {
	_, _, err := b.Allow(ctx, key)
	return err
}

// Allow spends one of key's units, or reports false and when one is there.
// The store reads the clock in its write (Budget).
func (b *Budget) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	ok, wait, err := b.store.SpendBudget(ctx, b.name+AddrKey(key), b.now, b.interval, b.burst)
	if err != nil {
		return false, 0, fmt.Errorf("spending the %s budget: %w", strings.TrimSuffix(b.name, ":"), err)
	}
	return ok, wait, nil
}
