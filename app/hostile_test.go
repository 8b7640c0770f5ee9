package app

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openkyc/kyc/internal/atomicfile"
	"github.com/openkyc/kyc/internal/handoff"
	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/identity"
)

// TestEnrolCAIsAFile: the enrolment form's CA, when not a PEM, is the
// path of central's ca.crt. A path to a FIFO, /dev/zero or anything but a
// regular file of a CA's size is refused at once: reading a FIFO waited
// for a writer forever, /dev/zero grew the app's memory until it died.
func TestEnrolCAIsAFile(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "ca.crt")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	a := New(Config{Dir: filepath.Join(t.TempDir(), "desktop"), Logger: slog.New(slog.DiscardHandler)})
	a.ctx = context.Background()
	a.staff.accounts.Accounts = []operatorHash{account(t, "chief", "supervisor passphrase", RoleSupervisor)}
	b64 := base64.RawURLEncoding.EncodeToString
	token := b64(make([]byte, 16)) + "." + b64(make([]byte, 16))
	for _, ca := range []string{fifo, "/dev/zero"} {
		done := make(chan error, 1)
		go func() {
			_, err := a.Enrol(EnrolRequest{CentralURL: "https://central.example:8443", Token: token, CA: ca,
				Supervisor: "chief", Passphrase: "supervisor passphrase"})
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, atomicfile.ErrNotRegular) {
				t.Errorf("CA %s: %v, want it refused as no regular file", ca, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("enrolment with the CA %s did not return", ca)
		}
	}
}

// TestOperatorNameCharacters: an operator's name is shown on the queue,
// in the audit trail and with each submission: control characters (a
// newline, a terminal's escape) and the invisible format characters that
// reorder or hide text (a right-to-left override) are refused.
func TestOperatorNameCharacters(t *testing.T) {
	const pass = "correct horse battery"
	for _, name := range []string{"agent\n01", "agent\x1b[2J01", "agent\u202e10", "agent\u200b01", "agent\x0001", "ag\u2028ent"} {
		if err := validateAccount(name, pass); err == nil {
			t.Errorf("validateAccount(%q) accepted it", name)
		}
	}
	for _, name := range []string{"agent01", "Siti Rahayu", "Łukasz Ó'Brien-Nguyễn", strings.Repeat("é", 64)} {
		if err := validateAccount(name, pass); err != nil {
			t.Errorf("validateAccount(%q): %v", name, err)
		}
	}
	// The first run's sign-in makes the supervisor's account from what
	// it is given: the same rule.
	a := New(Config{Dir: filepath.Join(t.TempDir(), "desktop"), Logger: slog.New(slog.DiscardHandler)})
	a.ui.screen = ScreenSignIn
	if _, err := a.SignIn("chief\r\nrole=supervisor", pass); err == nil || len(a.staff.accounts.Accounts) != 0 {
		t.Errorf("first-run sign-in with a newline in the name: %v, accounts %d", err, len(a.staff.accounts.Accounts))
	}
}

// TestSignOutWhileStarting: a new verification checks the device with the
// lock let go; an operator signed out meanwhile (the home's "Sign out"
// pressed right after "New verification") must not find a session open
// on the screen they left, for whoever stands there next. The device
// policy read from a FIFO holds the check until the sign-out is done.
func TestSignOutWhileStarting(t *testing.T) {
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.json")
	if err := syscall.Mkfifo(policy, 0o600); err != nil {
		t.Fatal(err)
	}
	a := New(Config{Dir: filepath.Join(dir, "desktop"), DeviceDir: filepath.Join(dir, "device"), WatchlistDir: filepath.Join(dir, "watchlists"),
		Profile: "field", DevicePolicy: policy, Logger: slog.New(slog.DiscardHandler)})
	a.ctx, a.vault, a.ui.screen = context.Background(), rejectedVault(t), ScreenHome
	a.staff.accounts.Accounts = make([]operatorHash, 1)
	a.staff.operator, a.staff.role = "agent01", RoleSupervisor
	done := viewOf(a.StartSession)
	w, err := os.OpenFile(policy, os.O_WRONLY, 0) // once the check reads the policy
	if err != nil {
		t.Fatal(err)
	}
	a.SignOut()
	if _, err := w.WriteString("{}"); err != nil {
		t.Fatal(err)
	}
	w.Close()
	s := awaitView(t, done, "StartSession")
	a.mu.Lock()
	defer a.mu.Unlock()
	if s.err == nil || a.sess != nil || a.ui.screen != ScreenSignIn || s.v.Screen != ScreenSignIn {
		t.Errorf("after the sign-out: %v, session %v, screen %s (view %s); want no session, sign-in", s.err, a.sess != nil, a.ui.screen, s.v.Screen)
	}
}

