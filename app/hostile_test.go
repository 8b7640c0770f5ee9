package app

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openkyc/kyc/internal/atomicfile"
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
