package boltstore

import (
	"bytes"
	"time"

	"go.etcd.io/bbolt"

	"github.com/openkyc/kyc/sync/central"
)

// The tombstones of erased submissions (central.ErrErased): the device id
// and submission key, and when the submission was received, nothing else.
var (
	bucketErased    = []byte("erased-keys")     // subKey -> received (timeKey)
	bucketErasedDue = []byte("erased-keys-due") // received (timeKey) + subKey -> nil
	erasedBuckets   = [][]byte{bucketErased, bucketErasedDue}
)

// eraseSubmission deletes a submission whole inside tx and keeps its
// tombstone, which beginSubmission refuses until expireErased sweeps it.
func eraseSubmission(tx *bbolt.Tx, deviceID, key string) error {
	k := subKey(deviceID, key)
	var sub central.Submission
	if err := get(tx.Bucket(bucketSubs), k, &sub); err != nil {
		return err
	}
	if err := deleteSubmission(tx, deviceID, key); err != nil {
		return err
	}
	b, due := tx.Bucket(bucketErased), tx.Bucket(bucketErasedDue)
	if old := b.Get(k); old != nil {
		if err := due.Delete(append(bytes.Clone(old), k...)); err != nil {
			return err
		}
	}
	at := timeKey(sub.ReceivedAt)
	if err := b.Put(k, at); err != nil {
		return err
	}
	return due.Put(append(at, k...), nil)
}

// erased reports whether the submission key k has a tombstone.
func erased(tx *bbolt.Tx, k []byte) bool { return tx.Bucket(bucketErased).Get(k) != nil }

// expireErased deletes at most limit tombstones of submissions received
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
