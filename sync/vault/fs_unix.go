//go:build unix

package vault

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/openkyc/kyc/internal/atomicfile"
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

// syncDir fsyncs a directory so a rename or link in it survives power
// loss (a no-op where the platform cannot, fs_other.go).
func syncDir(dir string) error { return atomicfile.SyncDir(dir) }

// removeLeftovers removes the temporary files beside the vault at path
// that a crash left while a vault was made there (isLeftover: the
// vault's name, ".new-", digits; nothing else), each only once it holds
// the lock bbolt takes, without waiting: a file another opener is making
// now is locked (createFile), and left. A leftover that is another name
// of the vault itself (a crash after linking it into place) is the file
// the caller holds open, and only that name is removed.
func removeLeftovers(path string) error {
	dir, base := filepath.Dir(path), filepath.Base(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("looking for files left by making a vault: %w", err)
	}
	vault, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("looking for files left by making a vault: %w", err)
	}
	removed := false
	for _, e := range entries {
		if !isLeftover(base, e.Name()) || !e.Type().IsRegular() {
			continue
		}
		ok, err := atomicfile.RemoveUnlocked(filepath.Join(dir, e.Name()), vault)
		if errors.Is(err, fs.ErrPermission) {
			// Another account's (a run under sudo killed while
			// making a vault) or immutable: it stays, since tidying
			// up never keeps the vault from opening.
			continue
		}
		if err != nil {
			return fmt.Errorf("removing a file left by making a vault: %w", err)
		}
		removed = removed || ok
	}
	if removed {
		return syncDir(dir)
	}
	return nil
}
