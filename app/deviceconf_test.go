package app

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/engine/screening"
	"github.com/openkyc/kyc/sync/vault"
)

// TestVaultKeyOutsideTheDeviceFolder: the app no longer keeps its vault
// key beside the vault; a key an earlier version left there is moved out
// and the vault still opens.
func TestVaultKeyOutsideTheDeviceFolder(t *testing.T) {
	t.Setenv("KYC_VAULT_KEY_FILE", "")
	t.Setenv("KYC_VAULT_PASSPHRASE", "")
	root := t.TempDir()
	devDir, keyDir := filepath.Join(root, "device"), filepath.Join(root, "keys")
	if err := os.MkdirAll(devDir, 0o700); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(devDir, "vault.key")
	if err := vault.GenerateKeyFile(old); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	v, err := vault.Open(ctx, filepath.Join(devDir, "vault.db"), vault.KeyFile(old), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.PutSubmission(ctx, vault.Submission{ID: "s1", Payload: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	v.Close()

	a := New(Config{DeviceDir: devDir, KeyDir: keyDir, Logger: slog.New(slog.DiscardHandler)})
	v, err = a.openVault(ctx)
	if err != nil {
		t.Fatalf("opening the vault after the key moved: %v", err)
	}
	if _, err := v.GetSubmission(ctx, "s1"); err != nil {
		t.Errorf("the submission sealed before the move: %v", err)
	}
	v.Close()
	if _, err := os.Stat(old); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the key is still beside the vault: %v", err)
	}
	_ = filepath.WalkDir(devDir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && filepath.Ext(p) == ".key" && filepath.Base(p) != deviceKeyFile {
			t.Errorf("a key file in the device folder: %s", p)
		}
		return err
	})
	if keys, _ := os.ReadDir(keyDir); len(keys) != 1 {
		t.Errorf("key folder holds %v, want the one vault key", keys)
	}
}

// TestDeviceConfigFollowsSync: the app screens against the lists sync
// installs and the local ones, and picks up a list sync replaced.
func TestDeviceConfigFollowsSync(t *testing.T) {
	root := t.TempDir()
	a := New(Config{DeviceDir: filepath.Join(root, "device"), WatchlistDir: filepath.Join(root, "local"),
		KeyDir: filepath.Join(root, "keys"), Logger: slog.New(slog.DiscardHandler)})
	synced := filepath.Join(root, "device", "config", "watchlists")
	put := func(dir, list string, people ...string) {
		t.Helper()
		st, err := screening.OpenStore(dir)
		if err != nil {
			t.Fatal(err)
		}
		l := &screening.List{Name: list, Version: time.Now().Format(time.RFC3339Nano), Date: time.Now().UTC()}
		for i, p := range people {
			l.Entries = append(l.Entries, screening.Entry{ID: string(rune('a' + i)), Kind: screening.KindIndividual, Name: p})
		}
		if err := st.Put(context.Background(), l); err != nil {
			t.Fatal(err)
		}
	}
	flagged := func(name string) bool {
		t.Helper()
		c, err := a.deviceConfig(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if c.Screening == nil {
			return false
		}
		hits, err := c.Screening.Screen(screening.Query{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(hits, func(h screening.Hit) bool { return h.Score > 0.9 })
	}
	put(filepath.Join(root, "local"), "local-pep", "Siti Rahayu Lestari")
	if flagged("Juan Carlos Ortega Ruiz") || !flagged("Siti Rahayu Lestari") {
		t.Fatal("before the sync")
	}
	put(synced, "central", "Juan Carlos Ortega Ruiz")
	if !flagged("Juan Carlos Ortega Ruiz") || !flagged("Siti Rahayu Lestari") {
		t.Error("a name central added is not flagged, or the local list was dropped")
	}
	if ci := a.configInUse(); len(ci.Watchlists) != 2 || ci.Risk != "" || ci.ScreeningAge == nil || ci.ScreeningAge.Stale {
		t.Errorf("config in use %+v", ci)
	}

	// A month on, with no sync: the status says the lists are stale, and
	// how old each is.
	a.cfg.Clock = func() time.Time { return time.Now().Add(30 * 24 * time.Hour) }
	ci := a.configInUse()
	if ci.ScreeningAge == nil || !ci.ScreeningAge.Stale || len(ci.ScreeningAge.Lists) != 2 ||
		!slices.ContainsFunc(ci.Problems, func(p string) bool {
			return strings.Contains(p, "the watchlists are stale") && strings.Contains(p, "local-pep: 30.0 days old")
		}) {
		t.Errorf("a month on, config in use %+v (%+v)", ci, ci.ScreeningAge)
	}
}
