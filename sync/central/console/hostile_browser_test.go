package console

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/openkyc/kyc/internal/browsertest"
	"github.com/openkyc/kyc/internal/testenv"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/partnerapi"
)

// TestHostileStringsInBrowser is TestHostileDeviceStrings where it
// matters, in headless Chromium (web/e2e/hostile.mjs): a device enrolled
// in a hostile branch, its case with every string of its payload hostile
// (OCR'd names, MRZ lines, reason codes, hits), a reviewer's note on a
// hit, a list and a partner named hostile-ly. No page an admin opens
// runs any of it: no dialog, no marker, no markup made of it, no
// violation of the content security policy (which would mean markup the
// page let through and only the policy stopped), and the strings do show,
// as text. (Here the case page's images, each audited from inside the
// store's read of its bytes, once hung central's store for good:
// TestImageViewAuditedOutsideRead.)
func TestHostileStringsInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: skipped in -short mode")
	}
	root, ok := testenv.ModuleRoot()
	if !ok {
		t.Fatal("module root not found")
	}
	tools := browsertest.FindTools(t, root)
	e := newEnv(t)
	ctx := context.Background()
	ref := hostileFixture(t, e)
	if _, err := e.partners.CreatePartner(ctx, "test", partnerapi.NewPartner{Name: hostile, Branches: []string{"north"},
		WebhookURL: "https://hooks.example.com/kyc"}); err != nil {
		t.Logf("a partner named hostile-ly is refused (%v): the partners page shows none", err)
	}
	e.addUser("root", central.RoleAdmin)
	b := e.browser()
	b.signIn("root")
	b.get(caseHref(ref))
	if a := b.act(ref, "claim", nil); a.status != http.StatusSeeOther {
		t.Fatalf("claim: %d", a.status)
	}
	if a := b.act(ref, "hits/0", url.Values{"status": {"confirmed"}, "note": {hostile}}); a.status != http.StatusSeeOther {
		t.Fatalf("hit: %d %s", a.status, a.body)
	}
	pages := []string{caseHref(ref), "/console/queue", "/console/queue?state=claimed", "/console/devices", "/console/audit",
		"/console/dashboard", "/console/lists", "/console/partners", "/console/privacy", "/console/account",
		"/console/queue?doc_type=" + url.QueryEscape(hostile), "/console/audit?actor=" + url.QueryEscape(hostile)}
	cfg, _ := json.Marshal(map[string]any{"session": b.cookieOf(sessionCookie), "cookie": sessionCookie,
		"text": "<img src=x onerror=alert(2)>", "pages": pages})
	// A bound on a hang, not a speed target (Chromium on a loaded machine).
	rctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	checks := RunBrowserChecks(t, rctx, root, "hostile.mjs",
		[]string{"KYC_CONSOLE_URL=" + e.base, "KYC_PLAYWRIGHT=" + tools.Playwright, "KYC_E2E_CHROMIUM=" + tools.Chromium, "KYC_HOSTILE=" + string(cfg), "KYC_HOSTILE_DEBUG=" + os.Getenv("KYC_HOSTILE_DEBUG")},
		nil)
	if want := 5*len(pages) + 1; len(checks) != want {
		t.Errorf("%d checks ran, want %d", len(checks), want)
	}
}
