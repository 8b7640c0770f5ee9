package app

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/engine/document"
	"github.com/openkyc/kyc/engine/document/fields"
	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/engine/verify"
	"github.com/openkyc/kyc/internal/handoff"
	"github.com/openkyc/kyc/internal/submission"
	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/identity"
)

// TestOperatorDetails runs the demo person through the app and opens the
// result as the operator does: the card's identity with the source of each
// fact, the three pictures, the face scores against their thresholds and
// each check in words. The queue masks the name; another operator may not
// open it, the supervisor may; the View never carries any of it.
func TestOperatorDetails(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a whole verification: skipped in -short mode")
	}
	f := startFlowApp(t)
	a := f.a
	doc, selfie := demoVideo(a.demoDir(), "document"), demoVideo(a.demoDir(), "selfie")
	waitFiles(t, 2*time.Minute, doc, selfie) // rendered by the app's start-up
	res, _ := f.verify(t, doc, selfie, "id", func(*SessionConfig) {})

	d, err := a.Details(res.SubmissionID)
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]IdentityField{}
	for _, fl := range d.Identity {
		fields[fl.Key] = fl
	}
	if n := fields["name"]; n.Value != "SITI RAHAYU" || n.Label != "Nama" || n.Source == "" {
		t.Errorf("name %+v, want the card's SITI RAHAYU labelled in Indonesian with its source", n)
	}
	if n := fields["nik"]; n.Value != "3171234508900001" {
		t.Errorf("NIK %+v", n)
	}
	for _, k := range []string{"birth_date", "sex", "address", "expiry_date"} {
		if fields[k].Value == "" {
			t.Errorf("no %s in %+v", k, d.Identity)
		}
	}
	for name, img := range map[string]string{"document": d.Images.Document, "portrait": d.Images.Portrait, "selfie": d.Images.Selfie} {
		if !strings.HasPrefix(img, "data:image/jpeg;base64,") || len(img) < 2000 {
			t.Errorf("the %s picture is missing (%d bytes)", name, len(img))
		}
	}
	if len(d.Images.Portrait) >= len(d.Images.Document) {
		t.Errorf("the portrait (%d) is not cut from the document (%d)", len(d.Images.Portrait), len(d.Images.Document))
	}
	if d.Match.Value == nil || d.Liveness.Value == nil || d.Match.Threshold <= 0 || d.Liveness.Threshold <= 0 ||
		d.Match.Pass != (*d.Match.Value >= d.Match.Threshold) {
		t.Errorf("gauges %+v %+v", d.Match, d.Liveness)
	}
	checks := map[string]Check{}
	for _, c := range d.Checks {
		checks[c.Key] = c
		if c.Text == "" || strings.HasPrefix(c.Text, "check.") || strings.Contains(c.Text, "_") {
			t.Errorf("check %s is not in words: %q", c.Key, c.Text)
		}
	}
	for _, k := range []string{"authenticity", "data", "mrz", "screening", "device"} {
		if _, ok := checks[k]; !ok {
			t.Errorf("no %s check: %+v", k, d.Checks)
		}
	}
	if checks["screening"].Outcome != CheckPass || checks["mrz"].Outcome != CheckNotRun {
		t.Errorf("a KTP screened against the OFAC sample: %+v", d.Checks)
	}
	if d.Do == "" || d.Say == "" {
		t.Errorf("no next step: %+v", d)
	}
	t.Logf("decision %s, match %.3f/%.2f, liveness %.3f/%.2f", d.Decision, *d.Match.Value, d.Match.Threshold, *d.Liveness.Value, d.Liveness.Threshold)

	item := func() QueueItem {
		for _, it := range a.Queue().Items {
			if it.ID == res.SubmissionID {
				return it
			}
		}
		t.Fatalf("%s is not in the queue", res.SubmissionID)
		return QueueItem{}
	}
	if it := item(); it.Name != "S*** R*****" || it.DocType != "national_id" || it.Decision != string(d.Decision) || !it.Mine {
		t.Errorf("queue item %+v, want the name masked and the supervisor allowed to open it", it)
	}

	// Another operator sees the masked line and may not open it.
	h := account(t, "agent02", "another horse battery", RoleOperator)
	a.mu.Lock()
	a.staff.accounts.Accounts = append(a.staff.accounts.Accounts, h)
	a.mu.Unlock()
	a.SignOut()
	if _, err := a.SignIn("agent02", "another horse battery"); err != nil {
		t.Fatal(err)
	}
	if it := item(); it.Mine || it.Name != "S*** R*****" {
		t.Errorf("queue item for another operator: %+v", it)
	}
	if _, err := a.Details(res.SubmissionID); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("another operator opened the submission: %v", err)
	}
	b, err := json.Marshal(a.State())
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); strings.Contains(s, "SITI") || strings.Contains(s, "RAHAYU") || strings.Contains(s, "data:image") || strings.Contains(s, "3171") {
		t.Errorf("the View carries personal data: %s", s)
	}
}

