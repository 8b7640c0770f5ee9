//go:build linux

package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childKeysEnv lists the maintainer's key files, separated by ":": it
// rotates the vault from each to the next, round the list.
const childKeysEnv = "VAULT_TEST_KEYS"

// runMaintainer opens the vault with whichever of its keys opens it, then
// rotates to the next key (when it has more than one) and compacts, over
// and over, printing "rotated <n>" and "compacted" after each returns,
// until it is killed or fails ("fail <error>").
func runMaintainer() int {
	if err := limitFileSize(); err != nil {
		fmt.Println("setup", err)
		return 2
	}
	ctx := context.Background()
	keys := strings.Split(os.Getenv(childKeysEnv), ":")
	v, cur, err := openAny(ctx, os.Getenv(childPathEnv), keys)
	if err != nil {
		fmt.Println("setup", err)
		return 2
	}
	defer v.Close()
	for range childMaxWrites {
		if len(keys) > 1 {
			next := (cur + 1) % len(keys)
			if err := v.Rotate(ctx, KeyFile(keys[next])); err != nil {
				fmt.Println("fail", err)
				return 0
			}
			cur = next
			fmt.Println("rotated", cur)
		}
		if err := v.Compact(ctx); err != nil {
			fmt.Println("fail", err)
			return 0
		}
		fmt.Println("compacted")
	}
	return 0
}

// openAny opens the vault at path with the first of keys that opens it.
func openAny(ctx context.Context, path string, keys []string) (*Vault, int, error) {
	for i, k := range keys {
		v, err := Open(ctx, path, KeyFile(k), Options{})
		if errors.Is(err, ErrWrongKey) {
			continue
		}
		return v, i, err
	}
	return nil, 0, ErrWrongKey
}

// TestPowerFailureDuringMaintenance SIGKILLs a process rotating the
// vault's key and compacting the file at random moments: every time, the
// vault must open (with the key of the last rotation that returned, or of
// the one under way) and hold every submission intact, whatever step of
// the copy, the rename or the commit the kill hit.
func TestPowerFailureDuringMaintenance(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	keys := []string{newKeyFile(t, dir, "a.key"), newKeyFile(t, dir, "b.key"), newKeyFile(t, dir, "c.key")}
	path := filepath.Join(dir, "vault.db")
	v := openAt(t, path, KeyFile(keys[0]), Options{})
	const subs = 30
	for i := range subs {
		if err := v.PutSubmission(ctx, testSubmission(fmt.Sprintf("s-%02d", i), childImageSize)); err != nil {
			t.Fatal(err)
		}
	}
	v.Close()

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d", seed)
	cur, rotations := 0, 0
	for round := range 6 {
		cmd := startChild(t, "maintainer", path, childKeysEnv+"="+strings.Join(keys, ":"))
		// The kill lands at a random moment (before, during or after a
		// rotate or compact): whenever it does, the vault must open whole,
		// so the sleep picks the moment and cannot make the test fail.
		time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
		if err := cmd.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for line := range cmd.lines {
			verb, rest, _ := strings.Cut(line, " ")
			switch verb {
			case "rotated":
				fmt.Sscan(rest, &cur)
				rotations++
			case "fail", "setup":
				t.Fatalf("round %d: maintainer: %s", round, line)
			}
		}
		cmd.cmd.Wait()
		v, got, err := openAny(ctx, path, keys)
		if err != nil {
			t.Fatalf("round %d: the vault does not open after a kill during maintenance: %v", round, err)
		}
		if got != cur && got != (cur+1)%len(keys) {
			t.Fatalf("round %d: the vault opens with key %d; the last rotation that returned was to key %d", round, got, cur)
		}
		cur = got
		for i := range subs {
			id := fmt.Sprintf("s-%02d", i)
			s, err := v.GetSubmission(ctx, id)
			if err != nil {
				t.Fatalf("round %d: submission %s lost: %v", round, id, err)
			}
			assertSameSubmission(t, s, testSubmission(id, childImageSize))
		}
		v.Close()
	}
	if rotations == 0 {
		t.Fatal("no rotation returned before a kill; the test proved nothing")
	}
	t.Logf("%d rotations returned before the kills", rotations)
}