// started is what a bound call run aside returned.
type started struct {
	v   View
	err error
}

// viewOf runs call aside; its answer comes on the channel.
func viewOf(call func() (View, error)) <-chan started {
	done := make(chan started, 1)
	go func() {
		v, err := call()
		done <- started{v, err}
	}()
	return done
}

// awaitView waits, a minute at most, for the answer of the call named.
func awaitView(t *testing.T, done <-chan started, name string) started {
	t.Helper()
	select {
	case s := <-done:
		return s
	case <-time.After(time.Minute):
		t.Fatalf("%s did not return", name)
		return started{}
	}
}

// heldCentral answers every request with a hand-off once released: the
// first request waits on release, and started says it came.
type heldCentral struct {
	started, release chan struct{}
	once             sync.Once
}

func (h *heldCentral) RoundTrip(r *http.Request) (*http.Response, error) {
	h.once.Do(func() {
		close(h.started)
		<-h.release
	})
	body := `{"id":"hof-1","session_id":"ses-1","url":"https://central.example/h/abc","code_url":"https://central.example/c","short_code":"ABCD"}`
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
}

// TestSignOutWhileHandingOff: opening the phone hand-off waits on central
// (up to 30 s) with the lock let go; an operator signed out meanwhile
// must not find its QR screen, and a hosted session followed, on the
// screen they left.
func TestSignOutWhileHandingOff(t *testing.T) {
	dir := t.TempDir()
	id, err := identity.LoadOrCreate(filepath.Join(dir, "device.key"))
	if err != nil {
		t.Fatal(err)
	}
	central := &heldCentral{started: make(chan struct{}), release: make(chan struct{})}
	up, err := agent.NewUploader(agent.Config{Identity: id, Transport: central, RetryMax: -1,
		Enrollment: identity.Enrollment{DeviceID: id.DeviceID(), CentralURL: "https://central.example"}})
	if err != nil {
		t.Fatal(err)
	}
	a := New(Config{Dir: filepath.Join(dir, "desktop"), Logger: slog.New(slog.DiscardHandler)})
	a.ctx, a.cancel = context.WithCancel(context.Background())
	defer a.Shutdown(a.ctx)
	a.link.uploader, a.ui.screen = up, ScreenHome
	a.staff.accounts.Accounts = make([]operatorHash, 1)
	a.staff.operator, a.staff.role = "agent01", RoleSupervisor
	done := viewOf(a.StartHandoff)
	<-central.started
	a.SignOut()
	close(central.release)
	s := awaitView(t, done, "StartHandoff")
	a.mu.Lock()
	defer a.mu.Unlock()
	if s.err == nil || a.handoff != nil || a.ui.screen != ScreenSignIn || s.v.Screen != ScreenSignIn {
		t.Errorf("after the sign-out: %v, hand-off %v, screen %s (view %s); want none, sign-in", s.err, a.handoff != nil, a.ui.screen, s.v.Screen)
	}
}

