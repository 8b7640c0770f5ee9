package pgstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/protocol"
)

// watchlistChunk is the size of the rows a watchlist is stored in: a
// reader or writer holds one at a time.
const watchlistChunk = 1 << 20

// CreateWatchlist implements central.Store: one transaction, under
// lockWatchlist (which the proposal changes take too), refuses a name
// already published before reading r, inserts the chunks as they are
// read, and publishes version 1 with its event; the primary key on (name, version) refuses a second
// version 1 whatever the lock.
func (s *Store) CreateWatchlist(ctx context.Context, name string, r io.Reader, event func(protocol.Watchlist) (central.AuditEvent, error)) (protocol.Watchlist, error) {
	w := protocol.Watchlist{Name: name, Version: 1}
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockWatchlist); err != nil {
			return err
		}
		var published bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM watchlists WHERE name = $1)`, name).Scan(&published); err != nil {
			return err
		}
		if published {
			return central.ErrWatchlistStale
		}
		var err error
		if w.Size, w.SHA256, err = insertChunks(ctx, tx, name, w.Version, r); err != nil {
			return err
		}
		ev, err := event(w)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO watchlists (name, version, size, sha256) VALUES ($1, $2, $3, $4)`, name, w.Version, w.Size, w.SHA256); err != nil {
			return err
		}
		return appendAudit(ctx, tx, ev)
	})
	if err != nil {
		return protocol.Watchlist{}, fmt.Errorf("publishing watchlist: %w", err)
	}
	return w, nil
}

// insertChunks inserts r's bytes as the chunks of name's version, one
// held at a time, and returns their size and SHA-256.
func insertChunks(ctx context.Context, tx pgx.Tx, name string, version int64, r io.Reader) (size int64, sum []byte, err error) {
	h := sha256.New()
	buf := make([]byte, watchlistChunk)
	for seq := 0; ; seq++ {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			h.Write(buf[:n])
			size += int64(n)
			if _, err := tx.Exec(ctx, `INSERT INTO watchlist_chunks (name, version, seq, data) VALUES ($1, $2, $3, $4)`, name, version, seq, buf[:n]); err != nil {
				return 0, nil, err
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			return size, h.Sum(nil), nil
		}
		if rerr != nil {
			return 0, nil, fmt.Errorf("reading watchlist: %w", rerr)
		}
	}
}

// Watchlists implements central.Store.
func (s *Store) Watchlists(ctx context.Context) ([]protocol.Watchlist, error) {
	var ws []protocol.Watchlist
	err := s.query(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT DISTINCT ON (name) name, version, size, sha256 FROM watchlists ORDER BY name, version DESC`)
		if err != nil {
			return err
		}
		ws, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (protocol.Watchlist, error) {
			var w protocol.Watchlist
			err := r.Scan(&w.Name, &w.Version, &w.Size, &w.SHA256)
			return w, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing watchlists: %w", err)
	}
	if ws == nil {
		ws = []protocol.Watchlist{}
	}
	return ws, nil
}

// Watchlist implements central.Store.
func (s *Store) Watchlist(ctx context.Context, name string) (protocol.Watchlist, []byte, error) {
	w, rc, err := s.OpenWatchlist(ctx, name)
	if err != nil {
		return w, nil, err
	}
	defer rc.Close()
	buf := bytes.NewBuffer(make([]byte, 0, w.Size))
	if _, err := io.Copy(buf, rc); err != nil {
		return w, nil, err
	}
	return w, buf.Bytes(), nil
}

// OpenWatchlist implements central.Store: the reader fetches one chunk per
// query, holding no connection between them.
func (s *Store) OpenWatchlist(ctx context.Context, name string) (protocol.Watchlist, io.ReadCloser, error) {
	w := protocol.Watchlist{Name: name}
	err := s.query(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT version, size, sha256 FROM watchlists WHERE name = $1 ORDER BY version DESC LIMIT 1`, name).Scan(&w.Version, &w.Size, &w.SHA256)
	})
	if err != nil {
		return w, nil, fmt.Errorf("reading watchlist: %w", notFound(err))
	}
	return w, &wlReader{s: s, ctx: ctx, w: w, left: w.Size}, nil
}

type wlReader struct {
	s     *Store
	ctx   context.Context
	w     protocol.Watchlist
	seq   int
	buf   []byte // the current chunk's unread bytes
	store []byte // buf's backing array, reused
	left  int64
}

func (r *wlReader) Read(p []byte) (int, error) {
	if len(r.buf) == 0 {
		if r.left == 0 {
			return 0, io.EOF
		}
		err := r.s.query(r.ctx, func(c *pgx.Conn) error {
			rows, err := c.Query(r.ctx, `SELECT data FROM watchlist_chunks WHERE name = $1 AND version = $2 AND seq = $3`, r.w.Name, r.w.Version, r.seq)
			if err != nil {
				return err
			}
			defer rows.Close()
			if !rows.Next() {
				if err := rows.Err(); err != nil {
					return err
				}
				return fmt.Errorf("chunk %d of watchlist %s version %d is missing", r.seq, r.w.Name, r.w.Version)
			}
			// The raw value is pgx's read buffer: copy it into ours
			// rather than have a new slice allocated per chunk.
			r.store = append(r.store[:0], rows.RawValues()[0]...)
			return rows.Err()
		})
		if err != nil {
			return 0, fmt.Errorf("reading watchlist: %w", err)
		}
		r.buf, r.seq, r.left = r.store, r.seq+1, r.left-int64(len(r.store))
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (r *wlReader) Close() error { return nil }

// claimsSweepEvery is how many claims are recorded between sweeps of the
// expired ones.
const claimsSweepEvery = 1024

// ClaimAttestation implements central.Store. The primary key on the hash
// makes the first claim win across instances.
func (s *Store) ClaimAttestation(ctx context.Context, deviceID string, h [sha256.Size]byte, key string, expires time.Time) error {
	if s.claims.Add(1)%claimsSweepEvery == 0 {
		if _, err := s.exec(ctx, `DELETE FROM attestation_claims WHERE expires_at < now()`); err != nil {
			return fmt.Errorf("sweeping attestation claims: %w", err)
		}
	}
	tag, err := s.exec(ctx, `INSERT INTO attestation_claims (hash, device_id, key, expires_at) VALUES ($1, $2, $3, $4) ON CONFLICT (hash) DO NOTHING`, h[:], deviceID, key, expires)
	if err != nil {
		return fmt.Errorf("claiming attestation: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	// Claimed before (committed, since the insert waited for it): by this
	// submission, a resend, or by another.
	var dev, k string
	err = s.query(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT device_id, key FROM attestation_claims WHERE hash = $1`, h[:]).Scan(&dev, &k)
	})
	if err != nil {
		return fmt.Errorf("claiming attestation: %w", err)
	}
	if dev != deviceID || k != key {
		return central.ErrReplay
	}
	return nil
}
