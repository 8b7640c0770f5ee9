package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
)

// Audit actions of case changes (each with the review before and after).
const (
	AuditClaim       = "case_claim"
	AuditRelease     = "case_release"
	AuditDecide      = "case_decide"
	AuditPropose     = "case_second_review" // a decision waiting for a second reviewer
	AuditConfirm     = "case_confirm"       // the second reviewer confirmed it
	AuditSendBack    = "case_send_back"     // the second reviewer sent it back
	AuditHitResolved = "hit_resolve"
)

// maxNote bounds a reviewer's note.
const maxNote = 2000

// routeDecide registers the changes of a case: reviewers only (auditors
// get 403 from route), each checked against the case's scope.
func (c *Console) routeDecide() {
	p := "POST /console/cases/{device}/{key}/"
	c.route(p+"claim", central.RoleReviewer, c.caseAction(AuditClaim, claim))
	c.route(p+"release", central.RoleReviewer, c.caseAction(AuditRelease, release))
	c.route(p+"decide", central.RoleReviewer, c.caseAction(AuditDecide, c.decide))
	c.route(p+"confirm", central.RoleReviewer, c.caseAction(AuditConfirm, confirm))
	c.route(p+"send-back", central.RoleReviewer, c.caseAction(AuditSendBack, sendBack))
	c.route(p+"hits/{index}", central.RoleReviewer, c.caseAction(AuditHitResolved, resolveHit))
}

// change computes a case's new review from the stored case, the form and
// the viewer; it returns the audit action when it differs from the
// route's (a decision that goes to second review), and the notice to show.
type change func(cs central.Case, r *http.Request, v *Viewer, now time.Time) (central.Review, string, string, error)

// caseAction runs a change of a case through Store.UpdateReview: the
// check of the stored state, the new review and its audit event (before
// and after) in one transaction. The form's "version" must be the
// review's, so a reviewer never acts on a case that changed under them.
func (c *Console) caseAction(action string, fn change) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, v *Viewer) error {
		ref, err := c.caseRef(r, v)
		if err != nil {
			return err
		}
		// A claim needs no version: whatever happened meanwhile, the
		// answer is the claim or who holds the case (ErrClaimed).
		version, err := strconv.ParseInt(r.PostFormValue("version"), 10, 64)
		if err != nil && action != AuditClaim {
			return fail(http.StatusBadRequest, "bad_request")
		}
		fn := fn
		if action == AuditDecide {
			// Who confirmed which hit is in the trail, read before the
			// update (the version check catches a resolution between),
			// and only for a case with a hit cleared: the trail is long.
			cs, err := c.cfg.Store.Case(r.Context(), ref)
			if err != nil {
				return fmt.Errorf("reading the case: %w", err)
			}
			if slices.ContainsFunc(cs.Review.Hits, func(h central.HitResolution) bool { return h.Status == central.HitFalsePositive }) {
				confirmers, err := c.hitConfirmers(r.Context(), ref)
				if err != nil {
					return err
				}
				fn = overturnNeedsFourEyes(fn, confirmers)
			}
		}
		msg := ""
		_, err = c.cfg.Store.UpdateReview(r.Context(), ref, func(cs central.Case) (central.Review, central.AuditEvent, error) {
			if action != AuditClaim && cs.Review.Version != version {
				return central.Review{}, central.AuditEvent{}, central.ErrStale
			}
			now := c.cfg.Now().UTC()
			rv, act, m, err := fn(cs, r, v, now)
			msg = m
			if err != nil {
				return rv, central.AuditEvent{}, err
			}
			if act == "" {
				act = action
			}
			// Review holds only strings, numbers and times: it encodes.
			before, _ := json.Marshal(auditReview(cs.Review))
			after, _ := json.Marshal(auditReview(rv))
			return rv, central.AuditEvent{ID: httpx.NewRequestID(), At: now, Actor: v.Actor(), Action: act,
				Subject: caseSubject(ref), Count: 1, Before: before, After: after}, nil
		})
		if errors.Is(err, errNoChange) {
			err = nil
		}
		if err != nil {
			return err
		}
		return c.seeOther(w, r, caseHref(ref), msg)
	}
}

// auditReview is the copy of rv the audit trail keeps: who, when, the
// outcome and the reason codes, without the notes. A note is free text
// about the person ("same DOB as ..."): it goes with the case when the
// case is erased, and the hash-chained trail, kept longer, must not
// keep it.
func auditReview(rv central.Review) central.Review {
	rv.Note = ""
	rv.Hits = slices.Clone(rv.Hits)
	for i := range rv.Hits {
		rv.Hits[i].Note = ""
	}
	rv.ProposedHits = slices.Clone(rv.ProposedHits)
	for i := range rv.ProposedHits {
		rv.ProposedHits[i].Note = ""
	}
	return rv
}