// TestSignOutStopsThePreview: the settings screen's camera preview (up to
// 30 s) ends when the operator signs out or is signed out for idling,
// rather than running on behind the sign-in screen.
func TestSignOutStopsThePreview(t *testing.T) {
	now := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	for _, how := range []string{"sign-out", "idle"} {
		t.Run(how, func(t *testing.T) {
			pictures := t.TempDir()
			if err := os.WriteFile(filepath.Join(pictures, "a.png"), qrPNG(t), 0o600); err != nil {
				t.Fatal(err)
			}
			clock := now
			a := New(Config{Dir: filepath.Join(t.TempDir(), "desktop"), Logger: slog.New(slog.DiscardHandler),
				Clock: func() time.Time { return clock }})
			a.ctx, a.cancel = context.WithCancel(context.Background())
			defer a.Shutdown(a.ctx)
			a.staff.accounts.Accounts = make([]operatorHash, 1)
			a.staff.operator, a.staff.role, a.ui.screen = "agent01", RoleSupervisor, ScreenHome
			a.OpenSettings()
			if err := a.PreviewCamera(pictures); err != nil {
				t.Fatal(err)
			}
			if how == "idle" {
				clock = clock.Add(time.Hour)
				a.checkIdle()
			} else {
				a.SignOut()
			}
			a.mu.Lock()
			running := a.cameraStop != nil
			a.mu.Unlock()
			if running || a.staff.operator != "" {
				t.Errorf("after the %s: preview running %v, operator %q", how, running, a.staff.operator)
			}
		})
	}
}

func qrPNG(t *testing.T) []byte {
	t.Helper()
	png, err := handoff.QRPNG("any picture", 320)
	if err != nil {
		t.Fatal(err)
	}
	return png
}

// supervisedApp is an app in dir with a supervisor chief (passphrase
// "supervisor passphrase") and an operator agent02, nobody signed in,
// logging as text to log.
func supervisedApp(t *testing.T, log io.Writer) *App {
	t.Helper()
	dir := t.TempDir()
	a := New(Config{Version: "test", Dir: filepath.Join(dir, "desktop"), DeviceDir: filepath.Join(dir, "device"),
		KeyDir: filepath.Join(dir, "keys"), Logger: slog.New(slog.NewTextHandler(log, nil))})
	a.ctx, a.ui.screen = context.Background(), ScreenSignIn
	addChiefAndAgent(t, a)
	return a
}

// addChiefAndAgent gives a the accounts of a supervisor chief (passphrase
// "supervisor passphrase") and an operator agent02 ("another horse
// battery"), and no others.
func addChiefAndAgent(t *testing.T, a *App) {
	t.Helper()
	a.staff.accounts = operators{Accounts: []operatorHash{
		account(t, "chief", "supervisor passphrase", RoleSupervisor),
		account(t, "agent02", "another horse battery", RoleOperator),
	}}
}

// account is the account of name, with passphrase pass and role.
func account(t *testing.T, name, pass string, role Role) operatorHash {
	t.Helper()
	h, err := hashPassphrase(name, pass)
	if err != nil {
		t.Fatal(err)
	}
	h.Role = role
	return h
}

