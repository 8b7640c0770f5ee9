//go:build unix

package vault

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// checkKeyFileOwner refuses a key file that another account could read or
// replace: it must belong to the current user and have no group or other
// permission bits (0600 or 0400).
func checkKeyFileOwner(path string, fi fs.FileInfo) error {
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%w: %s has mode %04o; it must be readable only by its owner (chmod 600)", ErrInsecureKeyFile, path, perm)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%w: cannot read the owner of %s", ErrInsecureKeyFile, path)
	}
	if uid := os.Getuid(); int(st.Uid) != uid {
		return fmt.Errorf("%w: %s is owned by uid %d, not the current user (uid %d)", ErrInsecureKeyFile, path, st.Uid, uid)
	}
	return nil
}

// syncDir fsyncs a directory so a rename or link in it survives power loss.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}
