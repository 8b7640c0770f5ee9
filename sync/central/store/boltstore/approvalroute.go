package boltstore

import (
	"context"

	"go.etcd.io/bbolt"

	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/sync/central"
)

// RouteApproval implements central.Store: the record's summary and its
// review queue entry change together, with the audit event.
func (s *Store) RouteApproval(ctx context.Context, ref central.SubmissionRef, reason string, ev central.AuditEvent) (bool, error) {
	routed := false
	err := s.update(ctx, "routing an approval to review", func(tx *bbolt.Tx) error {
		k := subKey(ref.DeviceID, ref.Key)
		var sub central.Submission
		if err := get(tx.Bucket(bucketSubs), k, &sub); err != nil {
			return err
		}
		if sub.Summary == nil || sub.Summary.Decision != string(risk.Approve) {
			return nil
		}
		sub.Summary.RouteToReview(reason)
		if !sub.CompletedAt.IsZero() {
			rv, err := loadReview(tx, k)
			if err != nil {
				return err
			}
			if err := putQueue(tx, k, &sub, rv); err != nil {
				return err
			}
		}
		if err := put(tx.Bucket(bucketSubs), k, sub); err != nil {
			return err
		}
		if err := appendAudit(tx, ev); err != nil {
			return err
		}
		routed = true
		return nil
	})
	return routed, err
}
