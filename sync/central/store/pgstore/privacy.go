package pgstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/openkyc/kyc/sync/central"
)

// DeleteSubmission implements central.Store. Images, chunks and index
// tokens go with the row (ON DELETE CASCADE), the wrapped data key with it.
func (s *Store) DeleteSubmission(ctx context.Context, deviceID, key string) error {
	err := s.tx(ctx, func(tx pgx.Tx) error { return eraseSubmission(ctx, tx, deviceID, key) })
	if err != nil {
		return fmt.Errorf("deleting submission: %w", err)
	}
	return nil
}

// tombstonesSQL keeps the tombstones (central.ErrErased) of the rows of
// gone, dated by central.Submission.TombstoneFrom (GREATEST passes over
// a NULL attested_at): a device's submissions only, for no device sends a
// hosted flow's (central.IsHostedDevice), and a partner's session id used
// again after retention names the same submission id again.
var tombstonesSQL = `tombstones AS (
	INSERT INTO erased_submissions (device_id, key, received_at)
	SELECT device_id, key, GREATEST(received_at, attested_at) FROM gone
	WHERE device_id <> '` + central.HostedDevice("") + `' AND device_id NOT LIKE '` + central.HostedDevice("") + `.%'
	ON CONFLICT (device_id, key) DO UPDATE SET received_at = EXCLUDED.received_at
)`

// eraseSubmissionSQL deletes a submission and keeps its tombstone in one
// statement; it returns how many it deleted.
var eraseSubmissionSQL = `
WITH gone AS (
	DELETE FROM submissions WHERE device_id = $1 AND key = $2 RETURNING device_id, key, received_at, attested_at
), ` + tombstonesSQL + `
SELECT count(*) FROM gone`

// eraseSubmission deletes a submission inside tx and keeps its tombstone;
// ErrNotFound if there is none.
func eraseSubmission(ctx context.Context, tx pgx.Tx, deviceID, key string) error {
	var n int
	if err := tx.QueryRow(ctx, eraseSubmissionSQL, deviceID, key).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return central.ErrNotFound
	}
	return nil
}

// heldSQL is a submission whose review holds it back from retention
// (central.Review.HoldsRetention): waiting for a second user, or claimed
// after the parameter p (the sweep's time less central.ClaimLease).
func heldSQL(p string) string {
	return fmt.Sprintf("(review_state IN ('%s', '%s') OR (review_state = '%s' AND claimed_at > %s))",
		central.PendingStates[0], central.PendingStates[1], central.ReviewClaimed, p)
}

// dueSQL is, by kind of submission data, what makes a submission s due:
// received before $1 and still holding that kind.
var dueSQL = map[central.DataKind]string{
	central.ExpireImages: `received_at < $1 AND images_erased_at IS NULL
	  AND EXISTS (SELECT 1 FROM images i WHERE i.device_id = s.device_id AND i.key = s.key)`,
	central.ExpireFields:   `received_at < $1 AND fields_erased_at IS NULL`,
	central.ExpireDecision: `received_at < $1`,
}

