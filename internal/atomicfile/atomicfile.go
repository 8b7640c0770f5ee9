// Package atomicfile writes files so that a crash leaves either the old
// file or the complete new one: write a temporary file in the same
// directory, fsync it, rename (or link) it into place, fsync the directory.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Write replaces path with data, mode 0600.
func Write(path string, data []byte) error {
	return write(path, data, os.Rename)
}

// Create writes data to path, mode 0600, failing if path exists.
func Create(path string, data []byte) error {
	// A hard link publishes the file atomically and, unlike rename,
	// fails when the target exists.
	return write(path, data, os.Link)
}

func write(path string, data []byte, publish func(oldpath, newpath string) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
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