// TestEnrolAddressRedacted: a token or password pasted into the
// enrolment's central address (user info, a query, a fragment) is refused
// with a message that shows the address without it, and reaches neither
// the log nor the screen; an address with user info is refused as such
// (central knows a device by its token and TLS). identity's refusal
// quoted the address as typed, and the app logged it once the
// supervisor's passphrase was accepted.
func TestEnrolAddressRedacted(t *testing.T) {
	b64 := base64.RawURLEncoding.EncodeToString
	token := b64(make([]byte, 16)) + "." + b64(make([]byte, 16))
	for _, c := range []struct {
		name, central, token string
		want                 []string // in the error
	}{
		{"user info", "https://admin:hunter2secret@central.example:8443/kyc", token,
			[]string{"https://central.example:8443/kyc", "user name and password"}},
		{"user alone", "https://hunter2secret@central.example:8443", token, []string{"https://central.example:8443:", "user name"}},
		{"query", "https://central.example:8443/kyc?token=hunter2secret", token, []string{"https://central.example:8443/kyc:", "query"}},
		{"fragment", "https://central.example:8443/#hunter2secret", token, []string{"https://central.example:8443/:", "fragment"}},
		{"no scheme", "admin:hunter2secret@central.example", token, []string{"want https://"}},
		{"not a URL", "https://admin:hunter2secret/x@central.example", token, []string{"want https://"}},
		{"in the QR code", "", "openkyc-enrol:?central=" + url.QueryEscape("https://admin:hunter2secret@central.example") +
			"&token=" + token, []string{"https://central.example:", "user name"}},
		{"empty", " ", token, []string{"address is empty"}},
		{"too long", "https://central.example/" + strings.Repeat("hunter2secret", 200), token, []string{"longer than"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var log strings.Builder
			a := supervisedApp(t, &log)
			_, err := a.Enrol(EnrolRequest{CentralURL: c.central, Token: c.token, Supervisor: "chief", Passphrase: "supervisor passphrase"})
			if err == nil {
				t.Fatal("enrolled")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q, want %q in it", err, w)
				}
			}
			for where, text := range map[string]string{"error": err.Error(), "screen": a.ui.lastError, "log": log.String()} {
				if strings.Contains(text, "hunter2") || strings.Contains(text, "admin") {
					t.Errorf("the %s carries the credentials: %s", where, text)
				}
			}
			if !strings.Contains(log.String(), "enrolment from the app") {
				t.Errorf("the failure was not logged: %s", log.String())
			}
		})
	}
}

// TestHandEditedEnrolmentRedacted: an enrolment file written by hand with
// credentials in central's address holds the sync loop's start with an
// error (logged, shown on the home screen) that does not carry them, and
// neither the status nor the settings show the address (the file is refused
// as malformed: identity.LoadEnrollment). The loop goes on looking: the
// file replaced (enrolling again), it reads the new one without a restart.
func TestHandEditedEnrolmentRedacted(t *testing.T) {
	var log strings.Builder
	a := supervisedApp(t, &log)
	if err := os.MkdirAll(a.dev.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	id, err := identity.LoadOrCreate(a.dev.DeviceKeyPath())
	if err != nil {
		t.Fatal(err)
	}
	enr := identity.Enrollment{CentralURL: "https://admin:hunter2secret@central.example:8443/kyc?token=hunter2token",
		DeviceID: id.DeviceID(), CentralBoxKey: [32]byte{1}, EnrolledAt: time.Now()}
	if err := identity.SaveEnrollment(a.dev.EnrollmentPath(), enr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.startSync(ctx, nil)
	}()
	status := func() SyncStatus {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.link.status
	}
	waitFor := func(what string, ok func(SyncStatus) bool) SyncStatus {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for st := status(); ; st = status() {
			if ok(st) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the status is %+v after 30 s", what, st)
			}
			time.Sleep(10 * time.Millisecond) // paces the poll of a condition
		}
	}
	st := waitFor("the file refused", func(st SyncStatus) bool { return st.LastError != "" })
	a.mu.Lock()
	a.staff.operator, a.staff.role = "chief", RoleSupervisor
	a.mu.Unlock()
	shown := a.Enrolment()
	if st.LastError == "" || !strings.Contains(st.LastError, "user name") {
		t.Errorf("the status's error %q, want the address refused", st.LastError)
	}
	if !st.Enrolled || st.CentralURL != "" || shown != (EnrolmentView{Enrolled: true}) {
		t.Errorf("the enrolment shown: %+v on home, %+v in the settings", st, shown)
	}
	for where, text := range map[string]string{"status": st.LastError, "log": log.String()} {
		if strings.Contains(text, "hunter2") {
			t.Errorf("the %s carries the credentials: %s", where, text)
		}
	}
	// Enrolled again (here to plain http elsewhere, which LoadEnrollment
	// reads and the uploader refuses, so the loop needs no central): the
	// loop takes the new file once woken.
	enr.CentralURL = "http://central.example:8080"
	if err := identity.SaveEnrollment(a.dev.EnrollmentPath(), enr); err != nil {
		t.Fatal(err)
	}
	a.enrolled <- struct{}{}
	select {
	case <-done:
	case <-time.After(30 * time.Second): // a bound on a hang, not a wait
		t.Fatal("the sync loop did not read the enrolment written again")
	}
	if st := status(); st.CentralURL != enr.CentralURL || !strings.Contains(st.LastError, identity.ErrInsecureURL.Error()) {
		t.Errorf("after enrolling again: %+v, want the new file read (its plain http refused)", st)
	}
}

