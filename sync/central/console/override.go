package console

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// An override changes the decision of a case the engine decided itself
// (approve or reject), four eyes: a reviewer proposes it (the new outcome
// and why), which changes nothing the device or a partner sees; another
// user confirms it, and only then is it the case's decision, which goes
// to the device and the partner as a reviewer's does (Store.UpdateReview,
// ReviewChanges); or another user declines it and the engine's decision
// stands. A decided case, by a confirmed override or by the queue's
// reviewers, may be overridden the same way (new facts about a person
// come after a decision): meanwhile the decision it would replace is kept
// aside (Review.Standing), devices and partners go on seeing it, and a
// decline restores it without telling them again (Review.DecidedSeq). Each step is a caseAction: one
// transaction with its audit event and the version check, so of a
// confirm and a decline posted at once exactly one applies.

// Audit actions of overrides.
const (
	AuditOverridePropose = "case_override_propose"
	AuditOverrideConfirm = "case_override_confirm"
	AuditOverrideDecline = "case_override_decline"
)

// overrideDecisions are the engine's own decisions an override changes
// while no reviewer decided the case.
var overrideDecisions = []string{central.OutcomeApprove, central.OutcomeReject}

// routeOverride registers the override's steps: reviewers and admins
// (auditors get 403 from route), each checked against the case's scope.
func (c *Console) routeOverride() {
	p := "POST /console/cases/{device}/{key}/override"
	c.route(p, central.RoleReviewer, c.caseAction(AuditOverridePropose, proposeOverride))
	c.route(p+"/confirm", central.RoleReviewer, c.caseAction(AuditOverrideConfirm, confirmOverride))
	c.route(p+"/decline", central.RoleReviewer, c.caseAction(AuditOverrideDecline, declineOverride))
}

// overridable reports whether cs has a final decision and no override
// pending: an engine-decided case still open (the engine's decision
// stands), or any decided case, whether a confirmed override or the
// queue's reviewers decided it (new facts come after either).
func overridable(cs central.Case) bool {
	switch state(cs.Review) {
	case central.ReviewDecided:
		return true
	case central.ReviewOpen:
		return slices.Contains(overrideDecisions, cs.Summary.Decision)
	}
	return false
}

// inForce is the decision an override of cs changes: a confirmed
// override's, else the engine's.
func inForce(cs central.Case) string {
	if state(cs.Review) == central.ReviewDecided {
		return cs.Review.Outcome
	}
	return cs.Summary.Decision
}

// proposeOverride records v's proposal: an outcome other than the one in
// force, a reject reason for a reject, and a note saying why (required:
// the second user and the auditor read it). The proposer holds it as
// Assignee, so overrideProposedBy keeps them from confirming it.
func proposeOverride(cs central.Case, r *http.Request, v *Viewer, now time.Time) (central.Review, string, string, error) {
	rv := cs.Review
	if !overridable(cs) {
		if state(rv) == central.ReviewOverride {
			return rv, "", "", fail(http.StatusConflict, "override_pending")
		}
		return rv, "", "", fail(http.StatusConflict, "not_overridable")
	}
	hits, err := proposedHits(cs, r, v, now)
	if err != nil {
		return rv, "", "", err
	}
	// An approve over screening hits clears each of them as a false
	// positive in the proposal itself: an engine-decided case is never
	// claimed, where hits are resolved otherwise.
	outcome, reason, err := outcomeOf(r, cs, hits)
	if err != nil {
		return rv, "", "", err
	}
	if outcome == inForce(cs) {
		return rv, "", "", fail(http.StatusBadRequest, "override_same")
	}
	n, err := note(r)
	if err != nil {
		return rv, "", "", err
	}
	if n == "" {
		return rv, "", "", fail(http.StatusBadRequest, "note_needed")
	}
	if d, ok := rv.InForce(); ok {
		rv.Standing = &d
	}
	rv.DecidedSeq = 0 // kept in Standing
	rv.State, rv.Assignee, rv.SecondBy = central.ReviewOverride, v.User.Name, ""
	rv.Outcome, rv.Reason, rv.DecidedBy, rv.DecidedAt = outcome, reason, v.User.Name, now
	rv.Note = appendNote(rv.Note, v.User.Name, n)
	rv.ProposedHits = hits
	return rv, "", "msg.override_proposed", nil
}

