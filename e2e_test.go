package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/app"
	"github.com/openkyc/kyc/app/demo"
	"github.com/openkyc/kyc/engine/device"
	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/engine/ort"
	"github.com/openkyc/kyc/engine/screening"
	"github.com/openkyc/kyc/internal/browsertest"
	"github.com/openkyc/kyc/internal/deviceconf"
	"github.com/openkyc/kyc/internal/testenv"
	"github.com/openkyc/kyc/models"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/vault"
)

// TestMain gives every app the tests start a vault key folder of its own:
// the app keeps its vault key outside the device folder, by default in
// /var/lib/openkyc-keys when run as root, which tests must not fill.
func TestMain(m *testing.M) {
	keys, err := os.MkdirTemp("", "kyc-test-keys-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("KYC_VAULT_KEY_DIR", keys)
	code := m.Run()
	os.RemoveAll(keys)
	os.Exit(code)
}

// e2eScenario is one verification the browser runs, with video files as
// the document and selfie cameras.
type e2eScenario struct {
	Name     string `json:"name"`
	Document string `json:"document"`
	Selfie   string `json:"selfie"`
}

// e2eResult is what frontend/e2e/flow.mjs reports per scenario.
type e2eResult struct {
	Name          string  `json:"name"`
	PreviewFPS    float64 `json:"preview_fps"`
	Guidance      string  `json:"document_guidance"`
	Message       string  `json:"message"`
	Decision      string  `json:"decision"`
	Reasons       string  `json:"reasons"`
	NextAction    string  `json:"next_action"`
	LivenessPath  string  `json:"liveness_path"`
	Challenged    bool    `json:"challenged"` // taken back to the camera for an active challenge
	LatencyMS     float64 `json:"capture_to_result_ms"`
	SubmissionID  string  `json:"submission_id"`
	OperatorHides bool    `json:"operator_hidden"`
	// The customer's view as drawn before the operator opened theirs.
	CustomerText string `json:"customer_text"`
	RetryAdvice  string `json:"retry_advice"`
	// The operator's view: identity fields with their sources, the
	// pictures' widths (img-document, img-portrait, img-selfie), each
	// check's outcome, the face gauges' pass, what to say.
	Identity map[string]struct {
		Value  string `json:"value"`
		Source string `json:"source"`
	} `json:"identity"`
	Images      map[string]int    `json:"images"`
	Checks      map[string]string `json:"checks"`
	Gauges      map[string]string `json:"gauges"`
	OperatorSay string            `json:"operator_say"`
}

// customerWords are what the customer's view must never say: the names of
// the checks that caught someone.
var customerWords = []string{"liveness", "spoof", "match", "tamper", "watchlist", "sanction", "fraud", "screen", "fake",
	"FACE_", "DOC_", "WATCHLIST_"}

// TestDesktopEndToEnd runs the whole flow in headless Chromium against the
// real UI and the real Go bindings (the Wails dev server under Xvfb, whose
// window mirrors the same screens): a genuine person is approved; another
// face, a spoofed selfie and an expired card each take their route; every
// attempt lands in the vault's sync queue. Screenshots of the page and of
// the Wails window are saved under the run's artifacts.
func TestDesktopEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end flow: skipped in -short mode")
	}
	for _, tool := range []string{"Xvfb", "ffmpeg", "node", "chromium"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (run `make setup`): %v", tool, err)
		}
	}
	if _, err := os.Stat("frontend/node_modules/playwright-core"); err != nil {
		t.Fatalf("playwright-core missing (cd frontend && npm install): %v", err)
	}
	if _, err := os.Stat("frontend/dist/index.html"); err != nil {
		t.Fatalf("frontend not built (make build): %v", err)
	}
	modelsDir, err := models.DefaultDir()
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	videos := renderScenarios(t, filepath.Join(home, "videos"))
	importWatchlist(t, filepath.Join(home, "watchlists"))
	policy := benchPolicy(t, filepath.Join(home, "device-policy.json"))

	bin := filepath.Join(t.TempDir(), "kyc-desktop-dev")
	build := exec.Command("go", "build", "-tags", "dev,webkit2_41", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the dev app: %v\n%s", err, out)
	}
	// A submission central refused before: the operator puts it back
	// from the home queue below, once what made central refuse it is
	// fixed.
	const refused = "ses-refused-1"
	seedRefused(t, filepath.Join(home, "device"), refused)
	display := startXvfb(t)
	addr := browsertest.FreeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-devserver", addr, "-assetdir", "frontend/dist")
	cmd.Env = append(os.Environ(), "DISPLAY="+display, "KYC_HOME="+home, "KYC_MODELS_DIR="+modelsDir,
		"KYC_DEVICE_DIR="+filepath.Join(home, "device"), "KYC_WATCHLISTS_DIR="+filepath.Join(home, "watchlists"),
		"KYC_DEMO_PHOTO="+testenv.Data(t, "liveness", "interfaces_cc0", app.DemoPortrait), "KYC_DEVICE_POLICY="+policy,
		"KYC_VAULT_PASSPHRASE=", "KYC_VAULT_KEY_FILE=", devServerOptIn+"=1")
	logs := browsertest.StartLogged(t, cmd)
	if !logs.Wait("sign_in screen rendered", 3*time.Minute) {
		t.Fatalf("the app did not show sign-in; its log:\n%s", logs.Text())
	}

	shots := filepath.Join(artifactsDir(t), "screenshots", "e2e")
	scen, _ := json.Marshal(videos)
	node := exec.CommandContext(ctx, "node", "e2e/flow.mjs")
	node.Dir = "frontend"
	node.Env = append(os.Environ(), "KYC_E2E_URL=http://"+addr, "KYC_E2E_SCENARIOS="+string(scen),
		"KYC_E2E_SHOTS="+shots, "KYC_E2E_DISPLAY="+display)
	var stderr bytes.Buffer
	node.Stderr = &stderr
	out, err := node.Output()
	if err != nil {
		t.Fatalf("flow.mjs: %v\n%s\napp log:\n%s", err, stderr.String(), logs.Text())
	}
	var res struct {
		Scenarios []e2eResult `json:"scenarios"`
		Queue     []string    `json:"queue"`
		Names     []string    `json:"names"`
		Opened    struct {
			ID       string   `json:"id"`
			Identity []string `json:"identity"`
			Images   []string `json:"images"`
		} `json:"opened"`
		Log       []string `json:"log"`
		Error     string   `json:"error"`
		Screen    string   `json:"failed_screen"`
		ScreenErr string   `json:"failed_error"`
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("flow.mjs output: %v\n%s", err, out)
	}
	t.Logf("screenshots in %s", shots)
	if res.Error != "" {
		t.Fatalf("flow failed on screen %q (%s): %s\napp log:\n%s", res.Screen, res.ScreenErr, res.Error, logs.Text())
	}
	for _, l := range res.Log {
		// Wails' own dev-mode script trips over a browser without its
		// window; anything else is the app's page failing.
		if !strings.Contains(l, "/wails/") {
			t.Errorf("page error: %s", l)
		}
	}
	// The app's side of the latency: when each result was ready (engine,
	// vault, attestation) and when the page said it was drawn.
	for _, l := range strings.Split(logs.Text(), "\n") {
		if strings.Contains(l, "capture_to_result_ms") || strings.Contains(l, "capture_to_screen_ms") {
			t.Logf("app: %s", l)
		}
	}
	byName := map[string]e2eResult{}
	for _, r := range res.Scenarios {
		byName[r.Name] = r
		t.Logf("%-10s %-8s next %-8s reasons [%s] liveness %s (challenged %v); preview %.1f fps, last capture to result %.0f ms; customer sees %q",
			r.Name, r.Decision, r.NextAction, r.Reasons, r.LivenessPath, r.Challenged, r.PreviewFPS, r.LatencyMS, r.Message)
		if !r.OperatorHides || r.Message == "" {
			t.Errorf("%s: the customer view must show only the message (operator details hidden: %v)", r.Name, r.OperatorHides)
		}
		if r.PreviewFPS <= 0 || r.Guidance == "" {
			t.Errorf("%s: no live preview or guidance (%.1f fps, %q)", r.Name, r.PreviewFPS, r.Guidance)
		}
		for _, w := range customerWords {
			if strings.Contains(strings.ToLower(r.CustomerText), strings.ToLower(w)) {
				t.Errorf("%s: the customer's view names a check (%q): %q", r.Name, w, r.CustomerText)
			}
		}
		// The operator's view of every result: who the card says this is,
		// where each fact was read, and the three pictures.
		for _, k := range []string{"name", "nik", "birth_date", "sex", "address"} {
			if f := r.Identity[k]; f.Value == "" || f.Source == "" {
				t.Errorf("%s: the operator's result lacks %s (or its source): %+v", r.Name, k, r.Identity)
			}
		}
		if n := r.Identity["name"].Value; !strings.Contains(n, "SITI RAHAYU") {
			t.Errorf("%s: the operator's result names %q, want the card's SITI RAHAYU", r.Name, n)
		}
		for _, im := range []string{"img-document", "img-portrait", "img-selfie"} {
			if r.Images[im] <= 0 {
				t.Errorf("%s: the operator's result shows no %s: %v", r.Name, im, r.Images)
			}
		}
		for _, c := range []string{"authenticity", "data", "mrz", "screening", "device"} {
			if r.Checks[c] == "" {
				t.Errorf("%s: the operator's result lacks the %s check: %v", r.Name, c, r.Checks)
			}
		}
		if r.OperatorSay == "" {
			t.Errorf("%s: the operator is not told what to say", r.Name)
		}
	}
	if g := byName["genuine"]; g.Gauges["gauge-match"] != "true" || g.Gauges["gauge-liveness"] != "true" || g.Checks["screening"] != "pass" {
		t.Errorf("genuine person: gauges %v checks %v, want face match and liveness passing, screening passed", g.Gauges, g.Checks)
	}
	if o := byName["other_face"]; o.Gauges["gauge-match"] != "false" {
		t.Errorf("another face: gauges %v, want the face match drawn failing", o.Gauges)
	}
	if e := byName["expired"]; e.Checks["data"] != "fail" {
		t.Errorf("expired card: checks %v, want data consistency failing", e.Checks)
	}
	// The queue names nobody: each verified person is masked; the
	// operator opens their own to see the details, read from the vault.
	masked := regexp.MustCompile(`^[A-Z]\*+( [A-Z]\*+)+$`)
	for i, n := range res.Names[:len(videos)] {
		if !masked.MatchString(n) {
			t.Errorf("queue row %d shows the name %q, want it masked (S*** R*****)", i, n)
		}
	}
	if res.Opened.ID == "" || !slices.Contains(res.Opened.Identity, "nik") || len(res.Opened.Images) != 3 {
		t.Errorf("the submission opened from the queue: %+v, want its identity and three pictures", res.Opened)
	}
	if g := byName["genuine"]; g.Decision != "approve" || !strings.HasPrefix(g.NextAction, "EXIT") || !strings.HasPrefix(g.LivenessPath, "passive") {
		t.Errorf("genuine person: %s %s [%s] liveness %s, want approve EXIT, passive", g.Decision, g.NextAction, g.Reasons, g.LivenessPath)
	}
	for name, reason := range map[string]string{"other_face": "FACE_MISMATCH", "spoof": "FACE_LIVENESS_FAILED", "expired": "DOC_EXPIRED"} {
		r, ok := byName[name]
		if !ok {
			t.Errorf("scenario %s did not run", name)
			continue
		}
		if r.Decision == "approve" || !strings.Contains(r.Reasons, reason) {
			t.Errorf("%s: %s [%s], want a refusal with %s", name, r.Decision, r.Reasons, reason)
		}
	}
	if want := slices.Concat(slices.Repeat([]string{"queued"}, len(videos)), []string{"rejected"}); !slices.Equal(res.Queue, want) {
		t.Errorf("queue after %d verifications (device not enrolled): %v, want each queued and the refused one last", len(videos), res.Queue)
	}

	// Online: a central comes up (HTTPS with its own CA) holding a
	// watchlist with the demo card's holder on it, the running app's
	// device enrols, the operator re-queues the refused submission, and
	// the queue drains into it, each submission exactly once, while the
	// app's sync installs the list.
	c := startCentral(t, ctx)
	const listName = "e2e-watch"
	c.putWatchlist(t, ctx, listName, "SITI RAHAYU")
	kyc := buildKyc(t)
	// The supervisor (the first account) enrols the device from the
	// app's settings with a token central made.
	var enr struct {
		Enrolled bool   `json:"enrolled"`
		Status   string `json:"status"`
		Sync     string `json:"sync"`
		Error    string `json:"error"`
		PageErr  string `json:"page_error"`
	}
	runNode(t, ctx, &enr, "e2e/enrol.mjs", "KYC_E2E_URL=http://"+addr, "KYC_E2E_SHOTS="+shots, "KYC_E2E_DISPLAY="+display,
		"KYC_E2E_CENTRAL="+c.URL, "KYC_E2E_TOKEN="+c.token(t, ctx), "KYC_E2E_CA="+c.CA,
		"KYC_E2E_SUPERVISOR=agent01", "KYC_E2E_PASSPHRASE=correct horse battery")
	if !enr.Enrolled || enr.Error != "" {
		t.Fatalf("enrolment from the app: %+v\napp log:\n%s", enr, logs.Text())
	}
	devID, err := identity.Load(filepath.Join(home, "device", deviceconf.DeviceKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(enr.Status, devID.DeviceID()) || !strings.Contains(enr.Status, c.URL) {
		t.Errorf("the settings screen says %q after enrolling, want the device id and central's address", enr.Status)
	}
	qnode := exec.CommandContext(ctx, "node", "e2e/queue.mjs")
	qnode.Dir = "frontend"
	qnode.Env = append(os.Environ(), "KYC_E2E_URL=http://"+addr, "KYC_E2E_SHOTS="+shots, "KYC_E2E_WANT=synced",
		"KYC_E2E_REQUEUE="+refused)
	qout, err := qnode.Output()
	if err != nil {
		t.Fatalf("queue.mjs: %v\n%s", err, logs.Text())
	}
	var q struct {
		Queue  []string `json:"queue"`
		Sync   string   `json:"sync"`
		Config string   `json:"config"`
		Error  string   `json:"error"`
	}
	qlines := strings.Split(strings.TrimSpace(string(qout)), "\n")
	if err := json.Unmarshal([]byte(qlines[len(qlines)-1]), &q); err != nil || q.Error != "" {
		t.Fatalf("queue.mjs output: %v %s\n%s", err, q.Error, qout)
	}
	t.Logf("home: %s / %s", q.Sync, q.Config)
	if len(q.Queue) != len(videos)+1 || slices.ContainsFunc(q.Queue, func(s string) bool { return s != "synced" }) {
		t.Fatalf("queue once central is up and the refused one re-queued: %v, want each synced\napp log:\n%s", q.Queue, logs.Text())
	}
	if n := c.submissions(t); n != len(videos)+1 {
		t.Errorf("central holds %d submissions, want %d (each exactly once)", n, len(videos)+1)
	}
	if !strings.Contains(q.Sync, "online") {
		t.Errorf("the home screen's sync status %q does not say central is reachable", q.Sync)
	}

	// The name central listed is flagged by the next verification on the
	// device, in the app and by the command line on the synced folder.
	again, _ := json.Marshal(videos[:1])
	wnode := exec.CommandContext(ctx, "node", "e2e/flow.mjs")
	wnode.Dir = "frontend"
	wnode.Env = append(os.Environ(), "KYC_E2E_URL=http://"+addr, "KYC_E2E_SCENARIOS="+string(again),
		"KYC_E2E_SHOTS="+shots, "KYC_E2E_PREFIX=watchlist-")
	wnode.Stderr = &stderr
	wout, err := wnode.Output()
	if err != nil {
		t.Fatalf("flow.mjs after the sync: %v\n%s\napp log:\n%s", err, stderr.String(), logs.Text())
	}
	var w struct {
		Scenarios []e2eResult `json:"scenarios"`
		Error     string      `json:"error"`
	}
	wlines := strings.Split(strings.TrimSpace(string(wout)), "\n")
	if err := json.Unmarshal([]byte(wlines[len(wlines)-1]), &w); err != nil || w.Error != "" || len(w.Scenarios) != 1 {
		t.Fatalf("flow.mjs after the sync: %v %s\n%s\napp log:\n%s", err, w.Error, wout, logs.Text())
	}
	if r := w.Scenarios[0]; r.Decision == "approve" || !strings.Contains(r.Reasons, "WATCHLIST") {
		t.Errorf("the person central listed, verified after the sync: %s [%s], want a watchlist reason and no approval\napp log:\n%s",
			r.Decision, r.Reasons, logs.Text())
	}
	if !c.screens(t, ctx, kyc, filepath.Join(home, "device"), "SITI RAHAYU", listName) {
		t.Error("kyc screen on the synced device folder does not flag the listed name")
	}

	// That verification was attested with central's challenge from the
	// sync: central judges its attestation fresh, and only its.
	qnode = exec.CommandContext(ctx, "node", "e2e/queue.mjs")
	qnode.Dir = "frontend"
	qnode.Env = append(os.Environ(), "KYC_E2E_URL=http://"+addr, "KYC_E2E_SHOTS="+shots, "KYC_E2E_WANT=synced")
	if _, err := qnode.Output(); err != nil {
		t.Fatalf("queue.mjs: %v\n%s", err, logs.Text())
	}
	fresh := map[string]bool{}
	for _, sub := range c.submissionList(t) {
		fresh[sub.ID] = sub.AttestationFresh
	}
	if len(fresh) != len(videos)+2 {
		t.Fatalf("central holds %d submissions, want %d", len(fresh), len(videos)+2)
	}
	for id, f := range fresh {
		if after := id == w.Scenarios[0].SubmissionID; f != after {
			t.Errorf("submission %s: attestation fresh %v, want %v (attested after the sync: %v)", id, f, after, after)
		}
	}

	// Smart QR: the customer continues on their phone; the kiosk shows the
	// QR code and the short code and follows the phone.
	var h struct {
		Code        string   `json:"code"`
		Stages      []string `json:"stages"`
		PhoneStatus int      `json:"phone_status"`
		Home        bool     `json:"home"`
		Error       string   `json:"error"`
		PageErr     string   `json:"page_error"`
	}
	runNode(t, ctx, &h, "e2e/handoff.mjs", "KYC_E2E_URL=http://"+addr, "KYC_E2E_SHOTS="+shots, "KYC_E2E_DISPLAY="+display)
	t.Logf("hand-off: %+v", h)
	if h.Error != "" || len(h.Code) != 8 || !slices.Equal(h.Stages, []string{"waiting", "phone"}) || h.PhoneStatus != http.StatusOK || !h.Home {
		t.Errorf("the Smart QR hand-off: %+v, want an 8-character code, the kiosk following the phone from waiting to phone, and home after cancelling\napp log:\n%s",
			h, logs.Text())
	}

	// Central goes away: the sync panel says offline, since when, and the
	// problem in words; it comes back (same data, same address): online.
	c.stop(t)
	var off, on syncPanel
	runNode(t, ctx, &off, "e2e/syncpanel.mjs", "KYC_E2E_URL=http://"+addr, "KYC_E2E_SHOTS="+shots, "KYC_E2E_WANT=offline",
		"KYC_E2E_NAME=120-sync-offline")
	t.Logf("offline: %+v", off)
	if off.Error != "" || off.Online || off.SyncError == "" || off.OfflineFor == "" || !strings.Contains(off.LastContact, "s") {
		t.Errorf("the sync panel with central down: %+v, want offline for some time, the last contact and the problem in words", off)
	}
	c.start(t, ctx)
	runNode(t, ctx, &on, "e2e/syncpanel.mjs", "KYC_E2E_URL=http://"+addr, "KYC_E2E_SHOTS="+shots, "KYC_E2E_WANT=online",
		"KYC_E2E_NAME=121-sync-online")
	t.Logf("online again: %+v", on)
	if on.Error != "" || !on.Online || on.SyncError != "" || on.OfflineFor != "" {
		t.Errorf("the sync panel with central back: %+v, want online with no problem", on)
	}
}

// syncPanel is what e2e/syncpanel.mjs reads of the home screen's sync panel.
type syncPanel struct {
	Online      bool   `json:"online"`
	State       string `json:"state"`
	OfflineFor  string `json:"offline_for"`
	SyncError   string `json:"sync_error"`
	Waiting     string `json:"waiting"`
	LastContact string `json:"last_contact"`
	Error       string `json:"error"`
}

// runNode runs a frontend/e2e script with env added and decodes the JSON
// of its last line into out.
func runNode(t *testing.T, ctx context.Context, out any, script string, env ...string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, "node", script)
	cmd.Dir = "frontend"
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), out); err != nil {
		t.Fatalf("%s output: %v\n%s", script, err, b)
	}
}

