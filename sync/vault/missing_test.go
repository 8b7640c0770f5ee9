//go:build linux

package vault

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/openkyc/kyc/internal/atomicfile"
)

// TestMissingVaultRefused: a vault deleted while the evidence of it (the
// device's enrolment) stays is ErrMissing, saying what to do, and no new
// vault is made; before, Open made a new, empty one, and the enrolment's
// pin and the queued results were gone without a word. With the loss
// acknowledged (ReplaceMissing) a new vault is made whose audit log
// starts by saying so, and it then opens as any vault does.
func TestMissingVaultRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "vault.db")
	enrolment := filepath.Join(dir, "enrollment.json")
	opts := Options{Evidence: []string{filepath.Join(dir, "not-there"), enrolment}}
	v := openAt(t, path, Passphrase(testPassphrase), opts)
	if err := v.SetPin(ctx, Pin{CentralURL: "https://central", DeviceID: "dev", Keys: []byte("keys")}); err != nil {
		t.Fatal(err)
	}
	if err := v.PutSubmission(ctx, testSubmission("queued", 10)); err != nil {
		t.Fatal(err)
	}
	v.Close()
	if err := os.WriteFile(enrolment, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}

	for range 2 { // refused again, not made by the first refusal
		_, err := Open(ctx, path, Passphrase(testPassphrase), Options{Argon2: fastArgon2, Evidence: opts.Evidence})
		if !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), "backup") || !strings.Contains(err.Error(), enrolment) {
			t.Fatalf("deleted vault of an enrolled device: %v; want ErrMissing naming the enrolment and saying to restore a backup", err)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("refusing made a file at %s: %v", path, err)
		}
	}
	if left, _ := filepath.Glob(path + ".new-*"); len(left) != 0 {
		t.Errorf("refusing left %v", left)
	}

	opts.ReplaceMissing = true
	v = openAt(t, path, Passphrase(testPassphrase), opts)
	log, err := v.AuditLog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 1 || log[0].Action != "vault.replaced_missing" || !strings.Contains(log[0].Detail, "acknowledged") || log[0].At.IsZero() {
		t.Fatalf("audit log of the replacing vault: %+v; want it to start with vault.replaced_missing", log)
	}
	if _, ok, err := v.Pinned(ctx); ok || err != nil {
		t.Errorf("replacing vault: pinned %v, %v; want none", ok, err)
	}
	v.Close()
	// Once there, it opens without the acknowledgement, and is not
	// marked again.
	opts.ReplaceMissing = false
	v = openAt(t, path, Passphrase(testPassphrase), opts)
	if log, err := v.AuditLog(ctx); err != nil || len(log) != 1 {
		t.Errorf("reopened: audit log %+v, %v; want the one entry", log, err)
	}
}

// TestNewVaultWithoutEvidence: with no evidence file there (a device
// never enrolled) a new vault is made as before, its audit log empty.
// Read-only a missing file is ErrMissing with evidence (Missing says so
// too), ErrNotExist without.
func TestNewVaultWithoutEvidence(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "vault.db")
	evidence := []string{filepath.Join(dir, "enrollment.json")}
	if err := os.WriteFile(evidence[0], []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, path, Passphrase(testPassphrase), Options{Argon2: fastArgon2, ReadOnly: true, Evidence: evidence}); !errors.Is(err, ErrMissing) {
		t.Errorf("read-only, missing, with evidence: %v; want ErrMissing", err)
	}
	if err := Missing(path, evidence...); !errors.Is(err, ErrMissing) {
		t.Errorf("Missing with evidence: %v; want ErrMissing", err)
	}
	if err := os.Remove(evidence[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, path, Passphrase(testPassphrase), Options{Argon2: fastArgon2, ReadOnly: true, Evidence: evidence}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("read-only, missing: %v; want ErrNotExist", err)
	}
	if err := Missing(path, evidence...); err != nil {
		t.Errorf("Missing without evidence: %v; want nil", err)
	}
	v := openAt(t, path, Passphrase(testPassphrase), Options{Evidence: evidence})
	if log, err := v.AuditLog(ctx); err != nil || len(log) != 0 {
		t.Errorf("new vault: audit log %+v, %v; want empty", log, err)
	}
}

