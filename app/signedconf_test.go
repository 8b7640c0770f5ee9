package app

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkyc/kyc/internal/deviceconf"
	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/identity"
)

// TestAppRefusesAConfigurationChangedOnDisk: the app loads the
// configuration through the command line's loader, so on an enrolled
// device it decides with central's signed configuration and refuses one
// changed on disk, never falling back to the built-in defaults.
func TestAppRefusesAConfigurationChangedOnDisk(t *testing.T) {
	ctx := context.Background()
	a, _ := syncedApp(t)
	conf, err := a.deviceConfig(ctx)
	if err != nil || conf.Source != deviceconf.SourceCentral {
		t.Fatalf("central's configuration as synced: %+v, %v", conf, err)
	}
	state := filepath.Join(a.dev.ConfigDir(), agent.ConfigFile)
	b, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(b, []byte(`"version": 0`), []byte(`"version": 0, "risk": {"bands": {"approve_min": 10, "review_min": 5}}`), 1)
	if bytes.Equal(edited, b) {
		t.Fatalf("nothing edited in %s", b)
	}
	if err := os.WriteFile(state, edited, 0o600); err != nil {
		t.Fatal(err)
	}
	if conf, err := a.deviceConfig(ctx); !errors.Is(err, agent.ErrConfigAltered) {
		t.Errorf("after the edit: %+v, %v; want ErrConfigAltered", conf, err)
	}
}

// TestHomeShowsRefusedConfiguration: once the configuration on disk is
// refused, the home screen says so at its next refresh, and after a sync
// pass without one, instead of the last configuration verified; a new
// verification is refused with that message before any capture; a sync
// that reinstalls central's configuration clears it.
func TestHomeShowsRefusedConfiguration(t *testing.T) {
	ctx := context.Background()
	a, up := syncedApp(t)
	var redraws atomic.Int64
	a.emit = func(string, ...any) { redraws.Add(1) }
	a.ctx, a.vault, a.ui.screen, a.staff.operator = ctx, rejectedVault(t), ScreenHome, "agent01"
	if _, err := a.deviceConfig(ctx); err != nil { // as at start-up
		t.Fatal(err)
	}
	if ci := a.Queue().Config; ci.Refused != "" || ci.ScreeningAge == nil {
		t.Fatalf("central's configuration as synced: %+v; want it shown in use", ci)
	}

	state := filepath.Join(a.dev.ConfigDir(), agent.ConfigFile)
	synced, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	edit := func() {
		t.Helper()
		edited := bytes.Replace(synced, []byte(`"version": 0`), []byte(`"version": 0, "risk": {"bands": {"approve_min": 10, "review_min": 5}}`), 1)
		if bytes.Equal(edited, synced) {
			t.Fatalf("nothing edited in %s", synced)
		}
		if err := os.WriteFile(state, edited, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	refused := func(ci ConfigInUse) bool {
		return strings.Contains(ci.Refused, "not what central signed") && strings.Contains(ci.Refused, "sync again") &&
			len(ci.Watchlists) == 0 && ci.ScreeningAge == nil
	}
	edit()
	if ci := a.Queue().Config; !refused(ci) {
		t.Errorf("home after the edit: %+v; want the refusal and what to do, nothing in use", ci)
	}

	// A verification is refused before any capture, with that message.
	v, err := a.StartSession()
	if err == nil || !strings.Contains(v.Error, "not what central signed") || v.Screen != ScreenHome || a.sess != nil {
		t.Errorf("a new verification on a refused configuration: screen %s, error %q (%v), session %v; want it refused on the home screen", v.Screen, v.Error, err, a.sess != nil)
	}

	// Sync puts central's back; a sync pass finds it changed again and the
	// home is drawn again to say so, with no call from the screen.
	if _, err := agent.SyncConfig(ctx, up, a.dev.ConfigDir()); err != nil {
		t.Fatal(err)
	}
	if ci := a.Queue().Config; ci.Refused != "" {
		t.Fatalf("synced again: %+v; want central's configuration in use", ci)
	}
	edit()
	before := redraws.Load()
	a.onPass(agent.Pass{At: time.Now()})
	a.wg.Wait() // the load the pass started
	a.confMu.Lock()
	confErr := a.confErr
	a.confMu.Unlock()
	if !errors.Is(confErr, agent.ErrConfigAltered) || redraws.Load() == before {
		t.Errorf("after a sync pass: refusal %v, home drawn again %v; want it refused and shown", confErr, redraws.Load() != before)
	}
}

// syncedApp is an app whose device is enrolled with a central serving
// on loopback and holds the configuration it synced from it, and the
// device's uploader.
func syncedApp(t *testing.T) (*App, *agent.Uploader) {
	t.Helper()
	c := centraltest.New(t, centraltest.BoltStore(t), centraltest.Options{})
	c.Serve(t)
	root := t.TempDir()
	a := New(Config{DeviceDir: filepath.Join(root, "device"), WatchlistDir: filepath.Join(root, "local"),
		KeyDir: filepath.Join(root, "keys"), Logger: slog.New(slog.DiscardHandler)})
	up := enrolApp(t, c, a)
	if _, err := agent.SyncConfig(context.Background(), up, a.dev.ConfigDir()); err != nil {
		t.Fatal(err)
	}
	return a, up
}

// enrolApp enrols a's device with c and returns its uploader.
func enrolApp(t *testing.T, c *centraltest.Central, a *App) *agent.Uploader {
	t.Helper()
	ctx := context.Background()
	if err := os.MkdirAll(a.dev.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	id, err := identity.LoadOrCreate(a.dev.DeviceKeyPath())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.Server.CreateEnrollToken(ctx, "test", "branch-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(c.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	enr, err := identity.EnrollWithCA(ctx, ca, c.Base, tok.Token, id, "test")
	if err != nil {
		t.Fatal(err)
	}
	// The app made its vault at start-up, before any enrolment: an
	// enrolled device without one has lost it (vault.ErrMissing).
	v, err := a.openVault(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	if err := identity.SaveEnrollment(a.dev.EnrollmentPath(), enr); err != nil {
		t.Fatal(err)
	}
	up, err := agent.NewUploader(agent.Config{Identity: id, Enrollment: enr})
	if err != nil {
		t.Fatal(err)
	}
	return up
}
