package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/openkyc/kyc/engine/capture"
	"github.com/openkyc/kyc/engine/capture/source"
	"github.com/openkyc/kyc/internal/atomicfile"
)

// Settings are the operator's choices on the settings screen, kept in
// settings.json in the app's folder.
type Settings struct {
	// DocumentCamera and SelfieCamera are capture sources as
	// source.Parse reads them: a camera index or /dev/videoN, a stream
	// URL, a video file or an image folder. Empty means the demo video.
	DocumentCamera string `json:"document_camera"`
	SelfieCamera   string `json:"selfie_camera"`
	Lang           string `json:"lang"` // en or id
	// Kiosk starts the next launch fullscreen and frameless, as a single
	// instance (see main.go); it takes effect on restart.
	Kiosk bool `json:"kiosk"`
	// IdleSeconds is how long without input before the session is
	// cleared (and, once more at home, the operator signed out).
	IdleSeconds int `json:"idle_seconds"`
}

// DefaultSettings are the settings of a fresh install.
func DefaultSettings() Settings {
	return Settings{Lang: string(capture.English), IdleSeconds: 120}
}

// Validate reports the first setting the app cannot use.
func (s Settings) Validate() error {
	if _, err := capture.ParseLang(s.Lang); err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	if s.IdleSeconds < 10 || s.IdleSeconds > 3600 {
		return fmt.Errorf("settings: idle timeout %d s: want 10..3600", s.IdleSeconds)
	}
	for _, c := range []string{s.DocumentCamera, s.SelfieCamera} {
		if c == "" {
			continue
		}
		if _, err := source.Parse(c); err != nil {
			return fmt.Errorf("settings: camera %q: %w", source.ForLog(c), err)
		}
	}
	return nil
}

// checkNewCameras refuses a stream address entered now (one that is not
// the camera kept in old) that ffmpeg and the screens would read apart,
// with what to percent-encode (source.CheckAddress): ffmpeg would not
// reach the camera with it, and the settings screen could not show it
// without risking part of its password. One kept from before passes, so
// that the settings saved as shown keep it.
func checkNewCameras(s, old Settings) error {
	for _, c := range []struct{ name, sent, kept string }{
		{"document camera", s.DocumentCamera, old.DocumentCamera},
		{"selfie camera", s.SelfieCamera, old.SelfieCamera},
	} {
		if c.sent == c.kept {
			continue
		}
		if err := source.CheckAddress(c.sent); err != nil {
			return fmt.Errorf("settings: %s: %w", c.name, err)
		}
	}
	return nil
}

// SessionConfig is what a verification session accepts and how it
// captures, as the eKYC flow's session configuration names it. It is read
// from session.json in the app's folder; missing fields keep the defaults.
type SessionConfig struct {
	AcceptedDocuments []string `json:"accepted_documents"`
	AcceptedCountries []string `json:"accepted_countries"`
	// LivenessType is passive, or active with Challenges prompted after
	// the selfie (turn_left, turn_right, blink, smile). An active session
	// whose challenges pass is judged by them (the risk engine's
	// challenge_passed path) rather than by the passive score alone. The
	// prompts, listed here or DoubtChallenges, are always shown in an
	// order drawn at random for each challenge: a listed order is a set,
	// not a sequence a recording could follow.
	LivenessType string   `json:"liveness_type"`
	Challenges   []string `json:"challenges,omitempty"`
	// ChallengeOnDoubt: when the passive liveness lands in the risk
	// policy's band of doubt (next action CHALLENGE), the person is taken
	// back to the selfie camera for an active challenge (Challenges, else
	// DoubtChallenges) and the attempt is verified again with its
	// outcome. Off, no challenge is offered: a score in the band goes to
	// review (the risk engine's ChallengeUnavailable), one below it is a
	// spoof, rejected.
	ChallengeOnDoubt bool `json:"challenge_on_doubt"`
	// ChallengeSeconds is the time to pass every challenge once the first
	// prompt shows, PromptSeconds the time to follow each prompt once it
	// shows; past either the challenge has failed.
	ChallengeSeconds int `json:"challenge_seconds"`
	PromptSeconds    int `json:"prompt_seconds"`
	// Sides is how many sides each document type is captured on; a type
	// not listed has one.
	Sides map[string]int `json:"sides,omitempty"`
	// SessionTTL bounds a whole session, seconds.
	SessionTTL int `json:"session_ttl"`
}

