package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/openkyc/kyc/sync/central"
)

// Partners and flows are JSON documents beside the columns they are found
// by; webhook events are rows (webhook.go).

// idemTTL is how long an Idempotency-Key is kept.
const idemTTL = 24 * time.Hour

// idemSweepEvery is how many Idempotent calls pass between sweeps of the
// expired keys.
const idemSweepEvery = 256

// uniqueViolation reports whether err is a unique constraint's.
func uniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// checkIDs refuses empty ids (the bbolt store cannot key them, so neither
// does this one: both behave alike).
func checkIDs(ids ...string) error {
	for _, id := range ids {
		if id == "" || strings.IndexByte(id, 0) >= 0 {
			return fmt.Errorf("invalid id %q", id)
		}
	}
	return nil
}

func scanPartner(row pgx.Row) (central.Partner, error) {
	var doc []byte
	var p central.Partner
	if err := row.Scan(&doc); err != nil {
		return p, notFound(err)
	}
	if err := json.Unmarshal(doc, &p); err != nil {
		return p, fmt.Errorf("decoding partner: %w", err)
	}
	return p, nil
}

// CreatePartner implements central.Store.
func (s *Store) CreatePartner(ctx context.Context, p central.Partner) error {
	if err := checkIDs(p.ID, p.ClientID); err != nil {
		return fmt.Errorf("creating partner: %w", err)
	}
	doc, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("creating partner: %w", err)
	}
	tag, err := s.exec(ctx, `INSERT INTO partners (id, client_id, doc, disabled) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, p.ID, p.ClientID, doc, p.Disabled)
	if err != nil {
		return fmt.Errorf("creating partner: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("creating partner: %w", central.ErrPartnerExists)
	}
	return nil
}

// UpdatePartner implements central.Store. The partner's row is locked for
// the transaction.
func (s *Store) UpdatePartner(ctx context.Context, id string, fn func(*central.Partner) error) (central.Partner, error) {
	var out central.Partner
	var fnErr error
	err := s.tx(ctx, func(tx pgx.Tx) error {
		p, err := scanPartner(tx.QueryRow(ctx, `SELECT doc FROM partners WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		if err := fn(&p); err != nil {
			fnErr = err
			return err
		}
		p.ID = id
		if err := checkIDs(p.ClientID); err != nil {
			return err
		}
		doc, err := json.Marshal(p)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE partners SET client_id = $2, doc = $3, disabled = $4 WHERE id = $1`, id, p.ClientID, doc, p.Disabled); err != nil {
			if uniqueViolation(err) {
				return central.ErrPartnerExists
			}
			return err
		}
		out = p
		return nil
	})
	if fnErr != nil {
		return central.Partner{}, fnErr
	}
	if err != nil {
		return central.Partner{}, fmt.Errorf("updating partner: %w", err)
	}
	return out, nil
}

// Partner implements central.Store.
func (s *Store) Partner(ctx context.Context, id string) (central.Partner, error) {
	var p central.Partner
	err := s.query(ctx, func(c *pgx.Conn) (err error) {
		p, err = scanPartner(c.QueryRow(ctx, `SELECT doc FROM partners WHERE id = $1`, id))
		return err
	})
	if err != nil {
		return p, fmt.Errorf("reading partner: %w", err)
	}
	return p, nil
}

// PartnerByClientID implements central.Store.
func (s *Store) PartnerByClientID(ctx context.Context, clientID string) (central.Partner, error) {
	var p central.Partner
	err := s.query(ctx, func(c *pgx.Conn) (err error) {
		p, err = scanPartner(c.QueryRow(ctx, `SELECT doc FROM partners WHERE client_id = $1`, clientID))
		return err
	})
	if err != nil {
		return p, fmt.Errorf("reading partner: %w", err)
	}
	return p, nil
}

// PartnersList implements central.Store.
func (s *Store) PartnersList(ctx context.Context) ([]central.Partner, error) {
	var out []central.Partner
	err := s.query(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT doc FROM partners ORDER BY id`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (central.Partner, error) { return scanPartner(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing partners: %w", err)
	}
	return out, nil
}

// PutPartnerToken implements central.Store. It drops the partner's tokens
// expired by the new one's creation, so a partner's tokens stay few.
func (s *Store) PutPartnerToken(ctx context.Context, t central.PartnerToken) error {
	if err := checkIDs(t.PartnerID); err != nil || len(t.Hash) == 0 {
		return fmt.Errorf("recording partner token: invalid token")
	}
	err := s.tx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`DELETE FROM partner_tokens WHERE partner_id = $1 AND expires_at < $2`, t.PartnerID, t.CreatedAt)
		b.Queue(`INSERT INTO partner_tokens (hash, partner_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`, t.Hash, t.PartnerID, t.CreatedAt, t.ExpiresAt)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("recording partner token: %w", err)
	}
	return nil
}

