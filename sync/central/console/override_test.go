package console

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/openkyc/kyc/sync/central"
)

// engineDecided submits a case the engine decided itself (decision approve
// or reject) on dev-north.
func (e *env) engineDecided(t *testing.T, session, decision string) central.SubmissionRef {
	t.Helper()
	return e.submit("dev-north", session+"-1", payload(t, "payload_device.json", session, func(m map[string]any) {
		m["report"].(map[string]any)["decision"] = decision
	}))
}

// lastChange is the newest review change of ref's device, as the device
// (GET /v1/reviews) and the webhook emitter read them.
func (e *env) lastChange(t *testing.T, ref central.SubmissionRef) central.ReviewChange {
	t.Helper()
	chs, err := e.store.ReviewChanges(context.Background(), ref.DeviceID, 0, central.MaxListLimit)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(chs) - 1; i >= 0; i-- {
		if chs[i].Ref == ref {
			return chs[i]
		}
	}
	t.Fatalf("no review change of %v", ref)
	return central.ReviewChange{}
}

// TestOverride: a reviewer proposes to turn the engine's approve into a
// reject; the proposal is recorded and audited but the case's decision,
// as devices and partners see it, stays the engine's; the proposer cannot
// confirm or decline it (not offered, and refused when posted by hand);
// the queue lists it among pending overrides; another reviewer confirms
// it and it is the decision, sent as a reviewer's is. An admin declines
// another proposal and the engine's decision stands.
func TestOverride(t *testing.T) { testOverride(t, boltStore) }