func state(rv central.Review) central.ReviewState {
	if rv.State == "" {
		return central.ReviewOpen
	}
	return rv.State
}

// errNoChange aborts an update that would change nothing (a claim of a
// case the reviewer already holds): no new version, no audit entry.
var errNoChange = errors.New("no change")

// forReview reports whether the engine left cs to a person (the cases
// the queue lists): a reviewer claims no other, so one reviewer cannot
// turn the engine's reject into an approve (four eyes guard a reject).
func forReview(cs central.Case) bool { return slices.Contains(queueDecisions, cs.Summary.Decision) }

func claim(cs central.Case, _ *http.Request, v *Viewer, now time.Time) (central.Review, string, string, error) {
	rv := cs.Review
	if !forReview(cs) {
		return rv, "", "", fail(http.StatusConflict, "not_for_review")
	}
	switch state(rv) {
	case central.ReviewOpen:
	case central.ReviewClaimed:
		if rv.Assignee == v.User.Name {
			return rv, "", "msg.claimed", errNoChange
		}
		return rv, "", "", central.ErrClaimed
	default:
		return rv, "", "", fail(http.StatusConflict, "not_open")
	}
	rv.State, rv.Assignee = central.ReviewClaimed, v.User.Name
	rv.ClaimedAt = now
	return rv, "", "msg.claimed", nil
}

func release(cs central.Case, _ *http.Request, v *Viewer, now time.Time) (central.Review, string, string, error) {
	rv := cs.Review
	if state(rv) != central.ReviewClaimed {
		return rv, "", "", fail(http.StatusConflict, "not_claimed")
	}
	if rv.Assignee != v.User.Name && !v.Can(central.RoleAdmin) {
		return rv, "", "", central.ErrClaimed
	}
	rv.State, rv.Assignee, rv.ClaimedAt = central.ReviewOpen, "", time.Time{}
	return rv, "", "msg.released", nil
}

// note reads the form's note, bounded.
func note(r *http.Request) (string, error) { return formNote(r, "note") }

// formNote reads the form's note named key, bounded.
func formNote(r *http.Request, key string) (string, error) {
	n := strings.TrimSpace(r.PostFormValue(key))
	if utf8.RuneCountInString(n) > maxNote || !utf8.ValidString(n) {
		return "", fail(http.StatusBadRequest, "bad_request")
	}
	return n, nil
}

// requiredNote is formNote for a note that may not be empty (a decline's
// reason): 400 note_needed without one.
func requiredNote(r *http.Request, key string) (string, error) {
	n, err := formNote(r, key)
	if err == nil && n == "" {
		err = fail(http.StatusBadRequest, "note_needed")
	}
	return n, err
}

// appendNote adds name's note n (if any) to a case's notes.
func appendNote(notes, name, n string) string {
	if n == "" {
		return notes
	}
	return strings.TrimSpace(notes + "\n" + name + ": " + n)
}

// needsFourEyes reports whether outcome on cs needs a second reviewer:
//   - any decision on a case the engine escalated (a sanctions or PEP
//     match: compliance's call). Approving it clears the match, the
//     dangerous direction, and a resubmission lets the person try again,
//     which a sanctions hit never allows: neither is one insider's;
//   - an approval over screening hits (each cleared as a false positive,
//     outcomeOf): clearing a potential match is what lets a listed person
//     through, so whoever cleared them does not also approve alone;
//   - a reject of a case scored at least FourEyesScore. The score is the
//     engine's confidence (100 fully trustworthy, engine/risk): a high
//     score is low risk, so its reject goes against the evidence, while
//     approving it agrees with the evidence and needs no second look for
//     its score.
func (c *Console) needsFourEyes(cs central.Case, outcome string) bool {
	switch {
	case cs.Summary.Decision == "escalate":
		return true
	case outcome == central.OutcomeApprove:
		return cs.Summary.Hits > 0
	case outcome == central.OutcomeReject:
		return cs.Summary.Score >= c.cfg.FourEyesScore
	}
	return false
}

// fourEyesOutcomes names the outcomes of cs that wait for a second
// reviewer, joined by "_" (the suffix of the case view's words for them:
// "case.four_eyes_hint.<it>"); "" if none does.
func (c *Console) fourEyesOutcomes(cs central.Case) string {
	var out []string
	for _, o := range []string{central.OutcomeApprove, central.OutcomeReject, central.OutcomeResubmit} {
		if c.needsFourEyes(cs, o) {
			out = append(out, o)
		}
	}
	return strings.Join(out, "_")
}

