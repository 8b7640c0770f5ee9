package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

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
		(SELECT key FROM hosted_state WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)`, now, max(limit, 1))
	if err != nil {
		return 0, fmt.Errorf("expiring hosted state: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