func scanToken(row pgx.Row) (central.PartnerToken, error) {
	var t central.PartnerToken
	if err := row.Scan(&t.Hash, &t.PartnerID, &t.CreatedAt, &t.ExpiresAt); err != nil {
		return t, notFound(err)
	}
	t.CreatedAt, t.ExpiresAt = t.CreatedAt.UTC(), t.ExpiresAt.UTC()
	return t, nil
}

// PartnerTokenByHash implements central.Store.
func (s *Store) PartnerTokenByHash(ctx context.Context, hash []byte, now time.Time) (central.PartnerToken, error) {
	var t central.PartnerToken
	err := s.query(ctx, func(c *pgx.Conn) (err error) {
		t, err = scanToken(c.QueryRow(ctx, `SELECT hash, partner_id, created_at, expires_at FROM partner_tokens WHERE hash = $1 AND expires_at > $2`, hash, now))
		return err
	})
	if err != nil {
		return central.PartnerToken{}, fmt.Errorf("reading partner token: %w", err)
	}
	return t, nil
}

// ValidPartnerToken implements central.Store.
func (s *Store) ValidPartnerToken(ctx context.Context, partnerID string, minExpiry time.Time) (central.PartnerToken, error) {
	var t central.PartnerToken
	err := s.query(ctx, func(c *pgx.Conn) (err error) {
		t, err = scanToken(c.QueryRow(ctx, `SELECT hash, partner_id, created_at, expires_at FROM partner_tokens
			WHERE partner_id = $1 AND expires_at >= $2 ORDER BY created_at DESC LIMIT 1`, partnerID, minExpiry))
		return err
	})
	if err != nil {
		return central.PartnerToken{}, fmt.Errorf("reading partner token: %w", err)
	}
	return t, nil
}

func scanFlow(row pgx.Row) (central.FlowSession, error) {
	var doc []byte
	var f central.FlowSession
	if err := row.Scan(&doc); err != nil {
		return f, notFound(err)
	}
	if err := json.Unmarshal(doc, &f); err != nil {
		return f, fmt.Errorf("decoding flow: %w", err)
	}
	return f, nil
}

// flowCols are a flow's columns after its key: launch hash, status,
// expiry and document.
func flowCols(f *central.FlowSession) ([]any, error) {
	doc, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	var launch []byte
	if len(f.LaunchHash) > 0 {
		launch = f.LaunchHash
	}
	return []any{launch, string(f.Status), f.ExpiresAt, doc}, nil
}

// CreateFlow implements central.Store. The session is stored with Version
// 1.
func (s *Store) CreateFlow(ctx context.Context, f central.FlowSession) error {
	if err := checkIDs(f.PartnerID, f.ID); err != nil {
		return fmt.Errorf("creating flow: %w", err)
	}
	f.Version = 1
	cols, err := flowCols(&f)
	if err != nil {
		return fmt.Errorf("creating flow: %w", err)
	}
	err = s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO flows (partner_id, id, launch_hash, status, expires_at, doc) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
			append([]any{f.PartnerID, f.ID}, cols...)...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return central.ErrPartnerExists
		}
		return indexFlowSubmissions(ctx, tx, f.PartnerID, f.ID, f.Submissions)
	})
	if err != nil {
		return fmt.Errorf("creating flow: %w", err)
	}
	return nil
}

