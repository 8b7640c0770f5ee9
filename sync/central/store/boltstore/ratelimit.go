package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"time"

	"go.etcd.io/bbolt"

	"github.com/openkyc/kyc/sync/central"
)

// Budgets (central.RateLimits): key -> the time its budget is full again
// (timeKey). Only spends write (a failed authentication, a rate-limited
// request), through Batch.
var bucketBudgets = []byte("rate-limits")

// budgetSweepEvery is how many spends pass between deletions of the keys
// whose budget is full again (the bucket holds recent offenders only).
const budgetSweepEvery = 1024

// SpendBudget implements central.RateLimits: the clock is read in the
// batch's write transaction, where the key's earlier spends are applied
// and no later one can be (bbolt has one writer). A batch member run again
// reads it again.
func (s *Store) SpendBudget(ctx context.Context, key string, now func() time.Time, interval time.Duration, burst int) (bool, time.Duration, error) {
	sweep := s.budgets.Add(1)%budgetSweepEvery == 0
	var ok bool
	var wait time.Duration
	err := s.batch(ctx, "spending rate limit", func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketBudgets)
		if err != nil {
			return err
		}
		now := now()
		if sweep {
			if err := sweepBudgets(b, now); err != nil {
				return err
			}
		}
		var tat time.Time
		if v := b.Get([]byte(key)); v != nil {
			tat = timeOf(v)
		}
		tat, ok, wait = central.SpendGCRA(tat, now, interval, burst)
		if !ok {
			return nil
		}
		return b.Put([]byte(key), timeKey(tat))
	})
	if err != nil {
		return false, 0, err
	}
	return ok, wait, nil
}

// BudgetWait implements central.RateLimits.
func (s *Store) BudgetWait(ctx context.Context, key string, now func() time.Time, interval time.Duration, burst int) (time.Duration, error) {
	var tat time.Time
	err := s.view(ctx, "reading rate limit", func(tx *bbolt.Tx) error {
		if b := tx.Bucket(bucketBudgets); b != nil {
			if v := b.Get([]byte(key)); v != nil {
				tat = timeOf(v)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return central.WaitGCRA(tat, now(), interval, burst), nil
}

// sweepBudgets deletes the keys whose budget is full again at now.
func sweepBudgets(b *bbolt.Bucket, now time.Time) error {
	end := timeKey(now)
	var gone [][]byte
	if err := b.ForEach(func(k, v []byte) error {
		if bytes.Compare(v, end) < 0 {
			gone = append(gone, bytes.Clone(k))
		}
		return nil
	}); err != nil {
		return err
	}
	for _, k := range gone {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// timeOf reads a timeKey.
func timeOf(k []byte) time.Time { return time.Unix(0, int64(binary.BigEndian.Uint64(k))) }