// TestCompactDiskFull lets compaction run out of room (RLIMIT_FSIZE below
// what its copy needs): it must fail, leave the vault's file as it was,
// and the vault must open with every submission.
func TestCompactDiskFull(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	key := newKeyFile(t, dir, "kiosk.key")
	path := filepath.Join(dir, "vault.db")
	v := openAt(t, path, KeyFile(key), Options{})
	const subs = 30
	for i := range subs {
		if err := v.PutSubmission(ctx, testSubmission(fmt.Sprintf("s-%02d", i), childImageSize)); err != nil {
			t.Fatal(err)
		}
	}
	v.Close()
	before := rawFile(t, path)
	// Room to read the file, none for a copy of it.
	cmd := startChild(t, "maintainer", path, childKeysEnv+"="+key, childFSizeEnv+"=65536")
	var fails []string
	for line := range cmd.lines {
		verb, rest, _ := strings.Cut(line, " ")
		switch verb {
		case "fail":
			fails = append(fails, rest)
		case "setup":
			t.Fatalf("maintainer: %s", line)
		}
	}
	cmd.cmd.Wait()
	if len(fails) != 1 || !strings.Contains(fails[0], "compacting") || !strings.Contains(fails[0], "file too large") {
		t.Fatalf("maintainer failures = %q, want compaction failing for room", fails)
	}
	if !bytes.Equal(rawFile(t, path), before) {
		t.Error("compaction that ran out of room changed the vault's file")
	}
	v = openAt(t, path, KeyFile(key), Options{})
	for i := range subs {
		id := fmt.Sprintf("s-%02d", i)
		if _, err := v.GetSubmission(ctx, id); err != nil {
			t.Fatalf("submission %s after compaction ran out of room: %v", id, err)
		}
	}
	if _, err := os.Stat(path + ".compact"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the partial copy stays behind: %v", err)
	}
}

// TestMaintenanceOnDamagedFile runs Rotate and Compact on copies of a
// vault with a page header changed, and on a vault whose file was cut
// short while open, as reads and writes already are: the damage must come
// back as ErrCorrupt, never kill the process, and Compact must leave the
// file as it was (a damaged vault is not replaced by what a walk of it
// could read). Before, bbolt's panic on the damaged page, or the SIGBUS of
// a page the file no longer holds, killed the process.
func TestMaintenanceOnDamagedFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "vault.db")
	newKey := newKeyFile(t, dir, "new.key")
	v := openAt(t, path, Passphrase(testPassphrase), Options{})
	for i := range 12 {
		if err := v.PutSubmission(ctx, testSubmission(fmt.Sprintf("sub-%02d", i), 20<<10)); err != nil {
			t.Fatal(err)
		}
	}
	v.Close()
	orig := rawFile(t, path)
	const page = 4096 // bbolt's page size where the tests run

	// maintain opens a copy of data and runs op on it; it returns op's
	// error (nil also when the copy does not open: Open's own test covers
	// that) and whether the file still holds data afterwards.
	maintain := func(data []byte, op func(v *Vault) error) (error, bool) {
		p := filepath.Join(t.TempDir(), "copy.db")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		v, err := Open(ctx, p, Passphrase(testPassphrase), Options{Argon2: fastArgon2})
		if err != nil {
			return nil, true
		}
		defer v.Close()
		err = op(v)
		return err, bytes.Equal(rawFile(t, p), data)
	}
	rotate := func(v *Vault) error { return v.Rotate(ctx, KeyFile(newKey)) }
	compact := func(v *Vault) error { return v.Compact(ctx) }

	corrupt := map[string]int{}
	for p := 2; p < len(orig)/page; p++ { // every page: which ones Rotate reads depends on the layout
		data := bytes.Clone(orig)
		data[p*page] ^= 0x01 // the page's id
		for name, op := range map[string]func(*Vault) error{"Rotate": rotate, "Compact": compact} {
			err, same := maintain(data, op)
			switch {
			case err == nil:
			case errors.Is(err, ErrCorrupt):
				corrupt[name]++
				if name == "Compact" && !same {
					t.Errorf("page %d's id changed: Compact failed (%v) and replaced the file", p, err)
				}
			case !errors.Is(err, ErrAuthentication):
				t.Errorf("page %d's id changed: %s: %v, want ErrCorrupt", p, name, err)
			}
		}
	}
	for _, name := range []string{"Rotate", "Compact"} {
		if corrupt[name] == 0 {
			t.Errorf("%s found no changed page header damaged; the test proves nothing", name)
		}
	}

	// A file cut short under the open vault (a restore, a full disk's
	// file system): the missing pages fault when read.
	for name, op := range map[string]func(*Vault) error{"Rotate": rotate, "Compact": compact} {
		p := filepath.Join(t.TempDir(), "cut.db")
		if err := os.WriteFile(p, orig, 0o600); err != nil {
			t.Fatal(err)
		}
		v := openAt(t, p, Passphrase(testPassphrase), Options{})
		if err := os.Truncate(p, int64(len(orig)/4)); err != nil {
			t.Fatal(err)
		}
		if err := op(v); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s on a file cut short: %v, want ErrCorrupt", name, err)
		}
	}
}
