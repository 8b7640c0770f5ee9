package deviceconf

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openkyc/kyc/internal/atomicfile"
	"github.com/openkyc/kyc/sync/vault"
)

func TestCheckPassphrase(t *testing.T) {
	for _, tc := range []struct {
		pass string
		weak bool
	}{
		{"", true},
		{"short", true},
		{"password1234", true},
		{"Password123!", true},
		{"P@ssw0rd2024", true},
		{"Summer2024!!", true},
		{"iloveyou2024", true},
		{"jakarta2024!!", true}, // zxcvbn's top score, still too few guesses
		{"qwertyuiop[]", true},
		{"aaaaaaaaaaaaaaaa", true},
		{"abcdefghijklmnop", true},
		{"kyckyckyckyckyc", true},
		{"monkey dragon", true},
		{"correct horse battery staple", false},
		{"lamp orbit velvet cactus", false},
		{"tY7#pQ2m$Lx9vR4w", false},
		{strings.Repeat("lamp orbit velvet cactus ", 40), false}, // long: judged on its start
	} {
		err := CheckPassphrase(tc.pass)
		if tc.weak != (err != nil) {
			t.Errorf("%q: %v, want weak=%v", tc.pass, err, tc.weak)
		}
		if err != nil && (!errors.Is(err, ErrWeakPassphrase) || !strings.Contains(err.Error(), EnvVaultPassphrase)) {
			t.Errorf("%q: %v does not say what to do", tc.pass, err)
		}
	}
}

// testDevice is a device whose folder and key folder are apart.
func testDevice(t *testing.T) Device {
	t.Helper()
	root := t.TempDir()
	return Device{Dir: filepath.Join(root, "device"), KeyDir: filepath.Join(root, "keys")}
}

