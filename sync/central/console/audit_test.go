package console

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openkyc/kyc/sync/central"
)

// TestAuditLinkedInScope: a case view's audit event names the submissions
// it was compared with, from every branch when the viewer sees every
// branch. A reviewer scoped to the case's branch reads that event in the
// audit view without the other branches' submissions in it (that the
// person applied there, and where), which the admin of every branch still
// sees.
func TestAuditLinkedInScope(t *testing.T) {
	e := newEnv(t)
	e.addDevice("dev-north", "north")
	e.addDevice("dev-south", "south")
	e.addUser("root", central.RoleAdmin)
	e.addUser("northrev", central.RoleReviewer, "north")
	const nik, doc, name, dob = "3174096112900001", "B1234567", "BUDI SANTOSO", "1990-12-21"
	sub := func(dev, id string) central.SubmissionRef {
		e.clk.Advance(time.Minute)
		return e.submit(dev, id, payload(t, "payload_device.json", id, who(nik, doc, name, dob)))
	}
	northEarlier := sub("dev-north", "sess-1")
	south := sub("dev-south", "sess-2")
	current := sub("dev-north", "sess-3")

	root := e.browser()
	root.signIn("root")
	if a := root.get(caseHref(current)); a.status != http.StatusOK || !strings.Contains(a.body, caseHref(south)) {
		t.Fatalf("the admin's case view (%d) does not link the south submission", a.status)
	}
	if a := root.get("/console/audit"); !strings.Contains(a.body, caseSubject(south)) {
		t.Error("the admin's audit view does not name the south submission the case was compared with")
	}

	nb := e.browser()
	nb.signIn("northrev")
	a := nb.get("/console/audit?action=" + AuditCaseView)
	if a.status != http.StatusOK {
		t.Fatalf("north's audit view: %d", a.status)
	}
	if !strings.Contains(a.body, caseSubject(current)) || !strings.Contains(a.body, caseSubject(northEarlier)) {
		t.Errorf("north's audit view lacks the north case view or its north link: %s", a.body)
	}
	if strings.Contains(a.body, south.Key) || strings.Contains(a.body, "dev-south") {
		t.Errorf("north's audit view names the south submission: %s", a.body)
	}
}

// TestAuditExportInScope: an export's audit event counts the cases of its
// maker's scope. A reviewer scoped to north reads the event of an export
// of south (or of every branch) without its counts and filter, and that of
// a north reviewer's export with them.
func TestAuditExportInScope(t *testing.T) {
	f := newFixture(t)
	f.addUser("root", central.RoleAdmin)
	f.addUser("northaud", central.RoleAuditor, "north")
	root := f.browser()
	root.signIn("root")
	for _, p := range []string{"/console/export.csv?branch=south", "/console/export.csv"} {
		if a := root.get(p); a.status != http.StatusOK {
			t.Fatalf("root's export %s: %d", p, a.status)
		}
	}
	nb := f.browser()
	nb.signIn("northrev")
	if a := nb.get("/console/export.csv?doc_type=KTP"); a.status != http.StatusOK {
		t.Fatalf("north's export: %d", a.status)
	}
	aud := f.browser()
	aud.signIn("northaud")
	a := aud.get("/console/audit?action=" + AuditExport)
	if a.status != http.StatusOK {
		t.Fatalf("north's audit view: %d", a.status)
	}
	if n := strings.Count(a.body, "<td>"+AuditExport+"</td>"); n != 3 {
		t.Errorf("north's audit view lists %d exports, want the 3 (who exported, when)", n)
	}
	if strings.Contains(a.body, "branch=south") || strings.Count(a.body, "&#34;matching&#34;") != 1 || !strings.Contains(a.body, "doc_type=KTP") {
		t.Errorf("north's audit view shows the counts of other exports than north's: %s", a.body)
	}
	if a := root.get("/console/audit?action=" + AuditExport); strings.Count(a.body, "&#34;matching&#34;") != 3 {
		t.Error("the admin of every branch does not see every export's counts")
	}
}

