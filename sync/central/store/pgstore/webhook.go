package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/jobs"
)

// Webhook events are rows numbered from the one-row webhook_counter,
// locked to the end of the appending transaction, so events commit in Seq
// order. Pending events (neither delivered nor dead) are in two partial
// indexes: by partner and next attempt, which DueEvents walks, and by
// session, which tells it whether an older event of the session is still
// pending; so DueEvents reads pending events only, however many were
// delivered; it passes over the partners that are disabled
// (partners.disabled), whose events are held, without reading them.

const eventCols = `seq, id, partner_id, session_id, type, payload, created_at, attempts, next_at, delivered_at, dead_at, held_before`

// scanEvent scans eventCols, then into extra the columns selected after
// them.
func scanEvent(row pgx.Row, extra ...any) (central.WebhookEvent, error) {
	var e central.WebhookEvent
	var payload []byte
	var next, delivered, dead *time.Time
	var held int64
	dst := append([]any{&e.Seq, &e.ID, &e.PartnerID, &e.SessionID, &e.Type, &payload, &e.CreatedAt, &e.Attempts, &next, &delivered, &dead, &held}, extra...)
	if err := row.Scan(dst...); err != nil {
		return e, err
	}
	e.HeldBefore = time.Duration(held)
	e.Payload = payload
	e.CreatedAt = e.CreatedAt.UTC()
	for _, t := range []struct{ src, dst *time.Time }{{next, &e.NextAt}, {delivered, &e.DeliveredAt}, {dead, &e.DeadAt}} {
		if t.src != nil {
			*t.dst = t.src.UTC()
		}
	}
	return e, nil
}

