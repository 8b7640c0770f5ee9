package boltstore

import (
	"bytes"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/openkyc/kyc/sync/central"
)

// The tombstones of erased submissions (central.ErrErased): the device id
// and submission key, and when the submission was received (or attested,
// if later: central.Submission.TombstoneFrom), nothing else.
var (
	bucketErased    = []byte("erased-keys")     // subKey -> from (timeKey)
	bucketErasedDue = []byte("erased-keys-due") // from (timeKey) + subKey -> nil
	erasedBuckets   = [][]byte{bucketErased, bucketErasedDue}
)

// eraseSubmission deletes a submission whole inside tx and keeps its
// tombstone, which beginSubmission refuses until expireErased sweeps it:
// erasure on request and retention's deletion alike, of a device's
// submission (a hosted flow's keeps none).
func eraseSubmission(tx *bbolt.Tx, deviceID, key string) error {
	k := subKey(deviceID, key)
	var sub central.Submission
	if err := get(tx.Bucket(bucketSubs), k, &sub); err != nil {
		return err
	}
	if err := deleteSubmission(tx, deviceID, key); err != nil {
		return err
	}
	if central.IsHostedDevice(deviceID) {
		// No device sends a hosted flow's submission, and a partner's
		// session id used again after retention names the same one.
		return nil
	}
	b, due := tx.Bucket(bucketErased), tx.Bucket(bucketErasedDue)
	if old := b.Get(k); old != nil {
		if err := due.Delete(append(bytes.Clone(old), k...)); err != nil {
			return err
		}
	}
	at := timeKey(sub.TombstoneFrom())
	if err := b.Put(k, at); err != nil {
		return err
	}
	return due.Put(append(at, k...), nil)
}

// erased reports whether the submission key k has a tombstone.
func erased(tx *bbolt.Tx, k []byte) bool { return tx.Bucket(bucketErased).Get(k) != nil }

// expireErased deletes at most limit tombstones dated (TombstoneFrom)
// before before, oldest first.
func expireErased(tx *bbolt.Tx, before time.Time, limit int) (int, error) {
	end := timeKey(before)
	var due [][]byte
	c := tx.Bucket(bucketErasedDue).Cursor()
	for k, _ := c.First(); k != nil && len(due) < limit && bytes.Compare(k[:8], end) < 0; k, _ = c.Next() {
		due = append(due, bytes.Clone(k))
	}
	for _, k := range due {
		if err := tx.Bucket(bucketErasedDue).Delete(k); err != nil {
			return 0, err
		}
		if err := tx.Bucket(bucketErased).Delete(k[8:]); err != nil {
			return 0, err
		}
	}
	return len(due), nil
}

// Tombstones lists the submissions whose tombstones the store file open
// as db holds (read-only is enough): a restore over that store carries
// them into the copy it puts back (backup.Restore), so that a copy taken
// before an erasure does not bring the erased submissions back. A store
// of a format before the tombstones holds none.
func Tombstones(db *bbolt.DB) ([]central.SubmissionRef, error) {
	var out []central.SubmissionRef
	err := db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketErased)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error {
			dev, key, ok := bytes.Cut(k, []byte{0})
			if !ok {
				return fmt.Errorf("%w: a tombstone's key %q names no submission", ErrDamaged, k)
			}
			out = append(out, central.SubmissionRef{DeviceID: string(dev), Key: string(key)})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("reading the tombstones of erased submissions: %w", err)
	}
	return out, nil
}