// UpdateFlow implements central.Store. The session's row is locked for the
// transaction. fn cannot move the session (its ID and PartnerID are
// kept); events it returns without a PartnerID or SessionID get the
// session's.
func (s *Store) UpdateFlow(ctx context.Context, partnerID, id string, fn func(*central.FlowSession) ([]central.WebhookEvent, error)) (central.FlowSession, error) {
	var out central.FlowSession
	var fnErr error
	err := s.tx(ctx, func(tx pgx.Tx) error {
		f, err := scanFlow(tx.QueryRow(ctx, `SELECT doc FROM flows WHERE partner_id = $1 AND id = $2 FOR UPDATE`, partnerID, id))
		if err != nil {
			return err
		}
		version, held := f.Version, slices.Clone(f.Submissions)
		evs, err := fn(&f)
		if err != nil {
			fnErr = err
			return err
		}
		f.PartnerID, f.ID, f.Version = partnerID, id, version+1
		cols, err := flowCols(&f)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE flows SET launch_hash = $3, status = $4, expires_at = $5, doc = $6 WHERE partner_id = $1 AND id = $2`,
			append([]any{partnerID, id}, cols...)...); err != nil {
			if uniqueViolation(err) {
				return central.ErrPartnerExists
			}
			return err
		}
		if err := indexFlowSubmissions(ctx, tx, partnerID, id, newRefs(held, f.Submissions)); err != nil {
			return err
		}
		for i := range evs {
			if evs[i].PartnerID == "" {
				evs[i].PartnerID = partnerID
			}
			if evs[i].SessionID == "" {
				evs[i].SessionID = id
			}
		}
		if err := s.appendEvents(ctx, tx, evs); err != nil {
			return err
		}
		out = f
		return nil
	})
	if fnErr != nil {
		return central.FlowSession{}, fnErr
	}
	if err != nil {
		return central.FlowSession{}, fmt.Errorf("updating flow: %w", err)
	}
	return out, nil
}

// Flow implements central.Store.
func (s *Store) Flow(ctx context.Context, partnerID, id string) (central.FlowSession, error) {
	var f central.FlowSession
	err := s.query(ctx, func(c *pgx.Conn) (err error) {
		f, err = scanFlow(c.QueryRow(ctx, `SELECT doc FROM flows WHERE partner_id = $1 AND id = $2`, partnerID, id))
		return err
	})
	if err != nil {
		return f, fmt.Errorf("reading flow: %w", err)
	}
	return f, nil
}

// FlowByLaunch implements central.Store.
func (s *Store) FlowByLaunch(ctx context.Context, launchHash []byte) (central.FlowSession, error) {
	var f central.FlowSession
	if len(launchHash) == 0 {
		return f, fmt.Errorf("reading flow: %w", central.ErrNotFound)
	}
	err := s.query(ctx, func(c *pgx.Conn) (err error) {
		f, err = scanFlow(c.QueryRow(ctx, `SELECT doc FROM flows WHERE launch_hash = $1`, launchHash))
		return err
	})
	if err != nil {
		return f, fmt.Errorf("reading flow: %w", err)
	}
	return f, nil
}

// ExpiredFlows implements central.Store.
func (s *Store) ExpiredFlows(ctx context.Context, now time.Time, limit int) ([]central.FlowSession, error) {
	limit = central.Filter{Limit: limit}.EffectiveLimit()
	var out []central.FlowSession
	err := s.query(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT doc FROM flows WHERE status NOT IN ('COMPLETED', 'ERROR', 'EXPIRED')
			AND (expires_at < $1 OR expires_at > $3)
			ORDER BY expires_at, partner_id, id LIMIT $2`, now, limit, now.Add(central.FlowMaxTTL+central.FlowClockSlack))
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (central.FlowSession, error) { return scanFlow(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing expired flows: %w", err)
	}
	return out, nil
}

// Idempotent implements central.Store. The first call inserts the key's
// row and runs fn inside that transaction, committing the row with fn's
// answer: a concurrent call with the same key blocks on the uncommitted
// row (in PostgreSQL, across instances), then replays the answer, or, if
// fn failed and the row was rolled back, runs fn itself. An error from fn
// stores nothing. A key older than 24 h at now is taken over as new;
// expired keys are swept every few hundred calls. fn runs while the
// transaction holds a connection; it may use the store, as at most half
// the pool's connections are so held at once (Store.idemRuns).
func (s *Store) Idempotent(ctx context.Context, partnerID, key string, requestHash []byte, now time.Time,
	fn func() (int, []byte, error)) (int, []byte, bool, error) {
	if err := checkIDs(partnerID, key); err != nil {
		return 0, nil, false, fmt.Errorf("idempotency key: %w", err)
	}
	if s.idem.Add(1)%idemSweepEvery == 0 {
		if _, err := s.exec(ctx, `DELETE FROM idempotency_keys WHERE created_at <= $1 AND status IS NOT NULL`, now.Add(-idemTTL)); err != nil {
			return 0, nil, false, fmt.Errorf("sweeping idempotency keys: %w", err)
		}
	}
	// Calls of this instance with one key wait in memory, so they do not
	// each hold a connection blocked on the row.
	k := partnerID + "\x00" + key
	for {
		s.idemMu.Lock()
		ch, busy := s.idemBusy[k]
		if !busy {
			ch = make(chan struct{})
			s.idemBusy[k] = ch
		}
		s.idemMu.Unlock()
		if !busy {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, nil, false, ctx.Err()
		}
	}
	defer func() {
		s.idemMu.Lock()
		close(s.idemBusy[k])
		delete(s.idemBusy, k)
		s.idemMu.Unlock()
	}()
	// A run's turn (idemRuns) before its transaction takes a connection.
	select {
	case s.idemRuns <- struct{}{}:
	case <-ctx.Done():
		return 0, nil, false, ctx.Err()
	}
	defer func() { <-s.idemRuns }()
	var status int
	var body []byte
	var replayed bool
	var fnErr error
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var mine bool
		err := tx.QueryRow(ctx, `INSERT INTO idempotency_keys (partner_id, key, request_hash, created_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (partner_id, key) DO UPDATE SET request_hash = excluded.request_hash, created_at = excluded.created_at, status = NULL, body = NULL
			WHERE idempotency_keys.created_at <= $5
			RETURNING true`, partnerID, key, requestHash, now, now.Add(-idemTTL)).Scan(&mine)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if !mine {
			var stored []byte
			var st *int
			if err := tx.QueryRow(ctx, `SELECT request_hash, status, body FROM idempotency_keys WHERE partner_id = $1 AND key = $2`, partnerID, key).Scan(&stored, &st, &body); err != nil {
				return err
			}
			if string(stored) != string(requestHash) {
				return central.ErrIdempotency
			}
			if st == nil {
				return errors.New("idempotency key without an answer")
			}
			status, replayed = *st, true
			return nil
		}
		status, body, fnErr = fn()
		if fnErr != nil {
			return fnErr
		}
		if body == nil {
			body = []byte{}
		}
		_, err = tx.Exec(ctx, `UPDATE idempotency_keys SET status = $3, body = $4, session_id = NULLIF($5, '') WHERE partner_id = $1 AND key = $2`,
			partnerID, key, status, body, central.AnswerSession(body))
		return err
	})
	if fnErr != nil {
		return status, body, false, fnErr
	}
	if errors.Is(err, central.ErrIdempotency) {
		return 0, nil, false, err
	}
	if err != nil {
		return 0, nil, false, fmt.Errorf("idempotency key: %w", err)
	}
	return status, body, replayed, nil
}