// TestCentralListFlaggedAfterSync: a name an administrator adds to a list
// on a real central (HTTPS, bbolt) is not flagged on an enrolled device
// before it syncs and is flagged by `kyc screen` after one `kyc sync`,
// with the list installed in the device folder and not elsewhere.
func TestCentralListFlaggedAfterSync(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs kyc-central: skipped in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := startCentral(t, ctx)
	kyc := buildKyc(t)
	dev := filepath.Join(t.TempDir(), "device")
	c.enroll(t, ctx, kyc, dev)
	c.putWatchlist(t, ctx, "before", "Marta Kowalska Nowak") // something to screen against
	syncOnce(t, ctx, kyc, dev)
	const person = "Ivan Petrovich Sidorov"
	if c.screens(t, ctx, kyc, dev, person, "sanctions-added") {
		t.Fatal("flagged before the list exists")
	}
	c.putWatchlist(t, ctx, "sanctions-added", person)
	if c.screens(t, ctx, kyc, dev, person, "sanctions-added") {
		t.Fatal("flagged before the device synced")
	}
	syncOnce(t, ctx, kyc, dev)
	if !c.screens(t, ctx, kyc, dev, person, "sanctions-added") {
		t.Fatal("the name central added is not flagged after the sync")
	}
	if _, err := os.Stat(filepath.Join(dev, "config", "watchlists", "sanctions-added.list.json.gz")); err != nil {
		t.Errorf("the list is not in the device's synced folder: %v", err)
	}
}

