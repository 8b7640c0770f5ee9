//go:build unix

package atomicfile

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestRemoveUnlocked: a file nobody holds is removed, one whose writer
// holds its lock stays unless it is the caller's own (keep), and neither a
// symbolic link (nor its target) nor a folder is touched.
func TestRemoveUnlocked(t *testing.T) {
	dir := t.TempDir()
	file := func(name string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	left := file("left")
	held := file("held")
	f, err := os.Open(held)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	heldInfo, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	target := file("target")
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	folder := filepath.Join(dir, "folder")
	if err := os.Mkdir(folder, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		path    string
		keep    os.FileInfo
		removed bool
	}{
		{"nobody holds it", left, nil, true},
		{"its writer holds it", held, nil, false},
		{"a symbolic link", link, nil, false},
		{"a folder", folder, nil, false},
		{"gone already", filepath.Join(dir, "none"), nil, false},
		{"the caller's own file, held", held, heldInfo, true},
	} {
		got, err := RemoveUnlocked(c.path, c.keep)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		_, statErr := os.Lstat(c.path)
		if got != c.removed || os.IsNotExist(statErr) != c.removed && c.path != filepath.Join(dir, "none") {
			t.Errorf("%s: removed %v (file gone: %v), want %v", c.name, got, os.IsNotExist(statErr), c.removed)
		}
	}
	if _, err := os.Stat(target); err != nil {
		t.Errorf("the link's target: %v", err)
	}
}