// confirmedHitOpen reports whether a screening hit is confirmed and not
// yet seen by a second reviewer.
func confirmedHitOpen(rv central.Review) bool {
	for _, h := range rv.Hits {
		if h.Status == central.HitConfirmed && h.SecondBy == "" {
			return true
		}
	}
	return false
}

// decide records the reviewer's decision on a case they hold. A decision
// needing four eyes (needsFourEyes, or a confirmed screening hit) goes to
// second review; others are final.
func (c *Console) decide(cs central.Case, r *http.Request, v *Viewer, now time.Time) (central.Review, string, string, error) {
	rv := cs.Review
	if state(rv) != central.ReviewClaimed || rv.Assignee != v.User.Name {
		if state(rv) == central.ReviewClaimed {
			return rv, "", "", central.ErrClaimed
		}
		return rv, "", "", fail(http.StatusConflict, "claim_first")
	}
	n, err := note(r)
	if err != nil {
		return rv, "", "", err
	}
	outcome, reason, err := outcomeOf(r, cs, rv.Hits)
	if err != nil {
		return rv, "", "", err
	}
	rv.Outcome, rv.Reason = outcome, reason
	// A case sent back keeps its notes (the second reviewer's objection,
	// which the next one reads): the decision's note is added to them.
	if rv.Note == "" {
		rv.Note = n
	} else {
		rv.Note = appendNote(rv.Note, v.User.Name, n)
	}
	rv.DecidedBy, rv.DecidedAt = v.User.Name, now
	if c.needsFourEyes(cs, outcome) || confirmedHitOpen(rv) {
		rv.State = central.ReviewSecond
		return rv, AuditPropose, "msg.second_review", nil
	}
	rv.State = central.ReviewDecided
	return rv, "", "msg.decided", nil
}

// hitConfirmers lists, by hit index, who ever confirmed a screening hit of
// ref (from the trail's hit_resolve events, whose After is the review).
func (c *Console) hitConfirmers(ctx context.Context, ref central.SubmissionRef) (map[int][]string, error) {
	out := map[int][]string{}
	f := central.AuditFilter{Subject: caseSubject(ref), Action: AuditHitResolved, Limit: central.MaxListLimit}
	for {
		evs, err := c.cfg.Store.Audit(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("reading the case's hit resolutions: %w", err)
		}
		for _, e := range evs {
			var rv central.Review
			if json.Unmarshal(e.After, &rv) != nil {
				continue
			}
			for _, h := range rv.Hits {
				if h.Status == central.HitConfirmed && !slices.Contains(out[h.Index], h.By) {
					out[h.Index] = append(out[h.Index], h.By)
				}
			}
		}
		if len(evs) < central.MaxListLimit {
			return out, nil
		}
		f.AfterSeq = evs[len(evs)-1].Seq
	}
}

// overturnNeedsFourEyes wraps decide: a decision that rests on clearing as
// a false positive a hit another reviewer confirmed goes to a second
// reviewer, as a confirmed hit does. Else one reviewer could overturn a
// colleague's confirmed sanctions match (after they released the case)
// and approve alone.
func overturnNeedsFourEyes(decide change, confirmers map[int][]string) change {
	return func(cs central.Case, r *http.Request, v *Viewer, now time.Time) (central.Review, string, string, error) {
		rv, act, msg, err := decide(cs, r, v, now)
		if err != nil || rv.State != central.ReviewDecided {
			return rv, act, msg, err
		}
		for _, h := range rv.Hits {
			if h.Status != central.HitFalsePositive {
				continue
			}
			for _, by := range confirmers[h.Index] {
				if by != h.By {
					rv.State = central.ReviewSecond
					return rv, AuditPropose, "msg.second_review", nil
				}
			}
		}
		return rv, act, msg, nil
	}
}

func allCleared(hits []central.HitResolution, n int) bool {
	cleared := 0
	for _, h := range hits {
		if h.Status != central.HitFalsePositive {
			return false
		}
		cleared++
	}
	return cleared >= n
}

// proposedBy reports whether name took part in the decision waiting for a
// second reviewer: its proposer, who confirmed one of its hits, or who
// cleared one as a false positive (the second look at a dismissed match
// is someone else's).
func proposedBy(rv central.Review, name string) bool {
	if rv.DecidedBy == name || rv.Assignee == name {
		return true
	}
	for _, h := range rv.Hits {
		switch {
		case h.By != name:
		case h.Status == central.HitConfirmed && h.SecondBy == "", h.Status == central.HitFalsePositive:
			return true
		}
	}
	return false
}

