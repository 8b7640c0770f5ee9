package app

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openkyc/kyc/sync/vault"
)

// TestEmptyVaultRefused: the app started on an enrolled device whose vault
// was cut to 0 bytes opens no vault and says to restore a backup; before,
// it started a new vault in its place, without the enrolment's pin.
func TestEmptyVaultRefused(t *testing.T) {
	ctx := context.Background()
	cfg := Config{Dir: t.TempDir(), DeviceDir: filepath.Join(t.TempDir(), "device"), KeyDir: filepath.Join(t.TempDir(), "keys"),
		Logger: slog.New(slog.DiscardHandler)}
	a := New(cfg)
	v, err := a.openVault(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.SetPin(ctx, vault.Pin{CentralURL: "https://central.example.org", DeviceID: "dev-1", Keys: []byte("keys")}); err != nil {
		t.Fatal(err)
	}
	v.Close()
	path := a.dev.VaultPath()
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	a = New(cfg)
	if v := a.openAndCheck(ctx); v != nil {
		v.Close()
		t.Fatal("the app opened an empty vault file")
	}
	if !strings.Contains(a.vaultErr, "backup") {
		t.Errorf("the app says %q; want it to say to restore a backup", a.vaultErr)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Errorf("the empty vault file became %v bytes (%v)", fi.Size(), err)
	}
}

// TestMissingVaultRefused: the app started on an enrolled device whose
// vault was deleted opens no vault, says how to acknowledge the loss,
// and makes none; before, it made a new, empty vault, without the
// enrolment's pin or the queued results. A device never enrolled gets
// its vault made as before.
func TestMissingVaultRefused(t *testing.T) {
	ctx := context.Background()
	cfg := Config{Dir: t.TempDir(), DeviceDir: filepath.Join(t.TempDir(), "device"), KeyDir: filepath.Join(t.TempDir(), "keys"),
		Logger: slog.New(slog.DiscardHandler)}
	a := New(cfg)
	v := a.openAndCheck(ctx)
	if v == nil {
		t.Fatalf("a device never enrolled: no vault made (%s)", a.vaultErr)
	}
	if err := v.SetPin(ctx, vault.Pin{CentralURL: "https://central.example.org", DeviceID: "dev-1", Keys: []byte("keys")}); err != nil {
		t.Fatal(err)
	}
	v.Close()
	if err := os.WriteFile(a.dev.EnrollmentPath(), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := a.dev.VaultPath()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	a = New(cfg)
	if v := a.openAndCheck(ctx); v != nil {
		v.Close()
		t.Fatal("the app made a new vault in place of the enrolled device's deleted one")
	}
	if !strings.Contains(a.vaultErr, "kyc vault reset --i-understand") || !strings.Contains(a.vaultErr, "backup") {
		t.Errorf("the app says %q; want it to say to restore a backup or acknowledge the loss", a.vaultErr)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a vault file appeared: %v", err)
	}
}