// syncOnce runs `kyc sync --once` on the device folder dev, its vault
// keyed as TestMain and seedRefused key it.
func syncOnce(t *testing.T, ctx context.Context, kyc, dev string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, kyc, "sync", "--once", "--dir", dev)
	cmd.Env = append(os.Environ(), "KYC_DEVICE_DIR="+dev, "KYC_VAULT_PASSPHRASE=", "KYC_VAULT_KEY_FILE=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kyc sync --once: %v\n%s", err, out)
	}
}

// seedRefused puts a submission central refused into the vault of the
// device folder, keyed as the app will key it (internal/deviceconf, the
// key folder TestMain set): a signed attestation, as the app makes them,
// and the outbox state an earlier refusal left.
func seedRefused(t *testing.T, deviceDir, id string) {
	t.Helper()
	ctx := context.Background()
	d := deviceconf.FromEnv()
	d.Dir, d.KeyFile, d.Passphrase = deviceDir, "", ""
	if err := os.MkdirAll(deviceDir, 0o700); err != nil {
		t.Fatal(err)
	}
	key, err := d.VaultKey()
	if err != nil {
		t.Fatal(err)
	}
	dev, err := identity.LoadOrCreate(d.DeviceKeyPath())
	if err != nil {
		t.Fatal(err)
	}
	att := device.Attestation{DeviceID: dev.DeviceID(), AppVersion: "e2e",
		Report: device.Report{Verdict: device.VerdictOK, Profile: device.ProfileField, Time: time.Now().UTC()}}
	if err := att.Sign(dev.Signer()); err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(map[string]any{"session_id": "ses-refused", "attempt": 1, "attestation": att})
	v, err := vault.Open(ctx, d.VaultPath(), key.Source, vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if err := v.PutSubmission(ctx, vault.Submission{ID: id, CreatedAt: time.Now().Add(-time.Hour), Payload: payload,
		Images: map[string][]byte{"selfie": bytes.Repeat([]byte{1}, 2048)}}); err != nil {
		t.Fatal(err)
	}
	if err := v.MarkState(ctx, id, vault.StateSending, ""); err != nil {
		t.Fatal(err)
	}
	if err := v.MarkState(ctx, id, vault.StateRejected, "refused by central (422 attestation): the device attestation was dated in the future"); err != nil {
		t.Fatal(err)
	}
}

// e2eCentral is a kyc-central process serving HTTPS on loopback with a
// certificate from its own `tls init`, and a client trusting that CA. It
// can be stopped and started again on the same address and data.
type e2eCentral struct {
	URL, Token, CA string
	Client         *http.Client

	bin, addr, data, tlsDir string
	flags                   []string // serve's flags beyond the address, store and certificate
	log                     *browsertest.Log
	cmd                     *exec.Cmd
}

// startCentral builds and runs kyc-central on a free loopback port with
// its embedded store and a private CA, serve given flags besides (at each
// start).
func startCentral(t *testing.T, ctx context.Context, flags ...string) *e2eCentral {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kyc-central")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/kyc-central").CombinedOutput(); err != nil {
		t.Fatalf("building kyc-central: %v\n%s", err, out)
	}
	tlsDir := t.TempDir()
	if out, err := exec.Command(bin, "tls", "init", "--dir", tlsDir, "--host", "127.0.0.1").CombinedOutput(); err != nil {
		t.Fatalf("kyc-central tls init: %v\n%s", err, out)
	}
	tok := make([]byte, 32)
	_, _ = rand.Read(tok)
	c := &e2eCentral{Token: base64.RawURLEncoding.EncodeToString(tok), CA: filepath.Join(tlsDir, "ca.crt")}
	pem, err := os.ReadFile(c.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("ca.crt holds no certificate")
	}
	c.Client = &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	c.addr, c.bin, c.data, c.tlsDir, c.flags = browsertest.FreeAddr(t), bin, t.TempDir(), tlsDir, flags
	c.URL = "https://" + c.addr
	c.start(t, ctx)
	return c
}

