package pgstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/openkyc/kyc/sync/central"
)

var _ central.StoredUserRewriter = (*Store)(nil)

// RewriteFlowUsers implements central.StoredUserRewriter. The batch's rows
// are locked, so an UpdateFlow meanwhile waits and then sees the sealed
// reference; only the doc changes (no column holds the reference).
func (s *Store) RewriteFlowUsers(ctx context.Context, after central.FlowKey, limit int, fn func(*central.FlowSession) error) (last central.FlowKey, n int, err error) {
	err = s.tx(ctx, func(tx pgx.Tx) error {
		last, n = after, 0
		rows, err := tx.Query(ctx, `SELECT partner_id, id, doc FROM flows WHERE (partner_id, id) > ($1, $2)
			ORDER BY partner_id, id LIMIT $3 FOR UPDATE`, after.PartnerID, after.ID, limit)
		if err != nil {
			return err
		}
		type row struct {
			key central.FlowKey
			doc []byte
		}
		found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			err := r.Scan(&x.key.PartnerID, &x.key.ID, &x.doc)
			return x, err
		})
		if err != nil {
			return err
		}
		for _, x := range found {
			var f central.FlowSession
			if err := json.Unmarshal(x.doc, &f); err != nil {
				return fmt.Errorf("decoding flow: %w", err)
			}
			user := f.UserID
			if err := fn(&f); err != nil {
				return err
			}
			if f.UserID != user {
				var stored central.FlowSession
				if err := json.Unmarshal(x.doc, &stored); err != nil {
					return fmt.Errorf("decoding flow: %w", err)
				}
				stored.UserID = f.UserID
				doc, err := json.Marshal(stored)
				if err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, `UPDATE flows SET doc = $3 WHERE partner_id = $1 AND id = $2`, x.key.PartnerID, x.key.ID, doc); err != nil {
					return err
				}
			}
			last, n = x.key, n+1
		}
		return nil
	})
	if err != nil {
		return after, 0, fmt.Errorf("sealing sessions' user references: %w", err)
	}
	return last, n, nil
}

// RewriteEventUsers implements central.StoredUserRewriter, the batch's
// events locked.
func (s *Store) RewriteEventUsers(ctx context.Context, afterSeq int64, limit int, fn func(*central.WebhookEvent, []central.DeliveryAttempt) error) (last int64, n int, err error) {
	err = s.tx(ctx, func(tx pgx.Tx) error {
		last, n = afterSeq, 0
		rows, err := tx.Query(ctx, `SELECT seq, id, partner_id, session_id, type, payload, created_at FROM webhook_events
			WHERE seq > $1 ORDER BY seq LIMIT $2 FOR UPDATE`, afterSeq, limit)
		if err != nil {
			return err
		}
		evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (central.WebhookEvent, error) {
			var ev central.WebhookEvent
			err := r.Scan(&ev.Seq, &ev.ID, &ev.PartnerID, &ev.SessionID, &ev.Type, &ev.Payload, &ev.CreatedAt)
			return ev, err
		})
		if err != nil || len(evs) == 0 {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT event_seq, n, at, status, latency_ms, excerpt FROM webhook_attempts
			WHERE event_seq = ANY($1) ORDER BY event_seq, n`, eventSeqs(evs))
		if err != nil {
			return err
		}
		type attempt struct {
			seq int64
			n   int
			a   central.DeliveryAttempt
		}
		all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (attempt, error) {
			var x attempt
			err := r.Scan(&x.seq, &x.n, &x.a.At, &x.a.Status, &x.a.LatencyMS, &x.a.Excerpt)
			x.a.At = x.a.At.UTC()
			return x, err
		})
		if err != nil {
			return err
		}
		for _, ev := range evs {
			var mine []attempt
			for _, x := range all {
				if x.seq == ev.Seq {
					x.a.EventID = ev.ID
					mine = append(mine, x)
				}
			}
			as := make([]central.DeliveryAttempt, len(mine))
			for i, x := range mine {
				as[i] = x.a
			}
			payload := bytes.Clone(ev.Payload)
			ev.CreatedAt = ev.CreatedAt.UTC()
			if err := fn(&ev, as); err != nil {
				return err
			}
			if !bytes.Equal(ev.Payload, payload) {
				if _, err := tx.Exec(ctx, `UPDATE webhook_events SET payload = $2 WHERE seq = $1`, ev.Seq, []byte(ev.Payload)); err != nil {
					return err
				}
			}
			for i, x := range mine {
				if as[i].Excerpt != x.a.Excerpt {
					if _, err := tx.Exec(ctx, `UPDATE webhook_attempts SET excerpt = $3 WHERE event_seq = $1 AND n = $2`, x.seq, x.n, as[i].Excerpt); err != nil {
						return err
					}
				}
			}
			last, n = ev.Seq, n+1
		}
		return nil
	})
	if err != nil {
		return afterSeq, 0, fmt.Errorf("sealing events' user references: %w", err)
	}
	return last, n, nil
}

func eventSeqs(evs []central.WebhookEvent) []int64 {
	out := make([]int64, len(evs))
	for i, ev := range evs {
		out[i] = ev.Seq
	}
	return out
}
