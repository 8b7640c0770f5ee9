//go:build unix

package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// VerifyLock says whether WriteLocked keeps its lock while verify runs.
type VerifyLock int

const (
	// VerifyShared keeps the shared lock: verify opens the file read-only
	// or under a shared lock (boltstore.Inspect).
	VerifyShared VerifyLock = iota
	// VerifyExclusive lets go of it while verify runs: verify opens the
	// file under an exclusive lock of its own (bbolt's read-write open),
	// which would wait on ours, and that lock keeps the file meanwhile.
	VerifyExclusive
)

// WriteLocked replaces path, mode 0600, with what fill writes, as
// WriteFunc does, through a file beside it named tempPrefix followed by
// os.CreateTemp's digits: a name its caller knows, so that what a killed
// writer left (often a whole copy of something private) can be found
// and removed (RemoveLeftovers). The file holds a shared flock from its
// creation until it is renamed or removed, so that RemoveUnlocked in
// another process leaves it while it is written; lock says whether it is
// kept while verify runs. A failure leaves no file.
func WriteLocked(path, tempPrefix string, lock VerifyLock, fill func(w io.Writer) error, verify func(tmp string) error) error {
	t := temp{pattern: tempPrefix + "*", hold: flockShared}
	if lock == VerifyExclusive {
		t.release = funlock
	}
	return write(path, t, fill, verify, os.Rename)
}

func flockShared(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_SH) }

func funlock(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }

// RemoveLeftovers removes from dir the regular files whose names match
// and whose lock no process holds (RemoveUnlocked): the temporary files a
// writer killed mid-write (WriteLocked) left. Nothing else of dir, which
// may be shared, is touched; a missing dir has none. It returns how many
// it removed.
func RemoveLeftovers(dir string, match func(name string) bool) (int, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("listing %s: %w", dir, err)
	}
	n := 0
	var errs []error
	for _, e := range ents {
		if !e.Type().IsRegular() || !match(e.Name()) {
			continue
		}
		name := filepath.Join(dir, e.Name())
		ok, err := RemoveUnlocked(name, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", name, err))
		} else if ok {
			n++
		}
	}
	return n, errors.Join(errs...)
}