func testOverride(t *testing.T, open opener) {
	f := newFixtureOn(t, open)
	f.addUser("root", central.RoleAdmin)
	approved := f.engineDecided(t, "sess-approved", "approve")
	rejected := f.engineDecided(t, "sess-rejected", "reject")
	b1, b2, admin, aud := f.browser(), f.browser(), f.browser(), f.browser()
	b1.signIn("rev1")
	f.clk.nextStep()
	b2.signIn("rev2")
	admin.signIn("root")
	aud.signIn("aud")

	page := b1.get(caseHref(approved))
	if !strings.Contains(page.body, `id="override-form"`) || strings.Contains(page.body, `name="outcome" value="approve"`) {
		t.Fatalf("the engine-approved case's view: override form %v, offers the engine's own approve %v",
			strings.Contains(page.body, `id="override-form"`), strings.Contains(page.body, `name="outcome" value="approve"`))
	}
	if p := aud.get(caseHref(approved)); strings.Contains(p.body, `id="override-form"`) {
		t.Error("the auditor is offered an override")
	}
	for _, tc := range []struct {
		name string
		form url.Values
		want int
	}{
		{"no note", url.Values{"outcome": {"reject"}, "reason": {"document_forged"}}, http.StatusBadRequest},
		{"no reject reason", url.Values{"outcome": {"reject"}, "note": {"forged"}}, http.StatusBadRequest},
		{"the engine's own decision", url.Values{"outcome": {"approve"}, "note": {"fine"}}, http.StatusBadRequest},
		{"no outcome", url.Values{"note": {"x"}}, http.StatusBadRequest},
		{"no CSRF token", url.Values{"outcome": {"reject"}, "reason": {"document_forged"}, "note": {"x"}, "csrf": {""}}, http.StatusForbidden},
	} {
		if a := b1.act(approved, "override", tc.form); a.status != tc.want {
			t.Errorf("proposal with %s: %d, want %d", tc.name, a.status, tc.want)
		}
	}
	if a := aud.act(approved, "override", url.Values{"outcome": {"reject"}, "reason": {"document_forged"}, "note": {"x"}}); a.status != http.StatusForbidden {
		t.Errorf("the auditor's proposal: %d, want 403", a.status)
	}
	if rv := f.reviewOf(approved); rv.Version != 0 {
		t.Fatalf("a refused proposal changed the case: %+v", rv)
	}
	b1.get(caseHref(approved))
	if a := b1.act(approved, "override", url.Values{"outcome": {"reject"}, "reason": {"document_forged"}, "note": {"the photo is pasted: fraud ring 12"}}); a.status != http.StatusSeeOther {
		t.Fatalf("proposal: %d %s", a.status, a.body)
	}
	rv := f.reviewOf(approved)
	if rv.State != central.ReviewOverride || rv.Outcome != central.OutcomeReject || rv.DecidedBy != "rev1" {
		t.Fatalf("after the proposal: %+v", rv)
	}
	// Nothing changed for the device or the partner.
	if ch := f.lastChange(t, approved); ch.Review.Shared() != central.ReviewOpen {
		t.Errorf("the device sees the pending proposal as %q, want open", ch.Review.Shared())
	}
	if a := b2.act(approved, "override", url.Values{"outcome": {"resubmit"}, "note": {"x"}}); a.status != http.StatusConflict {
		t.Errorf("a second proposal over the pending one: %d, want 409", a.status)
	}

	// The proposer: told it waits, offered neither step, refused both.
	p := b1.get(caseHref(approved))
	if !strings.Contains(p.body, `id="override-pending"`) || !strings.Contains(p.body, `id="override-wait"`) || strings.Contains(p.body, `id="confirm-override"`) {
		t.Error("the proposer's view does not show the pending proposal waiting, or offers its confirmation")
	}
	for _, step := range []string{"override/confirm", "override/decline"} {
		if a := b1.act(approved, step, url.Values{"note": {"me again"}}); a.status != http.StatusForbidden || !strings.Contains(a.body, f.console.cat["en"]["err.four_eyes"]) {
			t.Errorf("the proposer's %s: %d, want 403 four_eyes", step, a.status)
		}
	}
	if got := f.reviewOf(approved); got.Version != rv.Version {
		t.Fatalf("the proposer's own confirm changed the case: %+v", got)
	}

	// The queue: among pending overrides, not among the cases to review.
	if q := b2.get("/console/queue?state=override"); !strings.Contains(q.body, caseHref(approved)) || strings.Contains(q.body, caseHref(f.escalate)) {
		t.Error("the queue's pending overrides lack the proposal or list a case to review")
	}
	if q := b2.get("/console/queue"); strings.Contains(q.body, caseHref(approved)) || !strings.Contains(q.body, `id="pending-overrides"`) {
		t.Error("the default queue lists the pending override, or has no link to them")
	}
	if a := b2.get("/console/export.csv?state=override"); a.status != http.StatusOK || !strings.Contains(a.body, "sess-approved-1") {
		t.Errorf("the export of pending overrides: %d, lacks the case", a.status)
	}

	// Another reviewer confirms: it is the decision now.
	if p := b2.get(caseHref(approved)); !strings.Contains(p.body, `id="confirm-override"`) || !strings.Contains(p.body, "rev1") {
		t.Fatal("the second reviewer is not offered the confirmation")
	}
	if a := b2.act(approved, "override/confirm", url.Values{"note": {"agree: same photo as case 12"}}); a.status != http.StatusSeeOther {
		t.Fatalf("confirm: %d %s", a.status, a.body)
	}
	rv = f.reviewOf(approved)
	if rv.State != central.ReviewDecided || rv.Outcome != central.OutcomeReject || rv.Reason != "document_forged" || rv.DecidedBy != "rev1" || rv.SecondBy != "rev2" {
		t.Fatalf("after the confirm: %+v", rv)
	}
	if ch := f.lastChange(t, approved); ch.Review.Shared() != central.ReviewDecided || ch.Review.Outcome != central.OutcomeReject || ch.Review.Seq != rv.Seq {
		t.Errorf("the change devices and the webhook read: %+v", ch.Review)
	}
	if a := admin.act(approved, "override", url.Values{"outcome": {"reject"}, "reason": {"spoof"}, "note": {"x"}}); a.status != http.StatusBadRequest {
		t.Errorf("an override of the overridden case to the decision in force: %d, want 400", a.status)
	}
	if got := strings.Join(f.auditActions(caseSubject(approved)), ","); !strings.Contains(got, "case_override_propose") || !strings.Contains(got, "case_override_confirm") {
		t.Errorf("audit of the case: %s", got)
	}
	evs, err := f.store.Audit(context.Background(), central.AuditFilter{Subject: caseSubject(approved), Action: AuditOverrideConfirm})
	if err != nil {
		t.Fatal(err)
	}
	var before, after central.Review
	if len(evs) != 1 || evs[0].Actor != "user:rev2" || json.Unmarshal(evs[0].Before, &before) != nil || json.Unmarshal(evs[0].After, &after) != nil ||
		before.State != central.ReviewOverride || after.State != central.ReviewDecided {
		t.Errorf("the confirm's audit event: %+v", evs)
	}

	// An admin declines the appeal of an engine reject: it stands, and the
	// case is open to another proposal.
	b1.get(caseHref(rejected))
	if a := b1.act(rejected, "override", url.Values{"outcome": {"approve"}, "note": {"customer appeal: document valid"}}); a.status != http.StatusSeeOther {
		t.Fatalf("proposal of an approve: %d %s", a.status, a.body)
	}
	admin.get(caseHref(rejected))
	if a := admin.act(rejected, "override/decline", nil); a.status != http.StatusBadRequest {
		t.Errorf("a decline without a note: %d, want 400", a.status)
	}
	if a := admin.act(rejected, "override/decline", url.Values{"note": {"expired on the capture date"}}); a.status != http.StatusSeeOther {
		t.Fatalf("decline: %d %s", a.status, a.body)
	}
	rv = f.reviewOf(rejected)
	if rv.State != central.ReviewOpen || rv.Outcome != "" || rv.DecidedBy != "" || !strings.Contains(rv.Note, "expired on the capture date") {
		t.Fatalf("after the decline: %+v", rv)
	}
	if ch := f.lastChange(t, rejected); ch.Review.Shared() != central.ReviewOpen || ch.Review.Outcome != "" {
		t.Errorf("the device sees the declined proposal as %+v", ch.Review)
	}
	if a := admin.act(rejected, "override/confirm", nil); a.status != http.StatusConflict {
		t.Errorf("confirm with nothing pending: %d, want 409", a.status)
	}
	if p := b2.get(caseHref(rejected)); !strings.Contains(p.body, `id="override-form"`) {
		t.Error("the case is not open to a new proposal after the decline")
	}
	if a := b1.act(f.escalate, "override", url.Values{"outcome": {"reject"}, "reason": {"spoof"}, "note": {"x"}}); a.status != http.StatusConflict {
		t.Errorf("an override of a case for review: %d, want 409", a.status)
	}
}

