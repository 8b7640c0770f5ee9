package console_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/internal/testenv"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/console"
)

// TestRiskFormScreeningAgeInBrowser drives the risk form's maximum age of
// the watchlists in headless Chromium (web/e2e/riskform.mjs) against a
// console served with two admins signed in: the field shows its default,
// the browser holds it to 1-365 and the server refuses what the browser
// let through (422, the field named), one admin proposes 3 days and only
// the other's confirmation publishes it, the proposal naming the change.
func TestRiskFormScreeningAgeInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser end-to-end test: skipped in -short mode")
	}
	root, ok := testenv.ModuleRoot()
	if !ok {
		t.Fatal("module root not found")
	}
	tools := browserTools(t, root)
	e := newAdminEnv(t)
	ada, bob := e.user(t, "ada", central.RoleAdmin), e.user(t, "bob", central.RoleAdmin)
	sessions, _ := json.Marshal(map[string]string{"proposer": ada.token, "confirmer": bob.token})
	// A bound on a hang, not a speed target (Chromium on a loaded machine).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	env := []string{"KYC_CONSOLE_URL=" + e.url, "KYC_PLAYWRIGHT=" + tools.Playwright, "KYC_AXE=" + tools.Axe,
		"KYC_E2E_CHROMIUM=" + tools.Chromium, "KYC_RISK_SESSIONS=" + string(sessions)}
	if checks := console.RunBrowserChecks(t, ctx, root, "riskform.mjs", env, nil); len(checks) < 8 {
		t.Errorf("%d checks ran, want every one", len(checks))
	}
	doc, v, err := e.store.Risk(context.Background())
	if cfg, perr := risk.ParseConfig(doc); err != nil || perr != nil || v != 1 || cfg.ScreeningMaxAgeDays != 3 {
		t.Errorf("published version %d %s (%v, %v), want screening_max_age_days 3", v, doc, err, perr)
	}
}
