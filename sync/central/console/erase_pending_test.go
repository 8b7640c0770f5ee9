package console

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/openkyc/kyc/sync/central"
)

// TestErasePendingDecision: an admin cannot erase, alone, a case whose
// decision waits for a second user (an override proposed, a reviewer's
// decision in second review): by the submission or by the person, the
// count and the erasure are refused (409, said in words), and nothing is
// erased. Once another user confirmed or declined it (each audited on the
// case), the erasure goes ahead.
func TestErasePendingDecision(t *testing.T) {
	f := newFixture(t)
	f.addUser("root", central.RoleAdmin)
	bs := f.signedIn("rev1", "rev2", "root")
	rev1, rev2, admin := bs[0], bs[1], bs[2]
	overridden := f.engineDecided(t, "sess-erase", "approve")
	rev1.get(caseHref(overridden))
	if a := rev1.act(overridden, "override", url.Values{"outcome": {"reject"}, "reason": {"document_forged"}, "note": {"fraud ring 12"}}); a.status != http.StatusSeeOther {
		t.Fatalf("override: %d", a.status)
	}
	rev1.get(caseHref(f.escalate))
	for _, step := range []struct{ action, outcome string }{{"claim", ""}, {"decide", "resubmit"}} {
		if a := rev1.act(f.escalate, step.action, url.Values{"outcome": {step.outcome}}); a.status != http.StatusSeeOther {
			t.Fatalf("%s: %d", step.action, a.status)
		}
	}
	if rv := f.reviewOf(f.escalate); rv.State != central.ReviewSecond {
		t.Fatalf("the escalated case's decision: %+v, want second review", rv)
	}
	erase := func(form url.Values, confirm bool) answer {
		t.Helper()
		admin.get("/console/privacy")
		if confirm {
			form.Set("step", "confirm")
			form.Set("confirm", eraseWord)
		}
		return admin.post("/console/privacy/erase", form)
	}
	bySubmission := func(ref central.SubmissionRef, id string) url.Values {
		return url.Values{"by": {"submission"}, "device_id": {ref.DeviceID}, "submission_id": {id}}
	}
	for _, tc := range []struct {
		name string
		form url.Values
		ref  central.SubmissionRef
	}{
		{"the overridden submission", bySubmission(overridden, "sess-erase-1"), overridden},
		{"the submission in second review", bySubmission(f.escalate, "sess-1-1"), f.escalate},
		{"the person of the submission in second review", url.Values{"by": {"person"}, "document_number": {"L898902C3"}}, f.escalate},
	} {
		for _, confirm := range []bool{false, true} {
			if a := erase(maps.Clone(tc.form), confirm); a.status != http.StatusConflict || !strings.Contains(a.body, f.console.cat["en"]["err.four_eyes_pending"]) {
				t.Errorf("erasing %s (confirmed %v): %d, want 409 four_eyes_pending", tc.name, confirm, a.status)
			}
		}
		if _, err := f.store.Case(context.Background(), tc.ref); err != nil {
			t.Errorf("%s: %v after the refused erasure", tc.name, err)
		}
	}

	rev2.get(caseHref(overridden))
	if a := rev2.act(overridden, "override/decline", url.Values{"note": {"no fraud ring link"}}); a.status != http.StatusSeeOther {
		t.Fatalf("decline: %d", a.status)
	}
	if a := erase(bySubmission(overridden, "sess-erase-1"), true); a.status != http.StatusSeeOther {
		t.Fatalf("erasing the case once the override was declined: %d", a.status)
	}
	if _, err := f.store.Case(context.Background(), overridden); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("the case outlived its erasure: %v", err)
	}
}
