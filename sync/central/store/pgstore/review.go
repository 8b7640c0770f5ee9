package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openkyc/kyc/sync/central"
)

// A submission's summary and review live in its row: the summary's
// filterable parts and the review's state and assignee as indexed
// columns, each whole as JSON beside them. Deleting the row (erasure,
// retention) deletes the review with it. Review sequence numbers come from
// the one-row review_counter, locked to the end of the transaction, so
// changes commit in Seq order and a device following ReviewChanges never
// skips one committed late.

// summaryRow is a Summary as the submissions columns hold it.
type summaryRow struct {
	doc                        []byte
	decision, docType, country *string
	reasons                    []string
}

func summaryCols(s *central.Summary) (summaryRow, error) {
	if s == nil {
		return summaryRow{}, nil
	}
	doc, err := json.Marshal(s)
	if err != nil {
		return summaryRow{}, err
	}
	reasons := s.Reasons
	if reasons == nil {
		reasons = []string{}
	}
	return summaryRow{doc: doc, decision: &s.Decision, docType: &s.DocType, country: &s.Country, reasons: reasons}, nil
}

// caseCols are the columns scanCase reads.
const caseCols = `device_id, key, id, created_at, received_at, completed_at, verdict, attestation_fresh, summary, review, key_id, wrapped_key, completed_seq`

func scanCase(row pgx.Row) (central.Case, error) {
	var c central.Case
	var completed *time.Time
	var summary, review, wrapped []byte
	var keyID *string
	var completedSeq *int64
	err := row.Scan(&c.Ref.DeviceID, &c.Ref.Key, &c.ID, &c.CreatedAt, &c.ReceivedAt, &completed, &c.Verdict, &c.Fresh, &summary, &review, &keyID, &wrapped, &completedSeq)
	if err != nil {
		return c, err
	}
	if completedSeq != nil {
		c.CompletedSeq = *completedSeq
	}
	c.CreatedAt, c.ReceivedAt = c.CreatedAt.UTC(), c.ReceivedAt.UTC()
	if completed != nil {
		c.CompletedAt = completed.UTC()
	}
	if summary != nil {
		if err := json.Unmarshal(summary, &c.Summary); err != nil {
			return c, fmt.Errorf("decoding summary: %w", err)
		}
	}
	if review != nil {
		if err := json.Unmarshal(review, &c.Review); err != nil {
			return c, fmt.Errorf("decoding review: %w", err)
		}
	}
	if keyID != nil {
		c.Seal = &central.Seal{KeyID: *keyID, Key: wrapped}
	}
	return c, nil
}

// queueWhere is the WHERE clause and arguments of f.
func queueWhere(f central.QueueFilter) (string, []any) {
	where := []string{"completed_at IS NOT NULL"}
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if len(f.States) > 0 {
		states := make([]string, len(f.States))
		for i, s := range f.States {
			states[i] = string(s)
		}
		add("review_state = ANY($%d)", states)
	}
	if len(f.Decisions) > 0 {
		add("engine_decision = ANY($%d)", f.Decisions)
	}
	if f.Reason != "" {
		add("reasons @> $%d", []string{f.Reason})
	}
	if len(f.DeviceIDs) > 0 {
		add("device_id = ANY($%d)", f.DeviceIDs)
	}
	if f.DocType != "" {
		add("doc_type = $%d", f.DocType)
	}
	if f.Country != "" {
		add("country = $%d", f.Country)
	}
	if f.Assignee != "" {
		add("assignee = $%d", f.Assignee)
	}
	if !f.ReceivedAfter.IsZero() {
		add("received_at >= $%d", f.ReceivedAfter)
	}
	if !f.ReceivedBefore.IsZero() {
		add("received_at < $%d", f.ReceivedBefore)
	}
	for _, t := range f.Tokens {
		add("EXISTS (SELECT 1 FROM submission_tokens t WHERE t.token = $%d AND t.device_id = submissions.device_id AND t.key = submissions.key)", t)
	}
	return strings.Join(where, " AND "), args
}