// expireSQL applies each kind of retention to at most $3 submissions
// received before $1, stamping $2, but for those held back (heldSQL, $4);
// deletion has nothing to stamp: $2 is its limit and $3 the claims'. SKIP LOCKED lets instances sweeping at
// the same time share the work instead of waiting on each other.
var expireSQL = map[central.DataKind]string{
	central.ExpireImages: `
WITH due AS (
	SELECT device_id, key FROM submissions s
	WHERE ` + dueSQL[central.ExpireImages] + ` AND NOT ` + heldSQL("$4") + `
	ORDER BY received_at LIMIT $3 FOR UPDATE SKIP LOCKED
), gone AS (
	DELETE FROM images i USING due WHERE i.device_id = due.device_id AND i.key = due.key
)
UPDATE submissions s SET images_erased_at = $2, completed_at = coalesce(completed_at, $2)
FROM due WHERE s.device_id = due.device_id AND s.key = due.key`,
	central.ExpireFields: `
WITH due AS (
	SELECT device_id, key FROM submissions s
	WHERE ` + dueSQL[central.ExpireFields] + ` AND NOT ` + heldSQL("$4") + `
	ORDER BY received_at LIMIT $3 FOR UPDATE SKIP LOCKED
), tokens AS (
	-- The index tokens are pseudonymised fields: they go with them, so
	-- what has no fields is not found by a NIK or name any more.
	DELETE FROM submission_tokens t USING due WHERE t.device_id = due.device_id AND t.key = due.key
)
UPDATE submissions s SET payload = NULL, fields_erased_at = $2
FROM due WHERE s.device_id = due.device_id AND s.key = due.key`,
	central.ExpireDecision: `
WITH due AS (
	SELECT device_id, key FROM submissions s
	WHERE ` + dueSQL[central.ExpireDecision] + ` AND NOT ` + heldSQL("$3") + `
	ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED
), gone AS (
	DELETE FROM submissions s USING due WHERE s.device_id = due.device_id AND s.key = due.key
	RETURNING s.device_id, s.key, s.received_at, s.attested_at,
		EXISTS (SELECT 1 FROM flow_submissions x WHERE x.device_id = s.device_id AND x.key = s.key) AS held
), ` + tombstonesSQL + ` -- as an erasure's: a device still holding it may send it again
SELECT device_id, key, held FROM gone`,
	// An event still owed (neither delivered nor dead) is kept whatever
	// its age; attempts go with their event (ON DELETE CASCADE).
	central.ExpireWebhooks: `
WITH due AS (
	SELECT seq FROM webhook_events
	WHERE created_at < $1 AND (delivered_at IS NOT NULL OR dead_at IS NOT NULL)
	ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED
)
DELETE FROM webhook_events e USING due WHERE e.seq = due.seq`,
	central.ExpireFlows: `
WITH due AS (
	SELECT partner_id, id FROM flows WHERE expires_at < $1
	ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED
)
DELETE FROM flows f USING due WHERE f.partner_id = due.partner_id AND f.id = due.id`,
	central.ExpireErasures: `
WITH due AS (
	SELECT id FROM erasures WHERE finished_at < $1
	ORDER BY finished_at LIMIT $2 FOR UPDATE SKIP LOCKED
)
DELETE FROM erasures e USING due WHERE e.id = due.id`,
	central.ExpireErased: `
WITH due AS (
	SELECT device_id, key FROM erased_submissions WHERE received_at < $1
	ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED
)
DELETE FROM erased_submissions e USING due WHERE e.device_id = due.device_id AND e.key = due.key`,
}

// Expire implements central.Store.
func (s *Store) Expire(ctx context.Context, kind central.DataKind, before, at time.Time, limit int) (int, error) {
	sql, ok := expireSQL[kind]
	if !ok {
		return 0, fmt.Errorf("expiring %s: not a kind of data with a retention period", kind)
	}
	claims := at.Add(-central.ClaimLease)
	var args []any
	switch kind {
	case central.ExpireImages, central.ExpireFields:
		args = []any{before, at, limit, claims}
	default: // nothing to stamp, nor any claim but a submission's
		args = []any{before, limit}
	}
	n := 0
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if kind == central.ExpireDecision {
			var err error
			n, err = expireDecision(ctx, tx, sql, before, at, limit, claims)
			return err
		}
		tag, err := tx.Exec(ctx, sql, args...)
		if err != nil {
			return err
		}
		n = int(tag.RowsAffected())
		if kind == central.ExpireImages && n > 0 {
			// Uploads closed by retention are complete: they join the log.
			_, err = tx.Exec(ctx, logClosedSQL)
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("expiring %s: %w", kind, err)
	}
	return n, nil
}

