package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/jobs"
)

var _ central.Erasures = (*Store)(nil)

const erasureCols = `id, actor, requested_at, status, erased, attempts, finished_at, error, tokens, device_id, submission_key`

func scanErasure(r pgx.Row) (central.Erasure, error) {
	var e central.Erasure
	var finished *time.Time
	var dev, key *string
	err := r.Scan(&e.ID, &e.Actor, &e.RequestedAt, &e.Status, &e.Erased, &e.Attempts, &finished, &e.Error, &e.Tokens, &dev, &key)
	e.RequestedAt = e.RequestedAt.UTC()
	if finished != nil {
		e.FinishedAt = finished.UTC()
	}
	if dev != nil && key != nil {
		e.DeviceID, e.SubmissionKey = *dev, *key
	}
	return e, err
}

// AddErasure implements central.Store: with queue, the record and its
// job (jobs.Erasure) commit together, so a request answered is carried
// out, and one that failed leaves no job behind.
func (s *Store) AddErasure(ctx context.Context, e central.Erasure, queue bool) error {
	var dev, key *string
	if e.DeviceID != "" {
		dev, key = &e.DeviceID, &e.SubmissionKey
	}
	var tokens [][]byte
	if len(e.Tokens) > 0 {
		tokens = e.Tokens
	}
	err := s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO erasures (id, actor, requested_at, status, tokens, device_id, submission_key)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, e.ID, e.Actor, e.RequestedAt, central.ErasureQueued, tokens, dev, key)
		if uniqueViolation(err) {
			return central.ErrConflict
		}
		if err != nil || !queue {
			return err
		}
		_, err = s.jobs.InsertTx(ctx, tx, jobs.Erasure{ID: e.ID}, nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("recording erasure: %w", err)
	}
	return nil
}

// Erasure implements central.Store.
func (s *Store) Erasure(ctx context.Context, id string) (central.Erasure, error) {
	var e central.Erasure
	err := s.query(ctx, func(c *pgx.Conn) error {
		var err error
		e, err = scanErasure(c.QueryRow(ctx, `SELECT `+erasureCols+` FROM erasures WHERE id = $1`, id))
		return notFound(err)
	})
	if err != nil {
		return central.Erasure{}, fmt.Errorf("reading erasure: %w", err)
	}
	return e, nil
}

// Erasures implements central.Store.
func (s *Store) Erasures(ctx context.Context, unfinished bool, limit int) ([]central.Erasure, error) {
	where := ``
	if unfinished {
		where = `WHERE finished_at IS NULL`
	}
	var out []central.Erasure
	err := s.query(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT `+erasureCols+` FROM erasures `+where+` ORDER BY requested_at DESC, id DESC LIMIT $1`,
			central.Filter{Limit: limit}.EffectiveLimit())
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (central.Erasure, error) { return scanErasure(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing erasures: %w", err)
	}
	return out, nil
}

// StartErasure implements central.Store.
func (s *Store) StartErasure(ctx context.Context, id string) (central.Erasure, error) {
	var e central.Erasure
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		e, err = scanErasure(tx.QueryRow(ctx, `UPDATE erasures SET status = $2, attempts = attempts + 1
			WHERE id = $1 AND finished_at IS NULL RETURNING `+erasureCols, id, central.ErasureRunning))
		if errors.Is(err, pgx.ErrNoRows) { // finished, or none
			e, err = scanErasure(tx.QueryRow(ctx, `SELECT `+erasureCols+` FROM erasures WHERE id = $1`, id))
		}
		return notFound(err)
	})
	if err != nil {
		return central.Erasure{}, fmt.Errorf("starting erasure: %w", err)
	}
	return e, nil
}

// EraseSubmission implements central.Store: the deletion and its count
// commit together, so a run cut short between two leaves a count that
// matches what is gone.
func (s *Store) EraseSubmission(ctx context.Context, id string, ref central.SubmissionRef) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if err := eraseSubmission(ctx, tx, ref.DeviceID, ref.Key); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE erasures SET erased = erased + 1 WHERE id = $1`, id)
		if err == nil && tag.RowsAffected() == 0 {
			return fmt.Errorf("no erasure %s: %w", id, central.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("erasing submission: %w", err)
	}
	return nil
}

// FinishErasure implements central.Store. The row lock taken by the
// UPDATE makes a second run ending it at once wait, then find it ended.
func (s *Store) FinishErasure(ctx context.Context, id string, status central.ErasureStatus, at time.Time, cause string, ev central.AuditEvent) (central.Erasure, bool, error) {
	var e central.Erasure
	ended := false
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		e, err = scanErasure(tx.QueryRow(ctx, `UPDATE erasures SET status = $2, finished_at = $3, error = $4,
			tokens = NULL, device_id = NULL, submission_key = NULL
			WHERE id = $1 AND finished_at IS NULL RETURNING `+erasureCols, id, status, at, cause))
		if errors.Is(err, pgx.ErrNoRows) {
			e, err = scanErasure(tx.QueryRow(ctx, `SELECT `+erasureCols+` FROM erasures WHERE id = $1`, id))
			return notFound(err)
		}
		if err != nil {
			return err
		}
		ended = true
		ev.Count = e.Erased
		return appendAudit(ctx, tx, ev)
	})
	if err != nil {
		return central.Erasure{}, false, fmt.Errorf("ending erasure: %w", err)
	}
	return e, ended, nil
}
