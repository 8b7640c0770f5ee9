package hostedflow_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"image"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/app/demo"
	"github.com/openkyc/kyc/engine/capture"
	"github.com/openkyc/kyc/engine/document"
	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/engine/ort"
	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/engine/screening"
	"github.com/openkyc/kyc/engine/verify"
	"github.com/openkyc/kyc/internal/browsertest"
	"github.com/openkyc/kyc/internal/synth"
	"github.com/openkyc/kyc/internal/testenv"
)

// TestHostedFlowInBrowser runs the hosted capture flow (issue 19) in
// headless Chromium against a real kyc-central built from ./cmd/kyc-central
// (HTTPS on loopback with the certificate of its own `tls init`, bbolt
// store, the engine's models installed), with a partner made through the
// admin API and every session made by Initiate Flow through the partner
// API. Chromium's fake camera plays videos this test renders (see camera
// below: a card held steady after blurred frames for the back camera, a
// face for the front one); the browser script web/e2e/flow.mjs runs the
// scenarios:
//
//	genuine    the card's person, on a phone: the launch link binds the
//	           browser (303, the cookie's attributes), the page's files
//	           weigh under 300 KB and no other host is asked, a POST
//	           without the CSRF header is refused; the flow completes
//	           (STATUS or EXIT), the engine approves (the decision of the
//	           partner's submission.completed webhook), the person goes
//	           back to the partner's redirect_url with status and session
//	           id, the launch link opened again in another browser shows
//	           "already used" (410), a finished session refuses a submit
//	rejected   another person's face with one attempt allowed, on a
//	           desktop: one Tab on the capture screen reaches the manual
//	           capture at once; the engine rejects, the flow ends (no
//	           RETRY) with a message that names no fraud signal
//	retry      another face first: RETRY with the generic message; the
//	           person takes the retry (the page goes back to the step that
//	           failed) and, with the right face, is approved on the second
//	           attempt
//	handoff    Smart QR: a computer without a camera shows the QR code and
//	           a short code, a phone (a second browser, phone-sized) opens
//	           the hand-off link and captures, the computer's page follows
//	           to the result; the phone link is single-use
//	handoffCode  the short code typed at /flow/code instead: a wrong code
//	           is refused, the right one binds the phone and the
//	           computer's page says so
//	denied     the camera refused (no automatic permission, denied for the
//	           site): the page says what to do, in Indonesian for an
//	           Indonesian browser (marked lang="id"), and offers the
//	           upload of photos, which are verified (a selfie over the
//	           face engine's 4096x4096 first: the page says what to do); a computer with no
//	           camera at all is told so
//	links      an unknown launch link: 404 with a page; sessions made at
//	           the start with the shortest ttl (60 s): the unopened link
//	           answers 410 "expired", the page of the opened one says it
//	           expired and its API refuses frames
//	injected   the card's person as a still photo fed to the camera (every
//	           frame the same, as a virtual camera feeds a picture): not
//	           approved, a RETRY of the selfie with the head turns,
//	           FACE_FEED_SUSPECT
//	pep        last (every card of the run is hers): the card's holder
//	           on a PEP list central publishes meanwhile; the engine
//	           escalates, the page shows STATUS's screen (in review) whose
//	           call to action returns to the partner
//
// Screenshots of every page at a phone size (390x844) and a desktop size
// (1280x800) go to $KYC_ARTIFACTS/hosted, and axe-core checks the page at
// each size against WCAG 2.1 A and AA (what banking-grade flows are held
// to under the European Accessibility Act): any violation fails the test.
// The script also measures, as it goes, the time from the last capture to
// the result shown and the round trip of every guidance frame, and the
// test reads central's CPU time per guided session from /proc: all
// printed as a table, never asserted (BenchmarkGuidance and
// BenchmarkHostedSession measure the same in isolation).
func TestHostedFlowInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser end-to-end test: skipped in -short mode")
	}
	root, ok := testenv.ModuleRoot()
	if !ok {
		t.Fatal("module root not found")
	}
	tools := browsertest.FindTools(t, root)
	axe := browsertest.FindAxe(t, root)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	// The videos first: they need the models the central below needs too,
	// and fail here with a clear message when they are missing.
	r := newRenderer(t)
	videos := t.TempDir()
	genuine := r.render(t, videos, "genuine", personPhoto, personPhoto)
	// Photos for the upload fallback: the card held still and the face in
	// the oval, as a phone's camera app saves them (JPEG quality 95).
	uploadDoc, uploadSelfie := filepath.Join(videos, "card.jpg"), filepath.Join(videos, "selfie.jpg")
	for path, m := range map[string]gocv.Mat{uploadDoc: genuine.Frames["document"][3], uploadSelfie: genuine.Frames["face"][6]} {
		if !gocv.IMWriteWithParams(path, m, []int{gocv.IMWriteJpegQuality, 95}) {
			t.Fatalf("writing %s", path)
		}
	}
	genuine.Close()
	// A selfie over the face engine's bound (4096x4096): refused first.
	uploadBig := filepath.Join(videos, "selfie-too-big.jpg")
	if err := os.WriteFile(uploadBig, bigJPEG(t, 4097, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	other := r.render(t, videos, "other", personPhoto, otherPhoto)
	other.Close()
	still := r.render(t, videos, "still", personPhoto, personPhoto)
	still.Close()

	centralBin := browsertest.GoBuild(t, root, t.TempDir(), "./cmd/kyc-central")
	site := startPartnerSite(t)
	c := startCentral(t, ctx, centralBin)
	if missing := c.missingPages(t, ctx); len(missing) > 0 {
		t.Skipf("the hosted flow is not served by kyc-central yet (missing: %s): every scenario skipped", strings.Join(missing, ", "))
	}
	// Screening is a required signal: central publishes the OFAC sample
	// as a deployment publishes its lists (the console's lists page puts
	// the screening store's files), while it runs: the flow screens the
	// next verification with it.
	ofac, err := screening.ImportOFAC(ctx, testenv.Data(t, "sanctions", "ofac_sdn_sample"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.publish(t, ctx, ofac); err != nil {
		t.Fatal(err)
	}

	created := c.addPartner(t, ctx, "Hosted flow e2e", site.URL+"/webhook")
	tok := c.partnerToken(t, ctx, created.ClientID, created.PassKey)

	shots := filepath.Join(browsertest.ArtifactsDir(t, root), "hosted")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"KYC_FLOW_URL=" + c.URL, "KYC_PLAYWRIGHT=" + tools.Playwright, "KYC_E2E_CHROMIUM=" + tools.Chromium, "KYC_AXE=" + axe,
		"KYC_FLOW_SHOTS=" + shots, "KYC_FLOW_PARTNER_SITE=" + site.URL,
		"KYC_FLOW_VIDEOS=" + videos, "KYC_FLOW_CAMERAS=" + t.TempDir(),
		"KYC_FLOW_UPLOAD_DOCUMENT=" + uploadDoc, "KYC_FLOW_UPLOAD_SELFIE=" + uploadSelfie,
		"KYC_FLOW_UPLOAD_SELFIE_TOO_BIG=" + uploadBig,
	}
	h := &scriptHost{t: t, c: c, site: site, token: tok}
	res := runFlowScript(t, ctx, root, env, h)
	t.Logf("screenshots in %s", shots)

	reportChecks(t, res.Checks)
	reportAxe(t, res.Axe)
	var skipped []string
	for _, s := range res.Skipped {
		skipped = append(skipped, s.Scenario+" ("+s.Reason+")")
	}
	for _, l := range res.Log {
		t.Errorf("browser: %s", l)
	}
	h.report(t, res)
	if res.Error != "" {
		t.Fatalf("flow.mjs stopped at %q: %s\ncentral log:\n%s", res.Step, res.Error, c.logs.Text())
	}
	if len(res.Checks) == 0 && len(skipped) == 0 {
		t.Fatal("the browser script checked nothing")
	}
	if t.Failed() {
		t.Logf("central log:\n%s", c.logs.Tail(200))
	}
	if len(skipped) > 0 {
		t.Skipf("scenarios skipped, their pages missing: %s", strings.Join(skipped, "; "))
	}
}

// missingPages names the hosted flow's routes central does not serve yet:
// without the flow, /flow/api/state is no route at all (404), and
// /flow/app is taken for a launch token by the partner API's minimal
// launch page (data-state="unknown").
func (c *centralProc) missingPages(t *testing.T, ctx context.Context) []string {
	t.Helper()
	var missing []string
	if code, body, _ := c.get(t, ctx, "/flow/app"); code == http.StatusNotFound && bytes.Contains(body, []byte(`data-state="unknown"`)) {
		missing = append(missing, "GET /flow/app")
	}
	if code, _, _ := c.get(t, ctx, "/flow/api/state"); code == http.StatusNotFound {
		missing = append(missing, "GET /flow/api/state")
	}
	return missing
}

// --- central ------------------------------------------------------------------

// centralProc is a running kyc-central.
type centralProc struct {
	URL, Token, CA string
	pid            int
	client         *http.Client
	logs           *browsertest.Log
	args           []string // serve's
	bin            string
}

// startCentral makes central's certificates with `tls init` and serves on
// a free loopback port with a bbolt store; the engine's models come from
// the default store, as `kyc models install` leaves them.
func startCentral(t *testing.T, ctx context.Context, bin string) *centralProc {
	t.Helper()
	c := &centralProc{Token: browsertest.RandomString(32)}
	tlsDir, ca, pool := browsertest.TLSInit(t, ctx, bin)
	c.CA = ca
	c.client = &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	addr := browsertest.FreeAddr(t)
	c.URL = "https://" + addr
	c.bin = bin
	c.args = []string{"serve", "--addr", addr, "--data", t.TempDir(),
		"--tls-cert", filepath.Join(tlsDir, "server.crt"), "--tls-key", filepath.Join(tlsDir, "server.key")}
	c.start(t, ctx)
	return c
}

func (c *centralProc) start(t *testing.T, ctx context.Context) {
	t.Helper()
	cmd := exec.CommandContext(ctx, c.bin, c.args...)
	cmd.Env = append(os.Environ(), "KYC_CENTRAL_ADMIN_TOKEN="+c.Token)
	c.logs = browsertest.StartLogged(t, cmd)
	c.pid = cmd.Process.Pid
	if !c.logs.Wait("kyc-central listening", 2*time.Minute) {
		t.Fatalf("kyc-central did not start:\n%s", c.logs.Text())
	}
}

// publish publishes l through the admin API in the screening store's
// format (NAME.list.json.gz), as the console's lists page does.
func (c *centralProc) publish(t *testing.T, ctx context.Context, l *screening.List) (map[string]string, error) {
	dir := t.TempDir()
	st, err := screening.OpenStore(dir)
	if err != nil {
		return nil, err
	}
	if err := st.Put(ctx, l); err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.list.json.gz"))
	if err != nil || len(files) != 1 {
		return nil, fmt.Errorf("the screening store wrote %v (%v), want one list", files, err)
	}
	body, err := os.ReadFile(files[0])
	if err != nil {
		return nil, err
	}
	name := filepath.Base(files[0])
	if code, b, _ := c.doRaw(t, ctx, http.MethodPut, "/admin/v1/watchlists/"+name, c.Token, body); code != http.StatusOK {
		return nil, fmt.Errorf("publishing %s: %d %s", name, code, b)
	}
	return map[string]string{"name": name}, nil
}

// do sends a request to central; bearer, when set, is the Authorization.
func (c *centralProc) do(t *testing.T, ctx context.Context, method, path, bearer string, body any) (int, []byte, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return c.send(t, req)
}

// doRaw sends body as it is (application/octet-stream).
func (c *centralProc) doRaw(t *testing.T, ctx context.Context, method, path, bearer string, body []byte) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Authorization", "Bearer "+bearer)
	return c.send(t, req)
}

// send sends req and reads the answer whole.
func (c *centralProc) send(t *testing.T, req *http.Request) (int, []byte, http.Header) {
	t.Helper()
	resp, err := c.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header
}

func (c *centralProc) get(t *testing.T, ctx context.Context, path string) (int, []byte, http.Header) {
	t.Helper()
	return c.do(t, ctx, http.MethodGet, path, "", nil)
}

// created is the admin API's answer to a new partner.
type created struct {
	ID       string `json:"id"`
	ClientID string `json:"client_id"`
	PassKey  string `json:"pass_key"`
}

func (c *centralProc) addPartner(t *testing.T, ctx context.Context, name, webhook string) created {
	t.Helper()
	code, body, _ := c.do(t, ctx, http.MethodPost, "/admin/v1/partners", c.Token, map[string]any{"name": name, "webhook_url": webhook})
	var p created
	if code != http.StatusCreated || json.Unmarshal(body, &p) != nil || p.ClientID == "" {
		t.Fatalf("creating the partner: %d %s", code, body)
	}
	return p
}

func (c *centralProc) partnerToken(t *testing.T, ctx context.Context, clientID, passKey string) string {
	t.Helper()
	code, body, _ := c.do(t, ctx, http.MethodPost, "/api/v1/partner-token", "", map[string]string{"client_id": clientID, "pass_key": passKey})
	var tr struct {
		Token string `json:"token"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &tr) != nil || tr.Token == "" {
		t.Fatalf("partner token: %d %s", code, body)
	}
	return tr.Token
}

// cpu is central's CPU time so far (user and system, every thread), from
// /proc/PID/stat.
func (c *centralProc) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// fields are counted after its closing one. utime and stime are
	// fields 14 and 15, in clock ticks (USER_HZ, 100 on Linux).
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", c.pid, s)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", c.pid, s)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %q", c.pid, s)
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// --- the partner's site ------------------------------------------------------

// partnerSite is the partner's web site and webhook receiver on loopback
// (plain HTTP, which central allows for a loopback host): the flow's call
// to action redirects to /done, webhooks arrive at /webhook.
type partnerSite struct {
	URL string
	mu  sync.Mutex
	// events are the webhook deliveries' bodies, decoded.
	events []map[string]any
	// landed are the query strings the redirect brought to /done.
	landed []url.Values
	got    chan struct{} // a webhook arrived
}

func startPartnerSite(t *testing.T) *partnerSite {
	t.Helper()
	s := &partnerSite{got: make(chan struct{}, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /webhook", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		var ev map[string]any
		if err := json.Unmarshal(b, &ev); err == nil {
			s.mu.Lock()
			s.events = append(s.events, ev)
			s.mu.Unlock()
			select {
			case s.got <- struct{}{}:
			default:
			}
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /done", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.landed = append(s.landed, r.URL.Query())
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Partner</title></head>`+
			`<body><main><h1>Partner site</h1><p id="landed">status=%s</p></main></body></html>`, htmlEscape(r.URL.Query().Get("status")))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	s.URL = "http://" + ln.Addr().String()
	return s
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

// waitEvent waits for a webhook event of type typ for session (the
// event's data.session_id) and, unless 0, attempt (data.attempt), up to d.
func (s *partnerSite) waitEvent(typ, session string, attempt int, d time.Duration) (map[string]any, bool) {
	deadline := time.After(d)
	for {
		s.mu.Lock()
		for _, ev := range s.events {
			if ev["type"] != typ {
				continue
			}
			data, _ := ev["data"].(map[string]any)
			if data == nil || data["session_id"] != session {
				continue
			}
			if n, _ := data["attempt"].(float64); attempt == 0 || int(n) == attempt {
				s.mu.Unlock()
				return ev, true
			}
		}
		s.mu.Unlock()
		select {
		case <-s.got:
		case <-deadline:
			return nil, false
		}
	}
}

// --- the browser script ---------------------------------------------------------

// flowScriptResult is the last line flow.mjs prints.
type flowScriptResult struct {
	Checks  []scriptCheck `json:"checks"`
	Skipped []struct {
		Scenario string `json:"scenario"`
		Reason   string `json:"reason"`
	} `json:"skipped"`
	Shots []string    `json:"shots"`
	Axe   []axeResult `json:"axe"`
	Log   []string    `json:"log"`
	// Frames are the guidance round trips the browser saw (POST
	// /flow/api/frame, request sent to response ended), milliseconds.
	Frames []float64 `json:"frames_ms"`
	// Results are, per verification, the time from the page receiving
	// its last capture to the result shown, milliseconds.
	Results []struct {
		Scenario string  `json:"scenario"`
		MS       float64 `json:"ms"`
	} `json:"capture_to_result"`
	Sessions []struct {
		Scenario string  `json:"scenario"`
		Frames   int     `json:"frames"`
		Seconds  float64 `json:"seconds"`
	} `json:"sessions"`
	Step  string `json:"step"`
	Error string `json:"error"`
}

// scriptHost does for flow.mjs what only the test can do.
type scriptHost struct {
	t     *testing.T
	c     *centralProc
	site  *partnerSite
	token string
	mu    sync.Mutex
	cpu   map[string]time.Duration // CPU time of central per scenario session
	marks map[string]time.Duration
}

// runFlowScript runs web/e2e/flow.mjs. The script asks for what only the
// test can do by printing "@@<request> <json>"; the test answers one JSON
// line on its stdin. Requests:
//
//	@@flow {"config": {...}}          Initiate Flow (partner API) -> {session_id, launch_url, expires_at}
//	@@status {"session_id": S}        the partner's status of S -> the status view
//	@@webhook {"session_id": S, "type": T, "attempt": N}  waits (30 s) for the webhook event T of S
//	                                   (of attempt N unless 0) -> the event
//	@@landed {}                        the redirects that reached the partner's site -> [{query}]
//	@@publish-pep {}                   publishes a PEP list naming the card's holder -> {name}
//	@@cpu {"mark": M}                  starts a CPU measurement of central named M
//	@@cpu {"end": M}                   ends it -> {"ms": central's CPU ms since the mark}
func runFlowScript(t *testing.T, ctx context.Context, root string, env []string, h *scriptHost) flowScriptResult {
	t.Helper()
	var res flowScriptResult
	runScript(t, ctx, root, "flow.mjs", env, func(req string) string { return h.answer(ctx, req) }, &res,
		func() string { return "central log:\n" + h.c.logs.Text() })
	return res
}

// scriptCheck is one check a browser script made.
type scriptCheck struct {
	Name   string `json:"name"`
	Pass   bool   `json:"pass"`
	Detail string `json:"detail"`
}

// runScript runs the browser script web/e2e/<name> with env, answering its
// "@@" requests with answer (nil: none expected), logs what it prints and
// decodes its last line, its result, into res; more, if set, adds to the
// failure message when that line is missing or malformed.
func runScript(t *testing.T, ctx context.Context, root, name string, env []string, answer func(string) string, res any, more func() string) {
	t.Helper()
	if answer == nil {
		answer = func(string) string { return "{}" }
	}
	var last string
	stderr, err := browsertest.RunScript(t, ctx, filepath.Join(root, "sync", "central", "hostedflow", "web", "e2e", name), env,
		answer,
		func(line string) {
			if strings.HasPrefix(line, "{") {
				last = line
			} else if strings.TrimSpace(line) != "" {
				t.Logf("%s: %s", name, line)
			}
		})
	if err != nil {
		t.Errorf("%s: %v\n%s", name, err, stderr)
	}
	if err := json.Unmarshal([]byte(last), res); err != nil {
		extra := ""
		if more != nil {
			extra = more()
		}
		t.Fatalf("%s output %q: %v\n%s\n%s", name, last, err, stderr, extra)
	}
}

// axeResult is axe-core's WCAG 2.1 A and AA check of one screen at one
// size (internal/browsertest/axe.mjs): Review names the rules it could not
// decide; Error says why it could not run (the page navigated away).
type axeResult struct {
	Page       string   `json:"page"`
	Size       string   `json:"size"`
	Passes     int      `json:"passes"`
	Review     []string `json:"review"`
	Violations []struct {
		ID      string   `json:"id"`
		Impact  string   `json:"impact"`
		Help    string   `json:"help"`
		Nodes   int      `json:"nodes"`
		Targets []string `json:"targets"`
	} `json:"violations"`
	Error string `json:"error"`
}

// reportAxe fails every accessibility violation, with its rule, impact and
// where, and logs the screens that passed.
func reportAxe(t *testing.T, res []axeResult) {
	t.Helper()
	if len(res) == 0 {
		t.Error("axe-core checked no screen")
	}
	for _, a := range res {
		switch {
		case a.Error != "":
			t.Logf("axe-core on %s (%s): not run: %s", a.Page, a.Size, a.Error)
		case len(a.Violations) == 0:
			t.Logf("axe-core on %s (%s): no violations (%d rules passed)", a.Page, a.Size, a.Passes)
		}
		if len(a.Review) > 0 {
			t.Logf("axe-core on %s (%s): for a person to review: %s", a.Page, a.Size, strings.Join(a.Review, ", "))
		}
		for _, v := range a.Violations {
			t.Errorf("axe-core on %s (%s): %s (%s) on %d node(s), at %s: %s", a.Page, a.Size, v.ID, v.Impact, v.Nodes,
				strings.Join(v.Targets, ", "), v.Help)
		}
	}
}

// reportChecks logs the passed checks and fails the failed ones.
func reportChecks(t *testing.T, checks []scriptCheck) {
	t.Helper()
	for _, ch := range checks {
		if ch.Pass {
			t.Logf("ok   %s", ch.Name)
		} else {
			t.Errorf("FAIL %s: %s", ch.Name, ch.Detail)
		}
	}
}

// answer does what the script asked and says how it went, as JSON.
func (h *scriptHost) answer(ctx context.Context, req string) string {
	name, arg, _ := strings.Cut(req, " ")
	var a struct {
		Config    map[string]any `json:"config"`
		SessionID string         `json:"session_id"`
		Type      string         `json:"type"`
		Attempt   int            `json:"attempt"`
		Mark      string         `json:"mark"`
		End       string         `json:"end"`
	}
	if err := json.Unmarshal([]byte(arg), &a); err != nil {
		return fmt.Sprintf(`{"error":%q}`, "request argument: "+err.Error())
	}
	out, err := func() (any, error) {
		switch name {
		case "flow":
			code, body, _ := h.c.do(h.t, ctx, http.MethodPost, "/api/v1/flows", h.token, a.Config)
			if code != http.StatusCreated {
				return nil, fmt.Errorf("Initiate Flow: %d %s", code, body)
			}
			return json.RawMessage(body), nil
		case "status":
			code, body, _ := h.c.do(h.t, ctx, http.MethodGet, "/api/v1/flows/"+url.PathEscape(a.SessionID), h.token, nil)
			if code != http.StatusOK {
				return nil, fmt.Errorf("flow status: %d %s", code, body)
			}
			return json.RawMessage(body), nil
		case "webhook":
			ev, ok := h.site.waitEvent(a.Type, a.SessionID, a.Attempt, 30*time.Second)
			if !ok {
				return nil, fmt.Errorf("no %s webhook for %s (attempt %d) within 30 s", a.Type, a.SessionID, a.Attempt)
			}
			return ev, nil
		case "publish-pep":
			// A PEP list naming the card's holder (synth.KTPLines: SITI
			// RAHAYU, born 5 August 1990, Indonesian), published while
			// central runs: her next verification escalates.
			l, err := screening.ImportPEPCSV(ctx, strings.NewReader("id,name,aliases,dob,country,position\n"+
				"pep-e2e-1,Siti Rahayu,,1990-08-05,IDN,Member of the Regional Parliament\n"))
			if err != nil {
				return nil, err
			}
			return h.c.publish(h.t, ctx, l)
		case "landed":
			h.site.mu.Lock()
			defer h.site.mu.Unlock()
			return h.site.landed, nil
		case "cpu":
			now, err := h.c.cpu()
			if err != nil {
				return nil, err
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.marks == nil {
				h.marks, h.cpu = map[string]time.Duration{}, map[string]time.Duration{}
			}
			if a.Mark != "" {
				h.marks[a.Mark] = now
				return map[string]any{}, nil
			}
			start, ok := h.marks[a.End]
			if !ok {
				return nil, fmt.Errorf("no CPU mark %q", a.End)
			}
			h.cpu[a.End] = now - start
			return map[string]float64{"ms": float64(now-start) / float64(time.Millisecond)}, nil
		}
		return nil, fmt.Errorf("unknown request %q", name)
	}()
	if err != nil {
		return fmt.Sprintf(`{"error":%q}`, err.Error())
	}
	b, _ := json.Marshal(out)
	return string(b)
}

// report prints the measurements as a table (issue 19's targets beside
// them; nothing here is asserted).
func (h *scriptHost) report(t *testing.T, res flowScriptResult) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "\nmeasured in the browser run (loopback, this machine; targets from issue 19):\n")
	fmt.Fprintf(&b, "  %-44s %10s %10s %10s %8s\n", "what", "p50", "p95", "max", "n")
	if len(res.Frames) > 0 {
		p50, p95, mx := percentiles(res.Frames)
		fmt.Fprintf(&b, "  %-44s %8.0fms %8.0fms %8.0fms %8d   target <= 150 ms\n", "guidance round trip (POST /flow/api/frame)", p50, p95, mx, len(res.Frames))
	}
	var lat []float64
	for _, r := range res.Results {
		lat = append(lat, r.MS)
		fmt.Fprintf(&b, "  %-44s %8.0fms %10s %10s %8s   target <= 1500 ms\n", "last capture to result shown: "+r.Scenario, r.MS, "", "", "")
	}
	if len(lat) > 1 {
		p50, p95, mx := percentiles(lat)
		fmt.Fprintf(&b, "  %-44s %8.0fms %8.0fms %8.0fms %8d\n", "last capture to result shown: all", p50, p95, mx, len(lat))
	}
	h.mu.Lock()
	names := make([]string, 0, len(h.cpu))
	for k := range h.cpu {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(&b, "  %-44s %8.0fms\n", "central CPU per guided session: "+k, float64(h.cpu[k])/float64(time.Millisecond))
	}
	h.mu.Unlock()
	for _, s := range res.Sessions {
		fmt.Fprintf(&b, "  %-44s %5d frames in %.1f s (%.2f frames/s)\n", "guidance frames sent: "+s.Scenario, s.Frames, s.Seconds, float64(s.Frames)/max(s.Seconds, 0.001))
	}
	t.Log(b.String())
}

// percentiles are the nearest-rank p50 and p95 and the maximum of v.
func percentiles(v []float64) (p50, p95, mx float64) {
	s := slices.Clone(v)
	slices.Sort(s)
	at := func(p float64) float64 {
		i := int(p*float64(len(s))+0.5) - 1
		return s[max(0, min(len(s)-1, i))]
	}
	return at(0.5), at(0.95), s[len(s)-1]
}

// --- tools ------------------------------------------------------------------------

// --- the fake camera ----------------------------------------------------------------

// The fake camera: two videos for each person, as a phone has two
// cameras, 1280x720 as the page asks for. Chromium takes one file for
// every camera (--use-file-for-fake-video-capture) and reads it as
// media/capture/video/file_video_capture_device.cc does: opened again at
// each getUserMedia, so a capture step's camera starts at the file's first
// frame; played on a timer at the whole frames a second its header
// declares (F num:den, divided as integers: one a second at the least),
// never faster, late when the machine is loaded; looped at its end.
// flow.mjs makes that file a symlink and points it, before each camera
// opens, at the document video when the page asks for the back camera
// (facingMode environment) and at the selfie video when it asks for the
// front one (user), so that no step waits through the other's segments
// and a steady segment may last a minute for the cost of its file alone.
// They hold, in order (the ground truth the tests and benchmarks rely
// on):
//
//	the document video (docFPS)
//	blurred   the card moving into place, out of focus: the document guide
//	          must refuse these (too blurred, moving)
//	document  the card held still in the middle, a hand's tremor only:
//	          auto-captured by the document guide
//	the selfie video (selfieFPS)
//	faceOff   the person's face off to the side of the oval
//	face      the face centred in the oval, steady: auto-captured by the
//	          selfie guide
//
// The document is the demo card (app/demo: a KTP valid for life printed
// with the card person's portrait); the face is rendered from a colour
// portrait of the shared liveness set (interfaces_cc0). The set holds one
// photo per person, so a genuine person's card and selfie come from the
// same photo, as the desktop end-to-end test's do (its demo person, 083).
const (
	camW, camH = 1280, 720
	// docFPS is the document video's frame rate: the document guide
	// judges the card's place, sharpness and speed, so the page may take
	// the same frame twice (a card held perfectly still); one a second
	// lets the card last long for a small file.
	docFPS = 1
	// selfieFPS is the selfie video's: every face frame carries its own
	// noise and a selfie's feed is judged by its last eight frames, none
	// of which may repeat another (hostedflow's feedEvidence). The page
	// sends a frame at least half a second after the one before, so at
	// four a second each of its frames is a new one even when Chromium's
	// timer runs a frame late.
	selfieFPS = 4
)

// Segment lengths in frames, at their video's frame rate. A guide needs
// StableFrames (5) good frames in a row, and the page sends the next
// frame when the last one's answer is back: two a second at most, on an
// overloaded machine one in 1 to 7 s (CI once saw the steady face's
// twelve seconds of the single video of before pass with too few). A step
// captures in the first pass of its steady segment that gets five of the
// page's frames: the card's ninety seconds and the face's sixty leave
// room for one frame every fifteen and twelve seconds, twice the worst
// seen, and the face's minute is longer than eight frames span at seven
// seconds apart, so a frame of the loop never meets itself in a selfie's
// feed. The lead-ins (blurred, faceOff) are short: the page's first frame
// of a step is grabbed as its camera starts, so it meets them.
const (
	segBlurred   = 4  // docFPS
	segDocument  = 90 // docFPS
	segFaceOff   = 4  // selfieFPS
	segFace      = 240
	docFrames    = segBlurred + segDocument
	selfieFrames = segFaceOff + segFace
)

// keepFrames bounds the frames of a segment a camera keeps as images.
const keepFrames = 16

// cameraNoise is the sensor noise the fake camera's face frames carry, in
// grey levels (synth.AddSensorNoise), so that they never repeat, as a
// camera's do not (hostedflow judges a selfie's feed by that). The passive
// liveness of a rendered portrait falls with independent noise (083.jpg,
// from 0.83 without: 0.82 at 0.4 grey levels, as low as 0.78 at 0.5 and
// 0.76 at 1, against the policy's 0.74), so the fixtures take the least
// that still makes every frame its own (no two JPEGs alike).
const cameraNoise = 0.4

// Portraits of the shared liveness set: the genuine person (the desktop
// app's demo person) and another person.
const (
	personPhoto = "083.jpg"
	otherPhoto  = "089.jpg"
)

// camera is a person's rendered fake camera videos.
type camera struct {
	// DocumentPath and SelfiePath are the .y4m files, "" when only the
	// frames were kept.
	DocumentPath, SelfiePath string
	// Frames are a few frames of each segment kept as BGR images (the
	// benchmarks feed them to the guidance), by segment name: two a second
	// as the page sends them (every frame of the document video), at most
	// keepFrames.
	Frames map[string][]gocv.Mat
}

func (c *camera) Close() {
	for _, fs := range c.Frames {
		for _, f := range fs {
			f.Close()
		}
	}
}

// renderers hold what the videos are rendered with: the face detector
// (to place the face in the oval and cut the card's portrait).
type renderer struct {
	det *face.YuNet
}

func newRenderer(t testing.TB) *renderer {
	t.Helper()
	testenv.ORT(t)
	det, err := face.NewYuNet(testenv.Model(t, "yunet"), face.YuNetConfig{}, ort.Options{IntraOpThreads: 1, InterOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { det.Close() })
	return &renderer{det: det}
}

func readPhoto(t testing.TB, name string) gocv.Mat {
	t.Helper()
	m, err := imageio.ReadFile(testenv.Data(t, "liveness", "interfaces_cc0", name), 0)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// card renders the demo KTP (valid for life) printed with cardPhoto's
// face.
func (r *renderer) card(t testing.TB, cardPhoto string) gocv.Mat {
	t.Helper()
	photo := readPhoto(t, cardPhoto)
	defer photo.Close()
	portrait, err := demo.Portrait(context.Background(), r.det, photo)
	if err != nil {
		t.Fatal(err)
	}
	defer portrait.Close()
	return demo.Card(portrait, demo.CardLines("SEUMUR HIDUP"))
}

// render writes dir/name-document.y4m, the card printed with cardPhoto's
// face, and dir/name-selfie.y4m, selfiePhoto's face (see camera); with dir
// "" it keeps the frames only.
func (r *renderer) render(t testing.TB, dir, name, cardPhoto, selfiePhoto string) *camera {
	t.Helper()
	card := r.card(t, cardPhoto)
	defer card.Close()
	photo := readPhoto(t, selfiePhoto)
	defer photo.Close()
	faceAt, err := r.faceScene(photo)
	if err != nil {
		t.Fatal(err)
	}
	desk := synth.Background(camW, camH, 77)
	defer desk.Close()
	room := synth.Background(camW, camH, 21)
	defer room.Close()

	// Each returns frame i of its video, its segment and its index there.
	document := func(i int) (gocv.Mat, string, int) {
		p := synth.Placement{CenterX: 0.5, CenterY: 0.5, WidthFrac: 0.62, Rotate: 2, Tilt: 4}
		if i < segBlurred {
			// Moving into place and out of focus: the blur fades as the
			// card settles, never sharp enough to pass.
			k := float64(segBlurred-i) / segBlurred
			p.CenterX -= 0.08 * k
			p.Rotate += 6 * k
			m, _ := synth.Place(desk, card, p)
			sigma := 4 + 6*k
			gocv.GaussianBlur(m, &m, image.Pt(0, 0), sigma, sigma, gocv.BorderReflect)
			return m, "blurred", i
		}
		p.CenterX += 0.0004 * math.Sin(float64(i)) // a hand is never quite still
		m, _ := synth.Place(desk, card, p)
		return m, "document", i - segBlurred
	}
	selfie := func(i int) (gocv.Mat, string, int) {
		var m gocv.Mat
		seg, j := "face", i-segFaceOff
		switch {
		case i < segFaceOff:
			m, seg, j = faceAt(room, 0.2*camW, 0.45*camH), "faceOff", i
		case name == "still":
			m = faceAt(room, 0.5*camW, 0.45*camH)
		default:
			m = faceAt(room, 0.5*camW+0.5*math.Sin(float64(i)), 0.45*camH)
		}
		if name != "still" {
			// The selfie is judged by its feed: a camera's frames each
			// carry noise of their own (hostedflow's feedEvidence); the
			// still is one photo, as an injection feeds it.
			synth.AddSensorNoise(&m, cameraNoise, uint64(i))
		}
		return m, seg, j
	}
	cam := &camera{Frames: map[string][]gocv.Mat{}}
	videos := []struct {
		path   *string
		suffix string
		fps, n int
		frame  func(i int) (gocv.Mat, string, int)
	}{
		{&cam.DocumentPath, "document", docFPS, docFrames, document},
		{&cam.SelfiePath, "selfie", selfieFPS, selfieFrames, selfie},
	}
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range videos {
		render := func(i int) gocv.Mat {
			m, seg, j := v.frame(i)
			if j%max(1, v.fps/2) == 0 && len(cam.Frames[seg]) < keepFrames {
				cam.Frames[seg] = append(cam.Frames[seg], m.Clone())
			}
			return m
		}
		if dir == "" {
			for i := range v.n {
				m := render(i)
				m.Close()
			}
			continue
		}
		*v.path = filepath.Join(dir, name+"-"+v.suffix+".y4m")
		if err := writeY4M(*v.path, v.fps, v.n, render); err != nil {
			cam.Close()
			t.Fatal(err)
		}
	}
	return cam
}

// faceScene returns a function drawing photo over a copy of bg with the
// face's centre at (cx, cy), scaled so the face fills the default selfie
// oval (centre 0.5, 0.45; vertical radius 0.36 of the height) as a person
// at arm's length does: app/demo.WriteSelfieVideo's framing at the
// camera's size.
func (r *renderer) faceScene(photo gocv.Mat) (func(bg gocv.Mat, cx, cy float64) gocv.Mat, error) {
	faces, err := r.det.Detect(context.Background(), photo)
	if err != nil {
		return nil, err
	}
	if len(faces) == 0 {
		return nil, demo.ErrNoFace
	}
	b := faces[0].Box
	for _, f := range faces[1:] {
		if f.Box.W*f.Box.H > b.W*b.H {
			b = f.Box
		}
	}
	scale := 0.7 * 0.72 * camH / b.H
	sw, sh := int(float64(photo.Cols())*scale), int(float64(photo.Rows())*scale)
	scaled := gocv.NewMat()
	gocv.Resize(photo, &scaled, image.Pt(sw, sh), 0, 0, gocv.InterpolationCubic)
	fx, fy := (b.X+b.W/2)*scale, (b.Y+b.H/2)*scale
	return func(bg gocv.Mat, cx, cy float64) gocv.Mat {
		return synth.PasteAt(bg, scaled, int(cx-fx), int(cy-fy))
	}, nil
}

// writeY4M writes n BGR frames of camW x camH as a YUV4MPEG2 video (4:2:0,
// the format Chromium's fake capture reads) of fps frames a second;
// frame(i) renders frame i, which writeY4M closes.
func writeY4M(path string, fps, n int, frame func(i int) gocv.Mat) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	w := bufio.NewWriterSize(f, 4<<20)
	fmt.Fprintf(w, "YUV4MPEG2 W%d H%d F%d:1 Ip A1:1 C420jpeg\n", camW, camH, fps)
	yuv := gocv.NewMat()
	defer yuv.Close()
	for i := range n {
		m := frame(i)
		if m.Cols() != camW || m.Rows() != camH {
			m.Close()
			return fmt.Errorf("frame %d is %dx%d, want %dx%d", i, m.Cols(), m.Rows(), camW, camH)
		}
		gocv.CvtColor(m, &yuv, gocv.ColorBGRToYUVI420)
		m.Close()
		b, err := yuv.DataPtrUint8()
		if err != nil {
			return err
		}
		if _, err := w.WriteString("FRAME\n"); err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return w.Flush()
}

// pageQuality is the JPEG quality the page sends guidance frames at, read
// from its source (web/static/flow.js: grab(video, FRAME_WIDTH, Q), Q a
// number or a constant's name), so the guides here see what they see
// behind the page; 80 when it cannot be read.
var pageQuality = sync.OnceValue(func() int {
	b, err := os.ReadFile(filepath.Join("web", "static", "flow.js"))
	if err != nil {
		return 80
	}
	m := regexp.MustCompile(`grab\(video, FRAME_WIDTH, ([A-Za-z_0-9.]+)\)`).FindSubmatch(b)
	if m == nil {
		return 80
	}
	v := string(m[1])
	if c := regexp.MustCompile(`const ` + regexp.QuoteMeta(v) + ` = ([0-9.]+);`).FindSubmatch(b); c != nil {
		v = string(c[1])
	}
	q, err := strconv.ParseFloat(v, 64)
	if err != nil || q <= 0 || q > 1 {
		return 80
	}
	return int(math.Round(q * 100))
})

// jpegRoundTrip encodes m as the page does (JPEG at pageQuality) and
// decodes it as the server does: what the guides see of a camera frame.
func jpegRoundTrip(t testing.TB, m gocv.Mat) (gocv.Mat, []byte) {
	t.Helper()
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, m, []int{gocv.IMWriteJpegQuality, pageQuality()})
	if err != nil {
		t.Fatal(err)
	}
	defer buf.Close()
	b := append([]byte(nil), buf.GetBytes()...)
	d, err := gocv.IMDecode(b, gocv.IMReadColor)
	if err != nil {
		t.Fatal(err)
	}
	return d, b
}

// TestFakeCamera checks the fake camera's ground truth with the guides the
// flow runs (engine/capture, default thresholds), fed the segments' frames
// two a second as JPEG at the page's quality: the blurred frames are
// refused, the steady card is auto-captured, the card's face is never
// taken for a selfie, the centred face is. The browser test relies on it:
// when this fails, the flow's failure would be the video's.
func TestFakeCamera(t *testing.T) {
	r := newRenderer(t)
	cam := r.render(t, t.TempDir(), "genuine", personPhoto, personPhoto)
	defer cam.Close()
	for path, frames := range map[string]int{cam.DocumentPath: docFrames, cam.SelfiePath: selfieFrames} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(frames * (6 + camW*camH*3/2)); st.Size() < want {
			t.Fatalf("%s: %d bytes, want at least %d", path, st.Size(), want)
		}
	}
	ctx := context.Background()
	feed := func(g capture.Guide, seg string, n int) (msgs []capture.Message, captured string) {
		for i, f := range cam.Frames[seg] {
			if n > 0 && i >= n {
				break
			}
			img, _ := jpegRoundTrip(t, f)
			ov, err := g.Analyse(ctx, capture.Frame{Seq: i, Time: time.Duration(i) * 500 * time.Millisecond, Image: img})
			img.Close()
			if err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs, ov.Message)
			if ov.Captured != "" {
				return msgs, ov.Captured
			}
		}
		return msgs, ""
	}
	docGuide := func() capture.Guide {
		g, err := capture.NewDocumentGuide(capture.DefaultDocumentConfig())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { g.Close() })
		return g
	}
	selfieGuide := func() capture.Guide {
		g, err := capture.NewSelfieGuide(r.det, capture.DefaultSelfieConfig())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { g.Close() })
		return g
	}
	for _, c := range []struct {
		guide   func() capture.Guide
		seg     string
		want    string
		refused bool   // no frame may be answered with Capturing
		failure string // what the error says before the messages
		log     string // what the log says before the messages, "" for nothing
	}{
		{docGuide, "blurred", "", true, "document guide on the blurred frames: %v, captured %q; want every frame refused", "blurred"},
		{docGuide, "document", "front", false, "document guide on the steady card: %v, captured %q; want the front", "document"},
		{selfieGuide, "document", "", false, "selfie guide on the card: %v, captured %q; want nothing", "selfie guide on the card"},
		{selfieGuide, "faceOff", "", false, "selfie guide on the face off the oval: %v, captured %q", "faceOff"},
		{selfieGuide, "face", "selfie", false, "selfie guide on the centred face: %v, captured %q; want the selfie", "face"},
		{docGuide, "face", "", false, "document guide on the face: %v, captured %q; want nothing", ""},
	} {
		if msgs, got := feed(c.guide(), c.seg, 0); got != c.want || (c.refused && slices.Contains(msgs, capture.Capturing)) {
			t.Errorf(c.failure, msgs, got)
		} else if c.log != "" {
			t.Logf("%s: %v", c.log, msgs)
		}
	}
}