// start runs central.
func (c *e2eCentral) start(t *testing.T, ctx context.Context) {
	t.Helper()
	args := append([]string{"serve", "--addr", c.addr, "--data", c.data,
		"--tls-cert", filepath.Join(c.tlsDir, "server.crt"), "--tls-key", filepath.Join(c.tlsDir, "server.key")}, c.flags...)
	c.cmd = exec.CommandContext(ctx, c.bin, args...)
	c.cmd.Env = append(os.Environ(), "KYC_CENTRAL_ADMIN_TOKEN="+c.Token)
	c.log = browsertest.StartLogged(t, c.cmd)
	if !c.log.Wait("kyc-central listening", time.Minute) {
		t.Fatalf("kyc-central did not start:\n%s", c.log.Text())
	}
}

// stop ends central and waits until it is gone.
func (c *e2eCentral) stop(t *testing.T) {
	t.Helper()
	c.log.Stop()
}

// token makes a one-time enrolment token on central.
func (c *e2eCentral) token(t *testing.T, ctx context.Context) string {
	t.Helper()
	code, body := c.admin(t, ctx, http.MethodPost, "/admin/v1/enroll-tokens", nil)
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.Token == "" {
		t.Fatalf("enrolment token: %d %v (%s)", code, err, body)
	}
	return tok.Token
}