// TestSettingsBeforeSignIn: the settings screen opens from sign-in, where
// at a kiosk anyone stands: nobody signed in, Settings gives only what the
// screens render by (no camera, attached or set: a stream's address, the
// paths captures come from) and Enrolment only whether the device is
// enrolled (no device id, no central address). A signed-in operator, and
// the first run's setup, see all.
func TestSettingsBeforeSignIn(t *testing.T) {
	a := supervisedApp(t, io.Discard)
	const stream = "rtsp://admin:hunter2@10.0.0.7:554/stream1"
	a.settings = Settings{DocumentCamera: t.TempDir(), SelfieCamera: stream, Lang: "id", Kiosk: true, IdleSeconds: 300}
	if err := os.MkdirAll(a.dev.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	enr := identity.Enrollment{CentralURL: "https://central.example:8443", DeviceID: "dev-0123", CentralBoxKey: [32]byte{1}, EnrolledAt: time.Now()}
	if err := identity.SaveEnrollment(a.dev.EnrollmentPath(), enr); err != nil {
		t.Fatal(err)
	}
	sv, ev := a.Settings(), a.Enrolment()
	want := SettingsView{Settings: Settings{Lang: "id", Kiosk: true, IdleSeconds: 300}, Cameras: []CameraChoice{}, SignInToSee: true}
	if !reflect.DeepEqual(sv, want) {
		t.Errorf("nobody signed in sees the settings %+v, want %+v", sv, want)
	}
	if ev != (EnrolmentView{Enrolled: true}) {
		t.Errorf("nobody signed in sees the enrolment %+v, want only that it is enrolled", ev)
	}
	full := func(who, shown string) {
		t.Helper()
		sv, ev := a.Settings(), a.Enrolment()
		if sv.SignInToSee || sv.Settings.SelfieCamera != shown || sv.Settings.DocumentCamera != a.settings.DocumentCamera || len(sv.Cameras) == 0 {
			t.Errorf("%s sees the settings %+v", who, sv)
		}
		if ev.DeviceID != "dev-0123" || ev.CentralURL != enr.CentralURL || !ev.Enrolled {
			t.Errorf("%s sees the enrolment %+v", who, ev)
		}
	}
	a.staff.operator, a.staff.role, a.ui.screen = "agent02", RoleOperator, ScreenSettings
	full("the operator signed in", "rtsp://10.0.0.7:554/stream1") // no user: a supervisor's to see
	a.staff.operator, a.staff.role, a.staff.accounts = "", "", operators{}
	full("the first run", "rtsp://admin:xxxxx@10.0.0.7:554/stream1")
}

// TestEnrolQRWithoutAddress: an enrolment QR code that carries the token
// but no address keeps the address typed (it was replaced by none, and
// the enrolment refused as to no address at all).
func TestEnrolQRWithoutAddress(t *testing.T) {
	b64 := base64.RawURLEncoding.EncodeToString
	token := b64(make([]byte, 16)) + "." + b64(make([]byte, 16))
	a := supervisedApp(t, io.Discard)
	// Plain http to another machine: refused as such before central is asked.
	_, err := a.Enrol(EnrolRequest{CentralURL: "http://central.example:8080", Token: "openkyc-enrol:?token=" + token,
		Supervisor: "chief", Passphrase: "supervisor passphrase"})
	if !errors.Is(err, identity.ErrInsecureURL) {
		t.Errorf("enrolment: %v, want the typed address refused as plain http", err)
	}
}
