package console

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/openkyc/kyc/sync/central"
)

// TestAuditKeepsNoNotes: reviewers' notes (free text about the person) go
// with the case when it is erased; the audit trail, kept longer, records
// who did what and when, never the notes: neither in its events nor on
// the audit page.
func TestAuditKeepsNoNotes(t *testing.T) {
	f := newFixture(t)
	f.addUser("root", central.RoleAdmin)
	b1, b2, admin := f.browser(), f.browser(), f.browser()
	b1.signIn("rev1")
	f.clk.nextStep()
	b2.signIn("rev2")
	admin.signIn("root")
	notes := []string{"same person: DOB 1971-04-02 and name Anna Eriksson agree", "Eriksson is the minister's sister", "checked with the PEP-1 photo of Anna"}
	ref := f.escalate
	b1.get(caseHref(ref))
	for _, step := range []struct {
		b      *browser
		action string
		form   url.Values
	}{
		{b1, "claim", nil},
		{b1, "hits/0", url.Values{"status": {"confirmed"}, "note": {notes[0]}}},
		{b1, "decide", url.Values{"outcome": {"reject"}, "reason": {"sanctions"}, "note": {notes[1]}}},
		{b2, "confirm", url.Values{"note": {notes[2]}}},
	} {
		step.b.get(caseHref(ref))
		if a := step.b.act(ref, step.action, step.form); a.status != http.StatusSeeOther {
			t.Fatalf("%s: %d %s", step.action, a.status, a.body)
		}
	}
	if rv := f.reviewOf(ref); rv.State != central.ReviewDecided || !strings.Contains(rv.Note, notes[2]) || rv.Hits[0].Note != notes[0] {
		t.Fatalf("the review does not keep its notes: %+v", rv)
	}
	// The trail still says who confirmed the hit (hitConfirmers reads it).
	confirmers, err := f.console.hitConfirmers(context.Background(), ref)
	if err != nil || len(confirmers[0]) != 1 || confirmers[0][0] != "rev1" {
		t.Errorf("the hit's confirmers from the trail: %v, %v", confirmers, err)
	}

	admin.get("/console/privacy")
	if a := admin.post("/console/privacy/erase", url.Values{"by": {"submission"}, "device_id": {ref.DeviceID}, "submission_id": {"sess-1-1"},
		"step": {"confirm"}, "confirm": {"ERASE"}}); a.status != http.StatusSeeOther {
		t.Fatalf("erase: %d %s", a.status, a.body)
	}
	if _, err := f.store.Case(context.Background(), ref); !errors.Is(err, central.ErrNotFound) {
		t.Fatalf("the case outlived its erasure: %v", err)
	}
	evs, err := f.store.Audit(context.Background(), central.AuditFilter{Limit: central.MaxListLimit})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(evs)
	page := admin.get("/console/audit?subject=" + url.QueryEscape(caseSubject(ref)))
	if page.status != http.StatusOK || !strings.Contains(page.body, AuditConfirm) {
		t.Fatalf("the audit page: %d, lists no confirm", page.status)
	}
	for _, n := range notes {
		for _, word := range []string{n, n[len(n)/2:]} {
			if strings.Contains(string(raw), word) {
				t.Errorf("the audit trail keeps the note %q", word)
			}
			if strings.Contains(page.body, word) || strings.Contains(page.body, strings.ReplaceAll(word, "'", "&#39;")) {
				t.Errorf("the audit page shows the note %q", word)
			}
		}
	}
	var after central.Review
	for _, ev := range evs {
		if ev.Action == AuditConfirm && json.Unmarshal(ev.After, &after) != nil {
			t.Fatalf("the confirm's After: %s", ev.After)
		}
	}
	if after.State != central.ReviewDecided || after.Outcome != central.OutcomeReject || after.Reason != "sanctions" ||
		after.DecidedBy != "rev1" || after.SecondBy != "rev2" || len(after.Hits) != 1 || after.Hits[0].By != "rev1" {
		t.Errorf("the confirm's audit event lost who/what: %+v", after)
	}
}