// openVault opens d's vault with its resolved key and puts a record in
// it when put is set.
func openVault(t *testing.T, d Device, put bool) (VaultKey, error) {
	t.Helper()
	k, err := d.VaultKey()
	if err != nil {
		return k, err
	}
	if err := os.MkdirAll(d.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	v, err := vault.Open(ctx, d.VaultPath(), k.Source, vault.Options{})
	if err != nil {
		return k, err
	}
	defer v.Close()
	if put {
		if err := v.PutSubmission(ctx, vault.Submission{ID: "s1", Payload: []byte(`{"nik":"3171234567890123"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	return k, nil
}

// TestVaultKeyNotInTheDeviceFolder: the key the device provisions is kept
// outside the device folder, so a copy of that folder (a backup, a stolen
// disk's user config) does not open the vault: no file of the copy is the
// key, and the device does not make a new key for a vault it finds.
func TestVaultKeyNotInTheDeviceFolder(t *testing.T) {
	d := testDevice(t)
	k, err := openVault(t, d, true)
	if err != nil {
		t.Fatal(err)
	}
	if !k.Provisioned || k.Path == "" {
		t.Fatalf("key %+v, want one the device provisioned", k)
	}
	if err := outside(d.Dir, k.Path); err != nil {
		t.Fatalf("the key %s is inside the device folder %s", k.Path, d.Dir)
	}
	fi, err := os.Stat(k.Path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v, want 0600", err, fi.Mode())
	}
	if fi, err := os.Stat(filepath.Dir(k.Path)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("key folder: %v, mode %v, want 0700", err, fi.Mode())
	}
	if k2, err := openVault(t, d, false); err != nil || k2.Path != k.Path {
		t.Fatalf("reopening: %+v %v", k2, err)
	}

	// The attacker's copy of the folder, on a machine without the key.
	stolen := Device{Dir: filepath.Join(t.TempDir(), "device"), KeyDir: filepath.Join(t.TempDir(), "keys")}
	copyDir(t, d.Dir, stolen.Dir)
	if _, err := openVault(t, stolen, false); !errors.Is(err, ErrKeyMissing) {
		t.Fatalf("the copied folder without its key: %v, want ErrKeyMissing", err)
	}
	_ = filepath.WalkDir(stolen.Dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || p == stolen.VaultPath() {
			return err
		}
		v, err := vault.Open(context.Background(), stolen.VaultPath(), vault.KeyFile(p), vault.Options{})
		if err == nil {
			v.Close()
			t.Errorf("%s in the copied folder opens the vault", p)
		}
		return nil
	})
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if e.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestVaultKeyMigration: the key the app used to keep beside the vault is
// moved into the key folder and removed from the device folder; the vault
// still opens. A crash after the copy (both files, equal) is finished on
// the next run; two different keys are refused and both kept.
func TestVaultKeyMigration(t *testing.T) {
	d := testDevice(t)
	if err := os.MkdirAll(d.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(d.Dir, legacyVaultKeyFile)
	if err := vault.GenerateKeyFile(old); err != nil {
		t.Fatal(err)
	}
	oldKey, _ := os.ReadFile(old)
	v, err := vault.Open(context.Background(), d.VaultPath(), vault.KeyFile(old), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v.Close()

	k, err := openVault(t, d, false)
	if err != nil {
		t.Fatalf("opening after the migration: %v", err)
	}
	if !k.Migrated {
		t.Error("not reported as migrated")
	}
	if _, err := os.Stat(old); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the old key is still in the device folder: %v", err)
	}
	if b, _ := os.ReadFile(k.Path); !bytes.Equal(b, oldKey) {
		t.Error("the moved key differs from the old one")
	}
	if k, err := openVault(t, d, false); err != nil || k.Migrated {
		t.Errorf("second run: %+v %v, want no migration", k, err)
	}

	// A crash between writing the new key and removing the old one.
	if err := os.WriteFile(old, oldKey, 0o600); err != nil {
		t.Fatal(err)
	}
	if k, err := openVault(t, d, false); err != nil || !k.Migrated {
		t.Errorf("after a crash mid-move: %+v %v", k, err)
	}
	if _, err := os.Stat(old); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the old key survived the finished move: %v", err)
	}

	// Another key beside the vault: neither is removed.
	if err := vault.GenerateKeyFile(old); err != nil {
		t.Fatal(err)
	}
	if _, err := d.VaultKey(); !errors.Is(err, ErrKeyConflict) {
		t.Errorf("two different keys: %v, want ErrKeyConflict", err)
	}
	if _, err := os.Stat(old); err != nil {
		t.Errorf("the conflicting old key was removed: %v", err)
	}
	if b, _ := os.ReadFile(k.Path); !bytes.Equal(b, oldKey) {
		t.Error("the key in the key folder was replaced")
	}
}

func TestVaultKeyRefusals(t *testing.T) {
	d := testDevice(t)
	loose := filepath.Join(t.TempDir(), "loose")
	if err := os.Mkdir(loose, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(loose, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		dev  Device
		want error
	}{
		{"key folder inside the device folder", Device{Dir: d.Dir, KeyDir: filepath.Join(d.Dir, "keys")}, ErrKeyInDataDir},
		{"key folder is the device folder", Device{Dir: d.Dir, KeyDir: d.Dir}, ErrKeyInDataDir},
		{"key file inside the device folder", Device{Dir: d.Dir, KeyDir: d.KeyDir, KeyFile: filepath.Join(d.Dir, "vault.key")}, ErrKeyInDataDir},
		{"key folder others can read", Device{Dir: d.Dir, KeyDir: loose}, ErrInsecureKeyDir},
		{"weak passphrase", Device{Dir: d.Dir, KeyDir: d.KeyDir, Passphrase: "Summer2024!!"}, ErrWeakPassphrase},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := tc.dev.VaultKey()
			if !errors.Is(err, tc.want) {
				t.Fatalf("%+v %v, want %v", k, err, tc.want)
			}
			if ents, _ := os.ReadDir(loose); len(ents) > 0 {
				t.Errorf("a key was written into the loose folder: %v", ents)
			}
		})
	}
	// The operator's own sources are used as given.
	if k, err := (Device{Dir: d.Dir, KeyDir: d.KeyDir, Passphrase: "correct horse battery staple"}).VaultKey(); err != nil || k.Provisioned {
		t.Errorf("strong passphrase: %+v %v", k, err)
	}
	kf := filepath.Join(t.TempDir(), "kiosk.key")
	if k, err := (Device{Dir: d.Dir, KeyDir: d.KeyDir, KeyFile: kf}).VaultKey(); err != nil || k.Path != kf || k.Provisioned {
		t.Errorf("key file: %+v %v", k, err)
	}
	if _, err := os.Stat(d.KeyDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the key folder was made for an operator's key: %v", err)
	}
}

// A vault that already exists under a weak passphrase still opens (its
// unsynced submissions must not be stranded), flagged for rotation; a new
// vault never gets one.
func TestWeakPassphraseOfAnExistingVault(t *testing.T) {
	d := Device{Dir: t.TempDir(), KeyDir: filepath.Join(t.TempDir(), "keys"), Passphrase: "Summer2024!!"}
	if _, err := d.VaultKey(); !errors.Is(err, ErrWeakPassphrase) {
		t.Fatalf("weak passphrase for a new vault: %v, want ErrWeakPassphrase", err)
	}
	if err := os.WriteFile(d.VaultPath(), []byte("an existing vault"), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := d.VaultKey()
	if err != nil || !errors.Is(k.Weak, ErrWeakPassphrase) || k.Source == nil {
		t.Fatalf("weak passphrase for an existing vault: %+v, %v; want it usable and flagged", k, err)
	}
}

// TestVaultKeyMigrationReadsRegularFiles: the migration reads both keys
// as regular files of a key's size: a FIFO where the new key goes is an
// error at once, not a wait for a writer, and an old "key" of megabytes
// is refused, not copied.
func TestVaultKeyMigrationReadsRegularFiles(t *testing.T) {
	for _, tc := range []struct {
		name string
		put  func(t *testing.T, old, path string)
		want error
	}{
		{"a FIFO in the key folder", func(t *testing.T, old, path string) {
			if err := vault.GenerateKeyFile(old); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
		}, atomicfile.ErrNotRegular},
		{"an old key of megabytes", func(t *testing.T, old, _ string) {
			if err := os.WriteFile(old, make([]byte, 4<<20), 0o600); err != nil {
				t.Fatal(err)
			}
		}, atomicfile.ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := testDevice(t)
			if err := os.MkdirAll(d.Dir, 0o700); err != nil {
				t.Fatal(err)
			}
			path, err := d.provisionedKeyPath()
			if err != nil {
				t.Fatal(err)
			}
			if err := ensureKeyDir(filepath.Dir(path)); err != nil {
				t.Fatal(err)
			}
			old := filepath.Join(d.Dir, legacyVaultKeyFile)
			tc.put(t, old, path)
			done := make(chan error, 1)
			go func() { _, err := d.VaultKey(); done <- err }()
			select {
			case err := <-done:
				if !errors.Is(err, tc.want) {
					t.Errorf("VaultKey = %v, want %v", err, tc.want)
				}
			case <-time.After(time.Minute):
				// Unblocks the reader so the test can end.
				if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					f.Close()
				}
				t.Fatal("VaultKey still blocked after a minute")
			}
			if _, err := os.Stat(old); err != nil {
				t.Errorf("the old key was removed: %v", err)
			}
		})
	}
}