// appendEvents stores evs inside tx (AppendEvents, UpdateFlow), and in the
// same transaction a delivery job for each event it stored (an event
// stored already keeps the job it had).
func (s *Store) appendEvents(ctx context.Context, tx pgx.Tx, evs []central.WebhookEvent) error {
	if len(evs) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT 1 FROM webhook_counter WHERE id = 1 FOR UPDATE`)
	for _, ev := range evs {
		if err := checkIDs(ev.ID, ev.PartnerID, ev.SessionID); err != nil {
			return fmt.Errorf("webhook event: %w", err)
		}
		if ev.CreatedAt.IsZero() {
			return fmt.Errorf("webhook event %s: no CreatedAt", ev.ID)
		}
		payload := []byte(ev.Payload)
		if payload == nil {
			payload = []byte{}
		}
		b.Queue(`WITH ins AS (
	INSERT INTO webhook_events (seq, id, partner_id, session_id, type, payload, created_at, next_at)
	SELECT c.seq + 1, $1, $2, $3, $4, $5, $6, $6 FROM webhook_counter c WHERE c.id = 1
	ON CONFLICT (id) DO NOTHING RETURNING seq
)
UPDATE webhook_counter SET seq = ins.seq FROM ins WHERE webhook_counter.id = 1 RETURNING ins.seq`, ev.ID, ev.PartnerID, ev.SessionID, ev.Type, payload, ev.CreatedAt)
	}
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return err
	}
	var params []river.InsertManyParams
	for _, ev := range evs {
		var seq int64
		err := br.QueryRow().Scan(&seq)
		if errors.Is(err, pgx.ErrNoRows) {
			continue // stored already
		}
		if err != nil {
			return err
		}
		params = append(params, river.InsertManyParams{Args: jobs.Delivery{EventID: ev.ID, Seq: seq, PartnerID: ev.PartnerID, SessionID: ev.SessionID}})
	}
	if err := br.Close(); err != nil {
		return err
	}
	if len(params) == 0 {
		return nil
	}
	if _, err := s.jobs.InsertManyTx(ctx, tx, params); err != nil {
		return fmt.Errorf("queueing deliveries: %w", err)
	}
	return nil
}

// AppendEvents implements central.Store.
func (s *Store) AppendEvents(ctx context.Context, evs []central.WebhookEvent) error {
	if err := s.tx(ctx, func(tx pgx.Tx) error { return s.appendEvents(ctx, tx, evs) }); err != nil {
		return fmt.Errorf("recording webhook events: %w", err)
	}
	return nil
}

// dueEventsSQL lists the due lane heads ($1 now, $2 limit; $3 the
// horizon past which a next attempt was set by a clock since put back,
// central.EventDue). The partners
// with pending events are found by skipping through the index by partner
// (one probe each, however long their backlogs), those disabled left out;
// each one's due events are read in order from the same index, up to the
// limit, and whether an event heads its lane is a probe of the session
// index per event. The probe is a scalar subquery so that it stays one
// whatever the planner believes of the table (an anti-join planned on
// stale statistics, after a burst of events, compared every due event
// with every pending one).
const dueEventsSQL = `WITH RECURSIVE partner_ids AS (
	(SELECT partner_id FROM webhook_events WHERE delivered_at IS NULL AND dead_at IS NULL ORDER BY partner_id LIMIT 1)
	UNION ALL
	SELECT (SELECT w.partner_id FROM webhook_events w
		WHERE w.delivered_at IS NULL AND w.dead_at IS NULL AND w.partner_id > p.partner_id ORDER BY w.partner_id LIMIT 1)
	FROM partner_ids p WHERE p.partner_id IS NOT NULL
)
SELECT e.* FROM partner_ids p CROSS JOIN LATERAL (
	SELECT ` + eventCols + ` FROM webhook_events e
	WHERE e.partner_id = p.partner_id AND e.delivered_at IS NULL AND e.dead_at IS NULL AND (e.next_at <= $1 OR e.next_at > $3)
	  AND e.seq = (SELECT min(h.seq) FROM webhook_events h
		WHERE h.partner_id = e.partner_id AND h.session_id = e.session_id AND h.delivered_at IS NULL AND h.dead_at IS NULL)
	ORDER BY e.next_at, e.seq LIMIT $2
) e
WHERE p.partner_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM partners d WHERE d.id = p.partner_id AND d.disabled)
ORDER BY e.next_at, e.seq LIMIT $2`

// DueEvents implements central.Store.
func (s *Store) DueEvents(ctx context.Context, now time.Time, limit int) ([]central.WebhookEvent, error) {
	limit = central.Filter{Limit: limit}.EffectiveLimit()
	var out []central.WebhookEvent
	err := s.query(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, dueEventsSQL, now, limit, now.Add(central.EventMaxWait+central.EventClockSlack))
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (central.WebhookEvent, error) { return scanEvent(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing due webhook events: %w", err)
	}
	return out, nil
}

// RecordAttempt implements central.Store. The event's row is locked for
// the transaction. Its state changes only while it is pending: an attempt
// recorded for an event delivered or dead meanwhile (by another worker,
// or replayed and delivered) is logged and leaves it as it is. A failed
// attempt with neither nextAt nor deadAt is retried at once. The first
// attempt's Held is kept on the event (held_before).
func (s *Store) RecordAttempt(ctx context.Context, a central.DeliveryAttempt, delivered bool, nextAt, deadAt time.Time) error {
	return s.recordAttempt(ctx, nil, a, delivered, nextAt, deadAt)
}

// RecordLeased implements central.WebhookLanes: RecordAttempt once the
// locked row shows the event pending under lease l (its lease_owner is
// l.Owner), else ErrLeaseLost and nothing written, so a send that outlived its lease neither ends another
// holder's lease nor counts an attempt the new holder makes again.
func (s *Store) RecordLeased(ctx context.Context, l central.LaneLease, a central.DeliveryAttempt, delivered bool, nextAt, deadAt time.Time) error {
	if a.EventID != l.Event.ID {
		return fmt.Errorf("recording delivery attempt: event %s under the lease of %s", a.EventID, l.Event.ID)
	}
	return s.recordAttempt(ctx, &l, a, delivered, nextAt, deadAt)
}

// recordAttempt is RecordAttempt, and RecordLeased when l is not nil.
func (s *Store) recordAttempt(ctx context.Context, l *central.LaneLease, a central.DeliveryAttempt, delivered bool, nextAt, deadAt time.Time) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var seq int64
		var n int
		var pending bool
		var owner *string
		err := tx.QueryRow(ctx, `SELECT seq, attempts, delivered_at IS NULL AND dead_at IS NULL, lease_owner FROM webhook_events WHERE id = $1 FOR UPDATE`, a.EventID).
			Scan(&seq, &n, &pending, &owner)
		if err != nil {
			return notFound(err)
		}
		if l != nil && (!pending || owner == nil || *owner != l.Owner) {
			return central.ErrLeaseLost
		}
		n++
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO webhook_attempts (event_seq, n, at, status, latency_ms, excerpt) VALUES ($1, $2, $3, $4, $5, $6)`,
			seq, n, a.At, a.Status, a.LatencyMS, a.Excerpt)
		if n == 1 {
			b.Queue(`UPDATE webhook_events SET held_before = $2 WHERE seq = $1`, seq, int64(a.Held))
		}
		switch {
		case !pending:
			b.Queue(`UPDATE webhook_events SET attempts = $2, lease_until = NULL, lease_owner = NULL WHERE seq = $1`, seq, n)
		case delivered:
			b.Queue(`UPDATE webhook_events SET attempts = $2, delivered_at = $3, next_at = NULL, lease_until = NULL, lease_owner = NULL WHERE seq = $1`, seq, n, a.At)
		case !deadAt.IsZero():
			b.Queue(`UPDATE webhook_events SET attempts = $2, dead_at = $3, next_at = NULL, lease_until = NULL, lease_owner = NULL WHERE seq = $1`, seq, n, deadAt)
		default:
			if nextAt.IsZero() {
				nextAt = a.At
			}
			b.Queue(`UPDATE webhook_events SET attempts = $2, next_at = $3, lease_until = NULL, lease_owner = NULL WHERE seq = $1`, seq, n, nextAt)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("recording delivery attempt: %w", err)
	}
	return nil
}

