package console_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/internal/browsertest"
	"github.com/openkyc/kyc/internal/testenv"
	"github.com/openkyc/kyc/sync/central"
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
	var last string
	stderr, err := browsertest.RunScript(t, ctx, filepath.Join(root, "sync", "central", "console", "web", "e2e", "riskform.mjs"), env,
		func(string) string { return `{"error":"no requests"}` },
		func(line string) {
			if strings.TrimSpace(line) != "" {
				last = line
			}
		})
	if err != nil {
		t.Errorf("riskform.mjs: %v\n%s", err, stderr)
	}
	var res struct {
		Checks []struct {
			Name, Detail string
			Pass         bool
		} `json:"checks"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(last), &res); err != nil {
		t.Fatalf("riskform.mjs output %q: %v\n%s", last, err, stderr)
	}
	if res.Error != "" {
		t.Errorf("riskform.mjs stopped: %s", res.Error)
	}
	if len(res.Checks) < 8 {
		t.Errorf("%d checks ran, want every one", len(res.Checks))
	}
	for _, c := range res.Checks {
		t.Logf("%t: %s", c.Pass, c.Name)
		if !c.Pass {
			t.Errorf("%s: %s", c.Name, c.Detail)
		}
	}
	doc, v, err := e.store.Risk(context.Background())
	if cfg, perr := risk.ParseConfig(doc); err != nil || perr != nil || v != 1 || cfg.ScreeningMaxAgeDays != 3 {
		t.Errorf("published version %d %s (%v, %v), want screening_max_age_days 3", v, doc, err, perr)
	}
}
