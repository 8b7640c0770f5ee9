package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/openkyc/kyc/sync/central"
)

// bucketHosted holds the hosted flow's live state: key -> expiry (unix
// ns, 8 bytes big-endian) + value. Made on first write; few and short-lived
// values, so expiry scans it whole.
var bucketHosted = []byte("hosted-state")

var _ central.HostedStates = (*Store)(nil)

func hostedRecord(value []byte, expires time.Time) []byte {
	return append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(value)), uint64(expires.UnixNano())), value...)
}

// hostedLive reports whether a record is live at now.
func hostedLive(rec []byte, now time.Time) bool {
	return len(rec) >= 8 && int64(binary.BigEndian.Uint64(rec)) > now.UnixNano()
}

// PutHostedState implements central.HostedStates.
func (s *Store) PutHostedState(_ context.Context, key string, value []byte, expires time.Time) error {
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketHosted)
		if err != nil {
			return err
		}
		return b.Put([]byte(key), hostedRecord(value, expires))
	})
	if err != nil {
		return fmt.Errorf("storing hosted state: %w", err)
	}
	return nil
}

// CreateHostedState implements central.HostedStates.
func (s *Store) CreateHostedState(_ context.Context, key string, value []byte, now, expires time.Time) error {
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketHosted)
		if err != nil {
			return err
		}
		if hostedLive(b.Get([]byte(key)), now) {
			return central.ErrConflict
		}
		return b.Put([]byte(key), hostedRecord(value, expires))
	})
	if err != nil {
		return fmt.Errorf("storing hosted state: %w", err)
	}
	return nil
}

// HostedState implements central.HostedStates.
func (s *Store) HostedState(_ context.Context, key string, now time.Time) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketHosted)
		if b == nil {
			return central.ErrNotFound
		}
		rec := b.Get([]byte(key))
		if !hostedLive(rec, now) {
			return central.ErrNotFound
		}
		out = append([]byte(nil), rec[8:]...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading hosted state: %w", err)
	}
	return out, nil
}

// DeleteHostedState implements central.HostedStates.
func (s *Store) DeleteHostedState(_ context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketHosted)
		if b == nil {
			return nil
		}
		for _, k := range keys {
			if err := b.Delete([]byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("deleting hosted state: %w", err)
	}
	return nil
}

// ExpireHostedState implements central.HostedStates.
func (s *Store) ExpireHostedState(_ context.Context, now time.Time, limit int) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketHosted)
		if b == nil {
			return nil
		}
		var old [][]byte
		c := b.Cursor()
		for k, v := c.First(); k != nil && len(old) < max(limit, 1); k, v = c.Next() {
			if !hostedLive(v, now) || hostedLive(v, now.Add(central.HostedStateMaxTTL)) {
				old = append(old, append([]byte(nil), k...))
			}
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(old)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("expiring hosted state: %w", err)
	}
	return n, nil
}

var _ central.HostedKeyStore = (*Store)(nil)

// HostedStateHeads implements central.HostedKeyStore.
func (s *Store) HostedStateHeads(_ context.Context, after string, n, limit int) ([]central.HostedHead, error) {
	var out []central.HostedHead
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketHosted)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		k, v := c.Seek([]byte(after))
		if k != nil && string(k) == after {
			k, v = c.Next()
		}
		for ; k != nil && len(out) < max(limit, 1); k, v = c.Next() {
			if len(v) < 8 {
				continue
			}
			head := v[8:]
			head = head[:min(len(head), max(n, 0))]
			out = append(out, central.HostedHead{Key: string(k), Head: bytes.Clone(head)})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing hosted state: %w", err)
	}
	return out, nil
}

// SwapHostedStateHeads implements central.HostedKeyStore.
func (s *Store) SwapHostedStateHeads(_ context.Context, swaps []central.HostedHeadSwap) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bbolt.Tx) error {
		n = 0
		b := tx.Bucket(bucketHosted)
		if b == nil {
			return nil
		}
		for _, sw := range swaps {
			rec := b.Get([]byte(sw.Key))
			if len(rec) < 8 || !bytes.HasPrefix(rec[8:], sw.Old) {
				continue
			}
			out := make([]byte, 0, len(rec)-len(sw.Old)+len(sw.New))
			out = append(out, rec[:8]...)
			out = append(out, sw.New...)
			out = append(out, rec[8+len(sw.Old):]...)
			if err := b.Put([]byte(sw.Key), out); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("rewrapping hosted state: %w", err)
	}
	return n, nil
}
