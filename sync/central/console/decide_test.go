package console

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/openkyc/kyc/sync/central"
)

// TestEngineDecidedNotClaimed: a case the engine approved or rejected is
// not in the queue, and it is not a reviewer's either: opened by its URL,
// it offers no claim, and a claim posted by hand is refused. Else one
// reviewer alone could turn the engine's reject of a high-risk capture
// into an approve (four eyes guard a reject only), which the device and
// the partner then receive as the decision.
func TestEngineDecidedNotClaimed(t *testing.T) {
	e := newEnv(t)
	e.addDevice("dev-north", "north")
	e.addUser("rev1", central.RoleReviewer)
	engine := func(decision string) func(map[string]any) {
		return func(m map[string]any) { m["report"].(map[string]any)["decision"] = decision }
	}
	b := e.browser()
	b.signIn("rev1")
	for _, decision := range []string{"reject", "approve"} {
		ref := e.submit("dev-north", "sess-"+decision, payload(t, "payload_device.json", "sess-"+decision, engine(decision)))
		page := b.get(caseHref(ref))
		if page.status != http.StatusOK {
			t.Fatalf("engine %s: case view %d", decision, page.status)
		}
		if strings.Contains(page.body, `id="claim"`) {
			t.Errorf("engine %s: the case view offers a claim", decision)
		}
		if a := b.act(ref, "claim", nil); a.status != http.StatusConflict {
			t.Errorf("engine %s: claim answered %d, want 409", decision, a.status)
		}
		b.act(ref, "decide", url.Values{"outcome": {"approve"}})
		if rv := e.reviewOf(ref); rv.State != "" && rv.State != central.ReviewOpen {
			t.Errorf("engine %s: the review became %+v", decision, rv)
		}
	}
}

