package console

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/internal/browsertest"
	"github.com/openkyc/kyc/internal/testenv"
	"github.com/openkyc/kyc/sync/central"
)

// TestEndSessionInBrowser drives the account page's sessions in headless
// Chromium (web/e2e/sessions.mjs): two browser contexts sign in to one
// account through the forms (password, then a TOTP code this test
// gives), the first lists both sessions and, with its password, signs
// the other out, which is then sent to the sign-in page (ASVS 3.3.4).
func TestEndSessionInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: skipped in -short mode")
	}
	root, ok := testenv.ModuleRoot()
	if !ok {
		t.Fatal("module root not found")
	}
	tools := browsertest.FindTools(t, root)
	axe := browsertest.FindAxe(t, root)
	e := newEnv(t)
	e.addUser("ani", central.RoleReviewer)
	// Enrolled here (its TOTP secret known to the test), then signed out:
	// the browsers' are the account's only sessions.
	enrol := e.browser()
	enrol.signIn("ani")
	if a := enrol.post("/console/signout", nil); a.status != http.StatusSeeOther {
		t.Fatalf("signing the enrolling client out: %d", a.status)
	}
	e.mu.Lock()
	secret := e.secrets["ani"]
	e.mu.Unlock()
	cfg, _ := json.Marshal(map[string]string{"name": "ani", "password": testPassword})
	// A bound on a hang, not a speed target (Chromium on a loaded machine).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	env := []string{"KYC_CONSOLE_URL=" + e.base, "KYC_PLAYWRIGHT=" + tools.Playwright, "KYC_AXE=" + axe,
		"KYC_E2E_CHROMIUM=" + tools.Chromium, "KYC_SESSIONS=" + string(cfg)}
	checks := RunBrowserChecks(t, ctx, root, "sessions.mjs", env,
		func(req string) string {
			if name, _, _ := strings.Cut(req, " "); name != "totp" {
				return `{"error":"unknown request"}`
			}
			e.clk.nextStep() // a code signs in once
			b, _ := json.Marshal(map[string]string{"code": e.clk.code(t, secret)})
			return string(b)
		})
	if len(checks) < 7 {
		t.Errorf("%d checks ran, want every one", len(checks))
	}
	// What the browser saw, in the store: one session of ani's left.
	ss, err := e.store.UserSessions(context.Background(), "ani", e.clk.Now())
	if err != nil || len(ss) != 1 {
		t.Errorf("ani's sessions after: %d, %v; want 1", len(ss), err)
	}
	if got := e.auditActions("user:ani"); !strings.Contains(strings.Join(got, ","), AuditSessionEnded) {
		t.Errorf("audit of user:ani %v, want %s", got, AuditSessionEnded)
	}
}
