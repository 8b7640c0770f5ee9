package console

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/store/pgstore"
	"github.com/openkyc/kyc/sync/internal/pgtest"
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

// TestAuditVerifyCooldownShared: the cooldown is the store's, not an
// instance's: of two consoles over one PostgreSQL store (instances behind
// a load balancer), the second asked within the cooldown of a walk on the
// first is refused 429 with a Retry-After, walks nothing and says when it
// may run; once the cooldown has passed, the second walks, and then the
// first is refused.
func TestAuditVerifyCooldownShared(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	ctx := context.Background()
	dsn, err := pgtest.StartT(t).NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	open := func(t *testing.T) central.Store {
		s, err := pgstore.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	clk := &clock{}
	e1 := newEnvClock(t, open, nil, nil, clk)
	// Instances share console.key and the store's accounts.
	e2 := newEnvClock(t, open, nil, func(c *Config) { c.SecretKey = e1.console.cfg.SecretKey }, clk)
	e2.secrets, e2.enrolCodes = e1.secrets, e1.enrolCodes
	e1.addUser("aud", central.RoleAuditor)
	b1 := e1.signedIn("aud")[0]
	b2 := e2.signedIn("aud")[0]
	verifies := func() int {
		t.Helper()
		evs, err := e1.store.Audit(ctx, central.AuditFilter{Action: AuditVerify})
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	if a := b1.post("/console/audit/verify", nil); a.status != http.StatusOK || !strings.Contains(a.body, `id="verify-result"`) {
		t.Fatalf("the first verification, on instance 1: %d", a.status)
	}
	next := clk.Now().Add(DefaultVerifyCooldown).UTC().Format("2006-01-02 15:04:05 UTC")
	clk.Advance(DefaultVerifyCooldown - 10*time.Second)
	a := b2.post("/console/audit/verify", nil)
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") != "10" {
		t.Errorf("a verification on instance 2 within instance 1's cooldown: %d, Retry-After %q; want 429, 10", a.status, a.header.Get("Retry-After"))
	}
	if strings.Contains(a.body, `id="verify-result"`) || !strings.Contains(a.body, next) {
		t.Error("instance 2's refusal does not say when the chain may be verified again (or shows a result)")
	}
	if a := b2.get("/console/audit"); a.status != http.StatusOK || !strings.Contains(a.body, `id="verify-chain" disabled`) {
		t.Errorf("instance 2's audit view within the cooldown: %d, its button not disabled", a.status)
	}
	if n := verifies(); n != 1 {
		t.Errorf("%d verifications recorded, want the first alone", n)
	}
	clk.Advance(10 * time.Second)
	if a := b2.post("/console/audit/verify", nil); a.status != http.StatusOK || !strings.Contains(a.body, `id="verify-result"`) {
		t.Errorf("a verification on instance 2 after the cooldown: %d", a.status)
	}
	if a := b1.post("/console/audit/verify", nil); a.status != http.StatusTooManyRequests {
		t.Errorf("a verification on instance 1 right after one on instance 2: %d; want 429", a.status)
	}
	if n := verifies(); n != 2 {
		t.Errorf("%d verifications recorded, want 2", n)
	}
}

// TestAuditVerifyLongWalkCooldown: after a walk of the chain that took
// six minutes, the next may start only an hour (ten times as long) later,
// though the cooldown is a minute; a budget's time beyond what its own
// spends can set is taken as a clock put back (central.SpendGCRA), so
// the longer cooldown must not ride on the minute's budget.
func TestAuditVerifyLongWalkCooldown(t *testing.T) {
	e := newEnv(t)
	e.addUser("aud", central.RoleAuditor)
	b := e.signedIn("aud")[0]
	ctx := context.Background()
	if a := b.post("/console/audit/verify", nil); a.status != http.StatusOK {
		t.Fatalf("the first verification: %d", a.status)
	}
	const took = 6 * time.Minute
	if err := e.console.verified(ctx, took); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(2 * DefaultVerifyCooldown)
	if w, err := e.console.verifyWait(ctx); err != nil || w < verifyDuty*took-3*DefaultVerifyCooldown {
		t.Errorf("wait after a walk of %v = %v, %v; want about %v", took, w, err, verifyDuty*took)
	}
	if a := b.post("/console/audit/verify", nil); a.status != http.StatusTooManyRequests {
		t.Errorf("a verification %v after a walk of %v: %d; want 429", 2*DefaultVerifyCooldown, took, a.status)
	}
	e.clk.Advance(verifyDuty * took)
	b = e.signedIn("aud")[0] // the first session has gone idle
	if a := b.post("/console/audit/verify", nil); a.status != http.StatusOK {
		t.Errorf("a verification after the longer cooldown: %d; want 200", a.status)
	}
}