// gatedAudit holds the first read of the audit trail after armed is set
// until release is closed, telling entered when it starts.
type gatedAudit struct {
	central.Store
	armed            atomic.Bool
	entered, release chan struct{}
}

func (g *gatedAudit) Audit(ctx context.Context, f central.AuditFilter) ([]central.AuditEvent, error) {
	if g.armed.CompareAndSwap(true, false) {
		close(g.entered)
		<-g.release
	}
	return g.Store.Audit(ctx, f)
}

// TestAuditVerifyOneAtATime: a walk of the whole audit chain is costly
// and any auditor may ask for one, so a second asked while one runs is
// answered busy instead of walking the chain again.
func TestAuditVerifyOneAtATime(t *testing.T) {
	g := &gatedAudit{entered: make(chan struct{}), release: make(chan struct{})}
	e := newEnvWrapped(t, func(s central.Store) central.Store { g.Store = s; return g })
	e.addUser("aud", central.RoleAuditor)
	first, second := e.browser(), e.browser()
	first.signIn("aud")
	e.clk.nextStep()
	second.signIn("aud")
	first.get("/console/audit")
	second.get("/console/audit")
	g.armed.Store(true)
	done := make(chan answer, 1)
	go func() { done <- first.post("/console/audit/verify", nil) }()
	<-g.entered
	a := second.post("/console/audit/verify", nil)
	close(g.release)
	if a.status != http.StatusServiceUnavailable {
		t.Errorf("a second verification while one runs: %d, want 503", a.status)
	}
	if a := <-done; a.status != http.StatusOK || !strings.Contains(a.body, `id="verify-result"`) {
		t.Errorf("the first verification: %d", a.status)
	}
	e.clk.Advance(DefaultVerifyCooldown) // TestAuditVerifyCooldown's business
	if a := second.post("/console/audit/verify", nil); a.status != http.StatusOK {
		t.Errorf("a verification after it: %d", a.status)
	}
}

// TestAuditVerifyRecorded: "Verify chain" records its result as central's
// scheduled check does: kyc_central_audit_chain_ok and the time of the
// last verification, and a break as one audit_chain_broken event, however
// often it is found.
func TestAuditVerifyRecorded(t *testing.T) {
	e := newEnvWrapped(t, func(s central.Store) central.Store { return tampered{s} })
	gauge := func(name string) float64 {
		t.Helper()
		mfs, err := e.console.cfg.Central.Registerer().(prometheus.Gatherer).Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == name {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatalf("no metric %s", name)
		return 0
	}
	const ok, at = "kyc_central_audit_chain_ok", "kyc_central_audit_chain_verified_timestamp_seconds"
	// Central's own check at start, of the store untampered, comes first.
	// The sleep paces the poll of a condition, bounded by a hang's deadline.
	for deadline := time.Now().Add(time.Minute); gauge(at) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("central did not verify the audit chain at start")
		}
	}
	if gauge(ok) != 1 {
		t.Fatalf("%s = %v after central's check at start, want 1", ok, gauge(ok))
	}
	started := gauge(at)
	e.addUser("aud", central.RoleAuditor)
	b := e.browser()
	b.signIn("aud")
	b.post("/console/signout", nil)
	e.clk.nextStep()
	b.signIn("aud")
	b.get("/console/audit")
	e.clk.nextStep()
	for range 2 {
		e.clk.Advance(DefaultVerifyCooldown) // TestAuditVerifyCooldown's business
		if a := b.post("/console/audit/verify", nil); a.status != http.StatusOK || !strings.Contains(a.body, "Chain BROKEN at entry 3") {
			t.Fatalf("verify of a tampered trail: %d %s", a.status, a.body)
		}
		if gauge(ok) != 0 || gauge(at) <= started {
			t.Errorf("after the console's verification %s = %v, %s = %v; want 0, after %v", ok, gauge(ok), at, gauge(at), started)
		}
	}
	evs, err := e.store.Audit(context.Background(), central.AuditFilter{Action: central.AuditChainBroken})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || !strings.Contains(string(evs[0].After), `"broken_at":3`) {
		t.Errorf("audit_chain_broken events %+v, want one, broken at 3", evs)
	}
}