// TestFourEyesByOutcome: which decisions wait for a second reviewer. Any
// decision on an escalated case (a sanctions or PEP match: approving it
// clears the match, a resubmission lets the person try again) and an
// approval over screening hits cleared by its own reviewer do, as the
// reject of a high-scored case does; the approval of a high-scored case
// does not (a high score is low risk). While one waits, the device's
// review sync and the partner's view (Review.Public) show it as in second
// review without its outcome or the hits' verdicts, the webhook emitter
// (which tells only decided reviews) has nothing to send, and whoever
// cleared a hit cannot be the second reviewer.
func TestFourEyesByOutcome(t *testing.T) {
	e := newEnv(t)
	e.addDevice("dev-north", "north")
	e.addUser("rev1", central.RoleReviewer)
	e.addUser("rev2", central.RoleReviewer)
	b1, b2 := e.browser(), e.browser()
	b1.signIn("rev1")
	e.clk.nextStep()
	b2.signIn("rev2")
	escalated := func(m map[string]any) {}
	reviewWithHit := func(m map[string]any) { m["report"].(map[string]any)["decision"] = "review" }
	cleared := url.Values{"status": {"false_positive"}, "note": {"another person: other DOB"}}
	for i, tc := range []struct {
		name    string
		file    string
		edit    func(map[string]any)
		clear   bool // rev1 clears the hit before deciding
		form    url.Values
		wantTwo bool
	}{
		{"escalated, approved over the hit its reviewer cleared", "payload_escalate.json", escalated, true, url.Values{"outcome": {"approve"}}, true},
		{"escalated, resubmission asked", "payload_escalate.json", escalated, false, url.Values{"outcome": {"resubmit"}}, true},
		{"escalated, rejected", "payload_escalate.json", escalated, false, url.Values{"outcome": {"reject"}, "reason": {"sanctions"}}, true},
		{"potential match, approved over the hit its reviewer cleared", "payload_escalate.json", reviewWithHit, true, url.Values{"outcome": {"approve"}}, true},
		{"potential match, rejected (score 64)", "payload_escalate.json", reviewWithHit, false, url.Values{"outcome": {"reject"}, "reason": {"sanctions"}}, false},
		{"potential match, resubmission asked", "payload_escalate.json", reviewWithHit, false, url.Values{"outcome": {"resubmit"}}, false},
		{"high score, approved", "payload_device.json", asReview(80), false, url.Values{"outcome": {"approve"}}, false},
		{"high score, rejected", "payload_device.json", asReview(80), false, url.Values{"outcome": {"reject"}, "reason": {"spoof"}}, true},
		{"low score, approved", "payload_device.json", asReview(40), false, url.Values{"outcome": {"approve"}}, false},
		{"low score, rejected", "payload_device.json", asReview(40), false, url.Values{"outcome": {"reject"}, "reason": {"spoof"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			session := "sess-fe-" + itoa(int64(i))
			ref := e.submit("dev-north", session+"-1", payload(t, tc.file, session, tc.edit))
			page := b1.get(caseHref(ref))
			if every := e.console.cat["en"]["case.four_eyes_needed.approve_reject_resubmit"]; strings.Contains(page.body, every) != strings.HasPrefix(tc.name, "escalated") {
				t.Errorf("the case view says %q: %v", every, strings.Contains(page.body, every))
			}
			b1.act(ref, "claim", nil)
			if tc.clear {
				if a := b1.act(ref, "hits/0", cleared); a.status != http.StatusSeeOther {
					t.Fatalf("clearing the hit: %d %s", a.status, a.body)
				}
			}
			if a := b1.act(ref, "decide", tc.form); a.status != http.StatusSeeOther {
				t.Fatalf("decide: %d %s", a.status, a.body)
			}
			rv := e.reviewOf(ref)
			want := central.ReviewDecided
			if tc.wantTwo {
				want = central.ReviewSecond
			}
			if rv.State != want || rv.Outcome != tc.form.Get("outcome") {
				t.Fatalf("after the decision: %+v, want state %s", rv, want)
			}
			if !tc.wantTwo {
				return
			}
			if acts := e.auditActions(caseSubject(ref)); !slices.Contains(acts, AuditPropose) || slices.Contains(acts, AuditDecide) {
				t.Errorf("audit of the case: %v, want %s and no %s", acts, AuditPropose, AuditDecide)
			}
			if pub := e.lastChange(t, ref).Review.Public(); pub.State != central.ReviewSecond || pub.Outcome != "" || pub.Reason != "" || len(pub.Hits) != 0 {
				t.Errorf("devices and partners see the pending decision as %+v", pub)
			}
			if a := b1.act(ref, "confirm", nil); a.status != http.StatusForbidden {
				t.Errorf("its reviewer confirming: %d, want 403", a.status)
			}
			b2.get(caseHref(ref))
			if a := b2.act(ref, "confirm", url.Values{"note": {"agree"}}); a.status != http.StatusSeeOther {
				t.Fatalf("the second reviewer's confirm: %d %s", a.status, a.body)
			}
			pub := e.lastChange(t, ref).Review.Public()
			if pub.State != central.ReviewDecided || pub.Outcome != tc.form.Get("outcome") || tc.clear && (len(pub.Hits) != 1 || pub.Hits[0].Status != central.HitFalsePositive) {
				t.Errorf("after the second reviewer, devices and partners see %+v", pub)
			}
		})
	}
}

// TestHitClearerNotSecondReviewer: who cleared a screening hit as a false
// positive is not the second reviewer of the approval built on it, even
// when a colleague made the approval: the second look at a dismissed
// match is a third person's (or an admin's).
func TestHitClearerNotSecondReviewer(t *testing.T) {
	f := newFixture(t)
	f.addUser("root", central.RoleAdmin)
	bs := f.signedIn("rev1", "rev2", "root")
	rev1, rev2, root := bs[0], bs[1], bs[2]
	ref := f.escalate
	rev1.get(caseHref(ref))
	rev1.act(ref, "claim", nil)
	rev1.act(ref, "hits/0", url.Values{"status": {"false_positive"}, "note": {"another person"}})
	rev1.act(ref, "release", nil)
	rev2.get(caseHref(ref))
	rev2.act(ref, "claim", nil)
	if a := rev2.act(ref, "decide", url.Values{"outcome": {"approve"}}); a.status != http.StatusSeeOther {
		t.Fatalf("approve: %d %s", a.status, a.body)
	}
	rev1.get(caseHref(ref))
	for _, step := range []string{"confirm", "send-back"} {
		if a := rev1.act(ref, step, url.Values{"note": {"agree"}}); a.status != http.StatusForbidden {
			t.Errorf("the hit's clearer: %s %d, want 403", step, a.status)
		}
	}
	root.get(caseHref(ref))
	if a := root.act(ref, "confirm", url.Values{"note": {"checked the list entry"}}); a.status != http.StatusSeeOther {
		t.Fatalf("an admin outside the decision: %d %s", a.status, a.body)
	}
	if rv := f.reviewOf(ref); rv.State != central.ReviewDecided || rv.SecondBy != "root" {
		t.Errorf("after the confirm: %+v", rv)
	}
}