// DefaultSessionConfig accepts the documents the engine reads.
func DefaultSessionConfig() SessionConfig {
	return SessionConfig{
		AcceptedDocuments: []string{"national_id", "passport", "driving_license"},
		AcceptedCountries: []string{"ID", "SG", "MY", "GB", "US"},
		LivenessType:      "passive",
		ChallengeOnDoubt:  true,
		ChallengeSeconds:  20,
		PromptSeconds:     5,
		Sides:             map[string]int{"driving_license": 2},
		SessionTTL:        1800,
	}
}

// DoubtChallenges are the prompts of the challenge asked for in the band
// of doubt when the session configures none: a turn each way, which a
// photo held up to the camera cannot follow.
var DoubtChallenges = []string{"turn_left", "turn_right"}

// challenges returns the prompts of an active challenge: the configured
// ones, else DoubtChallenges. Validate has checked the names.
func (c SessionConfig) challenges() []capture.Message {
	names := c.Challenges
	if len(names) == 0 {
		names = DoubtChallenges
	}
	out := make([]capture.Message, 0, len(names))
	for _, n := range names {
		if m, err := capture.ParseChallenge(n); err == nil {
			out = append(out, m)
		}
	}
	return out
}

// challengeLimits are the time allowed to pass all the challenges and
// each one.
func (c SessionConfig) challengeLimits() (all, each time.Duration) {
	return time.Duration(c.ChallengeSeconds) * time.Second, time.Duration(c.PromptSeconds) * time.Second
}

// Validate reports the first field the flow cannot run with.
func (c SessionConfig) Validate() error {
	switch {
	case len(c.AcceptedDocuments) == 0:
		return errors.New("session config: no accepted documents")
	case len(c.AcceptedCountries) == 0:
		return errors.New("session config: no accepted countries")
	case c.LivenessType != "passive" && c.LivenessType != "active":
		return fmt.Errorf("session config: liveness_type %q: want passive or active", c.LivenessType)
	case c.LivenessType == "active" && len(c.Challenges) == 0:
		return errors.New("session config: active liveness needs challenges")
	case c.SessionTTL < 60:
		return fmt.Errorf("session config: session_ttl %d s below 60", c.SessionTTL)
	case c.ChallengeSeconds < 5 || c.ChallengeSeconds > 120:
		return fmt.Errorf("session config: challenge_seconds %d: want 5..120", c.ChallengeSeconds)
	case c.PromptSeconds < 2 || c.PromptSeconds > c.ChallengeSeconds:
		return fmt.Errorf("session config: prompt_seconds %d: want 2..challenge_seconds (%d)", c.PromptSeconds, c.ChallengeSeconds)
	}
	for _, ch := range c.Challenges {
		if _, err := capture.ParseChallenge(ch); err != nil {
			return fmt.Errorf("session config: %w", err)
		}
	}
	for doc, n := range c.Sides {
		if n != 1 && n != 2 {
			return fmt.Errorf("session config: %s has %d sides: want 1 or 2", doc, n)
		}
	}
	return nil
}

// sides is how many sides of doc are captured.
func (c SessionConfig) sides(doc string) int {
	if n := c.Sides[doc]; n == 2 {
		return 2
	}
	return 1
}

// accepts reports whether the pair is allowed.
func (c SessionConfig) accepts(doc, country string) bool {
	return slices.Contains(c.AcceptedDocuments, doc) && slices.Contains(c.AcceptedCountries, country)
}

// ttl is the session lifetime.
func (c SessionConfig) ttl() time.Duration { return time.Duration(c.SessionTTL) * time.Second }

// readJSON decodes path into v, leaving v as it is when the file does not
// exist.
func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decoding %s: %w", path, err)
	}
	return nil
}

// writeJSON writes v to path through a synced temporary file and a rename,
// so a crash leaves the old file or the new one, never half of either.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	if err := atomicfile.Write(path, append(b, '\n')); err != nil {
		return err
	}
	return nil
}
