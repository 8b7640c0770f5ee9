package app

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
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
	c := centraltest.New(t, centraltest.BoltStore(t), centraltest.Options{})
	c.Serve(t)
	ctx := context.Background()
	root := t.TempDir()
	a := New(Config{DeviceDir: filepath.Join(root, "device"), WatchlistDir: filepath.Join(root, "local"),
		KeyDir: filepath.Join(root, "keys"), Logger: slog.New(slog.DiscardHandler)})
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
	if err := identity.SaveEnrollment(a.dev.EnrollmentPath(), enr); err != nil {
		t.Fatal(err)
	}
	up, err := agent.NewUploader(agent.Config{Identity: id, Enrollment: enr})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := agent.SyncConfig(ctx, up, a.dev.ConfigDir()); err != nil {
		t.Fatal(err)
	}
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
