package console_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openkyc/kyc/engine/device"
	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/internal/browsertest"
	"github.com/openkyc/kyc/internal/testenv"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/store/pgstore"
	"github.com/openkyc/kyc/sync/internal/pgtest"
	"github.com/openkyc/kyc/sync/protocol"
	"github.com/openkyc/kyc/sync/vault"
)

// Branches of the test's two devices.
const (
	branchA = "JKT-Selatan"
	branchB = "BDG-Dago"
)

// consoleUser is an account the test creates with `kyc-central user add`
// and the browser script signs in with.
type consoleUser struct {
	Name     string   `json:"name"`
	Password string   `json:"password"`
	Role     string   `json:"role"`
	Scopes   []string `json:"scopes,omitempty"`
	// EnrolCode is the one-time enrolment code `user add` printed.
	EnrolCode string `json:"enrol_code"`
}

// verification is one real `kyc verify --submit` on a device: the shared
// data's specimen and face, and what the engine must have decided, so a
// change in the engine that moves a case out of the queue is said here
// and not as a puzzling browser failure.
type verification struct {
	Name     string // the browser script's name for the case
	Device   string // "A" or "B"
	Document string // under the shared data folder
	Selfie   string
	Attempt  int
	// Challenge are the frames of an active challenge said to be passed
	// (kyc verify --challenge passed --challenge-frame), under the shared
	// data folder.
	Challenge []string
	Want      string // the engine's decision
}

