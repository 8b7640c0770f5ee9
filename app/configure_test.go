package app

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/openkyc/kyc/internal/handoff"
)

// TestSettingsNeedSignIn: the settings screen opens from sign-in, where at
// a kiosk anyone walking up stands. Nobody signed in may save a camera
// (a folder of pictures on the disk as the next customer's selfie) or
// open one in the preview or the QR scan (and see what the folder
// holds); an operator signed in may, and so may the first run's setup,
// before any account exists.
func TestSettingsNeedSignIn(t *testing.T) {
	pictures := t.TempDir() // stands for a folder of captures on the disk
	png, err := handoff.QRPNG("a customer's capture", 320)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pictures, "front.png"), png, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		accounts int
		operator string
		allowed  bool
	}{
		"nobody signed in": {accounts: 1},
		"operator":         {accounts: 1, operator: "agent01", allowed: true},
		"first run":        {allowed: true},
	} {
		t.Run(name, func(t *testing.T) {
			a := New(Config{Dir: filepath.Join(t.TempDir(), "desktop"), Logger: slog.New(slog.DiscardHandler)})
			a.ctx, a.cancel = context.WithCancel(context.Background())
			defer a.Shutdown(a.ctx)
			a.staff.accounts.Accounts = make([]operatorHash, tc.accounts)
			a.staff.operator = tc.operator
			a.ui.screen = ScreenSignIn
			if tc.operator != "" {
				a.ui.screen = ScreenHome
			}
			if v := a.OpenSettings(); v.Screen != ScreenSettings {
				t.Fatalf("settings did not open: %s", v.Screen)
			}
			s := DefaultSettings()
			s.SelfieCamera = pictures
			_, saveErr := a.SaveSettings(s)
			previewErr := a.PreviewCamera(pictures)
			a.StopPreview()
			_, scanErr := a.ScanQR(pictures) // its picture holds a code, read when allowed
			if !tc.allowed {
				for what, err := range map[string]error{"saving": saveErr, "the preview": previewErr, "the QR scan": scanErr} {
					if !errors.Is(err, errSignInToConfigure) {
						t.Errorf("%s with nobody signed in: %v", what, err)
					}
				}
				if a.settings.SelfieCamera != "" {
					t.Errorf("the selfie camera became %q", a.settings.SelfieCamera)
				}
				if _, err := os.Stat(filepath.Join(a.cfg.Dir, "settings.json")); err == nil {
					t.Error("settings.json was written")
				}
				return
			}
			if saveErr != nil || previewErr != nil || scanErr != nil || a.settings.SelfieCamera != pictures {
				t.Errorf("save %v, preview %v, scan %v, selfie camera %q", saveErr, previewErr, scanErr, a.settings.SelfieCamera)
			}
		})
	}
}
