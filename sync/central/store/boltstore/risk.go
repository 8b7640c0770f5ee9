package boltstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/openkyc/kyc/sync/central"
)

// bucketRiskHistory keeps every risk configuration published: version
// (big-endian uint64) -> document. The current one is also meta's
// keyRisk, which Risk reads.
var bucketRiskHistory = []byte("risk-history")

// bucketRiskServed records the risk versions served to each device
// (central.RiskServings): device id, 0, version (big-endian uint64) -> 1.
// A device id holds no 0 (protocol.DeviceID).
var bucketRiskServed = []byte("risk-served")

func servedKey(deviceID string, version int64) []byte {
	return append(append([]byte(deviceID), 0), riskKey(version)...)
}

func riskKey(version int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(version)) }

// fillRiskHistory creates the history in a file written before it was
// kept: the current version is the one such a file still holds; the
// versions before it are lost, and a decision made under one of them is
// held to the current bands as before.
func fillRiskHistory(tx *bbolt.Tx) error {
	h, err := tx.CreateBucketIfNotExists(bucketRiskHistory)
	if err != nil {
		return err
	}
	var cur riskRecord
	if err := get(tx.Bucket(bucketMeta), keyRisk, &cur); err != nil {
		if errors.Is(err, central.ErrNotFound) {
			return nil
		}
		return err
	}
	if h.Get(riskKey(cur.Version)) != nil {
		return nil
	}
	return h.Put(riskKey(cur.Version), cur.Doc)
}

// RiskVersion implements central.Store.
func (s *Store) RiskVersion(ctx context.Context, version int64) (json.RawMessage, error) {
	var doc json.RawMessage
	err := s.view(ctx, fmt.Sprintf("reading risk configuration version %d", version), func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketRiskHistory).Get(riskKey(version))
		if v == nil || version <= 0 {
			return central.ErrNotFound
		}
		doc = append(json.RawMessage(nil), v...)
		return nil
	})
	return doc, err
}

// ServeRisk implements central.Store. A device syncs its configuration
// over and over: a version already recorded is found in a read
// transaction, and only a new one takes the writer's lock and a sync.
func (s *Store) ServeRisk(ctx context.Context, deviceID string, version int64) error {
	served, err := s.RiskServed(ctx, deviceID, version)
	if err != nil || served {
		return err
	}
	return s.update(ctx, fmt.Sprintf("recording risk configuration version %d served to device %s", version, deviceID), func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketRiskServed).Put(servedKey(deviceID, version), []byte{1})
	})
}

// RiskServed implements central.Store.
func (s *Store) RiskServed(ctx context.Context, deviceID string, version int64) (bool, error) {
	var served bool
	err := s.view(ctx, fmt.Sprintf("reading whether risk configuration version %d was served to device %s", version, deviceID), func(tx *bbolt.Tx) error {
		served = tx.Bucket(bucketRiskServed).Get(servedKey(deviceID, version)) != nil
		return nil
	})
	return served, err
}
