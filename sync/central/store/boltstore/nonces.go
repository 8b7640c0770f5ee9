package boltstore

import (
	"bytes"
	"context"
	"time"

	"go.etcd.io/bbolt"

	"github.com/openkyc/kyc/sync/central"
)

// Request nonces are in the file, so a request captured before a restart
// is refused after it too. Each is written through Batch: concurrent
// requests share one fsync.
var (
	bucketNonces    = []byte("nonces")     // device \0 nonce -> expiry (timeKey)
	bucketNoncesDue = []byte("nonces-due") // expiry (unix ns) + device \0 nonce -> nil
)

// nonceSweepEvery is how many nonces are recorded between sweeps of the
// expired ones; a sweep deletes at most nonceSweep.
const (
	nonceSweepEvery = 256
	nonceSweep      = 4096
)

// UseNonce implements central.Store.
func (s *Store) UseNonce(ctx context.Context, deviceID, nonce string, now, expires time.Time) error {
	k := []byte(deviceID + "\x00" + nonce)
	sweep := s.nonces.Add(1)%nonceSweepEvery == 0
	return s.batch(ctx, "recording nonce", func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketNonces)
		if err != nil {
			return err
		}
		due, err := tx.CreateBucketIfNotExists(bucketNoncesDue)
		if err != nil {
			return err
		}
		if sweep {
			if err := sweepNonces(b, due, now); err != nil {
				return err
			}
		}
		if v := b.Get(k); v != nil && bytes.Compare(v, timeKey(now)) >= 0 {
			return central.ErrReplay
		}
		if err := b.Put(k, timeKey(expires)); err != nil {
			return err
		}
		return due.Put(append(timeKey(expires), k...), nil)
	})
}

// sweepNonces deletes nonces expired before now.
func sweepNonces(b, due *bbolt.Bucket, now time.Time) error {
	end := timeKey(now)
	var gone [][]byte
	c := due.Cursor()
	for k, _ := c.First(); k != nil && bytes.Compare(k[:8], end) < 0 && len(gone) < nonceSweep; k, _ = c.Next() {
		gone = append(gone, bytes.Clone(k))
	}
	for _, k := range gone {
		if err := due.Delete(k); err != nil {
			return err
		}
		// A nonce used again later has a newer expiry: keep it.
		if v := b.Get(k[8:]); v != nil && bytes.Equal(v, k[:8]) {
			if err := b.Delete(k[8:]); err != nil {
				return err
			}
		}
	}
	return nil
}
