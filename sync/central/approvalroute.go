package central

import (
	"context"
	"slices"

	"github.com/openkyc/kyc/engine/risk"
)

// ApprovalRoutes lets central route an approval it stored already to
// review, when a check made after ingest (its own face engine's second
// opinion, sync/central/recheck) contradicts it.
type ApprovalRoutes interface {
	// RouteApproval routes the stored submission ref to review if its
	// Summary.Decision is still approve (Summary.RouteToReview with
	// reason) and appends ev in the same transaction, so no routing is
	// without its audit entry. It reports false and changes nothing (ev
	// not appended) when the decision is no longer approve: routed
	// already, by another instance among them. The review and the
	// payload are left as they are. ErrNotFound if ref is absent.
	RouteApproval(ctx context.Context, ref SubmissionRef, reason string, ev AuditEvent) (bool, error)
}

// RouteToReview makes s a case central routed to review instead of the
// device's decision: reason first in Reasons, the device's decision kept
// in DeviceDecision.
func (s *Summary) RouteToReview(reason string) {
	s.DeviceDecision = s.Decision
	s.Decision = string(risk.Review)
	s.Reasons = slices.Insert(s.Reasons, 0, reason)
	if len(s.Reasons) > maxSummaryReasons {
		s.Reasons = s.Reasons[:maxSummaryReasons]
	}
}

// ReasonCentralRecheckContradicts: central's own face engine, run on the
// submission's images once they all arrived, contradicts the device's
// approval (no face in the document or the selfie, the faces do not
// match, or the selfie is not live). A device whose operator edits its
// pending result can make its score agree with the bands; it cannot make
// central's engine agree. Audited as AuditDecisionDistrusted.
const ReasonCentralRecheckContradicts = "CENTRAL_RECHECK_CONTRADICTS"