// admin calls central's admin API and returns the status and body.
func (c *e2eCentral) admin(t *testing.T, ctx context.Context, method, path string, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, method, c.URL+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := c.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// enroll creates a one-time token on central and enrols deviceDir with
// `kyc enroll`, the token in a file and central's CA pinned, as an
// operator would.
func (c *e2eCentral) enroll(t *testing.T, ctx context.Context, kyc, deviceDir string) {
	t.Helper()
	tokFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokFile, []byte(c.token(t, ctx)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, kyc, "enroll", "--central", c.URL, "--ca", c.CA, "--token-file", tokFile, "--dir", deviceDir).CombinedOutput()
	if err != nil {
		t.Fatalf("kyc enroll: %v\n%s", err, out)
	}
}

// putWatchlist publishes a new list with one person per name on central, in
// the file format `kyc watchlist import` stores (NAME.list.json.gz).
func (c *e2eCentral) putWatchlist(t *testing.T, ctx context.Context, name string, people ...string) {
	t.Helper()
	l := &screening.List{Name: name, Version: "e2e-" + name, Date: time.Now().UTC()}
	for i, p := range people {
		l.Entries = append(l.Entries, screening.Entry{ID: fmt.Sprint(i + 1), Kind: screening.KindIndividual, Name: p})
	}
	dir := t.TempDir()
	st, err := screening.OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, l); err != nil {
		t.Fatal(err)
	}
	file := name + ".list.json.gz"
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	// A new list name is published at once (200); a new version of a
	// published one would wait for a second admin (202).
	if code, body := c.admin(t, ctx, http.MethodPut, "/admin/v1/watchlists/"+file, b); code != http.StatusOK {
		t.Fatalf("publishing watchlist %s: %d %s", file, code, body)
	}
}

