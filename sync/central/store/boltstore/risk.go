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