// confirm is the second reviewer's confirmation (four eyes): anyone but
// the proposer.
func confirm(cs central.Case, r *http.Request, v *Viewer, now time.Time) (central.Review, string, string, error) {
	rv := cs.Review
	if state(rv) != central.ReviewSecond {
		return rv, "", "", fail(http.StatusConflict, "not_second")
	}
	if proposedBy(rv, v.User.Name) {
		return rv, "", "", fail(http.StatusForbidden, "four_eyes")
	}
	n, err := note(r)
	if err != nil {
		return rv, "", "", err
	}
	rv.Hits = slices.Clone(rv.Hits)
	for i := range rv.Hits {
		if rv.Hits[i].Status == central.HitConfirmed && rv.Hits[i].SecondBy == "" {
			rv.Hits[i].SecondBy = v.User.Name
		}
	}
	rv.Note = appendNote(rv.Note, v.User.Name, n)
	rv.State, rv.SecondBy = central.ReviewDecided, v.User.Name
	return rv, "", "msg.confirmed", nil
}

// sendBack is the second reviewer disagreeing: the case returns to its
// proposer, claimed, with the decision undone.
func sendBack(cs central.Case, r *http.Request, v *Viewer, now time.Time) (central.Review, string, string, error) {
	rv := cs.Review
	if state(rv) != central.ReviewSecond {
		return rv, "", "", fail(http.StatusConflict, "not_second")
	}
	if proposedBy(rv, v.User.Name) {
		return rv, "", "", fail(http.StatusForbidden, "four_eyes")
	}
	n, err := note(r)
	if err != nil {
		return rv, "", "", err
	}
	if n == "" {
		return rv, "", "", fail(http.StatusBadRequest, "note_needed")
	}
	rv.State, rv.Assignee = central.ReviewClaimed, rv.DecidedBy
	rv.Outcome, rv.Reason, rv.DecidedBy, rv.DecidedAt = "", "", "", time.Time{}
	rv.Note = appendNote(rv.Note, v.User.Name, n)
	return rv, "", "msg.sent_back", nil
}

// resolveHit records a reviewer's verdict on one screening hit of a case
// they hold: a false positive or confirmed, with a note (required).
func resolveHit(cs central.Case, r *http.Request, v *Viewer, now time.Time) (central.Review, string, string, error) {
	rv := cs.Review
	if state(rv) != central.ReviewClaimed || rv.Assignee != v.User.Name {
		if state(rv) == central.ReviewClaimed {
			return rv, "", "", central.ErrClaimed
		}
		return rv, "", "", fail(http.StatusConflict, "claim_first")
	}
	idx, err := strconv.Atoi(r.PathValue("index"))
	if err != nil || idx < 0 || idx >= cs.Summary.Hits {
		return rv, "", "", fail(http.StatusNotFound, "not_found")
	}
	status := r.PostFormValue("status")
	if status != central.HitFalsePositive && status != central.HitConfirmed {
		return rv, "", "", fail(http.StatusBadRequest, "bad_request")
	}
	n, err := note(r)
	if err != nil {
		return rv, "", "", err
	}
	if n == "" {
		return rv, "", "", fail(http.StatusBadRequest, "note_needed")
	}
	res := central.HitResolution{Index: idx, Status: status, Note: n, By: v.User.Name, At: now}
	rv.Hits = slices.DeleteFunc(slices.Clone(rv.Hits), func(h central.HitResolution) bool { return h.Index == idx })
	rv.Hits = append(rv.Hits, res)
	slices.SortFunc(rv.Hits, func(a, b central.HitResolution) int { return a.Index - b.Index })
	return rv, "", "msg.hit_resolved", nil
}

// outcomeOf reads the outcome a decision form gives, and its reason code
// for a reject. A case with screening hits is approved only once every
// hit is cleared as a false positive in hits.
func outcomeOf(r *http.Request, cs central.Case, hits []central.HitResolution) (outcome, reason string, err error) {
	outcome = r.PostFormValue("outcome")
	switch outcome {
	case central.OutcomeApprove:
		if cs.Summary.Hits > 0 && !allCleared(hits, cs.Summary.Hits) {
			return "", "", fail(http.StatusConflict, "hits_open")
		}
	case central.OutcomeReject:
		reason = r.PostFormValue("reason")
		if !slices.Contains(rejectReasons, reason) {
			return "", "", fail(http.StatusBadRequest, "reason_needed")
		}
	case central.OutcomeResubmit:
	default:
		return "", "", fail(http.StatusBadRequest, "bad_request")
	}
	return outcome, reason, nil
}
