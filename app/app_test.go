package app

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openkyc/kyc/models"
)

func TestHome(t *testing.T) {
	store, err := models.DefaultStore()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	cam := filepath.Join(root, "sys", "class", "video4linux", "video0")
	if err := os.MkdirAll(cam, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cam, "name"), []byte("Document Camera\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := New(Config{Version: "v-test", Store: store, SysRoot: root}).Home()
	if h.RuntimeError != "" || h.ONNXRuntime != "1.30.0" || h.OpenCV != "4.6.0" || h.Version != "v-test" {
		t.Fatalf("versions: %+v", h.Versions)
	}
	if len(h.Cameras) != 1 || h.Cameras[0].Name != "Document Camera" {
		t.Fatalf("cameras: %+v", h.Cameras)
	}
	// The fake root has no /proc or DMI: the checks that cannot read them
	// report it, and the verdict is never silently "ok" for want of data.
	if h.Device.Profile != "field" || h.Device.Verdict == "" || h.Device.Verdict == "ok" {
		t.Fatalf("device status on an empty root: %+v", h.Device)
	}
	if real := New(Config{Store: store}).Home(); real.Device.Verdict == "" || real.Device.Error != "" {
		t.Fatalf("device status on this machine: %+v", real.Device)
	}
	if !h.ModelsOK || len(h.Models) != len(store.Manifest.Entries) {
		t.Fatalf("models ok=%v, %d rows", h.ModelsOK, len(h.Models))
	}

	// A store pointing at an empty folder shows every model as a problem
	// on the screen instead of failing the call.
	empty := &models.Store{Dir: t.TempDir(), Manifest: store.Manifest, RuntimeOverride: store.RuntimeOverride}
	h = New(Config{Store: empty, SysRoot: t.TempDir()}).Home()
	if h.ModelsOK || h.Models[0].Problem == "" {
		t.Fatalf("empty store reported as fine: %+v", h.Models[0])
	}
	if h.Cameras == nil || len(h.Cameras) != 0 {
		t.Fatalf("no cameras should be an empty list (JSON []), got %#v", h.Cameras)
	}
}

// TestScreenRenderedBounded: the page names the screen it drew; a name
// that is not one of the app's screens (a script's text: a forged line,
// a megabyte) is logged as "unknown", so the log holds only lines the app
// wrote, each short.
func TestScreenRenderedBounded(t *testing.T) {
	var logged bytes.Buffer
	a := New(Config{Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	for _, name := range []string{"home", "home screen rendered\ntime=x level=ERROR msg=forged\nx", strings.Repeat("forged", 1<<18), "HOME", ""} {
		a.ScreenRendered(name)
	}
	lines := strings.Split(strings.TrimSpace(logged.String()), "\n")
	want := []string{`msg="home screen rendered"`, `msg="unknown screen rendered"`, `msg="unknown screen rendered"`, `msg="unknown screen rendered"`, `msg="unknown screen rendered"`}
	if len(lines) != len(want) || strings.Contains(logged.String(), "forged") {
		t.Fatalf("the log: %.500q", logged.String())
	}
	for i, l := range lines {
		if !strings.HasSuffix(l, want[i]) || len(l) > 100 {
			t.Errorf("line %d: %.200q, want it to end %s", i, l, want[i])
		}
	}
}