// HoldRetention implements central.Store.
func (s *Store) HoldRetention(ctx context.Context, due map[central.DataKind]time.Time, at time.Time, audit func(central.HeldChange) central.AuditEvent) (map[central.DataKind]int, int, error) {
	var held map[central.DataKind]int
	changed := 0
	err := s.tx(ctx, func(tx pgx.Tx) error {
		held, changed = map[central.DataKind]int{}, 0
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockRetentionHeld); err != nil {
			return err
		}
		now := map[central.SubmissionRef][]central.DataKind{}
		for _, kind := range central.HeldKinds {
			before, ok := due[kind]
			if !ok {
				continue
			}
			rows, err := tx.Query(ctx, `SELECT device_id, key FROM submissions s WHERE `+dueSQL[kind]+` AND `+heldSQL("$2"), before, at.Add(-central.ClaimLease))
			if err != nil {
				return err
			}
			refs, err := pgx.CollectRows(rows, scanRef)
			if err != nil {
				return err
			}
			held[kind] = len(refs)
			for _, r := range refs {
				now[r] = append(now[r], kind)
			}
		}
		rows, err := tx.Query(ctx, `SELECT device_id, key, retention_held FROM submissions WHERE retention_held IS NOT NULL`)
		if err != nil {
			return err
		}
		var changes []central.HeldChange
		_, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (struct{}, error) {
			var ref central.SubmissionRef
			var stored []string
			if err := r.Scan(&ref.DeviceID, &ref.Key, &stored); err != nil {
				return struct{}{}, err
			}
			was := make([]central.DataKind, len(stored))
			for i, k := range stored {
				was[i] = central.DataKind(k)
			}
			if kinds, ok := now[ref]; !ok || !slices.Equal(was, kinds) {
				changes = append(changes, central.HeldChange{Ref: ref, Before: was, After: kinds})
			}
			delete(now, ref)
			return struct{}{}, nil
		})
		if err != nil {
			return err
		}
		for ref, kinds := range now {
			changes = append(changes, central.HeldChange{Ref: ref, After: kinds})
		}
		// The trail's order is the same whatever the map's.
		slices.SortFunc(changes, func(a, b central.HeldChange) int {
			return cmp.Or(cmp.Compare(a.Ref.DeviceID, b.Ref.DeviceID), cmp.Compare(a.Ref.Key, b.Ref.Key))
		})
		for _, ch := range changes {
			var kinds []string // NULL when let go
			for _, k := range ch.After {
				kinds = append(kinds, string(k))
			}
			if _, err := tx.Exec(ctx, `UPDATE submissions SET retention_held = $3 WHERE device_id = $1 AND key = $2`, ch.Ref.DeviceID, ch.Ref.Key, kinds); err != nil {
				return err
			}
			if err := appendAudit(ctx, tx, audit(ch)); err != nil {
				return err
			}
		}
		changed = len(changes)
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("recording what retention holds back: %w", err)
	}
	return held, changed, nil
}

// scanRef reads a row of device_id and key.
func scanRef(r pgx.CollectableRow) (central.SubmissionRef, error) {
	var ref central.SubmissionRef
	err := r.Scan(&ref.DeviceID, &ref.Key)
	return ref, err
}

// expireDecision deletes the submissions due (sql, expireSQL's
// ExpireDecision) and scrubs the partner sessions holding them as an
// erasure scrubs them (central.FlowEraser), in tx.
func expireDecision(ctx context.Context, tx pgx.Tx, sql string, before, at time.Time, limit int, claims time.Time) (int, error) {
	rows, err := tx.Query(ctx, sql, before, limit, claims)
	if err != nil {
		return 0, err
	}
	type gone struct {
		ref  central.SubmissionRef
		held bool
	}
	deleted, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (gone, error) {
		var g gone
		err := r.Scan(&g.ref.DeviceID, &g.ref.Key, &g.held)
		return g, err
	})
	if err != nil {
		return 0, err
	}
	for _, g := range deleted {
		if !g.held {
			continue
		}
		if _, _, err := eraseFlows(ctx, tx, g.ref, at); err != nil {
			return 0, fmt.Errorf("scrubbing the partner sessions of a deleted submission: %w", err)
		}
	}
	return len(deleted), nil
}

