// Package atomicfile writes files so that a crash leaves either the old
// file or the complete new one: write a temporary file in the same
// directory, fsync it, rename (or link) it into place, fsync the directory.
package atomicfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write replaces path with data, mode 0600.
func Write(path string, data []byte) error {
	return write(path, writeAll(data), nil, os.Rename)
}

// Create writes data to path, mode 0600, failing if path exists.
func Create(path string, data []byte) error {
	// A hard link publishes the file atomically and, unlike rename,
	// fails when the target exists.
	return write(path, writeAll(data), nil, os.Link)
}

// WriteFunc replaces path, mode 0600, with what fill writes (a stream too
// large to hold in memory); verify, if not nil, reads the complete,
// synced temporary file by its name before it is published, and an error
// of either leaves path as it was.
func WriteFunc(path string, fill func(w io.Writer) error, verify func(tmp string) error) error {
	return write(path, fill, verify, os.Rename)
}

func writeAll(data []byte) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}
}

func write(path string, fill func(io.Writer) error, verify func(string) error, publish func(oldpath, newpath string) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(0o600)
	if err == nil {
		err = fill(tmp)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil && verify != nil {
		err = verify(tmp.Name())
	}
	if err == nil {
		err = publish(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing directory of %s: %w", path, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory of %s: %w", path, err)
	}
	return nil
}
