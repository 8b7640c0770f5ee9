package app

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/openkyc/kyc/engine/capture"
)

func TestSettingsValidate(t *testing.T) {
	video := filepath.Join(t.TempDir(), "doc.avi")
	if err := os.WriteFile(video, []byte("not checked until opened"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		edit func(*Settings)
		ok   bool
	}{
		"defaults":     {func(*Settings) {}, true},
		"video camera": {func(s *Settings) { s.DocumentCamera = video }, true},
		"language":     {func(s *Settings) { s.Lang = "fr" }, false},
		"no such file": {func(s *Settings) { s.SelfieCamera = video + ".missing" }, false},
		"idle short":   {func(s *Settings) { s.IdleSeconds = 1 }, false},
	} {
		s := DefaultSettings()
		tc.edit(&s)
		if err := s.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok %v", name, err, tc.ok)
		}
	}
}

func TestSessionConfigValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		edit func(*SessionConfig)
		ok   bool
	}{
		"defaults":           {func(*SessionConfig) {}, true},
		"no documents":       {func(c *SessionConfig) { c.AcceptedDocuments = nil }, false},
		"active, no tasks":   {func(c *SessionConfig) { c.LivenessType = "active" }, false},
		"active":             {func(c *SessionConfig) { c.LivenessType, c.Challenges = "active", []string{"blink"} }, true},
		"bad challenge":      {func(c *SessionConfig) { c.LivenessType, c.Challenges = "active", []string{"wink"} }, false},
		"three sides":        {func(c *SessionConfig) { c.Sides = map[string]int{"passport": 3} }, false},
		"no doubt challenge": {func(c *SessionConfig) { c.ChallengeOnDoubt = false }, true},
		"challenge 1 s":      {func(c *SessionConfig) { c.ChallengeSeconds = 1 }, false},
		"prompt 1 s":         {func(c *SessionConfig) { c.PromptSeconds = 1 }, false},
		"prompt over all":    {func(c *SessionConfig) { c.ChallengeSeconds, c.PromptSeconds = 6, 7 }, false},
	} {
		c := DefaultSessionConfig()
		tc.edit(&c)
		if err := c.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok %v", name, err, tc.ok)
		}
	}
	c := DefaultSessionConfig()
	// In doubt the session's challenges are asked, else a turn each way.
	if !c.ChallengeOnDoubt || !slices.Equal(c.challenges(), []capture.Message{capture.TurnLeft, capture.TurnRight}) {
		t.Errorf("default doubt challenge: on %v, %v", c.ChallengeOnDoubt, c.challenges())
	}
	if cc := (SessionConfig{Challenges: []string{"blink"}}); !slices.Equal(cc.challenges(), []capture.Message{capture.Blink}) {
		t.Errorf("configured challenges not used: %v", cc.challenges())
	}
	if !c.accepts("national_id", "ID") || c.accepts("national_id", "XX") || c.sides("driving_license") != 2 || c.sides("passport") != 1 {
		t.Errorf("accepts/sides wrong for %+v", c)
	}
}

func TestOperators(t *testing.T) {
	h, err := hashPassphrase("agent01", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	h2, err := hashPassphrase("agent02", "another horse battery")
	if err != nil {
		t.Fatal(err)
	}
	h2.Role = RoleOperator
	path := filepath.Join(t.TempDir(), "operators.json")
	if err := writeJSON(path, operators{Accounts: []operatorHash{h, h2}}); err != nil {
		t.Fatal(err)
	}
	var ops operators
	if err := readJSON(path, &ops); err != nil {
		t.Fatal(err)
	}
	// agent01 has no role, as accounts made before roles: the first
	// account is the supervisor.
	for _, tc := range []struct {
		name, pass string
		role       Role
		want       error
	}{
		{"agent01", "correct horse battery", RoleSupervisor, nil},
		{"agent02", "another horse battery", RoleOperator, nil},
		{"agent01", "wrong horse battery", "", ErrBadCredentials},
		{"agent02", "correct horse battery", "", ErrBadCredentials},
		{"agent03", "correct horse battery", "", ErrBadCredentials},
		{"", "", "", ErrBadCredentials},
	} {
		if role, err := ops.check(tc.name, tc.pass); !errors.Is(err, tc.want) || role != tc.role {
			t.Errorf("check(%q) = %q, %v, want %q, %v", tc.name, role, err, tc.role, tc.want)
		}
	}
	if validateAccount("agent01", "short") == nil || validateAccount(" padded", "long enough pass") == nil || validateAccount("agent01", "long enough pass") != nil {
		t.Error("validateAccount accepts a short passphrase or a padded name, or refuses a good account")
	}
}

// TestAddOperator: a supervisor adds an operator, who then signs in with
// that role; an operator cannot add accounts, nor can a name be taken
// twice.
func TestAddOperator(t *testing.T) {
	a := New(Config{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	a.ui.screen = ScreenSignIn
	if _, err := a.SignIn("chief", "supervisor passphrase"); err != nil { // first run: the supervisor
		t.Fatal(err)
	}
	req := NewOperator{Supervisor: "chief", Passphrase: "supervisor passphrase", Name: "agent02", NewPassphrase: "another horse battery", Role: RoleOperator}
	if _, err := a.AddOperator(req); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddOperator(req); err == nil {
		t.Error("the same name was added twice")
	}
	byOperator := req
	byOperator.Supervisor, byOperator.Passphrase, byOperator.Name = "agent02", "another horse battery", "agent03"
	if _, err := a.AddOperator(byOperator); err == nil {
		t.Error("an operator added an account")
	}
	// The accounts are kept: a fresh app reads them.
	b := New(Config{Dir: a.cfg.Dir, Logger: slog.New(slog.DiscardHandler)})
	if err := b.loadFiles(); err != nil {
		t.Fatal(err)
	}
	b.ui.screen = ScreenSignIn
	v, err := b.SignIn("agent02", "another horse battery")
	if err != nil || v.Role != RoleOperator {
		t.Errorf("the new operator signs in as %q: %v", v.Role, err)
	}
	if n := len(b.staff.accounts.Accounts); n != 2 {
		t.Errorf("%d accounts, want 2", n)
	}
}
