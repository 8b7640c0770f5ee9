package app

import (
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"
)

// TestPassphraseGuessesBounded: wrong passphrases in a row at the window
// (a kiosk's sign-in, where anyone walking up stands) close every
// passphrase check for a while after the free ones: sign-in and the
// supervisor's approval of an account or an enrolment, even with the
// right passphrase, so the settings screen's forms are no way around it;
// the wait passes, and a right passphrase then opens and resets the count.
func TestPassphraseGuessesBounded(t *testing.T) {
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	a := New(Config{Dir: filepath.Join(t.TempDir(), "desktop"), Logger: slog.New(slog.DiscardHandler),
		Clock: func() time.Time { return now }})
	a.staff.accounts.Accounts = []operatorHash{account(t, "chief", "supervisor passphrase", RoleSupervisor)}
	a.ui.screen = ScreenSignIn
	for i := range freeGuesses + 1 {
		if _, err := a.SignIn("chief", "a guess"); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("wrong passphrase %d: %v", i+1, err)
		}
	}
	if _, err := a.SignIn("chief", "supervisor passphrase"); !errors.Is(err, ErrTooManyGuesses) {
		t.Fatalf("sign-in after %d wrong passphrases: %v, want it refused for a while", freeGuesses+1, err)
	}
	if _, err := a.AddOperator(NewOperator{Supervisor: "chief", Passphrase: "supervisor passphrase", Name: "agent09",
		NewPassphrase: "another horse battery", Role: RoleOperator}); !errors.Is(err, ErrTooManyGuesses) {
		t.Errorf("a supervisor's approval of an account meanwhile: %v", err)
	}
	if _, err := a.Enrol(EnrolRequest{Supervisor: "chief", Passphrase: "supervisor passphrase"}); !errors.Is(err, ErrTooManyGuesses) {
		t.Errorf("a supervisor's approval of the enrolment meanwhile: %v", err)
	}
	now = now.Add(firstGuessWait)
	if _, err := a.SignIn("chief", "supervisor passphrase"); err != nil {
		t.Fatalf("sign-in once the wait passed: %v", err)
	}
	if a.staff.guard != (guessGuard{}) {
		t.Errorf("the count stays after a right passphrase: %+v", a.staff.guard)
	}
}
