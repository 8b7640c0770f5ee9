package pgstore

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openkyc/kyc/sync/central"
)

// CreateUser implements central.Store.
func (s *Store) CreateUser(ctx context.Context, u central.User) error {
	doc, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("creating user: %w", err)
	}
	tag, err := s.exec(ctx, `INSERT INTO console_users (name, doc) VALUES ($1, $2) ON CONFLICT DO NOTHING`, u.Name, doc)
	if err != nil {
		return fmt.Errorf("creating user: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("creating user: %w", central.ErrUserExists)
	}
	return nil
}

// UpdateUser implements central.Store.
func (s *Store) UpdateUser(ctx context.Context, name string, fn func(*central.User) error) (central.User, error) {
	var u central.User
	var fnErr error
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var doc []byte
		if err := tx.QueryRow(ctx, `SELECT doc FROM console_users WHERE name = $1 FOR UPDATE`, name).Scan(&doc); err != nil {
			return notFound(err)
		}
		u = central.User{}
		if err := json.Unmarshal(doc, &u); err != nil {
			return err
		}
		if err := fn(&u); err != nil {
			fnErr = err
			return err
		}
		u.Name = name // the key names the account
		doc, err := json.Marshal(u)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE console_users SET doc = $2 WHERE name = $1`, name, doc)
		return err
	})
	if fnErr != nil {
		return central.User{}, fnErr
	}
	if err != nil {
		return central.User{}, fmt.Errorf("updating user: %w", err)
	}
	return u, nil
}

// User implements central.Store.
func (s *Store) User(ctx context.Context, name string) (central.User, error) {
	var u central.User
	err := s.query(ctx, func(c *pgx.Conn) error {
		var doc []byte
		if err := c.QueryRow(ctx, `SELECT doc FROM console_users WHERE name = $1`, name).Scan(&doc); err != nil {
			return notFound(err)
		}
		return json.Unmarshal(doc, &u)
	})
	if err != nil {
		return central.User{}, fmt.Errorf("reading user: %w", err)
	}
	return u, nil
}

// Users implements central.Store. Names sort bytewise, as in boltstore.
func (s *Store) Users(ctx context.Context) ([]central.User, error) {
	var out []central.User
	err := s.query(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT doc FROM console_users ORDER BY name COLLATE "C"`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (central.User, error) {
			var doc []byte
			var u central.User
			if err := r.Scan(&doc); err != nil {
				return u, err
			}
			return u, json.Unmarshal(doc, &u)
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing users: %w", err)
	}
	return out, nil
}

// PutSession implements central.Store. The user's sessions expired by the
// new one's creation go on the way, so the table does not grow with every
// sign-in.
func (s *Store) PutSession(ctx context.Context, cs central.ConsoleSession) error {
	doc, err := json.Marshal(cs)
	if err != nil {
		return fmt.Errorf("recording session: %w", err)
	}
	err = s.tx(ctx, func(tx pgx.Tx) error {
		if !cs.CreatedAt.IsZero() {
			if _, err := tx.Exec(ctx, `DELETE FROM console_sessions WHERE user_name = $1 AND expires_at <= $2`, cs.User, cs.CreatedAt); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO console_sessions (hash, user_name, expires_at, doc) VALUES ($1, $2, $3, $4)
			ON CONFLICT (hash) DO UPDATE SET user_name = excluded.user_name, expires_at = excluded.expires_at, doc = excluded.doc`,
			cs.Hash, cs.User, cs.ExpiresAt, doc)
		return err
	})
	if err != nil {
		return fmt.Errorf("recording session: %w", err)
	}
	return nil
}

// Session implements central.Store.
func (s *Store) Session(ctx context.Context, hash []byte, now time.Time) (central.ConsoleSession, error) {
	var cs central.ConsoleSession
	err := s.query(ctx, func(c *pgx.Conn) error {
		var doc []byte
		if err := c.QueryRow(ctx, `SELECT doc FROM console_sessions WHERE hash = $1`, hash).Scan(&doc); err != nil {
			return notFound(err)
		}
		return json.Unmarshal(doc, &cs)
	})
	if err == nil && !now.Before(cs.ExpiresAt) {
		err = central.ErrNotFound
	}
	if err != nil {
		return central.ConsoleSession{}, fmt.Errorf("reading session: %w", err)
	}
	return cs, nil
}

// UserSessions implements central.Store.
func (s *Store) UserSessions(ctx context.Context, user string, now time.Time) ([]central.ConsoleSession, error) {
	var out []central.ConsoleSession
	err := s.query(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT doc FROM console_sessions WHERE user_name = $1 AND expires_at > $2`, user, now)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (central.ConsoleSession, error) {
			var doc []byte
			var cs central.ConsoleSession
			if err := r.Scan(&doc); err != nil {
				return cs, err
			}
			return cs, json.Unmarshal(doc, &cs)
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing sessions: %w", err)
	}
	// Sorted here, not by the query: created_at is in the document only.
	slices.SortFunc(out, func(a, b central.ConsoleSession) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), bytes.Compare(a.Hash, b.Hash))
	})
	return out, nil
}

// TouchSession implements central.Store. The row is locked while it is
// changed, so a concurrent DeleteSession either waits and wins or finds
// it gone.
func (s *Store) TouchSession(ctx context.Context, hash []byte, seenAt time.Time) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var doc []byte
		if err := tx.QueryRow(ctx, `SELECT doc FROM console_sessions WHERE hash = $1 FOR UPDATE`, hash).Scan(&doc); err != nil {
			return notFound(err)
		}
		var cs central.ConsoleSession
		if err := json.Unmarshal(doc, &cs); err != nil {
			return err
		}
		cs.SeenAt = seenAt
		doc, err := json.Marshal(cs)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE console_sessions SET doc = $2 WHERE hash = $1`, hash, doc)
		return err
	})
	if err != nil {
		return fmt.Errorf("renewing session: %w", err)
	}
	return nil
}

// DeleteSession implements central.Store.
func (s *Store) DeleteSession(ctx context.Context, hash []byte) error {
	if _, err := s.exec(ctx, `DELETE FROM console_sessions WHERE hash = $1`, hash); err != nil {
		return fmt.Errorf("ending session: %w", err)
	}
	return nil
}

// DeleteSessions implements central.Store.
func (s *Store) DeleteSessions(ctx context.Context, user string) error {
	if _, err := s.exec(ctx, `DELETE FROM console_sessions WHERE user_name = $1`, user); err != nil {
		return fmt.Errorf("ending sessions: %w", err)
	}
	return nil
}
