package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openkyc/kyc/sync/central"
)

// Budgets (central.RateLimits) are rows of rate_limits: a key and the time
// its budget is full again (tat; no row is a budget never spent).
//
// A spend is one statement (spendSQL), SpendGCRA's arithmetic in SQL:
// every partner request and sign-in pays for one, one round trip instead
// of a transaction's four. Its update takes a unit only on the row's
// latest committed tat (a row another spend is writing is waited for and
// judged again), so spends of one key at once, from any instance, never
// over-admit; a refusal locks and writes nothing, so it waits for no
// commit to disk.
//
// The clock is read just before the statement, not under the row's lock,
// so a spend can reach the row after one that read the clock later. That
// matters only when it is refused (a unit taken at an earlier clock is
// taken at any later one): a refusal is judged again at the clock read
// after it, and spends again when a unit is there by then, up to
// spendTries times, and after those under the row's lock (spendLocked).
// Each spend is thus judged at a clock read after every spend committed
// before it, as central.RateLimits asks.

// budgetSweepEvery is how many spends pass between deletions of the keys
// whose budget is full again.
const budgetSweepEvery = 1024

// spendTries is how many single statements a spend gets before
// spendLocked, while each is refused where the clock read after it finds
// a unit.
const spendTries = 3

// spendT is the row's tat in spendSQL's update, pulled in when the clock
// was put back. It reads the row being updated, not a snapshot taken
// before, so a spend that waited for another's commit judges that commit's
// tat (a value from another CTE would be the snapshot's, and over-admit).
const spendT = `(CASE WHEN (EXTRACT(EPOCH FROM r.tat) * 1000000000)::bigint > p.now + p.span + p.slack
	THEN p.now + p.span - p.iv ELSE (EXTRACT(EPOCH FROM r.tat) * 1000000000)::bigint END)`

// spendSQL is SpendGCRA in one statement, in nanoseconds since the Unix
// epoch: $1 key, $2 now, $3 interval, $4 burst, $5 central.BudgetClockSlack.
// A tat beyond the spends' reach (the clock was put back) is pulled in as
// SpendGCRA does (spendT); next is the later of that and now plus the
// interval; the spend is taken when next - now is at
// most burst intervals, and tat becomes next (to the microsecond below, as
// pgx writes a time.Time). A key without a row has the epoch as its tat,
// and its row is inserted when the spend is taken (one that a spend
// elsewhere inserts first is not: no row comes back, and the spend tries
// again). It returns true when the spend is taken, else false and the tat
// it was refused at (the statement's snapshot; a spend that found the row
// newer than that and was refused there finds a unit at that tat and
// tries again).
const spendSQL = `
WITH p AS (
	SELECT $2::bigint AS now, $3::bigint AS iv, $4::bigint * $3::bigint AS span, $5::bigint AS slack
), u AS (
	UPDATE rate_limits r
	SET tat = to_timestamp(0) + ((GREATEST(` + spendT + `, p.now) + p.iv) / 1000) * interval '1 microsecond'
	FROM p
	WHERE r.key = $1 AND GREATEST(` + spendT + `, p.now) + p.iv - p.now <= p.span
	RETURNING true
), i AS (
	INSERT INTO rate_limits (key, tat)
	SELECT $1, to_timestamp(0) + ((GREATEST(0, p.now) + p.iv) / 1000) * interval '1 microsecond'
	FROM p
	WHERE GREATEST(0, p.now) + p.iv - p.now <= p.span AND NOT EXISTS (SELECT FROM rate_limits WHERE key = $1)
	ON CONFLICT (key) DO NOTHING
	RETURNING true
)
SELECT true, NULL::timestamptz FROM u
UNION ALL SELECT true, NULL FROM i
UNION ALL SELECT false, tat FROM rate_limits WHERE key = $1 AND NOT EXISTS (SELECT FROM u) AND NOT EXISTS (SELECT FROM i)`

// SpendBudget implements central.RateLimits: spendSQL, a refusal judged
// again at the clock after it (see above).
func (s *Store) SpendBudget(ctx context.Context, key string, now func() time.Time, interval time.Duration, burst int) (bool, time.Duration, error) {
	if s.budgets.Add(1)%budgetSweepEvery == 0 {
		if _, err := s.exec(ctx, `DELETE FROM rate_limits WHERE tat < $1`, now()); err != nil {
			return false, 0, fmt.Errorf("sweeping rate limits: %w", err)
		}
	}
	for range spendTries {
		var taken bool
		var tat *time.Time
		err := s.pool.QueryRow(ctx, spendSQL, key, now().UnixNano(), int64(interval), int64(central.CapBurst(interval, burst)), int64(central.BudgetClockSlack)).Scan(&taken, &tat)
		switch {
		case errors.Is(err, pgx.ErrNoRows): // no row, and the insert refused or beaten
			tat = new(time.Unix(0, 0))
		case err != nil:
			return false, 0, fmt.Errorf("spending rate limit: %w", err)
		case taken:
			return true, 0, nil
		}
		if _, ok, wait := central.SpendGCRA(*tat, now(), interval, burst); !ok {
			return false, wait, nil
		}
	}
	return s.spendLocked(ctx, key, now, interval, burst)
}

// spendLocked is a spend in a transaction that locks the key's row
// before it reads the clock (SELECT FOR UPDATE; a key without one is
// inserted with the epoch as its tat, a budget never spent, or the row
// another instance has just inserted is locked by the no-op update), then
// applies the spend: a spend of the key from any instance waits for this
// one's commit. Four round trips (the spend before spendSQL); only spends
// that keep meeting spends with later clocks come here.
func (s *Store) spendLocked(ctx context.Context, key string, now func() time.Time, interval time.Duration, burst int) (bool, time.Duration, error) {
	var ok bool
	var wait time.Duration
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var tat time.Time
		err := tx.QueryRow(ctx, `SELECT tat FROM rate_limits WHERE key = $1 FOR UPDATE`, key).Scan(&tat)
		if errors.Is(err, pgx.ErrNoRows) {
			err = tx.QueryRow(ctx, `INSERT INTO rate_limits AS r (key, tat) VALUES ($1, 'epoch')
				ON CONFLICT (key) DO UPDATE SET tat = r.tat RETURNING tat`, key).Scan(&tat)
		}
		if err != nil {
			return err
		}
		tat, ok, wait = central.SpendGCRA(tat, now(), interval, burst)
		if !ok {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE rate_limits SET tat = $2 WHERE key = $1`, key, tat)
		return err
	})
	if err != nil {
		return false, 0, fmt.Errorf("spending rate limit: %w", err)
	}
	return ok, wait, nil
}

// BudgetWait implements central.RateLimits: one read, then the clock.
func (s *Store) BudgetWait(ctx context.Context, key string, now func() time.Time, interval time.Duration, burst int) (time.Duration, error) {
	var tat time.Time
	err := s.pool.QueryRow(ctx, `SELECT tat FROM rate_limits WHERE key = $1`, key).Scan(&tat)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading rate limit: %w", err)
	}
	return central.WaitGCRA(tat, now(), interval, burst), nil
}
