package app

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openkyc/kyc/engine/capture/source"
	"github.com/openkyc/kyc/internal/handoff"
)

// TestSettingsNeedSignIn: the settings screen opens from sign-in, where at
// a kiosk anyone walking up stands. Nobody signed in may save a camera
// (a folder of pictures on the disk as the next customer's selfie) or
// open one in the preview or the QR scan (and see what the folder
// holds). A plain operator may not either: the capture sources are every
// verification's evidence, and a file's frames are not judged as a live
// camera's are. A supervisor may, and so may the first run's setup,
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
		role     Role
		refused  error // nil: allowed
	}{
		"nobody signed in": {accounts: 1, refused: errSignInToConfigure},
		"operator":         {accounts: 2, operator: "agent02", role: RoleOperator, refused: errSupervisorCameras},
		"supervisor":       {accounts: 2, operator: "agent01", role: RoleSupervisor},
		"first run":        {},
	} {
		t.Run(name, func(t *testing.T) {
			a := New(Config{Dir: filepath.Join(t.TempDir(), "desktop"), Logger: slog.New(slog.DiscardHandler)})
			a.ctx, a.cancel = context.WithCancel(context.Background())
			defer a.Shutdown(a.ctx)
			a.staff.accounts.Accounts = make([]operatorHash, tc.accounts)
			a.staff.operator, a.staff.role = tc.operator, tc.role
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
			kiosk := DefaultSettings()
			kiosk.Kiosk = true
			_, kioskErr := a.SaveSettings(kiosk)
			if tc.refused != nil {
				for what, err := range map[string]error{"saving": saveErr, "the preview": previewErr, "the QR scan": scanErr, "the kiosk mode": kioskErr} {
					if !errors.Is(err, tc.refused) {
						t.Errorf("%s: %v, want %v", what, err, tc.refused)
					}
				}
				if a.settings.SelfieCamera != "" || a.settings.Kiosk {
					t.Errorf("the selfie camera became %q, kiosk %v", a.settings.SelfieCamera, a.settings.Kiosk)
				}
				if _, err := os.Stat(filepath.Join(a.cfg.Dir, "settings.json")); err == nil {
					t.Error("settings.json was written")
				}
				return
			}
			if saveErr != nil || previewErr != nil || scanErr != nil || kioskErr != nil || !a.settings.Kiosk {
				t.Errorf("save %v, preview %v, scan %v, kiosk %v", saveErr, previewErr, scanErr, kioskErr)
			}
		})
	}
}

// TestOperatorSettings: a plain operator keeps the language and the idle
// timeout theirs to set, and may show the cameras set (by the address the
// screen shows); the settings screen never shows an IP camera's password,
// nor to a plain operator its user or a token in its query, and saving the
// address as shown keeps it.
func TestOperatorSettings(t *testing.T) {
	pictures := t.TempDir()
	png, err := handoff.QRPNG("a document", 320)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pictures, "front.png"), png, 0o600); err != nil {
		t.Fatal(err)
	}
	const stream = "rtsp://admin:hunter2@10.0.0.7:554/stream1?token=SECRET"
	a := New(Config{Dir: filepath.Join(t.TempDir(), "desktop"), Logger: slog.New(slog.DiscardHandler)})
	a.ctx, a.cancel = context.WithCancel(context.Background())
	defer a.Shutdown(a.ctx)
	a.staff.accounts.Accounts = make([]operatorHash, 2)
	a.staff.operator, a.staff.role, a.ui.screen = "agent02", RoleOperator, ScreenHome
	a.settings.DocumentCamera, a.settings.SelfieCamera = pictures, stream
	sv := a.Settings()
	if sv.Settings.SelfieCamera != "rtsp://10.0.0.7:554/stream1" || sv.Settings.DocumentCamera != pictures {
		t.Errorf("the settings screen shows %q and %q", sv.Settings.DocumentCamera, sv.Settings.SelfieCamera)
	}
	s := sv.Settings
	s.Lang, s.IdleSeconds = "id", 300
	if _, err := a.SaveSettings(s); err != nil {
		t.Fatalf("the operator's own settings: %v", err)
	}
	if a.settings.SelfieCamera != stream || a.settings.Lang != "id" || a.settings.IdleSeconds != 300 {
		t.Errorf("settings after the operator's save: %+v", a.settings)
	}
	if err := a.PreviewCamera(pictures); err != nil {
		t.Errorf("showing the document camera set: %v", err)
	}
	a.StopPreview()
	s.SelfieCamera = "rtsp://admin:other@10.0.0.8/stream1"
	if _, err := a.SaveSettings(s); !errors.Is(err, errSupervisorCameras) || a.settings.SelfieCamera != stream {
		t.Errorf("an operator's new camera: %v, kept %q", err, a.settings.SelfieCamera)
	}
}