// screens runs `kyc screen` on the device folder's lists and says whether
// list flagged name.
func (c *e2eCentral) screens(t *testing.T, ctx context.Context, kyc, deviceDir, name, list string) bool {
	t.Helper()
	cmd := exec.CommandContext(ctx, kyc, "screen", "--name", name)
	cmd.Env = append(os.Environ(), "KYC_DEVICE_DIR="+deviceDir, "KYC_WATCHLISTS_DIR="+filepath.Join(t.TempDir(), "none"))
	out, err := cmd.Output()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	var res struct {
		Hits []screening.Hit `json:"hits"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("kyc screen output %q: %v", out, err)
	}
	return slices.ContainsFunc(res.Hits, func(h screening.Hit) bool { return h.List == list && h.Score >= 0.9 })
}

// submissions counts the submissions central's admin API lists.
func (c *e2eCentral) submissions(t *testing.T) int {
	t.Helper()
	return len(c.submissionList(t))
}

// centralSubmission is what the test reads of central's submissions.
type centralSubmission struct {
	ID               string `json:"id"`
	DeviceID         string `json:"device_id"`
	Key              string `json:"key"`
	AttestationFresh bool   `json:"attestation_fresh"`
	Summary          struct {
		Decision       string   `json:"decision"`
		Reasons        []string `json:"reasons"`
		DeviceDecision string   `json:"device_decision"`
	} `json:"summary"`
}

// submissionList lists the complete submissions central holds.
func (c *e2eCentral) submissionList(t *testing.T) []centralSubmission {
	t.Helper()
	code, body := c.admin(t, context.Background(), http.MethodGet, "/admin/v1/submissions?complete=true", nil)
	var subs []centralSubmission
	if err := json.Unmarshal(body, &subs); err != nil {
		t.Fatalf("listing central's submissions (%d): %v", code, err)
	}
	return subs
}

// buildKyc builds the command line.
func buildKyc(t *testing.T) string {
	t.Helper()
	kyc := filepath.Join(t.TempDir(), "kyc")
	if out, err := exec.Command("go", "build", "-o", kyc, "./cmd/kyc").CombinedOutput(); err != nil {
		t.Fatalf("building kyc: %v\n%s", err, out)
	}
	return kyc
}

// renderScenarios writes the scenario videos, every face in colour (a
// greyscale face is never passed by the passive liveness alone): the demo
// person's card with the same person's selfie (genuine), another person
// in front of that card (other_face), minivision's real screen attack
// (spoof), and the card past its expiry date (expired). The colour set
// holds one photo per person, so the genuine match is of one photo with
// its printed copy: demo.Card prints the portrait as a card printer does,
// the document video photographs the card in perspective and the engine
// rectifies it, while the selfie video is rendered from the photo itself.
func renderScenarios(t *testing.T, dir string) []e2eScenario {
	t.Helper()
	testenv.ORT(t)
	det, err := face.NewYuNet(testenv.Model(t, "yunet"), face.YuNetConfig{}, ort.Options{IntraOpThreads: 1, InterOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer det.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	read := func(elem ...string) gocv.Mat {
		m, err := imageio.ReadFile(testenv.Data(t, elem...), 0)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	ctx := context.Background()
	person := read("liveness", "interfaces_cc0", app.DemoPortrait)
	other := read("liveness", "interfaces_cc0", otherPortrait)
	replay := read("liveness", "minivision_samples", "image_F2.jpg")
	defer func() { person.Close(); other.Close(); replay.Close() }()
	portrait, err := demo.Portrait(ctx, det, person)
	if err != nil {
		t.Fatal(err)
	}
	defer portrait.Close()
	video := func(name string, write func(string) error) string {
		p := filepath.Join(dir, name+".avi")
		if err := write(p); err != nil {
			t.Fatalf("rendering %s: %v", name, err)
		}
		return p
	}
	card := func(name string, lines []string) string {
		c := demo.Card(portrait, lines)
		defer c.Close()
		return video(name, func(p string) error { return demo.WriteDocumentVideo(p, c) })
	}
	selfie := func(name string, photo gocv.Mat) string {
		return video(name, func(p string) error { return demo.WriteSelfieVideo(ctx, p, det, photo) })
	}
	valid := card("card", demo.CardLines("SEUMUR HIDUP"))
	expired := card("card_expired", demo.CardLines("17-08-2020"))
	self := selfie("selfie_person", person)
	return []e2eScenario{
		{Name: "genuine", Document: valid, Selfie: self},
		{Name: "other_face", Document: valid, Selfie: selfie("selfie_other", other)},
		{Name: "spoof", Document: valid, Selfie: selfie("selfie_replay", replay)},
		{Name: "expired", Document: expired, Selfie: self},
	}
}

// otherPortrait is another person of the colour set, for other_face.
const otherPortrait = "089.jpg"

// importWatchlist installs the OFAC sample, so the sanctions signal is
// present as on a deployed device.
func importWatchlist(t *testing.T, dir string) {
	t.Helper()
	l, err := screening.ImportOFAC(context.Background(), testenv.Data(t, "sanctions", "ofac_sdn_sample"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := screening.OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(context.Background(), l); err != nil {
		t.Fatal(err)
	}
}

// benchPolicy writes the test bench's device policy (demo.WriteBenchPolicy)
// to path and returns path.
func benchPolicy(t *testing.T, path string) string {
	t.Helper()
	if err := demo.WriteBenchPolicy(context.Background(), path, t.Logf); err != nil {
		t.Fatal(err)
	}
	return path
}
