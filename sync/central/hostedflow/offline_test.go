package hostedflow_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/internal/browsertest"
	"github.com/openkyc/kyc/internal/testenv"
)

// TestOfflineInBrowser runs web/e2e/offline.mjs: a phone that loses the
// network in the middle of the flow, in headless Chromium against central
// on loopback TLS. An upload lost says there is no connection; a submit
// lost after the last photo keeps the person on the check (the photos are
// at central: never asked again), says so, offers "Try now" and sends again
// after waits that grow; the page loaded again lands on that submit; a
// submit whose answer is lost after central started the verification, sent
// again, follows the verification under way: one attempt, one submission.
// On a second session, with a camera, guidance frames lost say so, and a
// capture central kept whose answer was lost moves the page on (the
// selfie's to the submit) instead of capturing it again.
func TestOfflineInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser end-to-end test: skipped in -short mode")
	}
	root, ok := testenv.ModuleRoot()
	if !ok {
		t.Fatal("module root not found")
	}
	tools := browsertest.FindTools(t, root)
	axe := browsertest.FindAxe(t, root)
	e := newEnv(t, true)
	docFile, selfieFile := imageFiles(t)
	pid, fc := e.initiate(map[string]any{"allow_upload": true, "max_retries": 3})
	_, fc2 := e.initiate(map[string]any{"allow_upload": true, "max_retries": 3})
	shots := filepath.Join(browsertest.ArtifactsDir(t, root), "hosted")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	env := []string{"KYC_PLAYWRIGHT=" + tools.Playwright, "KYC_E2E_CHROMIUM=" + tools.Chromium, "KYC_AXE=" + axe, "KYC_FLOW_URL=" + e.base,
		"KYC_OFFLINE_LAUNCH=" + fc.LaunchURL, "KYC_OFFLINE_LAUNCH2=" + fc2.LaunchURL, "KYC_OFFLINE_DOCUMENT=" + docFile, "KYC_OFFLINE_SELFIE=" + selfieFile, "KYC_FLOW_SHOTS=" + shots}
	var res struct {
		Checks  []scriptCheck
		Axe     []axeResult
		Shots   []string
		Submits struct{ Aborted, Lost, Passed int }
		Step    string
		Error   string
	}
	runScript(t, ctx, root, "offline.mjs", env, nil, &res, nil)
	reportChecks(t, res.Checks)
	reportAxe(t, res.Axe)
	t.Logf("submits: %d cut off, %d answer lost, %d through; screenshots in %s: %v", res.Submits.Aborted, res.Submits.Lost, res.Submits.Passed,
		shots, strings.Join(res.Shots, ", "))
	if res.Error != "" {
		t.Fatalf("offline.mjs stopped at %q: %s", res.Step, res.Error)
	}
	if len(res.Checks) < 10 {
		t.Errorf("offline.mjs made %d checks, want every one of its scenarios'", len(res.Checks))
	}
	// One verification for every submit that reached central.
	f, err := e.store.Flow(ctx, pid, fc.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	if f.Attempts != 1 || len(f.Submissions) != 1 {
		t.Errorf("after %d submits reached central: %d attempts, submissions %v, want one", res.Submits.Lost+res.Submits.Passed, f.Attempts, f.Submissions)
	}
}