// TestLeftoversRemoved: opened to write, Open removes the temporary files
// a crash left while a vault was made (the vault's name, ".new-", digits),
// a second name of the vault itself among them, but not a file of that
// name another opener holds locked (being made now), nor any other name,
// nor anything but a regular file; opened read-only it removes nothing.
// Before, they stayed for good.
func TestLeftoversRemoved(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vault.db")
	openAt(t, path, Passphrase(testPassphrase), Options{}).Close()

	empty, whole, bolt, linked := path+".new-1", path+".new-2", path+".new-3", path+".new-4"
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	openAt(t, whole, Passphrase(testPassphrase), Options{}).Close()
	if db, err := bbolt.Open(bolt, 0o600, nil); err != nil {
		t.Fatal(err)
	} else {
		db.Close()
	}
	if err := os.Link(path, linked); err != nil {
		t.Fatal(err)
	}
	locked := path + ".new-5"
	if err := os.WriteFile(locked, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	lf, err := os.Open(locked)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	kept := []string{locked}
	for _, name := range []string{path + ".new-", path + ".new-6x", path + ".new-7.bak", path + ".old-8", filepath.Join(dir, "other.db.new-9"), filepath.Join(dir, "vault.dbx.new-10")} {
		if err := os.WriteFile(name, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		kept = append(kept, name)
	}
	fifo := path + ".new-11"
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	symlink := path + ".new-12"
	if err := os.Symlink(whole, symlink); err != nil {
		t.Fatal(err)
	}
	kept = append(kept, fifo, symlink)
	sub := path + ".new-13"
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	kept = append(kept, sub)

	openAt(t, path, Passphrase(testPassphrase), Options{ReadOnly: true}).Close()
	for _, name := range []string{empty, whole, bolt, linked} {
		if _, err := os.Lstat(name); err != nil {
			t.Fatalf("opened read-only, %s went: %v", name, err)
		}
	}

	v := openAt(t, path, Passphrase(testPassphrase), Options{})
	for _, name := range []string{empty, whole, bolt, linked} {
		if _, err := os.Lstat(name); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left by a crash is still there: %v", filepath.Base(name), err)
		}
	}
	for _, name := range kept {
		if _, err := os.Lstat(name); err != nil {
			t.Errorf("%s was removed: %v", filepath.Base(name), err)
		}
	}
	if err := v.PutSubmission(context.Background(), testSubmission("after", 10)); err != nil {
		t.Errorf("the vault after removing a second name of it: %v", err)
	}
}

// TestCrashWhileMade: each state a crash can leave while a device's first
// vault is made and its enrolment written after it (the order kyc enroll
// keeps: vault made whole, linked into place, pinned, then the
// enrolment) opens, with the enrolment as evidence, to a vault, never
// ErrMissing, and without leftovers: a crash before the vault was in
// place left no enrolment, so the device is not refused for good.
func TestCrashWhileMade(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		crash func(t *testing.T, path string)
	}{
		{"made its temporary file", func(t *testing.T, path string) {
			if err := os.WriteFile(path+".new-42", nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"wrote bbolt's first pages", func(t *testing.T, path string) {
			db, err := bbolt.Open(path+".new-42", 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
		}},
		{"made the vault whole, not linked", func(t *testing.T, path string) {
			openAt(t, path+".new-42", Passphrase(testPassphrase), Options{}).Close()
		}},
		{"linked it, the temporary name left", func(t *testing.T, path string) {
			openAt(t, path, Passphrase(testPassphrase), Options{}).Close()
			if err := os.Link(path, path+".new-42"); err != nil {
				t.Fatal(err)
			}
		}},
		{"pinned, the enrolment not written", func(t *testing.T, path string) {
			v := openAt(t, path, Passphrase(testPassphrase), Options{})
			if err := v.SetPin(ctx, Pin{CentralURL: "https://central", DeviceID: "dev", Keys: []byte("keys")}); err != nil {
				t.Fatal(err)
			}
			v.Close()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "vault.db")
			tc.crash(t, path)
			v, err := Open(ctx, path, Passphrase(testPassphrase), Options{Argon2: fastArgon2, Evidence: []string{filepath.Join(dir, "enrollment.json")}})
			if err != nil {
				t.Fatalf("after the crash: %v; want the vault made or opened", err)
			}
			defer v.Close()
			if left, _ := filepath.Glob(path + ".new-*"); len(left) != 0 {
				t.Errorf("left beside the vault: %v", left)
			}
		})
	}
}

// runMaker makes devices' first vaults in the order kyc enroll keeps, in
// folders 0, 1, ... of childPathEnv until killed: the vault made (with
// the enrolment as evidence), pinned, closed, then the enrolment written
// (temp, fsync, rename), printing "made <n>" after each.
func runMaker() int {
	ctx := context.Background()
	base := os.Getenv(childPathEnv)
	for i := 0; ; i++ {
		dir := filepath.Join(base, strconv.Itoa(i))
		if err := os.Mkdir(dir, 0o700); err != nil {
			fmt.Println("fail", err)
			return 0
		}
		enrolment := filepath.Join(dir, "enrollment.json")
		v, err := Open(ctx, filepath.Join(dir, "vault.db"), KeyFile(os.Getenv(childKeyEnv)), Options{Evidence: []string{enrolment}})
		if err != nil {
			fmt.Println("fail", err)
			return 0
		}
		err = v.SetPin(ctx, Pin{CentralURL: "https://central", DeviceID: "dev", Keys: []byte("keys")})
		if cerr := v.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = atomicfile.Create(enrolment, []byte("{}"))
		}
		if err != nil {
			fmt.Println("fail", err)
			return 0
		}
		fmt.Println("made", i)
	}
}

// TestKilledWhileMade kills a process making devices' first vaults (and
// writing their enrolments after) at varying points, and checks that
// every device it left opens, with the enrolment as evidence, to a vault
// (never ErrMissing: no device is left enrolled without its vault) and
// without files left beside it.
func TestKilledWhileMade(t *testing.T) {
	ctx := context.Background()
	keyDir := t.TempDir()
	key := newKeyFile(t, keyDir, "kiosk.key")
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d", seed)
	devices := 0
	for round := range 6 {
		base := t.TempDir()
		w := startChild(t, "maker", base, childKeyEnv+"="+key)
		// Killed as soon as it says it made the n-th: somewhere in
		// making the next one.
		n := rng.IntN(8)
		for line := range w.lines {
			verb, rest, _ := strings.Cut(line, " ")
			if verb == "fail" {
				t.Fatalf("round %d: the maker failed: %s", round, rest)
			}
			if verb == "made" && rest == strconv.Itoa(n) {
				break
			}
		}
		if err := w.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for range w.lines {
		}
		w.cmd.Wait() // killed by design
		entries, err := os.ReadDir(base)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			dir := filepath.Join(base, e.Name())
			path := filepath.Join(dir, "vault.db")
			v, err := Open(ctx, path, KeyFile(key), Options{Evidence: []string{filepath.Join(dir, "enrollment.json")}})
			if err != nil {
				t.Fatalf("round %d, device %s after the kill: %v; want its vault made or opened", round, e.Name(), err)
			}
			v.Close()
			if left, _ := filepath.Glob(path + ".new-*"); len(left) != 0 {
				t.Errorf("round %d, device %s: left beside the vault: %v", round, e.Name(), left)
			}
			devices++
		}
	}
	if devices == 0 {
		t.Fatal("no device made; the test proved nothing")
	}
}

// TestLeftoverNotRemovableKept: a leftover this user may not remove (here
// immutable; another account's in the field) stays, and the vault opens.
func TestLeftoverNotRemovableKept(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vault.db")
	openAt(t, path, Passphrase(testPassphrase), Options{}).Close()
	left := path + ".new-1"
	if err := os.WriteFile(left, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chattr", "+i", left).CombinedOutput(); err != nil {
		t.Skipf("cannot make a file immutable here: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("chattr", "-i", left).Run() })
	openAt(t, path, Passphrase(testPassphrase), Options{}).Close()
	if _, err := os.Lstat(left); err != nil {
		t.Errorf("the leftover it may not remove: %v", err)
	}
}