// TestConsoleInBrowser drives the review console in headless Chromium
// against a real kyc-central (built from ./cmd/kyc-central, HTTPS with the
// certificate of its own `tls init`, PostgreSQL store) whose cases come
// from real verifications (`kyc verify --submit` on the shared data's
// specimens and faces) synced by two real devices of two branches
// (`kyc enroll`, `kyc sync --once`). The accounts are made with
// `kyc-central user add`. The browser script (web/e2e/console.mjs) signs
// each person in with TOTP, works the queue and checks what the console
// must refuse; it asks this test to enrol a device with a token the
// console made, and at the end to tamper with an audit row in PostgreSQL,
// which the console's chain check must find. Screenshots of every page go
// to $KYC_ARTIFACTS/console. Last, the devices' next sync must bring the
// decisions back to the device that captured them.
func TestConsoleInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser end-to-end test: skipped in -short mode")
	}
	root, ok := testenv.ModuleRoot()
	if !ok {
		t.Fatal("module root not found")
	}
	tools := browserTools(t, root)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	bins := t.TempDir()
	centralBin := browsertest.GoBuild(t, root, bins, "./cmd/kyc-central")
	kycBin := browsertest.GoBuild(t, root, bins, "./cmd/kyc")

	dsn, err := pgtest.StartT(t).NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}

	users := map[string]consoleUser{
		"admin":     {Name: "ayu.admin", Role: "admin"},
		"reviewer1": {Name: "budi.reviewer", Role: "reviewer", Scopes: []string{branchA}},
		"reviewer2": {Name: "citra.reviewer", Role: "reviewer", Scopes: []string{branchA}},
		"reviewerB": {Name: "dedi.bandung", Role: "reviewer", Scopes: []string{branchB}},
		"auditor":   {Name: "eka.auditor", Role: "auditor"},
	}
	c := startConsoleCentral(t, ctx, centralBin, dsn, users)
	c.kyc = kycBin

	// The risk configuration central publishes: the default one, except
	// that the last attempt of a retryable failure goes to a person rather
	// than ending in a reject, which is what puts the expired specimens
	// with another person's face into the queue.
	rc := risk.DefaultConfig()
	rc.RetriesExhausted = risk.Review
	doc, err := json.Marshal(rc)
	if err != nil {
		t.Fatal(err)
	}
	code, body := c.admin(t, ctx, http.MethodPut, "/admin/v1/config/risk", doc)
	var prop central.RiskProposal
	if code != http.StatusAccepted || json.Unmarshal(body, &prop) != nil {
		t.Fatalf("proposing the risk configuration: %d %s", code, body)
	}
	// The admin token only proposes, for its owner; the second admin's
	// confirm is the store's step here (the browser script is about
	// cases).
	st, err := pgstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.ConfirmRiskProposal(ctx, prop.ID, time.Now(), central.AuditEvent{ID: "e2e-risk", At: time.Now(),
		Actor: "user:second-admin", Action: central.AuditRiskConfirmed, Subject: "risk", Count: 1})
	st.Close()
	if err != nil {
		t.Fatalf("confirming the risk configuration: %v", err)
	}

	// A partner on the partner API, which the admin disables and enables
	// again on the partners page.
	partner := c.newPartner(t, ctx)

	devA := c.newDevice(t, ctx, kycBin, branchA)
	devB := c.newDevice(t, ctx, kycBin, branchB)
	// Branch A screens against a PEP list of its own naming the holder of
	// the ICAO specimen passport: her verification escalates.
	pep := filepath.Join(t.TempDir(), "pep.csv")
	if err := os.WriteFile(pep, []byte("id,name,aliases,dob,country,position\npep-1,Anna Maria Eriksson,,1974-08-12,UTO,Minister of Finance\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	devA.run(t, ctx, "watchlist", "import", "--format", "pep-csv", pep)

	verifications := []verification{
		{Name: "pep", Device: "A", Document: "mrz/passporteye/passport-td3.jpg", Selfie: "liveness/interfaces_cc0/089.jpg", Attempt: 1, Want: "escalate"},
		{Name: "mismatch", Device: "A", Document: "mrz/passporteye/100_pass-cze.jpg", Selfie: "liveness/interfaces_cc0/089.jpg", Attempt: 3, Want: "review"},
		{Name: "mismatch2", Device: "A", Document: "mrz/passporteye/100_pass-hrv.jpg", Selfie: "liveness/interfaces_cc0/001.jpg", Attempt: 3, Want: "review"},
		{Name: "branchB", Device: "B", Document: "mrz/passporteye/100_pass-lux.jpg", Selfie: "liveness/interfaces_cc0/083.jpg", Attempt: 3, Want: "review"},
		// Not for a person: the engine asks for another document, and
		// central keeps it out of the queue. (No verification of the
		// shared data is approved: every specimen there has expired.)
		{Name: "retry", Device: "B", Document: "mrz/passporteye/100_pass-lux.jpg", Selfie: "liveness/interfaces_cc0/083.jpg", Attempt: 1, Want: "reject"},
		// An active challenge one of whose frames shows another person:
		// a fraud reject (FACE_CHALLENGE_IDENTITY), out of the queue but
		// opened by its address, the frames shown in the case view.
		{Name: "challenge", Device: "A", Document: "mrz/passporteye/100_pass-cze.jpg", Selfie: "liveness/interfaces_cc0/089.jpg", Attempt: 1,
			Challenge: []string{"liveness/interfaces_cc0/089.jpg", "liveness/interfaces_cc0/001.jpg"}, Want: "reject"},
	}
	cases := map[string]caseRef{}
	for _, v := range verifications {
		d := map[string]*testDevice{"A": devA, "B": devB}[v.Device]
		cases[v.Name] = d.verify(t, ctx, v)
	}
	devA.run(t, ctx, "sync", "--once")
	devB.run(t, ctx, "sync", "--once")
	if n := c.completeSubmissions(t, ctx); n != len(verifications) {
		t.Fatalf("central holds %d complete submissions after the syncs, want %d", n, len(verifications))
	}

	shots := filepath.Join(browsertest.ArtifactsDir(t, root), "console")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	res := c.runScript(t, ctx, root, tools, shots, users, cases, partner)
	t.Logf("screenshots in %s", shots)
	for _, ch := range res.Checks {
		if ch.Pass {
			t.Logf("ok   %s", ch.Name)
		} else {
			t.Errorf("FAIL %s: %s", ch.Name, ch.Detail)
		}
	}
	for _, a := range res.Axe {
		if len(a.Violations) > 0 {
			t.Errorf("axe-core on %s: %d violation(s): %s", a.Page, len(a.Violations), strings.Join(a.Violations, "; "))
		} else {
			t.Logf("axe-core on %s: no violations (%d rules passed)", a.Page, a.Passes)
		}
	}
	for _, l := range res.Log {
		t.Errorf("browser: %s", l)
	}
	if res.Error != "" {
		t.Fatalf("console.mjs stopped at %q: %s\ncentral log:\n%s", res.Step, res.Error, c.logs.Text())
	}
	if len(res.Checks) == 0 {
		t.Fatal("the browser script checked nothing")
	}

	// The partners page's disable and enable went through the partner
	// API: audited with the admin as the actor, and the partner enabled
	// again.
	if got := c.partnerAudit(t, ctx, partner.ID); got != "partner_disable user:ayu.admin,partner_enable user:ayu.admin" {
		t.Errorf("the partner's disable and enable audited as %q", got)
	}
	if code, body := c.admin(t, ctx, http.MethodGet, "/admin/v1/partners/"+partner.ID, nil); code != http.StatusOK || !bytes.Contains(body, []byte(`"disabled":false`)) {
		t.Errorf("the partner after the partners page: %d %s", code, body)
	}

	// The decisions reach the device that captured them at its next sync.
	devA.run(t, ctx, "sync", "--once")
	var list struct {
		Submissions []struct {
			ID     string `json:"id"`
			Review *struct {
				State, Outcome, Reason string
			} `json:"review"`
		} `json:"submissions"`
	}
	if out := devA.run(t, ctx, "sync", "--list"); json.Unmarshal(out, &list) != nil {
		t.Fatalf("kyc sync --list: %s", out)
	}
	want := map[string]string{cases["mismatch2"].SubmissionID: "decided resubmit ", cases["pep"].SubmissionID: "decided reject sanctions",
		cases["mismatch"].SubmissionID: ""}
	for _, s := range list.Submissions {
		w, ok := want[s.ID]
		if !ok {
			continue
		}
		got := ""
		if s.Review != nil {
			got = s.Review.State + " " + s.Review.Outcome + " " + s.Review.Reason
		}
		if got != w && !(w == "" && strings.HasPrefix(got, "open")) {
			t.Errorf("the device's view of %s after its sync: review %q, want %q", s.ID, got, w)
		}
		delete(want, s.ID)
	}
	if len(want) > 0 {
		t.Errorf("kyc sync --list on the device lacks %v", want)
	}
}

// browserToolset is where the browser script's tools are: the shared ones
// and axe-core.
type browserToolset struct {
	browsertest.Tools
	Axe string
}

// browserTools finds node, Chromium, playwright-core (browsertest) and
// axe-core (the console's dev dependency); a missing one skips the test
// with how to get it.
func browserTools(t *testing.T, root string) browserToolset {
	t.Helper()
	ts := browserToolset{Tools: browsertest.FindTools(t, root)}
	ts.Axe = browsertest.FindAxe(t, root)
	return ts
}

// consoleCentral is a running kyc-central with its console.
type consoleCentral struct {
	bin, kyc       string
	data, dsn      string
	URL, Token, CA string
	client         *http.Client
	logs           *browsertest.Log
}

// startConsoleCentral makes central's certificates with `tls init`, the
// accounts with `kyc-central user add` (the password on stdin, as an
// operator pipes it), and serves on a free loopback port.
func startConsoleCentral(t *testing.T, ctx context.Context, bin, dsn string, users map[string]consoleUser) *consoleCentral {
	t.Helper()
	c := &consoleCentral{bin: bin, data: t.TempDir(), dsn: dsn}
	tlsDir, ca, pool := browsertest.TLSInit(t, ctx, bin)
	c.CA = ca
	c.client = &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	c.Token = browsertest.RandomString(32)

	for key, u := range users {
		u.Password = "pw-" + browsertest.RandomString(18)
		users[key] = u
		args := []string{"user", "add", "--store", "postgres", "--dsn", dsn, "--data", c.data, "--name", u.Name, "--role", u.Role}
		for _, s := range u.Scopes {
			args = append(args, "--scope", s)
		}
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Stdin = strings.NewReader(u.Password + "\n")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("kyc-central %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		m := regexp.MustCompile(`enrolment code: ([A-Z0-9-]+)`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("kyc-central user add printed no enrolment code:\n%s", out)
		}
		u.EnrolCode = string(m[1])
		users[key] = u
	}

	addr := browsertest.FreeAddr(t)
	c.URL = "https://" + addr
	// The admin holds the token: its proposals are hers.
	cmd := exec.CommandContext(ctx, bin, "serve", "--addr", addr, "--data", c.data, "--store", "postgres", "--dsn", dsn,
		"--tls-cert", filepath.Join(tlsDir, "server.crt"), "--tls-key", filepath.Join(tlsDir, "server.key"),
		"--admin-token-owner", users["admin"].Name, "--audit-verify-cooldown", "1s")
	cmd.Env = append(os.Environ(), "KYC_CENTRAL_ADMIN_TOKEN="+c.Token)
	c.logs = browsertest.StartLogged(t, cmd)
	if !c.logs.Wait("kyc-central listening", time.Minute) {
		t.Fatalf("kyc-central did not start:\n%s", c.logs.Text())
	}
	return c
}

// admin calls central's admin API (devices enrol with tokens from it;
// the console's own enrolment page is the browser script's).
func (c *consoleCentral) admin(t *testing.T, ctx context.Context, method, path string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := c.client.Do(req)
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

// completeSubmissions counts the complete submissions central lists.
func (c *consoleCentral) completeSubmissions(t *testing.T, ctx context.Context) int {
	t.Helper()
	code, body := c.admin(t, ctx, http.MethodGet, "/admin/v1/submissions?complete=true", nil)
	var subs []json.RawMessage
	if err := json.Unmarshal(body, &subs); err != nil {
		t.Fatalf("listing central's submissions (%d): %v", code, err)
	}
	return len(subs)
}

// testDevice is a device folder enrolled with central for a branch.
type testDevice struct {
	kyc, dir, keyFile string
	env               []string
}

// newDevice enrols a fresh device folder with a token for branch (central's
// CA pinned, the token in a file) and syncs once, so it holds central's
// challenge and risk configuration before it verifies anyone.
func (c *consoleCentral) newDevice(t *testing.T, ctx context.Context, kyc, branch string) *testDevice {
	t.Helper()
	home := t.TempDir()
	d := &testDevice{kyc: kyc, dir: filepath.Join(home, "device"), keyFile: filepath.Join(t.TempDir(), "vault.key")}
	if err := vault.GenerateKeyFile(d.keyFile); err != nil {
		t.Fatal(err)
	}
	// Whatever this machine's device checks find (a container without
	// cameras, a development build) is accepted, as a deployment accepts
	// its own hardware: the attestation is still made and signed.
	policy := filepath.Join(home, "device-policy.json")
	writeBenchPolicy(t, ctx, policy)
	d.env = append(os.Environ(), "KYC_DEVICE_DIR="+d.dir, "KYC_VAULT_KEY_FILE="+d.keyFile, "KYC_VAULT_PASSPHRASE=",
		"KYC_WATCHLISTS_DIR="+filepath.Join(home, "watchlists"), "KYC_DEVICE_POLICY="+policy)
	code, body := c.admin(t, ctx, http.MethodPost, "/admin/v1/enroll-tokens?branch="+branch, nil)
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.Token == "" {
		t.Fatalf("enrolment token for %s: %d %v (%s)", branch, code, err, body)
	}
	tokFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokFile, []byte(tok.Token), 0o600); err != nil {
		t.Fatal(err)
	}
	d.run(t, ctx, "enroll", "--central", c.URL, "--ca", c.CA, "--token-file", tokFile)
	d.run(t, ctx, "sync", "--once")
	return d
}

// run runs kyc on the device and returns its output.
func (d *testDevice) run(t *testing.T, ctx context.Context, args ...string) []byte {
	t.Helper()
	if args[0] == "enroll" || args[0] == "sync" {
		args = append(args, "--dir", d.dir)
	}
	cmd := exec.CommandContext(ctx, d.kyc, args...)
	cmd.Env = d.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kyc %s: %v\n%s\n%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return out
}

// caseRef names a submission for the browser script.
type caseRef struct {
	DeviceID     string   `json:"device_id"`
	SubmissionID string   `json:"submission_id"`
	Key          string   `json:"key"` // protocol.SubmissionKey: the case's address
	Decision     string   `json:"decision"`
	Score        float64  `json:"score"`
	Reasons      []string `json:"reasons"`
}

// verify runs `kyc verify --submit` on the shared data and checks the
// engine's decision.
func (d *testDevice) verify(t *testing.T, ctx context.Context, v verification) caseRef {
	t.Helper()
	pol := ""
	for _, e := range d.env {
		if p, ok := strings.CutPrefix(e, "KYC_DEVICE_POLICY="); ok {
			pol = p
		}
	}
	args := []string{"verify", "--submit", "--dir", d.dir, "--vault-key-file", d.keyFile, "--device-policy", pol,
		"--document", testenv.Data(t, strings.Split(v.Document, "/")...), "--selfie", testenv.Data(t, strings.Split(v.Selfie, "/")...),
		"--attempt", fmt.Sprint(v.Attempt), "--session", "ses-e2e-" + v.Name, "--operator", "e2e operator " + v.Device}
	if len(v.Challenge) > 0 {
		args = append(args, "--challenge", "passed")
		for _, f := range v.Challenge {
			args = append(args, "--challenge-frame", testenv.Data(t, strings.Split(f, "/")...))
		}
	}
	out := d.run(t, ctx, args...)
	var res struct {
		Decision     string  `json:"decision"`
		Score        float64 `json:"score"`
		SubmissionID string  `json:"submission_id"`
		Reasons      []struct {
			Code string `json:"code"`
		} `json:"reasons"`
		Attestation *struct {
			DeviceID string `json:"device_id"`
		} `json:"attestation"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("kyc verify %s: output %q: %v", v.Name, out, err)
	}
	ref := caseRef{SubmissionID: res.SubmissionID, Key: protocol.SubmissionKey(res.SubmissionID), Decision: res.Decision, Score: res.Score}
	for _, r := range res.Reasons {
		ref.Reasons = append(ref.Reasons, r.Code)
	}
	if res.Attestation != nil {
		ref.DeviceID = res.Attestation.DeviceID
	}
	if res.Decision != v.Want || res.SubmissionID == "" || ref.DeviceID == "" {
		t.Fatalf("kyc verify %s: %s %v (submission %q, device %q), want %s sealed with an attestation",
			v.Name, res.Decision, ref.Reasons, res.SubmissionID, ref.DeviceID, v.Want)
	}
	return ref
}

// writeBenchPolicy writes the field profile with every finding of this
// machine's device checks ignored (app/demo.WriteBenchPolicy, without the
// camera code that package brings).
func writeBenchPolicy(t testing.TB, ctx context.Context, path string) {
	t.Helper()
	pol, err := device.DefaultPolicy(device.ProfileField)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := device.Run(ctx, device.Options{Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	ignore := device.Rule{OnFail: device.ActionIgnore, OnWarn: device.ActionIgnore}
	for _, ch := range rep.Checks {
		if ch.Status != device.StatusPass {
			pol.Rules[ch.Name] = ignore
		}
	}
	pol.Rules[device.CheckRemoteAccess] = ignore
	b, err := json.Marshal(pol)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// scriptResult is the last line console.mjs prints.
type scriptResult struct {
	Checks []struct {
		Name   string `json:"name"`
		Pass   bool   `json:"pass"`
		Detail string `json:"detail"`
	} `json:"checks"`
	Axe []struct {
		Page       string   `json:"page"`
		Violations []string `json:"violations"`
		Passes     int      `json:"passes"`
	} `json:"axe"`
	Shots []string `json:"shots"`
	Log   []string `json:"log"`
	Step  string   `json:"step"`
	Error string   `json:"error"`
}

// runScript runs web/e2e/console.mjs. The script asks for what only the
// test can do by printing a line "@@<request> <json>"; the test does it
// and answers one JSON line on the script's stdin. Requests:
//
//	@@tamper {"action": A}  change the last audit row of action A in PostgreSQL
//	@@enrol {"token": T}    enrol a new device with a token the console made
func (c *consoleCentral) runScript(t *testing.T, ctx context.Context, root string, tools browserToolset, shots string,
	users map[string]consoleUser, cases map[string]caseRef, partner testPartner) scriptResult {
	t.Helper()
	usersJSON, _ := json.Marshal(users)
	casesJSON, _ := json.Marshal(cases)
	partnerJSON, _ := json.Marshal(partner)
	env := []string{"KYC_CONSOLE_URL=" + c.URL, "KYC_PLAYWRIGHT=" + tools.Playwright, "KYC_AXE=" + tools.Axe,
		"KYC_E2E_CHROMIUM=" + tools.Chromium, "KYC_CONSOLE_SHOTS=" + shots, "KYC_CONSOLE_USERS=" + string(usersJSON),
		"KYC_CONSOLE_CASES=" + string(casesJSON), "KYC_CONSOLE_PARTNER=" + string(partnerJSON)}
	var last string
	stderr, err := browsertest.RunScript(t, ctx, filepath.Join(root, "sync", "central", "console", "web", "e2e", "console.mjs"), env,
		func(req string) string { return c.answer(t, ctx, req) },
		func(line string) {
			if strings.TrimSpace(line) != "" {
				last = line
			}
		})
	if err != nil {
		t.Errorf("console.mjs: %v\n%s", err, stderr)
	}
	var res scriptResult
	if err := json.Unmarshal([]byte(last), &res); err != nil {
		t.Fatalf("console.mjs output %q: %v\n%s\ncentral log:\n%s", last, err, stderr, c.logs.Text())
	}
	return res
}

// testPartner is the test's partner as the browser script gets it: the
// pass key too, which the partners page must not show.
type testPartner struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	PassKey string `json:"pass_key"`
}

// newPartner creates a partner with a webhook endpoint through the admin
// API.
func (c *consoleCentral) newPartner(t *testing.T, ctx context.Context) testPartner {
	t.Helper()
	code, body := c.admin(t, ctx, http.MethodPost, "/admin/v1/partners", []byte(`{"name":"Bank Nusantara","webhook_url":"https://hooks.example.com/kyc"}`))
	var created struct {
		Partner struct{ ID, Name string }
		PassKey string `json:"pass_key"`
	}
	if code != http.StatusCreated || json.Unmarshal(body, &created) != nil || created.Partner.ID == "" || created.PassKey == "" {
		t.Fatalf("creating a partner: %d %s", code, body)
	}
	return testPartner{ID: created.Partner.ID, Name: created.Partner.Name, PassKey: created.PassKey}
}

// partnerAudit is the partner's disable and enable events in the audit
// trail, oldest first: "action actor,...".
func (c *consoleCentral) partnerAudit(t *testing.T, ctx context.Context, id string) string {
	t.Helper()
	conn, err := pgx.Connect(ctx, c.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT action || ' ' || actor FROM audit
		WHERE subject = $1 AND action IN ('partner_disable', 'partner_enable') ORDER BY seq`, "partner:"+id)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(evs, ",")
}

// answer does what the script asked for and says how it went, as JSON.
func (c *consoleCentral) answer(t *testing.T, ctx context.Context, req string) string {
	t.Helper()
	name, arg, _ := strings.Cut(req, " ")
	var a struct {
		Action string `json:"action"`
		Token  string `json:"token"`
	}
	if err := json.Unmarshal([]byte(arg), &a); err != nil {
		return fmt.Sprintf(`{"error":%q}`, "request argument: "+err.Error())
	}
	out, err := func() (any, error) {
		switch name {
		case "tamper":
			return c.tamper(ctx, a.Action)
		case "enrol":
			return c.enrolWith(t, ctx, a.Token)
		}
		return nil, fmt.Errorf("unknown request %q", name)
	}()
	if err != nil {
		return fmt.Sprintf(`{"error":%q}`, err.Error())
	}
	b, _ := json.Marshal(out)
	return string(b)
}

// tamper is an insider with database access rewriting who did something:
// the actor of the last audit row of action now names someone else, the
// row's hash left as it was.
func (c *consoleCentral) tamper(ctx context.Context, action string) (any, error) {
	conn, err := pgx.Connect(ctx, c.dsn)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	var seq int64
	err = conn.QueryRow(ctx, `UPDATE audit SET actor = 'user:mallory'
		WHERE seq = (SELECT max(seq) FROM audit WHERE action = $1) RETURNING seq`, action).Scan(&seq)
	if err != nil {
		return nil, fmt.Errorf("tampering with the audit row of %s: %w", action, err)
	}
	return map[string]int64{"seq": seq}, nil
}

// enrolWith enrols a fresh device folder with a token the console made,
// as an operator at the branch would.
func (c *consoleCentral) enrolWith(t *testing.T, ctx context.Context, token string) (any, error) {
	dir := filepath.Join(t.TempDir(), "device")
	tokFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokFile, []byte(token), 0o600); err != nil {
		return nil, err
	}
	// kyc enroll makes the device's vault, whose key folder must be
	// the user's alone (t.TempDir's are 0755).
	keys := filepath.Join(t.TempDir(), "keys")
	if err := os.Mkdir(keys, 0o700); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, c.kyc, "enroll", "--central", c.URL, "--ca", c.CA, "--token-file", tokFile, "--dir", dir)
	cmd.Env = append(os.Environ(), "KYC_DEVICE_DIR="+dir, "KYC_VAULT_KEY_DIR="+keys)
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("kyc enroll with the console's token: %v: %s", err, out)
	}
	var res struct {
		DeviceID string `json:"device_id"`
	}
	if err := json.Unmarshal(out, &res); err != nil || res.DeviceID == "" {
		return nil, fmt.Errorf("kyc enroll output %q: %v", out, err)
	}
	return res, nil
}
