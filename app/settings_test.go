package app

import (
	"errors"
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
	path := filepath.Join(t.TempDir(), "operators.json")
	if err := writeJSON(path, operators{Accounts: []operatorHash{h}}); err != nil {
		t.Fatal(err)
	}
	var ops operators
	if err := readJSON(path, &ops); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, pass string
		want       error
	}{
		{"agent01", "correct horse battery", nil},
		{"agent01", "wrong horse battery", ErrBadCredentials},
		{"agent02", "correct horse battery", ErrBadCredentials},
		{"", "", ErrBadCredentials},
	} {
		if err := ops.check(tc.name, tc.pass); !errors.Is(err, tc.want) {
			t.Errorf("check(%q) = %v, want %v", tc.name, err, tc.want)
		}
	}
	if validateAccount("agent01", "short") == nil || validateAccount(" padded", "long enough pass") == nil || validateAccount("agent01", "long enough pass") != nil {
		t.Error("validateAccount accepts a short passphrase or a padded name, or refuses a good account")
	}
}
