package pgstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/sync/central"
)

// RouteApproval implements central.Store: the row is locked while its
// summary is read and rewritten, so two instances rechecking the same
// approval route it (and audit it) once.
func (s *Store) RouteApproval(ctx context.Context, ref central.SubmissionRef, reason string, ev central.AuditEvent) (bool, error) {
	routed := false
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var doc []byte
		if err := tx.QueryRow(ctx, `SELECT summary FROM submissions WHERE device_id = $1 AND key = $2 FOR UPDATE`, ref.DeviceID, ref.Key).Scan(&doc); err != nil {
			return notFound(err)
		}
		if doc == nil {
			return nil
		}
		var sum central.Summary
		if err := json.Unmarshal(doc, &sum); err != nil {
			return err
		}
		if sum.Decision != string(risk.Approve) {
			return nil
		}
		sum.RouteToReview(reason)
		cols, err := summaryCols(&sum)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE submissions SET summary = $3, engine_decision = $4, reasons = $5 WHERE device_id = $1 AND key = $2`,
			ref.DeviceID, ref.Key, cols.doc, cols.decision, cols.reasons); err != nil {
			return err
		}
		if err := appendAudit(ctx, tx, ev); err != nil {
			return err
		}
		routed = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("routing an approval to review: %w", err)
	}
	return routed, nil
}
