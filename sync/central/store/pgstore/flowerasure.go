package pgstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openkyc/kyc/sync/central"
)

var _ central.FlowEraser = (*Store)(nil)

// EraseFlows implements central.Store. flow_submissions leads from the
// submission to its sessions (CreateFlow and UpdateFlow fill it in their
// transaction); a session whose document no longer lists the submission
// is passed over. The sessions' rows are locked, so an UpdateFlow
// meanwhile waits and then sees the scrubbed session.
func (s *Store) EraseFlows(ctx context.Context, ref central.SubmissionRef, at time.Time) (flows, events int, err error) {
	err = s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		flows, events, err = eraseFlows(ctx, tx, ref, at)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("erasing partner sessions: %w", err)
	}
	return flows, events, nil
}

// eraseFlows is EraseFlows inside tx; Expire's ExpireDecision calls it too
// for each submission it deletes that a session holds.
func eraseFlows(ctx context.Context, tx pgx.Tx, ref central.SubmissionRef, at time.Time) (flows, events int, err error) {
	rows, err := tx.Query(ctx, `SELECT f.doc FROM flow_submissions x JOIN flows f ON f.partner_id = x.partner_id AND f.id = x.flow_id
		WHERE x.device_id = $1 AND x.key = $2
		ORDER BY f.partner_id, f.id FOR UPDATE OF f`, ref.DeviceID, ref.Key)
	if err != nil {
		return 0, 0, err
	}
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (central.FlowSession, error) { return scanFlow(r) })
	if err != nil {
		return 0, 0, err
	}
	for _, f := range found {
		if !slices.Contains(f.Submissions, ref) {
			continue
		}
		central.ScrubFlow(&f, at)
		cols, err := flowCols(&f)
		if err != nil {
			return 0, 0, err
		}
		if _, err := tx.Exec(ctx, `UPDATE flows SET launch_hash = $3, status = $4, expires_at = $5, doc = $6 WHERE partner_id = $1 AND id = $2`,
			append([]any{f.PartnerID, f.ID}, cols...)...); err != nil {
			return 0, 0, err
		}
		flows++
		n, err := scrubEvents(ctx, tx, f.PartnerID, f.ID)
		if err != nil {
			return 0, 0, err
		}
		events += n
		if _, err := tx.Exec(ctx, `DELETE FROM idempotency_keys WHERE partner_id = $1 AND session_id = $2`, f.PartnerID, f.ID); err != nil {
			return 0, 0, err
		}
		// The session's captures (central.HostedSessionPrefix); starts_with,
		// not LIKE, whose _ the encoded ids hold. hosted_state is small
		// (live sessions' values only).
		if _, err := tx.Exec(ctx, `DELETE FROM hosted_state WHERE starts_with(key, $1)`, central.HostedSessionPrefix(f.PartnerID, f.ID)); err != nil {
			return 0, 0, err
		}
	}
	return flows, events, nil
}

// indexFlowSubmissions records that the session holds refs
// (flow_submissions, which EraseFlows reads).
func indexFlowSubmissions(ctx context.Context, tx pgx.Tx, partnerID, id string, refs []central.SubmissionRef) error {
	if len(refs) == 0 {
		return nil
	}
	devices, keys := make([]string, len(refs)), make([]string, len(refs))
	for i, r := range refs {
		devices[i], keys[i] = r.DeviceID, r.Key
	}
	_, err := tx.Exec(ctx, `INSERT INTO flow_submissions (device_id, key, partner_id, flow_id)
		SELECT d, k, $3, $4 FROM unnest($1::text[], $2::text[]) AS u(d, k) ON CONFLICT DO NOTHING`, devices, keys, partnerID, id)
	if err != nil {
		return fmt.Errorf("indexing the session's submissions: %w", err)
	}
	return nil
}

// newRefs are the refs of now that were not in before: what an update
// adds to a session's Submissions (they are only ever appended).
func newRefs(before, now []central.SubmissionRef) []central.SubmissionRef {
	var out []central.SubmissionRef
	for _, r := range now {
		if !slices.Contains(before, r) {
			out = append(out, r)
		}
	}
	return out
}

// scrubEvents rewrites the payload of every event of a session (its
// webhooks' and its pushes', central.FlowLanes) to
// central.ErasedEventPayload, and empties the excerpt of their attempts
// that had an answer (a receiver may echo the event back).
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
	seqs := make([]int64, len(evs))
	for i, ev := range evs {
		body, err := central.ErasedEventPayload(ev)
		if err != nil {
			return 0, err
		}
		if _, err := tx.Exec(ctx, `UPDATE webhook_events SET payload = $2 WHERE seq = $1`, ev.Seq, []byte(body)); err != nil {
			return 0, err
		}
		seqs[i] = ev.Seq
	}
	if _, err := tx.Exec(ctx, `UPDATE webhook_attempts SET excerpt = '' WHERE event_seq = ANY($1) AND status <> 0 AND excerpt <> ''`, seqs); err != nil {
		return 0, fmt.Errorf("scrubbing delivery attempts: %w", err)
	}
	return len(evs), nil
}