// TestOverrideRace: a confirm and a decline of one proposal posted at
// once: exactly one applies (the store's row lock and the version check),
// the other is told the case changed, and the case is as the winner left
// it.
func TestOverrideRace(t *testing.T) { testOverrideRace(t, boltStore) }

func testOverrideRace(t *testing.T, open opener) {
	f := newFixtureOn(t, open)
	f.addUser("root", central.RoleAdmin)
	ref := f.engineDecided(t, "sess-race", "approve")
	b1, b2, admin := f.browser(), f.browser(), f.browser()
	b1.signIn("rev1")
	f.clk.nextStep()
	b2.signIn("rev2")
	admin.signIn("root")
	b1.get(caseHref(ref))
	if a := b1.act(ref, "override", url.Values{"outcome": {"reject"}, "reason": {"spoof"}, "note": {"screen replay"}}); a.status != http.StatusSeeOther {
		t.Fatalf("proposal: %d %s", a.status, a.body)
	}
	won := f.raceOverride(t, ref, b2, admin)
	rv := f.reviewOf(ref)
	want := map[int]central.ReviewState{0: central.ReviewDecided, 1: central.ReviewOpen}[won]
	if rv.State != want || rv.Version != 2 {
		t.Errorf("%s won, the review is %+v, want state %s at version 2", overrideSteps[won], rv, want)
	}
	if n := f.overrideEnds(t, ref); n != 1 {
		t.Errorf("%d confirm or decline events, want 1", n)
	}
}

// overrideSteps are what raceOverride posts at once.
var overrideSteps = [2]string{"override/confirm", "override/decline"}

// raceOverride posts a confirm by confirmer and a decline by decliner of
// ref's pending proposal at once (both having read the case) and returns
// which applied: 0 the confirm, 1 the decline. Exactly one must; the
// other must be told the case changed (409).
func (e *env) raceOverride(t *testing.T, ref central.SubmissionRef, confirmer, decliner *browser) int {
	t.Helper()
	confirmer.get(caseHref(ref))
	decliner.get(caseHref(ref))
	version := itoa(e.reviewOf(ref).Version)
	var answers [2]answer
	var wg sync.WaitGroup
	for i, b := range []*browser{confirmer, decliner} {
		wg.Go(func() {
			answers[i] = b.post(caseHref(ref)+"/"+overrideSteps[i], url.Values{"version": {version}, "note": {"mine"}})
		})
	}
	wg.Wait()
	won := -1
	for i, a := range answers {
		switch a.status {
		case http.StatusSeeOther:
			if won >= 0 {
				t.Fatalf("both applied: %s and %s", overrideSteps[won], overrideSteps[i])
			}
			won = i
		case http.StatusConflict:
		default:
			t.Errorf("%s answered %d: %s", overrideSteps[i], a.status, a.body)
		}
	}
	if won < 0 {
		t.Fatal("neither applied")
	}
	return won
}

// overrideEnds counts ref's audit events that confirmed or declined an
// override.
func (e *env) overrideEnds(t *testing.T, ref central.SubmissionRef) int {
	t.Helper()
	evs, err := e.store.Audit(context.Background(), central.AuditFilter{Subject: caseSubject(ref)})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Action == AuditOverrideConfirm || ev.Action == AuditOverrideDecline {
			n++
		}
	}
	return n
}
