//go:build unix

package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// names lists the files of dir (filepath.Glob's * matches names with a
// leading dot too).
func names(t *testing.T, dir string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range paths {
		paths[i] = filepath.Base(p)
	}
	return paths
}

// TestWriteLocked: the file is written under tempPrefix<digits>, mode
// 0600, locked while filled (RemoveUnlocked leaves it) and, with
// VerifyShared, while verified; with VerifyExclusive verify can take an
// exclusive lock. A failure of fill or verify leaves path as it was and
// no other file.
func TestWriteLocked(t *testing.T) {
	boom := errors.New("boom")
	for _, c := range []struct {
		name      string
		lock      VerifyLock
		fillErr   error
		verifyErr error
	}{
		{"shared", VerifyShared, nil, nil},
		{"exclusive", VerifyExclusive, nil, nil},
		{"fill fails", VerifyShared, boom, nil},
		{"verify fails", VerifyShared, nil, boom},
		{"verify fails, exclusive", VerifyExclusive, nil, boom},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "store.db")
			if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
				t.Fatal(err)
			}
			isTemp := func(n string) bool {
				d, ok := strings.CutPrefix(n, ".store.db.x-")
				return ok && d != "" && strings.Trim(d, "0123456789") == ""
			}
			fill := func(w io.Writer) error {
				seen := names(t, dir)
				if len(seen) != 2 || !isTemp(seen[0]) {
					t.Errorf("while filled the folder held %q, want .store.db.x-<digits> and store.db", seen)
				}
				if n, err := RemoveLeftovers(dir, isTemp); n != 0 || err != nil {
					t.Errorf("RemoveLeftovers while filled = %d, %v; want 0", n, err)
				}
				if _, err := io.WriteString(w, "new"); err != nil {
					return err
				}
				return c.fillErr
			}
			verify := func(tmp string) error {
				fi, err := os.Stat(tmp)
				if err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("the temporary file: %v, %v; want mode 0600", fi, err)
				}
				f, err := os.Open(tmp)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
				if free := err == nil; free != (c.lock == VerifyExclusive) {
					t.Errorf("an exclusive lock during verify: %v, want it free: %v", err, c.lock == VerifyExclusive)
				}
				if err == nil {
					syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				}
				return c.verifyErr
			}
			err := WriteLocked(path, ".store.db.x-", c.lock, fill, verify)
			want, failed := "new", c.fillErr != nil || c.verifyErr != nil
			if failed {
				want = "old"
				if !errors.Is(err, boom) {
					t.Errorf("WriteLocked = %v, want boom", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(path); err != nil || string(b) != want {
				t.Errorf("path holds %q, %v; want %q", b, err, want)
			}
			if got := names(t, dir); len(got) != 1 {
				t.Errorf("the folder holds %q, want only store.db", got)
			}
		})
	}
}

// TestRemoveLeftovers: only regular files whose names match and whose
// lock is free are removed.
func TestRemoveLeftovers(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{".a.left-1", ".a.held-2", "other"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, ".a.dir-3"), 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, ".a.held-2"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	n, err := RemoveLeftovers(dir, func(name string) bool { return strings.HasPrefix(name, ".a.") })
	if err != nil || n != 1 {
		t.Errorf("RemoveLeftovers = %d, %v; want 1", n, err)
	}
	if got := strings.Join(names(t, dir), " "); got != ".a.dir-3 .a.held-2 other" {
		t.Errorf("left %q", got)
	}
	if n, err := RemoveLeftovers(filepath.Join(dir, "none"), func(string) bool { return true }); n != 0 || err != nil {
		t.Errorf("a missing folder: %d, %v", n, err)
	}
}
