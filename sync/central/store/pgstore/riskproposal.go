package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openkyc/kyc/sync/central"
)

// The pending risk proposal is the one row of risk_proposal. Each change
// takes lockRisk, as PutRisk does, so a confirm's version check and its
// publish see no other publish in between.

// ProposeRisk implements central.Store.
func (s *Store) ProposeRisk(ctx context.Context, p central.RiskProposal, ev central.AuditEvent) error {
	doc, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encoding the risk proposal: %w", err)
	}
	err = s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockRisk); err != nil {
			return err
		}
		old, err := proposalIn(ctx, tx)
		switch {
		case errors.Is(err, central.ErrNotFound):
		case err != nil:
			return err
		case old.Proposer != p.Proposer && !old.Expired(p.At):
			return central.ErrProposalPending
		}
		if _, err := tx.Exec(ctx, `INSERT INTO risk_proposal (id, doc) VALUES ($1, $2)
			ON CONFLICT (one) DO UPDATE SET id = excluded.id, doc = excluded.doc`, p.ID, doc); err != nil {
			return err
		}
		return appendAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("recording the risk proposal: %w", err)
	}
	return nil
}

// proposalIn reads the pending proposal; ErrNotFound when none is.
func proposalIn(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (central.RiskProposal, error) {
	var p central.RiskProposal
	var doc []byte
	if err := q.QueryRow(ctx, `SELECT doc FROM risk_proposal`).Scan(&doc); err != nil {
		return p, notFound(err)
	}
	if err := json.Unmarshal(doc, &p); err != nil {
		return p, fmt.Errorf("decoding the risk proposal: %w", err)
	}
	return p, nil
}

// RiskProposal implements central.Store.
func (s *Store) RiskProposal(ctx context.Context) (central.RiskProposal, error) {
	var p central.RiskProposal
	err := s.query(ctx, func(c *pgx.Conn) error {
		var err error
		p, err = proposalIn(ctx, c)
		return err
	})
	if err != nil {
		return central.RiskProposal{}, fmt.Errorf("reading the risk proposal: %w", err)
	}
	return p, nil
}

// ConfirmRiskProposal implements central.Store.
func (s *Store) ConfirmRiskProposal(ctx context.Context, id string, now time.Time, ev central.AuditEvent) (int64, error) {
	var v int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockRisk); err != nil {
			return err
		}
		p, err := proposalIn(ctx, tx)
		if err != nil {
			return err
		}
		if p.ID != id || p.Expired(now) {
			return central.ErrNotFound
		}
		var cur int64
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM risk_config`).Scan(&cur); err != nil {
			return err
		}
		if cur != p.Base {
			return central.ErrRiskStale
		}
		if err := tx.QueryRow(ctx, `INSERT INTO risk_config (version, doc) VALUES ($1, $2) RETURNING version`, cur+1, []byte(p.Config)).Scan(&v); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM risk_proposal`); err != nil {
			return err
		}
		return appendAudit(ctx, tx, ev)
	})
	if err != nil {
		return 0, fmt.Errorf("publishing the risk proposal: %w", err)
	}
	return v, nil
}

// DeleteRiskProposal implements central.Store.
func (s *Store) DeleteRiskProposal(ctx context.Context, id string, ev central.AuditEvent) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM risk_proposal WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return central.ErrNotFound
		}
		return appendAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("deleting the risk proposal: %w", err)
	}
	return nil
}