// queueAfter is the condition of f.After (a row comparison, which the
// index in queue order serves) and its arguments numbered from n+1; "" if
// none.
func queueAfter(f central.QueueFilter, n int) (string, []any) {
	if f.After == nil {
		return "", nil
	}
	op := ">"
	if f.Newest {
		op = "<"
	}
	return fmt.Sprintf(" AND (received_at, device_id, key) %s ($%d, $%d, $%d)", op, n+1, n+2, n+3),
		[]any{f.After.ReceivedAt, f.After.Ref.DeviceID, f.After.Ref.Key}
}

// Queue implements central.Store. Both queries run as unnamed statements
// (QueryExecModeExec), planned with the filter's values each time: a
// cached generic plan cannot tell a rare assignee or country from a
// common one and scans the queue where an index finds a few rows.
func (s *Store) Queue(ctx context.Context, f central.QueueFilter) ([]central.Case, int, error) {
	where, args := queueWhere(f)
	order := "received_at, device_id, key"
	if f.Newest {
		order = "received_at DESC, device_id DESC, key DESC"
	}
	limit := central.Filter{Limit: f.Limit}.EffectiveLimit()
	after, afterArgs := queueAfter(f, len(args))
	offset := max(f.Offset, 0)
	if f.After != nil {
		offset = 0
	}
	page := fmt.Sprintf(`SELECT %s FROM submissions WHERE %s%s ORDER BY %s LIMIT %d OFFSET %d`, caseCols, where, after, order, limit, offset)
	args = append([]any{pgx.QueryExecModeExec}, args...)
	var out []central.Case
	total := -1
	err := s.query(ctx, func(c *pgx.Conn) error {
		if f.After == nil && !f.Uncounted {
			if err := c.QueryRow(ctx, `SELECT count(*) FROM submissions WHERE `+where, args...).Scan(&total); err != nil {
				return err
			}
		}
		rows, err := c.Query(ctx, page, append(args, afterArgs...)...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (central.Case, error) { return scanCase(r) })
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("listing the review queue: %w", err)
	}
	return out, total, nil
}

// Case implements central.Store.
func (s *Store) Case(ctx context.Context, ref central.SubmissionRef) (central.Case, error) {
	var cs central.Case
	err := s.query(ctx, func(c *pgx.Conn) (err error) {
		cs, err = scanCase(c.QueryRow(ctx, `SELECT `+caseCols+` FROM submissions WHERE device_id = $1 AND key = $2`, ref.DeviceID, ref.Key))
		return err
	})
	if err != nil {
		return central.Case{}, fmt.Errorf("reading case: %w", notFound(err))
	}
	return cs, nil
}

// UpdateReview implements central.Store. The case's row is locked for the
// transaction, so concurrent changes of one case apply one after the
// other, each fn seeing the one before.
func (s *Store) UpdateReview(ctx context.Context, ref central.SubmissionRef, fn func(central.Case) (central.Review, central.AuditEvent, error)) (central.Case, error) {
	var out central.Case
	var fnErr error
	err := s.tx(ctx, func(tx pgx.Tx) error {
		c, err := scanCase(tx.QueryRow(ctx, `SELECT `+caseCols+` FROM submissions WHERE device_id = $1 AND key = $2 FOR UPDATE`, ref.DeviceID, ref.Key))
		if err != nil {
			return notFound(err)
		}
		rv, ev, err := fn(c)
		if err != nil {
			fnErr = err
			return err
		}
		if err := tx.QueryRow(ctx, `UPDATE review_counter SET seq = seq + 1 WHERE id = 1 RETURNING seq`).Scan(&rv.Seq); err != nil {
			return err
		}
		rv.Version = c.Review.Version + 1
		doc, err := json.Marshal(rv)
		if err != nil {
			return err
		}
		state := rv.State
		if state == "" {
			state = central.ReviewOpen
		}
		var claimed *time.Time // what holds the case back from retention (heldSQL)
		if state == central.ReviewClaimed && !rv.ClaimedAt.IsZero() {
			claimed = &rv.ClaimedAt
		}
		_, err = tx.Exec(ctx, `UPDATE submissions SET review = $3, review_state = $4, assignee = $5, review_seq = $6, claimed_at = $7 WHERE device_id = $1 AND key = $2`,
			ref.DeviceID, ref.Key, doc, string(state), rv.Assignee, rv.Seq, claimed)
		if err != nil {
			return err
		}
		if err := appendAudit(ctx, tx, ev); err != nil {
			return err
		}
		c.Review = rv
		out = c
		return nil
	})
	if fnErr != nil {
		return central.Case{}, fnErr
	}
	if err != nil {
		return central.Case{}, fmt.Errorf("updating review: %w", err)
	}
	return out, nil
}

// ReviewChanges implements central.Store.
func (s *Store) ReviewChanges(ctx context.Context, deviceID string, after int64, limit int) ([]central.ReviewChange, error) {
	limit = central.Filter{Limit: limit}.EffectiveLimit()
	sql := `SELECT ` + caseCols + ` FROM submissions WHERE review_seq > $1 ORDER BY review_seq LIMIT $2`
	args := []any{after, limit}
	if deviceID != "" {
		sql = `SELECT ` + caseCols + ` FROM submissions WHERE device_id = $3 AND review_seq > $1 ORDER BY review_seq LIMIT $2`
		args = append(args, deviceID)
	}
	var out []central.ReviewChange
	err := s.query(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (central.ReviewChange, error) {
			cs, err := scanCase(r)
			return central.ReviewChange{Ref: cs.Ref, ID: cs.ID, Review: cs.Review, Seal: cs.Seal}, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing review changes: %w", err)
	}
	return out, nil
}

// The log of completions: the transaction completing a submission
// (BeginSubmission without images, the AppendChunk of its last byte,
// retention closing its upload) gives it the next seq of the one-row
// completed_counter, locked to the end of the transaction, so completions
// commit in CompletedSeq order and a follower of Completed never skips
// one committed late.

// logCompletedSQL gives submission ($1, $2) the next completed seq.
const logCompletedSQL = `WITH c AS (UPDATE completed_counter SET seq = seq + 1 WHERE id = 1 RETURNING seq)
UPDATE submissions SET completed_seq = c.seq FROM c WHERE device_id = $1 AND key = $2 AND completed_seq IS NULL`

// logClosedSQL numbers the complete submissions without a completed seq
// (those retention just closed, in received order). Other transactions'
// completions carry their seq when they commit, so only this
// transaction's rows match.
const logClosedSQL = `WITH todo AS (
	SELECT device_id, key, row_number() OVER (ORDER BY received_at, device_id, key) AS rn
	FROM submissions WHERE completed_at IS NOT NULL AND completed_seq IS NULL
), c AS (
	UPDATE completed_counter SET seq = seq + (SELECT count(*) FROM todo) WHERE id = 1 RETURNING seq - (SELECT count(*) FROM todo) AS base
)
UPDATE submissions s SET completed_seq = c.base + todo.rn FROM todo, c WHERE s.device_id = todo.device_id AND s.key = todo.key`

// Completed implements central.Store.
func (s *Store) Completed(ctx context.Context, after int64, limit int) ([]central.Case, error) {
	limit = central.Filter{Limit: limit}.EffectiveLimit()
	var out []central.Case
	err := s.query(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT `+caseCols+` FROM submissions WHERE completed_seq > $1 ORDER BY completed_seq LIMIT $2`, after, limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (central.Case, error) { return scanCase(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing completed submissions: %w", err)
	}
	return out, nil
}
