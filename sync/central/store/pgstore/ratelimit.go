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
// its budget is full again (tat). A spend is one statement, so instances
// spending one key at once each see the other's unit.

// budgetSweepEvery is how many spends pass between deletions of the keys
// whose budget is full again.
const budgetSweepEvery = 1024

// SpendBudget implements central.RateLimits.
func (s *Store) SpendBudget(ctx context.Context, key string, now time.Time, interval time.Duration, burst int) (bool, time.Duration, error) {
	if s.budgets.Add(1)%budgetSweepEvery == 0 {
		if _, err := s.exec(ctx, `DELETE FROM rate_limits WHERE tat < $1`, now); err != nil {
			return false, 0, fmt.Errorf("sweeping rate limits: %w", err)
		}
	}
	// The new tat is the later of tat and now, plus an interval; it is
	// refused past burst intervals from now.
	var tat time.Time
	err := s.pool.QueryRow(ctx, `INSERT INTO rate_limits AS r (key, tat) VALUES ($1, $2::timestamptz + $3 * interval '1 microsecond')
		ON CONFLICT (key) DO UPDATE SET tat = greatest(r.tat, $2) + $3 * interval '1 microsecond'
		WHERE greatest(r.tat, $2) + $3 * interval '1 microsecond' <= $2::timestamptz + $4 * interval '1 microsecond'
		RETURNING tat`, key, now, interval.Microseconds(), (time.Duration(burst) * interval).Microseconds()).Scan(&tat)
	if err == nil {
		return true, 0, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return false, 0, fmt.Errorf("spending rate limit: %w", err)
	}
	wait, err := s.BudgetWait(ctx, key, now, interval, burst)
	if err != nil {
		return false, 0, err
	}
	return false, max(wait, time.Microsecond), nil
}

// BudgetWait implements central.RateLimits.
func (s *Store) BudgetWait(ctx context.Context, key string, now time.Time, interval time.Duration, burst int) (time.Duration, error) {
	var tat time.Time
	err := s.pool.QueryRow(ctx, `SELECT tat FROM rate_limits WHERE key = $1`, key).Scan(&tat)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading rate limit: %w", err)
	}
	return central.WaitGCRA(tat, now, interval, burst), nil
}
