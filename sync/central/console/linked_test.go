package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// who makes a captured payload about one person: the document's NIK (and
// the birth date it encodes), number, name and date of birth, and nothing
// else naming anyone (no MRZ, no screened name).
func who(nik, docNo, name, dob string) func(map[string]any) {
	return func(m map[string]any) {
		asReview(40)(m)
		doc := m["report"].(map[string]any)["document"].(map[string]any)
		delete(doc, "mrz")
		field := func(v string) map[string]any {
			return map[string]any{"value": v, "source": "visual", "confidence": 0.99}
		}
		doc["fields"] = map[string]any{"nik": field(nik), "document_number": field(docNo), "name": field(name), "birth_date": field(dob)}
		doc["nik"] = map[string]any{"number": nik, "valid": true, "birth_date": dob}
	}
}

// linkedRows reads the linked submissions' table of a case view: each
// row's case path and the text of its cells, tags removed.
func linkedRows(t *testing.T, body string) map[string]string {
	t.Helper()
	_, table, ok := strings.Cut(body, `<table id="linked">`)
	if !ok {
		return nil
	}
	table, _, _ = strings.Cut(table, "</table>")
	_, table, _ = strings.Cut(table, "<tbody>")
	href := regexp.MustCompile(`<a href="([^"]+)">`)
	tags := regexp.MustCompile(`<[^>]+>`)
	out := map[string]string{}
	for _, tr := range strings.Split(table, "<tr")[1:] {
		m := href.FindStringSubmatch(tr)
		if m == nil {
			t.Fatalf("a linked row without a link: %s", tr)
		}
		out[m[1]] = strings.Join(strings.Fields(tags.ReplaceAllString("<tr"+tr, " ")), " ")
	}
	return out
}

// TestLinkedSubmissions: a case lists the other submissions sharing its
// NIK or document number, newest first, each with what it shares and what
// differs: the earlier one a reviewer rejected, one with the NIK under
// another name and date of birth, one with the document number under
// another NIK (a borrowed identity); not a stranger's. A scoped reviewer
// sees those of their branches only; a case with no link says so, and so
// does a console without a blind index. No identifier reaches a URL, the
// audit trail or the log.
func TestLinkedSubmissions(t *testing.T) { testLinked(t, boltStore) }