// PutRetention implements central.Store.
func (s *Store) PutRetention(ctx context.Context, p central.RetentionPolicy) error {
	doc, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("recording retention policy: %w", err)
	}
	if _, err := s.exec(ctx, `INSERT INTO retention_policy (id, doc) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET doc = excluded.doc`, doc); err != nil {
		return fmt.Errorf("recording retention policy: %w", err)
	}
	return nil
}

// Retention implements central.Store.
func (s *Store) Retention(ctx context.Context) (central.RetentionPolicy, error) {
	var p central.RetentionPolicy
	var doc []byte
	err := s.query(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT doc FROM retention_policy WHERE id = 1`).Scan(&doc)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return p, nil
	}
	if err == nil {
		err = json.Unmarshal(doc, &p)
	}
	if err != nil {
		return p, fmt.Errorf("reading retention policy: %w", err)
	}
	return p, nil
}

// StaleKeys implements central.Store.
func (s *Store) StaleKeys(ctx context.Context, keyID string, after central.SubmissionRef, limit int) ([]central.WrappedKey, error) {
	var out []central.WrappedKey
	err := s.query(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT device_id, key, key_id, wrapped_key FROM submissions
			WHERE key_id IS NOT NULL AND key_id <> $1 AND (device_id, key) > ($2, $3)
			ORDER BY device_id, key LIMIT $4`, keyID, after.DeviceID, after.Key, limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (central.WrappedKey, error) {
			var w central.WrappedKey
			err := r.Scan(&w.DeviceID, &w.Key, &w.KeyID, &w.Wrapped)
			return w, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing data keys: %w", err)
	}
	return out, nil
}

// Rewrap implements central.Store: a compare-and-swap on each wrapped
// key, in one transaction.
func (s *Store) Rewrap(ctx context.Context, rs []central.Rewrapping) (int, error) {
	n := 0
	err := s.tx(ctx, func(tx pgx.Tx) error {
		n = 0
		b := &pgx.Batch{}
		for _, rw := range rs {
			b.Queue(`UPDATE submissions SET key_id = $5, wrapped_key = $6
				WHERE device_id = $1 AND key = $2 AND key_id = $3 AND wrapped_key = $4`,
				rw.Old.DeviceID, rw.Old.Key, rw.Old.KeyID, rw.Old.Wrapped, rw.KeyID, rw.Wrapped).Exec(func(tag pgconn.CommandTag) error {
				n += int(tag.RowsAffected())
				return nil
			})
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return 0, fmt.Errorf("rewrapping data keys: %w", err)
	}
	return n, nil
}

// KeyUsage implements central.Store.
func (s *Store) KeyUsage(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	err := s.query(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT coalesce(key_id, ''), count(*) FROM submissions GROUP BY 1`)
		if err != nil {
			return err
		}
		var id string
		var n int
		_, err = pgx.ForEachRow(rows, []any{&id, &n}, func() error {
			out[id] = n
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("counting data keys: %w", err)
	}
	return out, nil
}

// KeyCheck implements central.KeyStore.
func (s *Store) KeyCheck(ctx context.Context) ([]byte, error) {
	var rec []byte
	err := s.query(ctx, func(c *pgx.Conn) error {
		err := c.QueryRow(ctx, `SELECT record FROM key_check`).Scan(&rec)
		if errors.Is(err, pgx.ErrNoRows) {
			rec = nil
			return nil
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the key check: %w", err)
	}
	return rec, nil
}

// SwapKeyCheck implements central.KeyStore: one statement, the row's
// lock orders instances swapping at once (the loser's condition fails).
func (s *Store) SwapKeyCheck(ctx context.Context, old, rec []byte) (bool, error) {
	q, args := `UPDATE key_check SET record = $2 WHERE record = $1`, []any{old, rec}
	if old == nil {
		q, args = `INSERT INTO key_check (record) VALUES ($1) ON CONFLICT DO NOTHING`, []any{rec}
	}
	tag, err := s.exec(ctx, q, args...)
	if err != nil {
		return false, fmt.Errorf("storing the key check: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}