// waitFiles waits for paths to exist.
func waitFiles(t *testing.T, d time.Duration, paths ...string) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(d)
	for _, p := range paths {
		for !exists(p) {
			select {
			case <-tick.C:
			case <-deadline:
				t.Fatalf("%s did not appear within %s", p, d)
			}
		}
	}
}

// TestEnrolFromApp enrols the device with a real central (TLS, its own CA)
// from the app as a supervisor does; an operator may not, nor a second
// enrolment unless asked for; the sync loop is woken.
func TestEnrolFromApp(t *testing.T) {
	t.Setenv("KYC_VAULT_KEY_FILE", "")
	t.Setenv("KYC_VAULT_PASSPHRASE", "")
	c := centraltest.New(t, centraltest.BoltStore(t), centraltest.Options{})
	c.Serve(t)
	dir := t.TempDir()
	a := New(Config{Version: "test", Dir: filepath.Join(dir, "desktop"), DeviceDir: filepath.Join(dir, "device"),
		KeyDir: filepath.Join(dir, "keys"), Logger: slog.New(slog.DiscardHandler)})
	a.ctx = context.Background()
	addChiefAndAgent(t, a)
	tok, err := c.Server.CreateEnrollToken(a.ctx, "test", "branch-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	req := EnrolRequest{CentralURL: c.Base, Token: tok.Token, CA: c.CAFile, Supervisor: "agent02", Passphrase: "another horse battery"}
	if v, err := a.Enrol(req); err == nil || v.Enrolled {
		t.Fatalf("an operator enrolled the device: %+v", v)
	}
	req.Supervisor, req.Passphrase = "chief", "supervisor passphrase"
	vlt, err := a.openVault(a.ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vlt.Close() })
	a.vault = vlt
	v, err := a.Enrol(req)
	if err != nil {
		t.Fatal(err)
	}
	id, err := identity.Load(a.dev.DeviceKeyPath())
	if err != nil {
		t.Fatal(err)
	}
	if !v.Enrolled || v.DeviceID != id.DeviceID() || v.CentralURL != c.Base {
		t.Errorf("enrolment %+v, want device %s at %s", v, id.DeviceID(), c.Base)
	}
	// The vault pins the enrolment, so deleting its file is refused.
	if pin, ok, err := vlt.Pinned(a.ctx); err != nil || !ok || pin.DeviceID != id.DeviceID() || pin.CentralURL != c.Base {
		t.Errorf("the vault's pin: %+v, %v, %v; want the enrolment", pin, ok, err)
	}
	select {
	case <-a.enrolled:
	default:
		t.Error("the sync loop was not woken")
	}
	if _, err := os.Stat(a.dev.EnrollmentPath()); err != nil {
		t.Error(err)
	}
	// The token is spent and the device enrolled: a second enrolment is
	// refused before central is asked.
	if _, err := a.Enrol(req); err == nil || !strings.Contains(err.Error(), "already enrolled") {
		t.Errorf("second enrolment: %v", err)
	}
	// The token in a QR code with central's address.
	if c, tk, ok := parseEnrolQR("openkyc-enrol:?central=https%3A%2F%2F10.0.0.1%3A8443&token=abc.def"); !ok || c != "https://10.0.0.1:8443" || tk != "abc.def" {
		t.Errorf("parseEnrolQR = %q %q %v", c, tk, ok)
	}
}

// TestMaskName: every word keeps its first letter.
func TestMaskName(t *testing.T) {
	for in, want := range map[string]string{"SITI RAHAYU": "S*** R*****", "Ana": "A**", "  ÉMILE  zola ": "É**** z***", "": ""} {
		if got := maskName(in); got != want {
			t.Errorf("maskName(%q) = %q, want %q", in, got, want)
		}
	}
	if !regexp.MustCompile(`^\S\**$`).MatchString(maskName("X")) {
		t.Error("a one-letter name")
	}
}

