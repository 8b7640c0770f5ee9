//go:build unix

package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// RemoveUnlocked removes the regular file name, a temporary file a crash
// left, when no process holds its flock (tried without waiting: the
// writer of a file being made now holds it, and the file is left) or when
// it is keep, a file the caller holds itself (nil: none). It says whether
// it removed it. A name given meanwhile to another file is left, and so is
// anything but a regular file (a symbolic link is not followed).
func RemoveUnlocked(name string, keep fs.FileInfo) (bool, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ELOOP) {
		return false, nil // gone, or a symbolic link
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	if !fi.Mode().IsRegular() {
		return false, nil
	}
	if keep == nil || !os.SameFile(fi, keep) {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return false, nil // being made now
		}
		if err != nil {
			return false, fmt.Errorf("locking %s: %w", name, err)
		}
	}
	now, err := os.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !os.SameFile(fi, now)) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return true, nil
}
