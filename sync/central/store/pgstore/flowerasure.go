package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openkyc/kyc/sync/central"
)

var _ central.FlowEraser = (*Store)(nil)

// EraseFlows implements central.Store. No index leads from a submission to
// its sessions (the flows' documents list them), so it reads every
// session's list: erasures are rare and sessions leave with their own
// retention. The sessions' rows are locked, so an UpdateFlow meanwhile
// waits and then sees the scrubbed session.
func (s *Store) EraseFlows(ctx context.Context, ref central.SubmissionRef, at time.Time) (flows, events int, err error) {
	err = s.tx(ctx, func(tx pgx.Tx) error {
		flows, events = 0, 0
		rows, err := tx.Query(ctx, `SELECT doc FROM flows
			WHERE convert_from(doc, 'UTF8')::jsonb -> 'submissions' @> jsonb_build_array(jsonb_build_object('DeviceID', $1::text, 'Key', $2::text))
			FOR UPDATE`, ref.DeviceID, ref.Key)
		if err != nil {
			return err
		}
		found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (central.FlowSession, error) { return scanFlow(r) })
		if err != nil {
			return err
		}
		for _, f := range found {
			central.ScrubFlow(&f, at)
			cols, err := flowCols(&f)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE flows SET launch_hash = $3, status = $4, expires_at = $5, doc = $6 WHERE partner_id = $1 AND id = $2`,
				append([]any{f.PartnerID, f.ID}, cols...)...); err != nil {
				return err
			}
			flows++
			n, err := scrubEvents(ctx, tx, f.PartnerID, f.ID)
			if err != nil {
				return err
			}
			events += n
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("erasing partner sessions: %w", err)
	}
	return flows, events, nil
}

// scrubEvents rewrites the payload of every event of a session (its
// webhooks' and its pushes', central.FlowLanes) to
// central.ErasedEventPayload.
func scrubEvents(ctx context.Context, tx pgx.Tx, partnerID, sessionID string) (int, error) {
	rows, err := tx.Query(ctx, `SELECT seq, session_id, type, payload, created_at FROM webhook_events
		WHERE partner_id = $1 AND session_id = ANY($2) ORDER BY seq FOR UPDATE`, partnerID, central.FlowLanes(sessionID))
	if err != nil {
		return 0, err
	}
	evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (central.WebhookEvent, error) {
		ev := central.WebhookEvent{PartnerID: partnerID}
		err := r.Scan(&ev.Seq, &ev.SessionID, &ev.Type, &ev.Payload, &ev.CreatedAt)
		return ev, err
	})
	if err != nil {
		return 0, err
	}
	for _, ev := range evs {
		body, err := central.ErasedEventPayload(ev)
		if err != nil {
			return 0, err
		}
		if _, err := tx.Exec(ctx, `UPDATE webhook_events SET payload = $2 WHERE seq = $1`, ev.Seq, []byte(body)); err != nil {
			return 0, err
		}
	}
	return len(evs), nil
}
