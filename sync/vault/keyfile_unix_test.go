//go:build unix

package vault

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestKeyFileChecks(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // WriteFile is subject to umask
			t.Fatal(err)
		}
		return p
	}
	key := randomBytes(keySize)
	fifo := filepath.Join(dir, "fifo.key")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want error
	}{
		{"world readable", write("world.key", key, 0o644), ErrInsecureKeyFile},
		{"group readable", write("group.key", key, 0o640), ErrInsecureKeyFile},
		{"world writable", write("ww.key", key, 0o602), ErrInsecureKeyFile},
		{"directory", dir, ErrInsecureKeyFile},
		{"FIFO without a writer", fifo, ErrInsecureKeyFile},
		{"too short", write("short.key", key[:31], 0o600), ErrInvalid},
		{"too long", write("long.key", append(key, '\n'), 0o600), ErrInvalid},
		{"missing", filepath.Join(dir, "missing.key"), os.ErrNotExist},
		{"owner only 0600", write("ok600.key", key, 0o600), nil},
		{"owner read-only 0400", write("ok400.key", key, 0o400), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Open(ctx, filepath.Join(t.TempDir(), "v.db"), KeyFile(tc.path), Options{})
			if err == nil {
				v.Close()
			}
			if !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
				t.Fatalf("Open err = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("not owned by current user", func(t *testing.T) {
		p := write("foreign.key", key, 0o600)
		if err := os.Chown(p, os.Getuid()+1, -1); err != nil {
			t.Skipf("cannot chown without privileges: %v", err)
		}
		_, err := Open(ctx, filepath.Join(t.TempDir(), "v.db"), KeyFile(p), Options{})
		if !errors.Is(err, ErrInsecureKeyFile) {
			t.Fatalf("Open err = %v, want ErrInsecureKeyFile", err)
		}
	})
	t.Run("GenerateKeyFile refuses to overwrite", func(t *testing.T) {
		p := newKeyFile(t, t.TempDir(), "k")
		before := rawFile(t, p)
		if err := GenerateKeyFile(p); !errors.Is(err, os.ErrExist) {
			t.Fatalf("second GenerateKeyFile err = %v, want ErrExist", err)
		}
		if !bytes.Equal(before, rawFile(t, p)) {
			t.Fatal("existing key file was changed")
		}
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != keySize {
			t.Fatalf("key file mode/size = %v/%d, %v", fi.Mode(), fi.Size(), err)
		}
	})
}