// TestFakeCameraVerdicts is the fake camera's other ground truth: what the
// engine the flow runs (engine/verify, default risk configuration, the
// OFAC sample screened) decides on the frames the guides capture. Encoded
// as a photo (JPEG quality 95), the card with its person's face is
// approved and the card with another face rejected (FACE_MISMATCH); the
// same frames at the quality the page sends guidance frames at are logged
// beside them, so a browser run that does not approve the genuine person
// can be told apart from a wrong video (the capture's encoding decides).
func TestFakeCameraVerdicts(t *testing.T) {
	e := loadEngines(t)
	r := newRenderer(t)
	genuine := r.render(t, "", "genuine", personPhoto, personPhoto)
	defer genuine.Close()
	other := r.render(t, "", "other", personPhoto, otherPhoto)
	defer other.Close()
	l, err := screening.ImportOFAC(context.Background(), testenv.Data(t, "sanctions", "ofac_sdn_sample"))
	if err != nil {
		t.Fatal(err)
	}
	eng := &verify.Engine{Document: e.Document, Face: e.Face, Screening: screening.NewIndex(l), Risk: risk.DefaultConfig()}
	encode := func(m gocv.Mat, q int) (gocv.Mat, []byte) {
		buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, m, []int{gocv.IMWriteJpegQuality, q})
		if err != nil {
			t.Fatal(err)
		}
		defer buf.Close()
		b := append([]byte(nil), buf.GetBytes()...)
		d, err := gocv.IMDecode(b, gocv.IMReadColor)
		if err != nil {
			t.Fatal(err)
		}
		return d, b
	}
	decide := func(cam *camera, q int) (risk.Decision, []string) {
		doc, raw := encode(cam.Frames["document"][3], q)
		defer doc.Close()
		selfie, _ := encode(cam.Frames["face"][6], q)
		defer selfie.Close()
		rep, err := eng.Verify(context.Background(), verify.Input{Front: document.Image{Raw: raw, Mat: doc}, Selfie: selfie, Attempt: 1})
		if err != nil {
			t.Fatal(err)
		}
		var codes []string
		for _, rs := range rep.Reasons {
			codes = append(codes, string(rs.Code))
		}
		return rep.Decision, codes
	}
	if d, why := decide(genuine, 95); d != risk.Approve {
		t.Errorf("the genuine person's card and face as photos: %s %v, want approve", d, why)
	}
	if d, why := decide(other, 95); d != risk.Reject || !slices.Contains(why, "FACE_MISMATCH") {
		t.Errorf("the card with another face as photos: %s %v, want reject with FACE_MISMATCH", d, why)
	}
	d, why := decide(genuine, pageQuality())
	t.Logf("the genuine person's frames at the page's guidance quality (%d): %s %v", pageQuality(), d, why)
}
