package app

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
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
	chief, err := hashPassphrase("chief", "supervisor passphrase")
	if err != nil {
		t.Fatal(err)
	}
	chief.Role = RoleSupervisor
	a.staff.accounts.Accounts = []operatorHash{chief}
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