// TestNextSteps: a retry says what to do differently at the capture that
// failed, in the operator's language; the customer's advice follows from
// the step alone.
func TestNextSteps(t *testing.T) {
	do, say, retry := nextSteps(risk.Reject, risk.Retry, risk.RetrySelfie, []risk.ReasonCode{risk.NoFace}, operatorWords("en"))
	if do == "" || say == "" || !strings.HasPrefix(retry, "No face was found") || !strings.Contains(retry, "Face the camera") {
		t.Errorf("retry of the selfie: %q %q %q", do, say, retry)
	}
	_, _, retry = nextSteps(risk.Reject, risk.Retry, risk.RetryDocument, nil, operatorWords("id"))
	if !strings.HasPrefix(retry, "Letakkan dokumen") {
		t.Errorf("retry of the document in Indonesian: %q", retry)
	}
	if do, _, retry := nextSteps(risk.Approve, risk.Exit, "", nil, operatorWords("en")); retry != "" || !strings.HasPrefix(do, "Verified") {
		t.Errorf("approval: %q %q", do, retry)
	}
	if do, say, _ := nextSteps(risk.Reject, risk.Exit, "", []risk.ReasonCode{risk.HolderUnderage}, operatorWords("en")); !strings.Contains(do, "minimum age") || !strings.Contains(say, "minimum age") {
		t.Errorf("a holder under the minimum age: %q %q", do, say)
	}
	if do, _, _ := nextSteps(risk.Reject, risk.Exit, "", []risk.ReasonCode{risk.DeviceBlocked, risk.HolderUnderage}, operatorWords("en")); strings.Contains(do, "minimum age") {
		t.Errorf("a refusal led by another reason names the age: %q", do)
	}
}

// TestUnderageCheck: the operator's data check names a holder under the
// minimum age, failed when the document confirms the birth date and for
// central's reviewers when it was read once.
func TestUnderageCheck(t *testing.T) {
	for _, vouched := range []bool{true, false} {
		p := submission.Payload{Report: &verify.Report{
			Reasons:  []risk.Reason{{Code: risk.HolderUnderage}},
			Document: &document.Result{Age: &fields.Age{Years: 16, Vouched: vouched}},
		}}
		var data Check
		for _, c := range checks(p, operatorWords("en")) {
			if c.Key == "data" {
				data = c
			}
		}
		want := map[bool]string{true: CheckFail, false: CheckWarn}[vouched]
		if data.Outcome != want || !strings.Contains(data.Text, "minimum age") {
			t.Errorf("vouched %v: data check %+v, want %s naming the minimum age", vouched, data, want)
		}
	}
}

// TestScanQR reads an enrolment QR code with the camera: here a folder of
// pictures of one, as the capture sources read a camera.
func TestScanQR(t *testing.T) {
	dir := t.TempDir()
	const text = "openkyc-enrol:?central=https%3A%2F%2F10.0.0.5%3A8443&token=secret.fingerprint"
	png, err := handoff.QRPNG(text, 480)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a.png", "b.png"} {
		if err := os.WriteFile(filepath.Join(dir, n), png, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	a := New(Config{Dir: filepath.Join(t.TempDir(), "desktop"), Logger: slog.New(slog.DiscardHandler)})
	a.ctx = context.Background()
	got, err := a.ScanQR(dir)
	if err != nil || got != text {
		t.Fatalf("ScanQR = %q, %v, want %q", got, err, text)
	}
	if c, tok, ok := parseEnrolQR(got); !ok || c != "https://10.0.0.5:8443" || tok != "secret.fingerprint" {
		t.Errorf("the scanned code reads %q %q %v", c, tok, ok)
	}
}

// TestPreviewCamera: the settings screen's camera check shows the chosen
// camera's frames in the preview until stopped.
func TestPreviewCamera(t *testing.T) {
	dir := t.TempDir()
	png, err := handoff.QRPNG("any picture", 320)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.png"), png, 0o600); err != nil {
		t.Fatal(err)
	}
	a := New(Config{Dir: filepath.Join(t.TempDir(), "desktop"), Logger: slog.New(slog.DiscardHandler)})
	a.ctx, a.cancel = context.WithCancel(context.Background())
	defer a.Shutdown(a.ctx)
	if err := a.PreviewCamera(dir); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(20 * time.Second)
	f := a.Frame(0)
	for f.JPEG == "" || !f.Live {
		select {
		case <-deadline:
			t.Fatalf("no preview frame: %+v", f)
		default:
		}
		f = a.Frame(f.Seq) // waits for the next frame, at most a second
	}
	if !strings.HasPrefix(f.JPEG, "data:image/jpeg;base64,") || f.Width <= 0 || f.Height <= 0 {
		t.Errorf("preview frame %dx%d %.30q", f.Width, f.Height, f.JPEG)
	}
	a.StopPreview()
	for f.Live {
		select {
		case <-deadline:
			t.Fatal("the preview did not stop")
		default:
		}
		f = a.Frame(f.Seq)
	}
}