// chanHandler sends each record's text to a channel, for a test to wait
// for a log line written in the background.
type chanHandler struct{ lines chan string }

func (h chanHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h chanHandler) Handle(_ context.Context, r slog.Record) error {
	line := r.Message
	r.Attrs(func(a slog.Attr) bool { line += " " + a.String(); return true })
	h.lines <- line
	return nil
}
func (h chanHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h chanHandler) WithGroup(string) slog.Handler      { return h }

// TestStreamCameraLogged: an IP camera that does not open (a closed port)
// is logged with its address alone, without the user, the password or
// the token in its query, while the settings screen's round trip still
// keeps the password (the screen shows the user and the query, and takes
// the address back as shown).
func TestStreamCameraLogged(t *testing.T) {
	const stream = "rtsp://admin:hunter2@127.0.0.1:1/cam?token=SECRET"
	lines := make(chan string, 16)
	a := New(Config{Dir: filepath.Join(t.TempDir(), "desktop"), Logger: slog.New(chanHandler{lines})})
	a.ctx, a.cancel = context.WithCancel(context.Background())
	defer a.Shutdown(a.ctx)
	a.ui.screen = ScreenHome // the first run: no account yet
	a.settings.SelfieCamera = stream
	sv := a.Settings()
	if sv.Settings.SelfieCamera != "rtsp://admin:xxxxx@127.0.0.1:1/cam?token=SECRET" {
		t.Errorf("the settings screen shows %q", sv.Settings.SelfieCamera)
	}
	if _, err := a.SaveSettings(sv.Settings); err != nil || a.settings.SelfieCamera != stream {
		t.Fatalf("saving the address as shown: %v, kept %q", err, a.settings.SelfieCamera)
	}
	if err := a.PreviewCamera(sv.Settings.SelfieCamera); err != nil {
		t.Fatal(err)
	}
	for line := range lines {
		if !strings.HasPrefix(line, "camera preview") {
			continue
		}
		if !strings.Contains(line, "rtsp://127.0.0.1:1/cam") {
			t.Errorf("the log does not say which camera: %s", line)
		}
		for _, s := range []string{"admin", "hunter2", "SECRET"} {
			if strings.Contains(line, s) {
				t.Errorf("%q logged: %s", s, line)
			}
		}
		break
	}
}

