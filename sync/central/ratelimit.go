package central

import (
	"context"
	"time"
)

// RateLimits keeps budgets by key (a client address's failed
// authentications, a partner's requests) in the store, so every instance
// sharing it counts against one budget and a restart forgets none. A
// budget holds burst units and gains one per interval (GCRA: the store
// keeps one time per key, when the budget is full again); httpx.Budget
// uses it.
//
// The store reads the clock (now) itself, inside its write of the key:
// after every spend of the key committed before, before this one commits.
// Spends are then judged in the order they commit, each at a time no
// earlier than the last's. A clock read by the caller before the write is
// not: a spend held between its reading and its write (a loaded machine, a
// bolt batch, a row lock) while one that read the clock later committed
// first is judged against the tat that later time pushed on, and the last
// of a burst sent at once is refused (429) with the budget not spent. A
// store may read the clock just before a one-statement write instead
// (pgstore) when it judges each refusal again at the clock read after it:
// a unit taken at a clock is taken at any later one, so only refusals
// depend on when the clock was read.
type RateLimits interface {
	// SpendBudget spends one unit of key's budget at now(), read inside
	// the write. With none left it spends nothing and returns false and
	// how long until a unit is there.
	SpendBudget(ctx context.Context, key string, now func() time.Time, interval time.Duration, burst int) (ok bool, wait time.Duration, err error)
	// BudgetWait returns how long from now() until key's budget has a
	// unit (0 when it has one), spending nothing; now is read after the
	// key is.
	BudgetWait(ctx context.Context, key string, now func() time.Time, interval time.Duration, burst int) (time.Duration, error)
}

// SpendGCRA is the budget arithmetic for stores that do it in Go: tat is
// when key's budget is full again (zero for a key never spent). It returns
// the new tat and whether a unit was spent, or how long until one is.
//
// A tat later than burst intervals (and BudgetClockSlack) after now
// cannot come from spends judged by a clock that only moves on: it was
// pushed there while the clock read later than it does now (put back by
// NTP, or set years ahead and corrected). Taken as it is, it would refuse
// the key for as long as the clock was off, an hour or years, however
// little the key spent. It is taken as a budget with one unit left, so the
// spend that finds it is taken and writes a tat by the clock as it reads
// now (a refused spend writes nothing, and a budget taken as empty would
// stay so).
func SpendGCRA(tat, now time.Time, interval time.Duration, burst int) (newTAT time.Time, ok bool, wait time.Duration) {
	burst = CapBurst(interval, burst)
	if last := now.Add(time.Duration(burst-1) * interval); tat.After(last.Add(interval + BudgetClockSlack)) {
		tat = last
	}
	next := laterOf(tat, now).Add(interval)
	if over := next.Sub(now) - time.Duration(burst)*interval; over > 0 {
		return tat, false, over
	}
	return next, true, 0
}

// BudgetClockSlack is how far past its spends' reach a budget's time may
// be before SpendGCRA takes the clock as put back. It exceeds what the
// clocks of instances sharing the store differ by: one a little behind
// another would otherwise pull in each time it spends what the other
// pushed on, and grant a partner at its limit a unit at every call.
const BudgetClockSlack = time.Minute

// maxBudgetSpan bounds a budget's burst intervals: a budget of more than
// a century of units is unlimited anyway, and burst times interval must
// not overflow (Go wraps it; PostgreSQL's bigint refuses it, failing the
// request).
const maxBudgetSpan = 100 * 365 * 24 * time.Hour

// CapBurst is burst, at most as many units as maxBudgetSpan holds at
// interval: what SpendGCRA and the stores that spend in SQL count with.
func CapBurst(interval time.Duration, burst int) int {
	if interval > 0 && int64(burst) > int64(maxBudgetSpan/interval) {
		return int(maxBudgetSpan / interval)
	}
	return burst
}

// WaitGCRA is how long from now until a budget whose tat is given has a
// unit (SpendGCRA's wait, spending nothing).
func WaitGCRA(tat, now time.Time, interval time.Duration, burst int) time.Duration {
	_, _, wait := SpendGCRA(tat, now, interval, burst)
	return wait
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
