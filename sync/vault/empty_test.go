package vault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// TestEmptyFileIsNotANewVault: a pinned vault cut to nothing, or replaced
// by an empty bbolt file, is ErrCorrupt opened to write as well as to read,
// with what to do about it, and is left as it was; before, opened to write
// it silently became a new vault without the enrolment's pin.
func TestEmptyFileIsNotANewVault(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		erase func(t *testing.T, path string)
	}{
		{"cut to 0 bytes", func(t *testing.T, path string) {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}},
		{"an empty bbolt file in its place", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			db, err := bbolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "vault.db")
			v := openAt(t, path, Passphrase(testPassphrase), Options{})
			if err := v.SetPin(ctx, Pin{CentralURL: "https://central", DeviceID: "dev", Keys: []byte("keys")}); err != nil {
				t.Fatal(err)
			}
			v.Close()
			tc.erase(t, path)
			before := rawFile(t, path)
			for _, ro := range []bool{false, true} {
				v, err := Open(ctx, path, Passphrase(testPassphrase), Options{Argon2: fastArgon2, ReadOnly: ro})
				if err == nil {
					v.Close()
				}
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "backup") {
					t.Errorf("read-only %v: %v, want ErrCorrupt saying to restore a backup", ro, err)
				}
			}
			if after := rawFile(t, path); string(after) != string(before) {
				t.Errorf("the file changed from %d to %d bytes: opening it wrote to it", len(before), len(after))
			}
		})
	}
}

// TestCreateLeavesWholeVault: with no file at the path a new vault is
// made, whole, under another name and linked into place: a crash while
// it is made leaves only that other file (here one left 0 bytes, as a
// crash before bbolt's first pages leaves it), which keeps nothing from
// making the vault next time and is removed then, and a vault made
// leaves no such file.
func TestCreateLeavesWholeVault(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "vault.db")
	crashed := path + ".new-123456"
	if err := os.WriteFile(crashed, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	v := openAt(t, path, Passphrase(testPassphrase), Options{})
	if _, ok, err := v.Pinned(ctx); ok || err != nil {
		t.Fatalf("new vault: pinned %v, %v; want none", ok, err)
	}
	v.Close()
	left, err := filepath.Glob(path + ".new-*")
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("files left beside the vault: %v, want none (the crashed one removed)", left)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("new vault mode %04o, want 0600", fi.Mode().Perm())
	}
	// Read-only, a missing file is still not made.
	missing := filepath.Join(dir, "missing.db")
	if _, err := Open(ctx, missing, Passphrase(testPassphrase), Options{Argon2: fastArgon2, ReadOnly: true}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("read-only missing file: %v, want ErrNotExist", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("read-only open made %s: %v", missing, err)
	}
}

// TestCreateRace: openers racing to make the same vault end with one:
// the one linked into place first is the one every opener uses, so what
// each writes is there afterwards, and no opener's file is left behind.
func TestCreateRace(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "vault.db")
	const n = 4
	errs := make(chan error, n)
	for i := range n {
		go func() {
			v, err := Open(ctx, path, Passphrase(testPassphrase), Options{Argon2: fastArgon2, LockTimeout: time.Minute})
			if err != nil {
				errs <- err
				return
			}
			err = v.PutSubmission(ctx, testSubmission(fmt.Sprintf("sub-%d", i), 10))
			errs <- errors.Join(err, v.Close())
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	v := openAt(t, path, Passphrase(testPassphrase), Options{})
	for i := range n {
		if _, err := v.GetSubmission(ctx, fmt.Sprintf("sub-%d", i)); err != nil {
			t.Errorf("sub-%d: %v", i, err)
		}
	}
	if left, _ := filepath.Glob(path + ".new-*"); len(left) != 0 {
		t.Errorf("files left beside the vault: %v", left)
	}
}
