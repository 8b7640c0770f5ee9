package console

import (
	"net/http"
	"slices"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// An override changes the decision of a case the engine decided itself
// (approve or reject), four eyes: a reviewer proposes it (the new outcome
// and why), which changes nothing the device or a partner sees; another
// user confirms it, and only then is it the case's decision, which goes
// to the device and the partner as a reviewer's does (Store.UpdateReview,
// ReviewChanges); or another user declines it and the engine's decision
// stands. Each step is a caseAction: one transaction with its audit event
// and the version check, so of a confirm and a decline posted at once
// exactly one applies.

// Audit actions of overrides.
const (
	AuditOverridePropose = "case_override_propose"
	AuditOverrideConfirm = "case_override_confirm"
	AuditOverrideDecline = "case_override_decline"
)

// overrideDecisions are the engine's decisions an override changes; the
// queue lists pending overrides among them.
var overrideDecisions = []string{central.OutcomeApprove, central.OutcomeReject}

// routeOverride registers the override's steps: reviewers and admins
// (auditors get 403 from route), each checked against the case's scope.
func (c *Console) routeOverride() {
	p := "POST /console/cases/{device}/{key}/override"
	c.route(p, central.RoleReviewer, c.caseAction(AuditOverridePropose, proposeOverride))
	c.route(p+"/confirm", central.RoleReviewer, c.caseAction(AuditOverrideConfirm, confirmOverride))
	c.route(p+"/decline", central.RoleReviewer, c.caseAction(AuditOverrideDecline, declineOverride))
}

// overridable reports whether cs is an engine-decided case nobody has
// reviewed or overridden: an override of an override is not offered (the
// confirmed one is a four-eyes decision already).
func overridable(cs central.Case) bool {
	return slices.Contains(overrideDecisions, cs.Summary.Decision) && state(cs.Review) == central.ReviewOpen
}

// proposeOverride records v's proposal: an outcome other than the engine's,
// a reject reason for a reject, and a note saying why (required: the
// second user and the auditor read it). The proposer holds it as
// Assignee, so proposedBy keeps them from confirming it.
func proposeOverride(cs central.Case, r *http.Request, v *Viewer, now time.Time) (central.Review, string, string, error) {
	rv := cs.Review
	if !overridable(cs) {
		if state(rv) == central.ReviewOverride {
			return rv, "", "", fail(http.StatusConflict, "override_pending")
		}
		return rv, "", "", fail(http.StatusConflict, "not_overridable")
	}
	outcome, reason := r.PostFormValue("outcome"), ""
	switch outcome {
	case central.OutcomeApprove:
		// Hits are cleared on a claimed case, which an engine-decided
		// one never is: an approve over a screening hit stays refused.
		if cs.Summary.Hits > 0 {
			return rv, "", "", fail(http.StatusConflict, "hits_open")
		}
	case central.OutcomeReject:
		reason = r.PostFormValue("reason")
		if !slices.Contains(rejectReasons, reason) {
			return rv, "", "", fail(http.StatusBadRequest, "reason_needed")
		}
	case central.OutcomeResubmit:
	default:
		return rv, "", "", fail(http.StatusBadRequest, "bad_request")
	}
	if outcome == cs.Summary.Decision {
		return rv, "", "", fail(http.StatusBadRequest, "override_same")
	}
	n, err := note(r)
	if err != nil {
		return rv, "", "", err
	}
	if n == "" {
		return rv, "", "", fail(http.StatusBadRequest, "note_needed")
	}
	rv.State, rv.Assignee = central.ReviewOverride, v.User.Name
	rv.Outcome, rv.Reason, rv.DecidedBy, rv.DecidedAt = outcome, reason, v.User.Name, now
	rv.Note = appendNote(rv.Note, v.User.Name, n)
	return rv, "", "msg.override_proposed", nil
}

// pendingOverride checks that cs has a proposal v may confirm or decline:
// anyone with the role but its proposer.
func pendingOverride(cs central.Case, v *Viewer) error {
	if state(cs.Review) != central.ReviewOverride {
		return fail(http.StatusConflict, "no_override")
	}
	if proposedBy(cs.Review, v.User.Name) {
		return fail(http.StatusForbidden, "four_eyes")
	}
	return nil
}

// confirmOverride makes the proposal the case's decision: decided, by its
// proposer, confirmed by v (SecondBy), as a confirmed second review is.
func confirmOverride(cs central.Case, r *http.Request, v *Viewer, now time.Time) (central.Review, string, string, error) {
	rv := cs.Review
	if err := pendingOverride(cs, v); err != nil {
		return rv, "", "", err
	}
	n, err := note(r)
	if err != nil {
		return rv, "", "", err
	}
	rv.Note = appendNote(rv.Note, v.User.Name, n)
	rv.State, rv.SecondBy = central.ReviewDecided, v.User.Name
	return rv, "", "msg.override_confirmed", nil
}

// declineOverride drops the proposal, with v's note (required) why: the
// engine's decision stands and the case is open to a new proposal. The
// notes stay, for whoever proposes next.
func declineOverride(cs central.Case, r *http.Request, v *Viewer, now time.Time) (central.Review, string, string, error) {
	rv := cs.Review
	if err := pendingOverride(cs, v); err != nil {
		return rv, "", "", err
	}
	n, err := note(r)
	if err != nil {
		return rv, "", "", err
	}
	if n == "" {
		return rv, "", "", fail(http.StatusBadRequest, "note_needed")
	}
	rv.Note = appendNote(rv.Note, v.User.Name, n)
	rv.State, rv.Assignee = central.ReviewOpen, ""
	rv.Outcome, rv.Reason, rv.DecidedBy, rv.DecidedAt = "", "", "", time.Time{}
	return rv, "", "msg.override_declined", nil
}
