package console

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// TestAuditVerifyCooldown: a walk of the audit chain asked for in the
// console is followed by a cooldown on this instance: one asked for
// sooner is refused 429 with a Retry-After, walks nothing and records
// nothing, and the audit view says when "Verify chain" may run again
// (its button disabled until then); once the cooldown has passed, it runs.
func TestAuditVerifyCooldown(t *testing.T) {
	e := newEnv(t)
	e.addUser("aud", central.RoleAuditor)
	b := e.signedIn("aud")[0]
	b.get("/console/audit")
	verifies := func() int {
		t.Helper()
		evs, err := e.store.Audit(context.Background(), central.AuditFilter{Action: AuditVerify})
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	a := b.post("/console/audit/verify", nil)
	if a.status != http.StatusOK || !strings.Contains(a.body, `id="verify-result"`) {
		t.Fatalf("the first verification: %d", a.status)
	}
	next := e.clk.Now().Add(DefaultVerifyCooldown).UTC().Format("2006-01-02 15:04:05 UTC")
	if !strings.Contains(a.body, `id="verify-wait"`) || !strings.Contains(a.body, next) || !strings.Contains(a.body, `id="verify-chain" disabled`) {
		t.Errorf("after a verification the page does not say it may run again from %s, its button disabled", next)
	}

	e.clk.Advance(DefaultVerifyCooldown - 10*time.Second)
	a = b.post("/console/audit/verify", nil)
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") != "10" {
		t.Errorf("a verification within the cooldown: %d, Retry-After %q; want 429, 10", a.status, a.header.Get("Retry-After"))
	}
	if strings.Contains(a.body, `id="verify-result"`) || !strings.Contains(a.body, `id="verify-wait"`) || !strings.Contains(a.body, next) {
		t.Error("the refusal does not say when the chain may be verified again (or shows a result)")
	}
	if n := verifies(); n != 1 {
		t.Errorf("%d verifications recorded, want the first alone", n)
	}
	if a := b.get("/console/audit"); a.status != http.StatusOK || !strings.Contains(a.body, next) {
		t.Errorf("the audit view within the cooldown: %d, without the time it may run again", a.status)
	}

	e.clk.Advance(10 * time.Second)
	a = b.post("/console/audit/verify", nil)
	if a.status != http.StatusOK || !strings.Contains(a.body, `id="verify-result"`) {
		t.Errorf("a verification after the cooldown: %d", a.status)
	}
	if n := verifies(); n != 2 {
		t.Errorf("%d verifications recorded, want 2", n)
	}
}