// TestHostileCameraAddresses: an IP camera's address with a password
// holding / ? # @ or :, escaped or not, an IPv6 host or no password: the
// settings screen shows no part of the password (a supervisor sees the
// user, a plain operator not even that), saving the address as shown
// keeps the camera set, and an address ffmpeg would end before its @
// (the user info spilling past the host) is refused when entered, with
// what to percent-encode; the same address percent-encoded is taken.
func TestHostileCameraAddresses(t *testing.T) {
	for _, c := range []struct {
		kept            string
		secrets         []string
		supSees, opSees string
	}{
		{"rtsp://admin:pa/ss@10.0.0.7:554/stream1", []string{"pa/ss", "pa"},
			"rtsp://admin:xxxxx@10.0.0.7:554/stream1", "rtsp://(address not shown)"},
		{"rtsp://admin:p@s?s@10.0.0.7/stream1?token=SECRET", []string{"p@s", "s?s"},
			"rtsp://admin:xxxxx@10.0.0.7/stream1?token=SECRET", "rtsp://(address not shown)"},
		{"rtsp://admin:pa#ss:w@[2001:db8::7]:554/s", []string{"pa#ss", "ss:w"},
			"rtsp://admin:xxxxx@[2001:db8::7]:554/s", "rtsp://(address not shown)"},
		{"rtsp://admin:pa%2Fss%40w@[2001:db8::7]:554/s", []string{"pa%2F", "ss%40"},
			"rtsp://admin:xxxxx@[2001:db8::7]:554/s", "rtsp://[2001:db8::7]:554/s"},
		{"rtsp://admin:p@ss:w@10.0.0.7/s", []string{"p@ss", "ss:w"},
			"rtsp://admin:xxxxx@10.0.0.7/s", "rtsp://10.0.0.7/s"},
		{"rtsp://viewer@10.0.0.7/s", nil,
			"rtsp://viewer@10.0.0.7/s", "rtsp://10.0.0.7/s"},
	} {
		for _, supervisor := range []bool{true, false} {
			a := New(Config{Dir: filepath.Join(t.TempDir(), "desktop"), Logger: slog.New(slog.DiscardHandler)})
			a.ctx, a.cancel = context.WithCancel(context.Background())
			a.ui.screen = ScreenHome // the first run: no account yet
			want := c.supSees
			if !supervisor {
				a.staff.accounts.Accounts = make([]operatorHash, 2)
				a.staff.operator, a.staff.role = "agent02", RoleOperator
				want = c.opSees
			}
			a.settings.SelfieCamera = c.kept
			sv := a.Settings()
			if sv.Settings.SelfieCamera != want {
				t.Errorf("%s (supervisor %v) shown as %q, want %q", c.kept, supervisor, sv.Settings.SelfieCamera, want)
			}
			for _, s := range c.secrets {
				if strings.Contains(sv.Settings.SelfieCamera, s) {
					t.Errorf("%s (supervisor %v) shown as %q: %q in it", c.kept, supervisor, sv.Settings.SelfieCamera, s)
				}
			}
			if _, err := a.SaveSettings(sv.Settings); err != nil || a.settings.SelfieCamera != c.kept {
				t.Errorf("%s (supervisor %v) saved as shown: %v, kept %q", c.kept, supervisor, err, a.settings.SelfieCamera)
			}
			a.Shutdown(a.ctx)
		}
	}

	a := New(Config{Dir: filepath.Join(t.TempDir(), "desktop"), Logger: slog.New(slog.DiscardHandler)})
	a.ctx, a.cancel = context.WithCancel(context.Background())
	defer a.Shutdown(a.ctx)
	a.ui.screen = ScreenHome
	for _, entered := range []string{
		"rtsp://admin:pa/ss@10.0.0.7:554/stream1",
		"rtsp://admin:pa?ss@10.0.0.7/stream1",
		"rtsp://admin:pa#ss@[2001:db8::7]:554/s",
		"rtsp://10.0.0.7/stream1?user=a@b.example",
	} {
		s := a.settings
		s.DocumentCamera = entered
		_, err := a.SaveSettings(s)
		if !errors.Is(err, source.ErrAmbiguousAddress) || !strings.Contains(err.Error(), "percent-encode") || a.settings.DocumentCamera != "" {
			t.Errorf("%s entered: %v, kept %q; want refused, saying what to percent-encode", entered, err, a.settings.DocumentCamera)
		}
		for _, secret := range []string{"pa/ss", "pa?ss", "pa#ss", "admin", "a@b"} {
			if err != nil && (strings.Contains(err.Error(), secret) || strings.Contains(a.ui.lastError, secret)) {
				t.Errorf("%s entered: the refusal %q shows %q", entered, err, secret)
			}
		}
	}
	s := a.settings
	s.DocumentCamera = "rtsp://admin:pa%2Fss@10.0.0.7:554/stream1"
	if _, err := a.SaveSettings(s); err != nil || a.settings.DocumentCamera != s.DocumentCamera {
		t.Errorf("the address percent-encoded: %v, kept %q", err, a.settings.DocumentCamera)
	}
}
