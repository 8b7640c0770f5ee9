package pgstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/openkyc/kyc/sync/central"
)

var _ central.HostedStates = (*Store)(nil)

// PutHostedState implements central.HostedStates.
func (s *Store) PutHostedState(ctx context.Context, key string, value []byte, expires time.Time) error {
	_, err := s.exec(ctx, `INSERT INTO hosted_state (key, value, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at`, key, value, expires)
	if err != nil {
		return fmt.Errorf("storing hosted state: %w", err)
	}
	return nil
}

// CreateHostedState implements central.HostedStates: an expired value in
// the way is replaced in the same statement.
func (s *Store) CreateHostedState(ctx context.Context, key string, value []byte, now, expires time.Time) error {
	tag, err := s.exec(ctx, `INSERT INTO hosted_state (key, value, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at
		WHERE hosted_state.expires_at <= $4`, key, value, expires, now)
	if err != nil {
		return fmt.Errorf("storing hosted state: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("storing hosted state: %w", central.ErrConflict)
	}
	return nil
}

// HostedState implements central.HostedStates.
func (s *Store) HostedState(ctx context.Context, key string, now time.Time) ([]byte, error) {
	var v []byte
	err := s.query(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT value FROM hosted_state WHERE key = $1 AND expires_at > $2`, key, now).Scan(&v)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("reading hosted state: %w", central.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading hosted state: %w", err)
	}
	return v, nil
}

// DeleteHostedState implements central.HostedStates.
func (s *Store) DeleteHostedState(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	if _, err := s.exec(ctx, `DELETE FROM hosted_state WHERE key = ANY($1)`, keys); err != nil {
		return fmt.Errorf("deleting hosted state: %w", err)
	}
	return nil
}

// ExpireHostedState implements central.HostedStates.
func (s *Store) ExpireHostedState(ctx context.Context, now time.Time, limit int) (int, error) {
	tag, err := s.exec(ctx, `DELETE FROM hosted_state WHERE key IN
		(SELECT key FROM hosted_state WHERE expires_at <= $1 OR expires_at > $3 ORDER BY expires_at LIMIT $2)`,
		now, max(limit, 1), now.Add(central.HostedStateMaxTTL))
	if err != nil {
		return 0, fmt.Errorf("expiring hosted state: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

var _ central.HostedKeyStore = (*Store)(nil)

// HostedStateHeads implements central.HostedKeyStore.
func (s *Store) HostedStateHeads(ctx context.Context, after string, n, limit int) ([]central.HostedHead, error) {
	var out []central.HostedHead
	err := s.query(ctx, func(c *pgx.Conn) error {
		out = nil
		rows, err := c.Query(ctx, `SELECT key, substring(value from 1 for $2) FROM hosted_state
			WHERE key > $1 ORDER BY key LIMIT $3`, after, max(n, 0), max(limit, 1))
		if err != nil {
			return err
		}
		var h central.HostedHead
		_, err = pgx.ForEachRow(rows, []any{&h.Key, &h.Head}, func() error {
			out = append(out, central.HostedHead{Key: h.Key, Head: bytes.Clone(h.Head)})
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing hosted state: %w", err)
	}
	return out, nil
}

// SwapHostedStateHeads implements central.HostedKeyStore: the value's
// tail is rewritten by the server, never sent.
func (s *Store) SwapHostedStateHeads(ctx context.Context, swaps []central.HostedHeadSwap) (int, error) {
	n := 0
	err := s.tx(ctx, func(tx pgx.Tx) error {
		n = 0
		b := &pgx.Batch{}
		for _, sw := range swaps {
			b.Queue(`UPDATE hosted_state SET value = $3::bytea || substring(value from $4::int + 1)
				WHERE key = $1 AND substring(value from 1 for $4::int) = $2::bytea`,
				sw.Key, sw.Old, sw.New, len(sw.Old)).Exec(func(tag pgconn.CommandTag) error {
				n += int(tag.RowsAffected())
				return nil
			})
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return 0, fmt.Errorf("rewrapping hosted state: %w", err)
	}
	return n, nil
}
