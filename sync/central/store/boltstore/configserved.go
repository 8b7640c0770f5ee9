package boltstore

import (
	"context"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/openkyc/kyc/sync/central"
)

// bucketConfigServed records the last configuration served to each device
// (central.ConfigServings): device id -> central.ConfigServing.
var bucketConfigServed = []byte("config-served")

// ServeConfig implements central.Store. A later serving recorded
// meanwhile stays. A fleet syncs its configuration every few minutes: the
// servings of devices syncing at once share a commit (batch).
func (s *Store) ServeConfig(ctx context.Context, deviceID string, c central.ConfigServing) error {
	return s.batch(ctx, fmt.Sprintf("recording the configuration served to device %s", deviceID), func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketConfigServed)
		var prev central.ConfigServing
		if err := get(b, []byte(deviceID), &prev); err == nil && prev.At.After(c.At) {
			return nil
		}
		return put(b, []byte(deviceID), c)
	})
}

// LastConfig implements central.Store.
func (s *Store) LastConfig(ctx context.Context, deviceID string) (central.ConfigServing, error) {
	var c central.ConfigServing
	err := s.view(ctx, fmt.Sprintf("reading the last configuration served to device %s", deviceID), func(tx *bbolt.Tx) error {
		return get(tx.Bucket(bucketConfigServed), []byte(deviceID), &c)
	})
	return c, err
}

// fillConfigServed gives each device enrolled before servings were
// recorded the upgrade's time, its lists unknown
// (central.ConfigServing.ListsUnknown). It runs once, when Open creates
// the bucket: created is false on every later open.
func fillConfigServed(tx *bbolt.Tx, created bool, now time.Time) error {
	if !created {
		return nil
	}
	b := tx.Bucket(bucketConfigServed)
	return tx.Bucket(bucketDevices).ForEach(func(id, _ []byte) error {
		return put(b, id, central.ConfigServing{At: now.UTC(), ListsUnknown: true})
	})
}
