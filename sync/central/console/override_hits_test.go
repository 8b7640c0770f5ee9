package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/openkyc/kyc/sync/central"
)

// engineDecidedHit submits a case with one screening hit (PEP-1) that the
// engine decided itself.
func (e *env) engineDecidedHit(t *testing.T, session, decision string) central.SubmissionRef {
	t.Helper()
	return e.submit("dev-north", session+"-1", payload(t, "payload_escalate.json", session, func(m map[string]any) {
		m["report"].(map[string]any)["decision"] = decision
	}))
}

// TestOverrideHits: an engine reject over a false sanctions/PEP match is
// overridden to an approve by resolving the hit in the proposal: refused
// unless every hit is cleared as a false positive with a note; the
// resolution waits with the proposal (the case's hits, which partners
// read, stay unresolved); the proposer cannot confirm it; the second
// reviewer sees the resolution and confirms the whole, and only then are
// the hits resolved and the decision changed. A declined proposal leaves
// the hits as they were; a confirm and a decline posted at once apply
// exactly one.
func TestOverrideHits(t *testing.T) { testOverrideHits(t, boltStore) }

func testOverrideHits(t *testing.T, open opener) {
	f := newFixtureOn(t, open)
	f.addUser("root", central.RoleAdmin)
	rejected := f.engineDecidedHit(t, "sess-pep", "reject")
	b1, b2, admin := f.browser(), f.browser(), f.browser()
	b1.signIn("rev1")
	f.clk.nextStep()
	b2.signIn("rev2")
	admin.signIn("root")

	if p := b1.get(caseHref(rejected)); !strings.Contains(p.body, `name="hit_status_0"`) || !strings.Contains(p.body, `name="hit_note_0"`) {
		t.Fatal("the override form does not offer to resolve the case's hit")
	}
	const fp = "not the same person: born 1980, the list entry 1971"
	for _, tc := range []struct {
		name string
		form url.Values
		want int
	}{
		{"the hit left open", url.Values{"outcome": {"approve"}, "note": {"appeal"}}, http.StatusConflict},
		{"the hit a true match", url.Values{"outcome": {"approve"}, "note": {"appeal"}, "hit_status_0": {"confirmed"}, "hit_note_0": {"same"}}, http.StatusConflict},
		{"the hit's note missing", url.Values{"outcome": {"approve"}, "note": {"appeal"}, "hit_status_0": {"false_positive"}}, http.StatusBadRequest},
		{"the hit's status unknown", url.Values{"outcome": {"approve"}, "note": {"appeal"}, "hit_status_0": {"cleared"}, "hit_note_0": {fp}}, http.StatusBadRequest},
		{"a note without a verdict", url.Values{"outcome": {"approve"}, "note": {"appeal"}, "hit_note_0": {fp}}, http.StatusBadRequest},
	} {
		if a := b1.act(rejected, "override", tc.form); a.status != tc.want {
			t.Errorf("proposal with %s: %d, want %d", tc.name, a.status, tc.want)
		}
	}
	if rv := f.reviewOf(rejected); rv.Version != 0 {
		t.Fatalf("a refused proposal changed the case: %+v", rv)
	}
	b1.get(caseHref(rejected))
	if a := b1.act(rejected, "override", url.Values{"outcome": {"approve"}, "note": {"customer appeal: a namesake"},
		"hit_status_0": {"false_positive"}, "hit_note_0": {fp}}); a.status != http.StatusSeeOther {
		t.Fatalf("proposal: %d %s", a.status, a.body)
	}
	rv := f.reviewOf(rejected)
	if rv.State != central.ReviewOverride || len(rv.Hits) != 0 || len(rv.ProposedHits) != 1 ||
		rv.ProposedHits[0].Status != central.HitFalsePositive || rv.ProposedHits[0].By != "rev1" || rv.ProposedHits[0].Note != fp {
		t.Fatalf("after the proposal: %+v", rv)
	}
	for _, step := range []string{"override/confirm", "override/decline"} {
		if a := b1.act(rejected, step, url.Values{"note": {"me"}}); a.status != http.StatusForbidden {
			t.Errorf("the proposer's %s: %d, want 403", step, a.status)
		}
	}
	p := b2.get(caseHref(rejected))
	if !strings.Contains(p.body, `id="proposed-hit-0"`) || !strings.Contains(p.body, "born 1980, the list entry 1971") || !strings.Contains(p.body, `id="confirm-override"`) {
		t.Fatal("the second reviewer does not see the proposed hit resolution, or is not offered the confirmation")
	}
	if a := b2.act(rejected, "override/confirm", url.Values{"note": {"agree"}}); a.status != http.StatusSeeOther {
		t.Fatalf("confirm: %d %s", a.status, a.body)
	}
	rv = f.reviewOf(rejected)
	if rv.State != central.ReviewDecided || rv.Outcome != central.OutcomeApprove || rv.SecondBy != "rev2" || len(rv.ProposedHits) != 0 ||
		len(rv.Hits) != 1 || rv.Hits[0].Status != central.HitFalsePositive || rv.Hits[0].By != "rev1" {
		t.Fatalf("after the confirm: %+v", rv)
	}
	if ch := f.lastChange(t, rejected); ch.Review.Shared() != central.ReviewDecided || ch.Review.Outcome != central.OutcomeApprove {
		t.Errorf("the change devices read: %+v", ch.Review)
	}

	// A proposal that keeps the match (resubmit, the hit a true match) is
	// declined: the hit stays unresolved.
	other := f.engineDecidedHit(t, "sess-pep2", "reject")
	propose := func(b *browser, who string) {
		t.Helper()
		b.get(caseHref(other))
		if a := b.act(other, "override", url.Values{"outcome": {"resubmit"}, "note": {"photo too dark to tell"},
			"hit_status_0": {"confirmed"}, "hit_note_0": {who + ": same person"}}); a.status != http.StatusSeeOther {
			t.Fatalf("proposal: %d %s", a.status, a.body)
		}
	}
	propose(b1, "rev1")
	admin.get(caseHref(other))
	if a := admin.act(other, "override/decline", url.Values{"note": {"the reject stands"}}); a.status != http.StatusSeeOther {
		t.Fatalf("decline: %d %s", a.status, a.body)
	}
	if rv := f.reviewOf(other); rv.State != central.ReviewOpen || len(rv.Hits) != 0 || len(rv.ProposedHits) != 0 {
		t.Fatalf("after the decline: %+v", rv)
	}

	// Proposed again; a confirm and a decline at once: one applies, and
	// the hit is resolved exactly when the confirm did.
	propose(b2, "rev2")
	won := f.raceOverride(t, other, b1, admin)
	rv = f.reviewOf(other)
	switch {
	case len(rv.ProposedHits) != 0:
		t.Errorf("the proposed hits outlive the proposal: %+v", rv)
	case won == 0 && (rv.State != central.ReviewDecided || len(rv.Hits) != 1 || rv.Hits[0].Status != central.HitConfirmed ||
		rv.Hits[0].By != "rev2" || rv.Hits[0].SecondBy != "rev1"):
		t.Errorf("the confirm won; the review is %+v", rv)
	case won == 1 && (rv.State != central.ReviewOpen || len(rv.Hits) != 0):
		t.Errorf("the decline won; the review is %+v", rv)
	}
	n := f.overrideEnds(t, other)
	if n != 2 {
		t.Errorf("%d confirm or decline events, want 2 (the first decline and the race's winner)", n)
	}
}
