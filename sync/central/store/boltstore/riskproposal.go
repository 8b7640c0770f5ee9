package boltstore

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"go.etcd.io/bbolt"

	"github.com/openkyc/kyc/sync/central"
)

// bucketRiskProposal holds the pending risk proposal under keyProposal
// (central.RiskProposals): one at a time.
var (
	bucketRiskProposal = []byte("risk-proposal")
	keyProposal        = []byte("pending")
)

// ProposeRisk implements central.Store.
func (s *Store) ProposeRisk(ctx context.Context, p central.RiskProposal, ev central.AuditEvent) error {
	return s.update(ctx, "recording the risk proposal", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketRiskProposal)
		var old central.RiskProposal
		switch err := get(b, keyProposal, &old); {
		case errors.Is(err, central.ErrNotFound):
		case err != nil:
			return err
		case old.Proposer != p.Proposer && !old.Expired(p.At):
			return central.ErrProposalPending
		}
		if err := put(b, keyProposal, p); err != nil {
			return err
		}
		return appendAudit(tx, ev)
	})
}

// RiskProposal implements central.Store.
func (s *Store) RiskProposal(ctx context.Context) (central.RiskProposal, error) {
	var p central.RiskProposal
	err := s.view(ctx, "reading the risk proposal", func(tx *bbolt.Tx) error {
		return get(tx.Bucket(bucketRiskProposal), keyProposal, &p)
	})
	return p, err
}

// pendingProposal reads proposal id; ErrNotFound when another or none is
// pending.
func pendingProposal(tx *bbolt.Tx, id string) (central.RiskProposal, error) {
	var p central.RiskProposal
	if err := get(tx.Bucket(bucketRiskProposal), keyProposal, &p); err != nil {
		return p, err
	}
	if p.ID != id {
		return p, central.ErrNotFound
	}
	return p, nil
}

// ConfirmRiskProposal implements central.Store.
func (s *Store) ConfirmRiskProposal(ctx context.Context, id string, now time.Time, ev central.AuditEvent) (int64, error) {
	var version int64
	err := s.update(ctx, "publishing the risk proposal", func(tx *bbolt.Tx) error {
		p, err := pendingProposal(tx, id)
		if err != nil {
			return err
		}
		if p.Expired(now) {
			return central.ErrNotFound
		}
		meta := tx.Bucket(bucketMeta)
		var cur riskRecord
		if err := get(meta, keyRisk, &cur); err != nil && !errors.Is(err, central.ErrNotFound) {
			return err
		}
		if cur.Version != p.Base {
			return central.ErrRiskStale
		}
		version = cur.Version + 1
		doc := json.RawMessage(p.Config)
		if err := tx.Bucket(bucketRiskHistory).Put(riskKey(version), doc); err != nil {
			return err
		}
		if err := put(meta, keyRisk, riskRecord{Version: version, Doc: doc}); err != nil {
			return err
		}
		if err := tx.Bucket(bucketRiskProposal).Delete(keyProposal); err != nil {
			return err
		}
		return appendAudit(tx, ev)
	})
	return version, err
}

// DeleteRiskProposal implements central.Store.
func (s *Store) DeleteRiskProposal(ctx context.Context, id string, ev central.AuditEvent) error {
	return s.update(ctx, "deleting the risk proposal", func(tx *bbolt.Tx) error {
		if _, err := pendingProposal(tx, id); err != nil {
			return err
		}
		if err := tx.Bucket(bucketRiskProposal).Delete(keyProposal); err != nil {
			return err
		}
		return appendAudit(tx, ev)
	})
}