// proposedHits reads the proposal's verdicts on the case's screening hits
// ("hit_status_<i>" and "hit_note_<i>"): each given one a false positive
// or confirmed, with a note (required, as on a claimed case), by v. They
// wait with the proposal (Review.ProposedHits), apart from Review.Hits,
// which partners read.
func proposedHits(cs central.Case, r *http.Request, v *Viewer, now time.Time) ([]central.HitResolution, error) {
	var out []central.HitResolution
	for i := range cs.Summary.Hits {
		status := r.PostFormValue("hit_status_" + strconv.Itoa(i))
		n, err := formNote(r, "hit_note_"+strconv.Itoa(i))
		if err != nil {
			return nil, err
		}
		if status == "" && n == "" {
			continue
		}
		if status != central.HitFalsePositive && status != central.HitConfirmed {
			return nil, fail(http.StatusBadRequest, "bad_request")
		}
		if n == "" {
			return nil, fail(http.StatusBadRequest, "note_needed")
		}
		out = append(out, central.HitResolution{Index: i, Status: status, Note: n, By: v.User.Name, At: now})
	}
	return out, nil
}

// pendingOverride checks that cs has a proposal v may confirm or decline:
// anyone with the role but its proposer.
func pendingOverride(cs central.Case, v *Viewer) error {
	if state(cs.Review) != central.ReviewOverride {
		return fail(http.StatusConflict, "no_override")
	}
	if overrideProposedBy(cs.Review, v.User.Name) {
		return fail(http.StatusForbidden, "four_eyes")
	}
	return nil
}

// overrideProposedBy reports whether name proposed the pending override
// (its hit verdicts are the proposer's too). Who took part in the
// decision it would replace may confirm or decline it: that is a second
// look at the new proposal, not at their own.
func overrideProposedBy(rv central.Review, name string) bool {
	return rv.DecidedBy == name || rv.Assignee == name
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
	// The proposal's hit verdicts are the case's now, in the same
	// change; a confirmed match has had its second look (v's).
	hits := slices.Clone(rv.Hits)
	for _, h := range rv.ProposedHits {
		if h.Status == central.HitConfirmed {
			h.SecondBy = v.User.Name
		}
		hits = slices.DeleteFunc(hits, func(o central.HitResolution) bool { return o.Index == h.Index })
		hits = append(hits, h)
	}
	slices.SortFunc(hits, func(a, b central.HitResolution) int { return a.Index - b.Index })
	rv.Hits, rv.ProposedHits, rv.Standing = hits, nil, nil
	return rv, "", "msg.override_confirmed", nil
}

// declineOverride drops the proposal, with v's note (required) why: the
// decision in force stands (the engine's, the case open again, or the one
// the proposal would have replaced, decided again as it was) and the case
// is open to a new proposal. The notes stay, for whoever proposes next.
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
	rv.ProposedHits = nil
	if s := rv.Standing; s != nil {
		rv.State, rv.Assignee, rv.SecondBy = central.ReviewDecided, s.Assignee, s.SecondBy
		rv.Outcome, rv.Reason, rv.DecidedBy, rv.DecidedAt = s.Outcome, s.Reason, s.DecidedBy, s.DecidedAt
		// The decision made final at s.Seq, which partners were told
		// then: this change tells them nothing (webhook's emitter). A
		// proposal stored by a release before Standing.Seq kept none:
		// its decision was made final, and told, before the proposal,
		// whose change (the case's last) stands in for it.
		rv.Standing, rv.DecidedSeq = nil, s.Seq
		if s.Seq == 0 {
			rv.DecidedSeq = cs.Review.Seq
		}
		return rv, "", "msg.override_declined", nil
	}
	rv.State, rv.Assignee = central.ReviewOpen, ""
	rv.Outcome, rv.Reason, rv.DecidedBy, rv.DecidedAt = "", "", "", time.Time{}
	return rv, "", "msg.override_declined", nil
}