func testLinked(t *testing.T, open opener) {
	e := newEnvOn(t, open, nil)
	e.addDevice("dev-north", "north")
	e.addDevice("dev-south", "south")
	e.addUser("rev1", central.RoleReviewer)
	e.addUser("rev2", central.RoleReviewer)
	e.addUser("northrev", central.RoleReviewer, "north")
	const nik, doc, name, dob = "3174096112900001", "B1234567", "BUDI SANTOSO", "1990-12-21"
	const otherNIK, otherDoc, otherName = "3201015505850002", "C7654321", "ANDI WIJAYA"
	sub := func(dev, id string, edit func(map[string]any)) central.SubmissionRef {
		e.clk.Advance(time.Minute)
		return e.submit(dev, id, payload(t, "payload_device.json", id, edit))
	}
	earlier := sub("dev-north", "sess-1", who(nik, doc, name, dob))
	renamed := sub("dev-north", "sess-2", who(nik, otherDoc, otherName, "1985-03-04"))
	borrowed := sub("dev-south", "sess-3", who(otherNIK, doc, "CITRA DEWI", dob))
	stranger := sub("dev-north", "sess-4", who("3273010101800003", "D1111111", "EKO PRASETYO", "1980-01-01"))
	current := sub("dev-north", "sess-5", who(nik, doc, name, dob))

	b2 := e.browser()
	b2.signIn("rev2")
	b2.act(earlier, "claim", nil)
	if a := b2.act(earlier, "decide", url.Values{"outcome": {"reject"}, "reason": {"document_forged"}}); a.status != http.StatusSeeOther {
		t.Fatalf("rejecting the earlier submission: %d %s", a.status, a.body)
	}

	b := e.browser()
	b.signIn("rev1")
	page := b.get(caseHref(current))
	if page.status != http.StatusOK {
		t.Fatalf("case view: %d", page.status)
	}
	rows := linkedRows(t, page.body)
	want := map[central.SubmissionRef][]string{
		earlier:  {"NIK, Document number", "⚠ rejected", "Reject (forged or altered document)"},
		renamed:  {"NIK", "⚠ different name", "⚠ different date of birth"},
		borrowed: {"Document number", "⚠ different NIK", "⚠ different name", "Branch south"},
	}
	if len(rows) != len(want) {
		t.Errorf("linked rows %v, want the earlier, renamed and borrowed submissions", rows)
	}
	for ref, wants := range want {
		row, ok := rows[caseHref(ref)]
		if !ok {
			t.Errorf("%s is not linked", ref.Key)
			continue
		}
		for _, w := range wants {
			if !strings.Contains(row, w) {
				t.Errorf("the row of %s lacks %q: %s", ref.Key, w, row)
			}
		}
	}
	for _, no := range []string{
		rows[caseHref(earlier)] + "|different", rows[caseHref(renamed)] + "|different NIK|rejected",
		rows[caseHref(borrowed)] + "|date of birth|rejected",
	} {
		row, flags, _ := strings.Cut(no, "|")
		for _, f := range strings.Split(flags, "|") {
			if strings.Contains(row, f) {
				t.Errorf("a row flagged %q it should not be: %s", f, row)
			}
		}
	}
	if i, j, k := strings.Index(page.body, caseHref(borrowed)), strings.Index(page.body, caseHref(renamed)), strings.Index(page.body, caseHref(earlier)); i > j || j > k {
		t.Error("the linked submissions are not newest first")
	}
	if _, ok := rows[caseHref(stranger)]; ok {
		t.Error("a stranger's submission is linked")
	}
	if !strings.Contains(page.body, `id="linked-summary">3, 3 of them flagged`) {
		t.Error("the case's summary does not count the linked submissions")
	}

	// No identifier in a URL, the audit trail or the log.
	attrs := regexp.MustCompile(`(?:href|src|action)="([^"]*)"`).FindAllStringSubmatch(page.body, -1)
	evs, err := e.store.Audit(context.Background(), central.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	trail, _ := json.Marshal(evs)
	for _, id := range []string{nik, doc, otherNIK, "BUDI", "Budi", "budi", "SANTOSO", "santoso"} {
		for _, a := range attrs {
			if u, _ := url.PathUnescape(a[1]); strings.Contains(u, id) {
				t.Errorf("a URL on the page holds %q: %s", id, a[1])
			}
		}
		if strings.Contains(string(trail), id) || strings.Contains(e.log.String(), id) {
			t.Errorf("%q is in the audit trail or the log", id)
		}
	}
	// The case view's audit event names the submissions it was compared with.
	views, err := e.store.Audit(context.Background(), central.AuditFilter{Subject: caseSubject(current), Action: AuditCaseView})
	if err != nil || len(views) != 1 {
		t.Fatalf("case views of the case: %v %v", views, err)
	}
	var seen struct{ Linked []string }
	if json.Unmarshal(views[0].After, &seen) != nil || len(seen.Linked) != 3 || seen.Linked[0] != caseSubject(borrowed) {
		t.Errorf("the case view audited as %s", views[0].After)
	}

	// A reviewer of north sees north's links only; opening one is a case
	// view of its own.
	nb := e.browser()
	nb.signIn("northrev")
	scoped := linkedRows(t, nb.get(caseHref(current)).body)
	if _, ok := scoped[caseHref(borrowed)]; ok || len(scoped) != 2 {
		t.Errorf("north's reviewer sees links %v, want the earlier and renamed ones", scoped)
	}
	if a := nb.get(caseHref(borrowed)); a.status != http.StatusNotFound {
		t.Errorf("south's submission opened by north's reviewer: %d", a.status)
	}
	if a := b.get(caseHref(renamed)); a.status != http.StatusOK || len(e.auditActions(caseSubject(renamed))) != 1 {
		t.Errorf("opening a linked case: %d, audited %v", a.status, e.auditActions(caseSubject(renamed)))
	}

	if a := b.get(caseHref(stranger)); !strings.Contains(a.body, `id="linked-none">No other submission shares`) || strings.Contains(a.body, `id="linked"`) {
		t.Error("a case without links does not say so")
	}

	// Without a blind index, the section says search by person is off.
	off := newEnvConfig(t, open, nil, func(c *Config) { c.Index = nil })
	off.addDevice("dev-north", "north")
	off.addUser("rev1", central.RoleReviewer)
	ref := off.submit("dev-north", "sess-1", payload(t, "payload_device.json", "sess-1", who(nik, doc, name, dob)))
	off.submit("dev-north", "sess-2", payload(t, "payload_device.json", "sess-2", who(nik, doc, name, dob)))
	ob := off.browser()
	ob.signIn("rev1")
	if a := ob.get(caseHref(ref)); !strings.Contains(a.body, `id="linked-none">Search by person is not available`) {
		t.Error("without an index the case view does not say linked submissions are unavailable")
	}
}

// uploadCounter counts the submissions the console opens.
type uploadCounter struct {
	central.Store
	n atomic.Int64
}

func (u *uploadCounter) Upload(ctx context.Context, deviceID, key string) (central.Submission, error) {
	u.n.Add(1)
	return u.Store.Upload(ctx, deviceID, key)
}

// TestLinkedCapped: with more submissions of one NIK than the cap, the
// case lists the newest linkedPerKind, says there are more, and opens no
// more payloads than it lists (and its own).
func TestLinkedCapped(t *testing.T) { testLinkedCapped(t, boltStore) }

func testLinkedCapped(t *testing.T, open opener) {
	var count *uploadCounter
	e := newEnvOn(t, open, func(s central.Store) central.Store {
		count = &uploadCounter{Store: s}
		return count
	})
	e.addDevice("dev-north", "north")
	e.addUser("rev1", central.RoleReviewer)
	const nik = "3174096112900001"
	var refs []central.SubmissionRef
	for i := range linkedPerKind + 3 {
		e.clk.Advance(time.Minute)
		id := fmt.Sprintf("sess-%d", i)
		refs = append(refs, e.submit("dev-north", id, payload(t, "payload_device.json", id, who(nik, fmt.Sprintf("B%07d", i), "BUDI SANTOSO", "1990-12-21"))))
	}
	current := refs[len(refs)-1]
	b := e.browser()
	b.signIn("rev1")
	count.n.Store(0)
	page := b.get(caseHref(current))
	rows := linkedRows(t, page.body)
	if len(rows) != linkedPerKind {
		t.Errorf("%d linked rows, want %d", len(rows), linkedPerKind)
	}
	for i, ref := range refs[:len(refs)-1] {
		if _, listed := rows[caseHref(ref)]; listed != (i >= 2) {
			t.Errorf("submission %d listed %v: want the newest %d", i, listed, linkedPerKind)
		}
	}
	if !strings.Contains(page.body, fmt.Sprintf("NIK: more submissions than the %d listed share it", linkedPerKind)) || strings.Contains(page.body, "Document number: more") {
		t.Error("the case view does not say more submissions share the NIK")
	}
	if n := count.n.Load(); n != linkedPerKind+1 {
		t.Errorf("the case view opened %d submissions, want %d (its own and the listed)", n, linkedPerKind+1)
	}
}
