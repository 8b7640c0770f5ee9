package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestWriteAndCreate(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := Create(p, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := Create(p, []byte("two")); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Create over an existing file = %v, want ErrExist", err)
	}
	if err := Write(p, []byte("three")); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(p)
	fi, _ := os.Stat(p)
	if err != nil || string(data) != "three" || fi.Mode().Perm() != 0o600 {
		t.Errorf("file = %q (%v), mode %v", data, err, fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want no temporary files left", len(entries))
	}
	if err := Write(filepath.Join(dir, "missing", "f"), nil); err == nil {
		t.Error("Write into a missing directory succeeded")
	}
}

func TestWriteFunc(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := Write(p, []byte("old")); err != nil {
		t.Fatal(err)
	}
	fill := func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }
	bad := errors.New("bad")
	for _, tc := range []struct {
		name   string
		fill   func(io.Writer) error
		verify func(string) error
		want   string
	}{
		{"fill fails", func(io.Writer) error { return bad }, nil, "old"},
		{"verify refuses", fill, func(string) error { return bad }, "old"},
		{"verify reads the whole temporary file", fill, func(tmp string) error {
			if b, err := os.ReadFile(tmp); err != nil || string(b) != "new" {
				return fmt.Errorf("temporary file %q, %v", b, err)
			}
			return nil
		}, "new"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := WriteFunc(p, tc.fill, tc.verify)
			if (tc.want == "old") != errors.Is(err, bad) {
				t.Errorf("WriteFunc = %v", err)
			}
			if b, _ := os.ReadFile(p); string(b) != tc.want {
				t.Errorf("file = %q, want %q", b, tc.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("directory holds %d entries, want no temporary files left", len(entries))
			}
		})
	}
}

// TestRead: a file within its limit is read; one over it, a FIFO no one
// writes to, /dev/zero and a folder are refused at once, never waited on
// nor read whole.
func TestRead(t *testing.T) {
	dir := t.TempDir()
	small, big, fifo := filepath.Join(dir, "small"), filepath.Join(dir, "big"), filepath.Join(dir, "fifo")
	if err := Write(small, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(big, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, 1<<40); err != nil { // sparse: a terabyte costs nothing on disk
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		want error
	}{
		{small, nil},
		{big, ErrTooLarge},
		{fifo, ErrNotRegular},
		{"/dev/zero", ErrNotRegular},
		{dir, ErrNotRegular},
	} {
		done := make(chan error, 1)
		go func() {
			_, err := Read(c.path, 1<<20)
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, c.want) || (err == nil) != (c.want == nil) {
				t.Errorf("Read(%s) = %v, want %v", c.path, err, c.want)
			}
		case <-time.After(time.Minute):
			// Let the reader blocked in open go: a writer comes and leaves.
			if w, err := os.OpenFile(c.path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				w.Close()
			}
			t.Errorf("Read(%s) still blocked after a minute", c.path)
		}
	}
}