// Events implements central.Store.
func (s *Store) Events(ctx context.Context, partnerID string, afterSeq int64, limit int) ([]central.WebhookEvent, error) {
	limit = central.Filter{Limit: limit}.EffectiveLimit()
	sql := `SELECT ` + eventCols + ` FROM webhook_events WHERE seq > $1 ORDER BY seq LIMIT $2`
	args := []any{afterSeq, limit}
	if partnerID != "" {
		sql = `SELECT ` + eventCols + ` FROM webhook_events WHERE partner_id = $3 AND seq > $1 ORDER BY seq LIMIT $2`
		args = append(args, partnerID)
	}
	var out []central.WebhookEvent
	err := s.query(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (central.WebhookEvent, error) { return scanEvent(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing webhook events: %w", err)
	}
	return out, nil
}

// Attempts implements central.Store.
func (s *Store) Attempts(ctx context.Context, eventID string) ([]central.DeliveryAttempt, error) {
	out := []central.DeliveryAttempt{}
	err := s.query(ctx, func(c *pgx.Conn) error {
		var seq int64
		if err := c.QueryRow(ctx, `SELECT seq FROM webhook_events WHERE id = $1`, eventID).Scan(&seq); err != nil {
			return notFound(err)
		}
		rows, err := c.Query(ctx, `SELECT at, status, latency_ms, excerpt FROM webhook_attempts WHERE event_seq = $1 ORDER BY n`, seq)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (central.DeliveryAttempt, error) {
			a := central.DeliveryAttempt{EventID: eventID}
			err := r.Scan(&a.At, &a.Status, &a.LatencyMS, &a.Excerpt)
			a.At = a.At.UTC()
			return a, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing delivery attempts: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// ReplayEvent implements central.Store: the event is pending again, due at
// now (before its session's later events, being older); its attempts are
// kept. A delivery job is queued in the same transaction (the event's
// first one may be long finished). An event still pending keeps its lane
// lease: an instance may be sending it, and another must not start too.
func (s *Store) ReplayEvent(ctx context.Context, eventID string, now time.Time) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var d jobs.Delivery
		err := tx.QueryRow(ctx, `UPDATE webhook_events SET delivered_at = NULL, dead_at = NULL, next_at = $2,
			lease_until = CASE WHEN delivered_at IS NULL AND dead_at IS NULL THEN lease_until END,
			lease_owner = CASE WHEN delivered_at IS NULL AND dead_at IS NULL THEN lease_owner END WHERE id = $1
			RETURNING id, seq, partner_id, session_id`, eventID, now).Scan(&d.EventID, &d.Seq, &d.PartnerID, &d.SessionID)
		if err != nil {
			return notFound(err)
		}
		_, err = s.jobs.InsertTx(ctx, tx, d, nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("replaying webhook event: %w", err)
	}
	return nil
}

// Cursor implements central.Store.
func (s *Store) Cursor(ctx context.Context, name string) (int64, error) {
	var seq int64
	err := s.query(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT seq FROM cursors WHERE name = $1`, name).Scan(&seq)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading cursor: %w", err)
	}
	return seq, nil
}

// PutCursor implements central.Store.
func (s *Store) PutCursor(ctx context.Context, name string, seq int64) error {
	if name == "" {
		return errors.New("storing cursor: no name")
	}
	if _, err := s.exec(ctx, `INSERT INTO cursors (name, seq) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET seq = excluded.seq`, name, seq); err != nil {
		return fmt.Errorf("storing cursor: %w", err)
	}
	return nil
}

// WebhookHealth implements central.Store: the window's events come from
// the partner's index read backwards, their attempts by primary key.
func (s *Store) WebhookHealth(ctx context.Context, partnerID string, window int) (central.WebhookHealth, error) {
	var h central.WebhookHealth
	err := s.query(ctx, func(c *pgx.Conn) error {
		var id, excerpt *string
		var at *time.Time
		var status *int
		var latency *float64
		err := c.QueryRow(ctx, `WITH w AS (
	SELECT seq, id, delivered_at, dead_at FROM webhook_events WHERE partner_id = $1 ORDER BY seq DESC LIMIT $2
), last AS (
	SELECT w.id, a.at, a.status, a.latency_ms, a.excerpt FROM webhook_attempts a JOIN w ON a.event_seq = w.seq
	ORDER BY a.at DESC, a.event_seq DESC, a.n DESC LIMIT 1
)
SELECT (SELECT count(*) FROM w), (SELECT count(*) FROM w WHERE delivered_at IS NULL AND dead_at IS NULL),
	(SELECT count(*) FROM w WHERE dead_at IS NOT NULL), last.id, last.at, last.status, last.latency_ms, last.excerpt
FROM (SELECT 1) one LEFT JOIN last ON true`, partnerID, max(window, 0)).
			Scan(&h.Events, &h.Owed, &h.Dead, &id, &at, &status, &latency, &excerpt)
		if err != nil || id == nil {
			return err
		}
		h.Last = central.DeliveryAttempt{EventID: *id, At: at.UTC(), Status: *status, LatencyMS: *latency, Excerpt: *excerpt}
		return nil
	})
	if err != nil {
		return central.WebhookHealth{}, fmt.Errorf("summing up webhook delivery: %w", err)
	}
	return h, nil
}
