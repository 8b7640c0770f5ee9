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
// its budget is full again (tat). A spend is one transaction that locks
// the key's row before it reads the clock, so instances spending one key
// at once each see the other's unit and read the clock after it.

// budgetSweepEvery is how many spends pass between deletions of the keys
// whose budget is full again.
const budgetSweepEvery = 1024

// SpendBudget implements central.RateLimits. The key's row is locked
// first (SELECT FOR UPDATE; a key without one is inserted with the epoch
// as its tat, a budget never spent, or the row another instance has just
// inserted is locked by the no-op update), then the clock is read and the
// spend applied: a spend of the key from any instance waits for this
// one's commit, and reads the clock after it. A refused spend writes no
// row version.
func (s *Store) SpendBudget(ctx context.Context, key string, now func() time.Time, interval time.Duration, burst int) (bool, time.Duration, error) {
	if s.budgets.Add(1)%budgetSweepEvery == 0 {
		if _, err := s.exec(ctx, `DELETE FROM rate_limits WHERE tat < $1`, now()); err != nil {
			return false, 0, fmt.Errorf("sweeping rate limits: %w", err)
		}
	}
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

// BudgetWait implements central.RateLimits.
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
