package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/protocol"
)

// A pending watchlist proposal is its name's row of watchlist_proposals,
// its bytes the name's watchlist_chunks of proposalVersion. Each change
// takes lockWatchlist, as CreateWatchlist does, so a confirm's version
// check and its publish see no other publish in between.

// proposalVersion is the version a proposal's chunks are stored under;
// published versions start at 1.
const proposalVersion = 0

// ProposeWatchlist implements central.Store: one transaction checks the
// name's pending proposal, replaces its chunks as they are read, and
// records the proposal.
func (s *Store) ProposeWatchlist(ctx context.Context, p central.WatchlistProposal, r io.Reader, event func(central.WatchlistProposal) (central.AuditEvent, error)) (central.WatchlistProposal, error) {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockWatchlist); err != nil {
			return err
		}
		old, err := wlProposalIn(ctx, tx, p.Name)
		switch {
		case err == nil && old.Proposer != p.Proposer && !old.Expired(p.At):
			return central.ErrProposalPending
		case err != nil && !errors.Is(err, central.ErrNotFound):
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM watchlist_chunks WHERE name = $1 AND version = $2`, p.Name, proposalVersion); err != nil {
			return err
		}
		if p.Size, p.SHA256, err = insertChunks(ctx, tx, p.Name, proposalVersion, r); err != nil {
			return err
		}
		ev, err := event(p)
		if err != nil {
			return err
		}
		doc, err := json.Marshal(p)
		if err != nil {
			return fmt.Errorf("encoding the watchlist proposal: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO watchlist_proposals (name, id, doc) VALUES ($1, $2, $3)
			ON CONFLICT (name) DO UPDATE SET id = excluded.id, doc = excluded.doc`, p.Name, p.ID, doc); err != nil {
			return err
		}
		return appendAudit(ctx, tx, ev)
	})
	if err != nil {
		return central.WatchlistProposal{}, fmt.Errorf("recording the watchlist proposal: %w", err)
	}
	return p, nil
}

// wlProposalIn reads name's pending proposal; ErrNotFound when none is.
func wlProposalIn(ctx context.Context, tx pgx.Tx, name string) (central.WatchlistProposal, error) {
	var p central.WatchlistProposal
	var doc []byte
	if err := tx.QueryRow(ctx, `SELECT doc FROM watchlist_proposals WHERE name = $1`, name).Scan(&doc); err != nil {
		return p, notFound(err)
	}
	if err := json.Unmarshal(doc, &p); err != nil {
		return p, fmt.Errorf("decoding the watchlist proposal: %w", err)
	}
	return p, nil
}

// WatchlistProposals implements central.Store.
func (s *Store) WatchlistProposals(ctx context.Context) ([]central.WatchlistProposal, error) {
	ps := []central.WatchlistProposal{}
	err := s.query(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT doc FROM watchlist_proposals ORDER BY name`)
		if err != nil {
			return err
		}
		docs, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
		if err != nil {
			return err
		}
		ps = ps[:0]
		for _, doc := range docs {
			var p central.WatchlistProposal
			if err := json.Unmarshal(doc, &p); err != nil {
				return fmt.Errorf("decoding a watchlist proposal: %w", err)
			}
			ps = append(ps, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the watchlist proposals: %w", err)
	}
	return ps, nil
}

// ConfirmWatchlistProposal implements central.Store: the proposal's chunks
// become the next version's.
func (s *Store) ConfirmWatchlistProposal(ctx context.Context, name, id string, now time.Time, ev central.AuditEvent) (protocol.Watchlist, error) {
	var w protocol.Watchlist
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockWatchlist); err != nil {
			return err
		}
		p, err := wlProposalIn(ctx, tx, name)
		if err != nil {
			return err
		}
		if p.ID != id || p.Expired(now) {
			return central.ErrNotFound
		}
		var cur int64
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM watchlists WHERE name = $1`, name).Scan(&cur); err != nil {
			return err
		}
		if cur != p.Base {
			return central.ErrWatchlistStale
		}
		w = protocol.Watchlist{Name: name, Version: cur + 1, Size: p.Size, SHA256: p.SHA256}
		if _, err := tx.Exec(ctx, `UPDATE watchlist_chunks SET version = $3 WHERE name = $1 AND version = $2`, name, proposalVersion, w.Version); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO watchlists (name, version, size, sha256) VALUES ($1, $2, $3, $4)`, name, w.Version, w.Size, w.SHA256); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM watchlist_proposals WHERE name = $1`, name); err != nil {
			return err
		}
		return appendAudit(ctx, tx, ev)
	})
	if err != nil {
		return protocol.Watchlist{}, fmt.Errorf("publishing the watchlist proposal: %w", err)
	}
	return w, nil
}

// DeleteWatchlistProposal implements central.Store.
func (s *Store) DeleteWatchlistProposal(ctx context.Context, name, id string, ev central.AuditEvent) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockWatchlist); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM watchlist_proposals WHERE name = $1 AND id = $2`, name, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return central.ErrNotFound
		}
		if _, err := tx.Exec(ctx, `DELETE FROM watchlist_chunks WHERE name = $1 AND version = $2`, name, proposalVersion); err != nil {
			return err
		}
		return appendAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("deleting the watchlist proposal: %w", err)
	}
	return nil
}
