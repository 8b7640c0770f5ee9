package pgstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openkyc/kyc/sync/central"
)

// The audit trail is one hash chain across every instance: an append locks
// the one-row audit_head, chains the event after it and moves it, so
// appends are serialised and commit in Seq order. Before and After are
// bytea, kept byte for byte (jsonb would reformat them and break the hash).

// appendAudit chains e after the head and stores it, inside tx.
func appendAudit(ctx context.Context, tx pgx.Tx, e central.AuditEvent) error {
	var seq int64
	var prev []byte
	if err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE`).Scan(&seq, &prev); err != nil {
		return err
	}
	if err := central.ChainAudit(&e, seq, prev); err != nil {
		return err
	}
	refs := e.Refs
	if refs == nil {
		refs = []string{}
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO audit (seq, id, at, actor, action, count, refs, subject, state_before, state_after, prev, hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		e.Seq, e.ID, e.At, e.Actor, e.Action, e.Count, refs, e.Subject, nilIfEmpty(e.Before), nilIfEmpty(e.After), e.Prev, e.Hash)
	b.Queue(`UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`, e.Seq, e.Hash)
	return tx.SendBatch(ctx, b).Close()
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// AppendAudit implements central.Store.
func (s *Store) AppendAudit(ctx context.Context, e central.AuditEvent) error {
	if err := s.tx(ctx, func(tx pgx.Tx) error { return appendAudit(ctx, tx, e) }); err != nil {
		return fmt.Errorf("recording audit event: %w", err)
	}
	return nil
}

const auditCols = `seq, id, at, actor, action, count, refs, subject, state_before, state_after, prev, hash`

func scanAudit(r pgx.Row) (central.AuditEvent, error) {
	var e central.AuditEvent
	var before, after []byte
	err := r.Scan(&e.Seq, &e.ID, &e.At, &e.Actor, &e.Action, &e.Count, &e.Refs, &e.Subject, &before, &after, &e.Prev, &e.Hash)
	e.At = e.At.UTC()
	if len(e.Refs) == 0 {
		e.Refs = nil
	}
	if before != nil {
		e.Before = before
	}
	if after != nil {
		e.After = after
	}
	return e, err
}

// likePrefix is a LIKE pattern matching every string starting with p.
func likePrefix(p string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(p) + "%"
}

// auditQuery is the query of Audit(f) and its arguments.
func auditQuery(f central.AuditFilter) (string, []any) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.AfterSeq > 0 {
		add("seq > $%d", f.AfterSeq)
	}
	if !f.After.IsZero() {
		add("at >= $%d", f.After)
	}
	if !f.Before.IsZero() {
		add("at < $%d", f.Before)
	}
	if f.Action != "" {
		add("action = $%d", f.Action)
	}
	if f.Actor != "" {
		add("actor = $%d", f.Actor)
	}
	if f.Subject != "" {
		if strings.HasSuffix(f.Subject, ":") || strings.HasSuffix(f.Subject, "/") {
			add(`subject LIKE $%d`, likePrefix(f.Subject))
		} else {
			add("subject = $%d", f.Subject)
		}
	}
	sql := `SELECT ` + auditCols + ` FROM audit`
	if len(where) > 0 {
		sql += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, central.Filter{Limit: f.Limit}.EffectiveLimit())
	sql += fmt.Sprintf(` ORDER BY seq LIMIT $%d`, len(args))
	return sql, args
}

// Audit implements central.Store.
func (s *Store) Audit(ctx context.Context, f central.AuditFilter) ([]central.AuditEvent, error) {
	sql, args := auditQuery(f)
	var out []central.AuditEvent
	err := s.query(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (central.AuditEvent, error) { return scanAudit(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading audit trail: %w", err)
	}
	return out, nil
}

// DeleteAuditBefore implements central.Store. It deletes from the start
// of the chain up to the first event not older than before, so what is
// left still chains from the anchor; the head's lock keeps appends out
// meanwhile.
func (s *Store) DeleteAuditBefore(ctx context.Context, before time.Time) (int, error) {
	n := 0
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT 1 FROM audit_head WHERE id = 1 FOR UPDATE`); err != nil {
			return err
		}
		var last *int64
		var hash []byte
		err := tx.QueryRow(ctx, `
WITH gone AS (
	DELETE FROM audit WHERE at < $1 AND seq < coalesce((SELECT min(seq) FROM audit WHERE at >= $1), 9223372036854775807)
	RETURNING seq, hash
)
SELECT count(*), max(seq), (SELECT hash FROM gone ORDER BY seq DESC LIMIT 1) FROM gone`, before).Scan(&n, &last, &hash)
		if err != nil || n == 0 {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE audit_head SET anchor_seq = $1, anchor_hash = $2 WHERE id = 1`, *last, hash)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("expiring audit trail: %w", err)
	}
	return n, nil
}

// AuditAnchor implements central.Store.
func (s *Store) AuditAnchor(ctx context.Context) (int64, []byte, error) {
	var seq int64
	var hash []byte
	err := s.query(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT anchor_seq, anchor_hash FROM audit_head WHERE id = 1`).Scan(&seq, &hash)
	})
	if err != nil {
		return 0, nil, fmt.Errorf("reading audit anchor: %w", err)
	}
	return seq, hash, nil
}

// chainLegacyAudit chains the audit rows from before the chain (migration
// 5 numbered them 1.. in time order) and sets the head, inside the
// migration's transaction.
func chainLegacyAudit(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, `SELECT `+auditCols+` FROM audit ORDER BY seq`)
	if err != nil {
		return err
	}
	evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (central.AuditEvent, error) { return scanAudit(r) })
	if err != nil {
		return err
	}
	var seq int64
	var prev []byte
	b := &pgx.Batch{}
	for _, e := range evs {
		old := e.Seq
		e.Before, e.After = nil, nil // legacy rows have none
		if err := central.ChainAudit(&e, seq, prev); err != nil {
			return err
		}
		if e.Seq != old {
			return fmt.Errorf("legacy audit row %d out of sequence", old)
		}
		b.Queue(`UPDATE audit SET at = $2, prev = $3, hash = $4 WHERE seq = $1`, e.Seq, e.At, e.Prev, e.Hash)
		seq, prev = e.Seq, e.Hash
	}
	b.Queue(`UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`, seq, prev)
	return tx.SendBatch(ctx, b).Close()
}
