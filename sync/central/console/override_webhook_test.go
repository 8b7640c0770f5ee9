package console

import (
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// TestOverrideWebhooks: the partner owning a branch gets exactly one
// decision.changed per change of a case's decision, whichever path made
// it (a decision, a confirmed second review, a confirmed override, of the
// engine's decision, of an override, of the queue's reviewers' decision),
// and none for a proposal, a send-back or a declined override, the
// decline of an override of an override among them (it restores the
// decision in force: nothing changed). A confirmed override the emitter
// first reads with another override already proposed over it is still
// told, once. A case decided from the queue is overridden as any decided
// case, four eyes the same, and listed among pending overrides.
func TestOverrideWebhooks(t *testing.T) { testOverrideWebhooks(t, boltStore) }

func testOverrideWebhooks(t *testing.T, open opener) {
	f, told := overrideFixture(t, open)
	engine := f.engineDecided(t, "sess-wh", "approve")
	bs := f.signedIn("rev1", "rev2", "root")
	rev1, rev2, root := bs[0], bs[1], bs[2]
	step := func(b *browser, ref central.SubmissionRef, action string, form url.Values, want int) {
		t.Helper()
		f.clk.Advance(time.Second)
		b.get(caseHref(ref))
		if a := b.act(ref, action, maps.Clone(form)); a.status != want {
			t.Fatalf("%s: %d, want %d", action, a.status, want)
		}
	}
	toReject := url.Values{"outcome": {"reject"}, "reason": {"document_forged"}, "note": {"the photo is pasted"}}
	toApprove := url.Values{"outcome": {"approve"}, "note": {"the issuer confirmed it"}}
	declined := url.Values{"note": {"not convinced"}}
	told("submitted")

	// The engine's decision overridden.
	step(rev1, engine, "override", toReject, http.StatusSeeOther)
	told("first override proposed")
	step(rev2, engine, "override/decline", declined, http.StatusSeeOther)
	told("first override declined")
	step(rev1, engine, "override", toReject, http.StatusSeeOther)
	step(rev2, engine, "override/confirm", nil, http.StatusSeeOther)
	told("first override confirmed", "sess-wh decision.changed reject")

	// The override overridden.
	step(rev2, engine, "override", toApprove, http.StatusSeeOther)
	told("override of the override proposed")
	step(rev1, engine, "override/decline", declined, http.StatusSeeOther)
	told("override of the override declined")
	step(rev2, engine, "override", toApprove, http.StatusSeeOther)
	step(root, engine, "override/confirm", nil, http.StatusSeeOther)
	told("override of the override confirmed", "sess-wh decision.changed approve")

	// Confirmed, and overridden again before the emitter read it.
	step(rev1, engine, "override", toReject, http.StatusSeeOther)
	step(root, engine, "override/confirm", nil, http.StatusSeeOther)
	step(rev2, engine, "override", toApprove, http.StatusSeeOther)
	told("confirmed, then overridden again", "sess-wh decision.changed reject")
	step(rev1, engine, "override/decline", declined, http.StatusSeeOther)
	told("that override declined")

	// Four eyes on an escalated case: sent back, then confirmed.
	decideReject := url.Values{"outcome": {"reject"}, "reason": {"document_forged"}, "note": {"listed"}}
	step(rev1, f.escalate, "claim", nil, http.StatusSeeOther)
	step(rev1, f.escalate, "decide", decideReject, http.StatusSeeOther)
	told("escalated case proposed")
	step(rev2, f.escalate, "send-back", url.Values{"note": {"look again"}}, http.StatusSeeOther)
	told("escalated case sent back")
	step(rev1, f.escalate, "decide", decideReject, http.StatusSeeOther)
	step(rev2, f.escalate, "confirm", nil, http.StatusSeeOther)
	told("escalated case confirmed", "sess-1 decision.changed reject")

	// A case decided from the queue, overridden four eyes.
	step(rev1, f.review, "claim", nil, http.StatusSeeOther)
	step(rev1, f.review, "decide", url.Values{"outcome": {"approve"}, "note": {"fine"}}, http.StatusSeeOther)
	if rv := f.reviewOf(f.review); rv.State != central.ReviewDecided {
		t.Fatalf("the queue's decision: %+v", rv)
	}
	told("queue case decided", "sess-2 decision.changed approve")
	if p := rev2.get(caseHref(f.review)); !strings.Contains(p.body, `id="override-form"`) || strings.Contains(p.body, `name="outcome" value="approve"`) {
		t.Error("the case decided from the queue offers no override, or offers the decision in force")
	}
	step(rev2, f.review, "override", toReject, http.StatusSeeOther)
	if rv := f.reviewOf(f.review); rv.State != central.ReviewOverride || rv.Standing == nil || rv.Standing.Outcome != central.OutcomeApprove || rv.Standing.DecidedBy != "rev1" {
		t.Fatalf("the override of the queue's decision: %+v", rv)
	}
	if q := root.get("/console/queue?state=override"); !strings.Contains(q.body, caseHref(f.review)) {
		t.Error("pending overrides do not list the override of the queue's decision")
	}
	step(rev2, f.review, "override/confirm", nil, http.StatusForbidden)
	told("queue case override proposed")
	step(rev1, f.review, "override/decline", declined, http.StatusSeeOther)
	if rv := f.reviewOf(f.review); rv.State != central.ReviewDecided || rv.Outcome != central.OutcomeApprove || rv.DecidedBy != "rev1" {
		t.Fatalf("after the decline: %+v, want the queue's approve", rv)
	}
	told("queue case override declined")
	step(rev2, f.review, "override", toReject, http.StatusSeeOther)
	step(root, f.review, "override/confirm", nil, http.StatusSeeOther)
	told("queue case override confirmed", "sess-2 decision.changed reject")
	if pub := f.lastChange(t, f.review).Review.Public(); pub.State != central.ReviewDecided || pub.Outcome != central.OutcomeReject {
		t.Errorf("devices see %+v after the confirmed override", pub)
	}
}
