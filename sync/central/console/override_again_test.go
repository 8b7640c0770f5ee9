package console

import (
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/openkyc/kyc/sync/central"
)

// TestOverrideAgain: a confirmed override is overridden again under the
// same four eyes (new facts come after a decision). While the new
// proposal waits, devices and partners go on seeing the decision in force
// (with its own time), and the webhook emitter, which tells only decided
// reviews, has nothing to send; its proposer can neither confirm nor
// decline it, the proposer of the decision in force may (a second look at
// someone else's proposal); a decline restores the decision in force as it
// was, a confirm replaces it.
func TestOverrideAgain(t *testing.T) { testOverrideAgain(t, boltStore) }

func testOverrideAgain(t *testing.T, open opener) {
	f := newFixtureOn(t, open)
	f.addUser("root", central.RoleAdmin)
	ref := f.engineDecided(t, "sess-again", "approve")
	bs := f.signedIn("rev1", "rev2", "root")
	rev1, rev2, root := bs[0], bs[1], bs[2]
	step := func(b *browser, action string, form url.Values, want int) {
		t.Helper()
		b.get(caseHref(ref))
		if a := b.act(ref, action, maps.Clone(form)); a.status != want {
			t.Fatalf("%s: %d, want %d", action, a.status, want)
		}
	}
	step(rev1, "override", url.Values{"outcome": {"reject"}, "reason": {"document_forged"}, "note": {"the photo is pasted"}}, http.StatusSeeOther)
	step(rev2, "override/confirm", url.Values{"note": {"agree"}}, http.StatusSeeOther)
	inForce := f.reviewOf(ref)
	if inForce.State != central.ReviewDecided || inForce.Outcome != central.OutcomeReject {
		t.Fatalf("after the first override: %+v", inForce)
	}
	if p := rev2.get(caseHref(ref)); !strings.Contains(p.body, `id="override-form"`) || strings.Contains(p.body, `name="outcome" value="reject"`) {
		t.Error("the overridden case offers no override, or offers the decision in force")
	}
	step(rev2, "override", url.Values{"outcome": {"reject"}, "reason": {"spoof"}, "note": {"x"}}, http.StatusBadRequest)
	appeal := url.Values{"outcome": {"approve"}, "note": {"the issuer confirmed the document genuine"}}
	step(rev2, "override", appeal, http.StatusSeeOther)

	pending := f.reviewOf(ref)
	if pending.State != central.ReviewOverride || pending.Outcome != central.OutcomeApprove || pending.DecidedBy != "rev2" || pending.SecondBy != "" ||
		pending.Standing == nil || pending.Standing.Outcome != central.OutcomeReject || pending.Standing.SecondBy != "rev2" {
		t.Fatalf("the pending override of the override: %+v (standing %+v)", pending, pending.Standing)
	}
	if pub := f.lastChange(t, ref).Review.Public(); pub.State != central.ReviewDecided || pub.Outcome != central.OutcomeReject ||
		pub.Reason != "document_forged" || !pub.DecidedAt.Equal(inForce.DecidedAt) {
		t.Errorf("devices and partners see %+v while it waits, want the reject in force", pub)
	}
	if p := root.get(caseHref(ref)); !strings.Contains(p.body, `id="case-outcome"`) || !strings.Contains(p.body, `id="override-pending"`) || !strings.Contains(p.body, `id="confirm-override"`) {
		t.Error("the case view does not show the decision in force beside the pending override, or offers no confirmation")
	}
	step(root, "override", url.Values{"outcome": {"resubmit"}, "note": {"x"}}, http.StatusConflict)
	step(rev2, "override/confirm", url.Values{"note": {"mine"}}, http.StatusForbidden)
	step(rev2, "override/decline", url.Values{"note": {"mine"}}, http.StatusForbidden)

	// The proposer of the decision in force declines: it stands as it was.
	step(rev1, "override/decline", url.Values{"note": {"the issuer's letter is about another document"}}, http.StatusSeeOther)
	rv := f.reviewOf(ref)
	if rv.State != central.ReviewDecided || rv.Outcome != inForce.Outcome || rv.Reason != inForce.Reason || rv.DecidedBy != inForce.DecidedBy ||
		!rv.DecidedAt.Equal(inForce.DecidedAt) || rv.SecondBy != inForce.SecondBy || rv.Standing != nil || len(rv.ProposedHits) != 0 {
		t.Fatalf("after the decline: %+v, want the decision in force %+v", rv, inForce)
	}
	if pub := f.lastChange(t, ref).Review.Public(); pub.Outcome != central.OutcomeReject || !pub.DecidedAt.Equal(inForce.DecidedAt) {
		t.Errorf("devices and partners see %+v after the decline", pub)
	}

	// Proposed again and confirmed by an admin: the new decision.
	step(rev2, "override", appeal, http.StatusSeeOther)
	step(root, "override/confirm", url.Values{"note": {"letter checked"}}, http.StatusSeeOther)
	rv = f.reviewOf(ref)
	if rv.State != central.ReviewDecided || rv.Outcome != central.OutcomeApprove || rv.DecidedBy != "rev2" || rv.SecondBy != "root" || rv.Standing != nil {
		t.Fatalf("after the confirm: %+v", rv)
	}
	if pub := f.lastChange(t, ref).Review.Public(); pub.State != central.ReviewDecided || pub.Outcome != central.OutcomeApprove {
		t.Errorf("devices and partners see %+v after the confirm", pub)
	}
	var ends []string
	for _, a := range f.auditActions(caseSubject(ref)) {
		if strings.HasPrefix(a, "case_override") {
			ends = append(ends, a)
		}
	}
	if got := strings.Join(ends, ","); got != "case_override_propose,case_override_confirm,case_override_propose,case_override_decline,case_override_propose,case_override_confirm" {
		t.Errorf("the case's override events: %s", got)
	}
}

// TestRejectedInForce: the same person's other cases are flagged rejected
// by the decision in force: a reviewer's final one, the one a pending
// override would replace, else the engine's (a proposal is not a decision).
func TestRejectedInForce(t *testing.T) {
	standing := &central.Standing{Outcome: central.OutcomeReject, Reason: "spoof", DecidedBy: "carol", SecondBy: "dave"}
	for _, tc := range []struct {
		name   string
		engine string
		rv     central.Review
		want   bool
	}{
		{"the engine's reject", "reject", central.Review{}, true},
		{"a proposed approve of the engine's reject", "reject", central.Review{State: central.ReviewOverride, Outcome: central.OutcomeApprove}, true},
		{"a confirmed approve of the engine's reject", "reject", central.Review{State: central.ReviewDecided, Outcome: central.OutcomeApprove}, false},
		{"a proposed approve of an overridden reject", "approve", central.Review{State: central.ReviewOverride, Outcome: central.OutcomeApprove, Standing: standing}, true},
		{"a reject in second review", "review", central.Review{State: central.ReviewSecond, Outcome: central.OutcomeReject}, false},
	} {
		if got := rejected(central.Case{Summary: central.Summary{Decision: tc.engine}, Review: tc.rv}); got != tc.want {
			t.Errorf("%s: rejected = %v, want %v", tc.name, got, tc.want)
		}
	}
}
