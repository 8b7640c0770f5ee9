// Package atomicfile writes files so that a crash leaves either the old
// file or the complete new one: write a temporary file in the same
// directory, fsync it, rename (or link) it into place, fsync the directory.
// It reads them back bounded (Open, Read): whatever took a file's place
// is an error, never a wait or all of memory.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// ErrNotRegular: what Open or Read found at the path is not a regular
// file (a FIFO, a device, a folder).
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge: the file is larger than Read's limit.
var ErrTooLarge = errors.New("file larger than its limit")

// Open opens a regular file (a symbolic link to one) for reading. Anything
// else is ErrNotRegular before a byte is read: a FIFO would block its
// reader until a writer came, a device such as /dev/zero never ends.
func Open(path string) (*os.File, error) {
	// Without O_NONBLOCK, opening a FIFO waits for a writer; a regular
	// file reads as it would without it.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s: %w (%v)", path, ErrNotRegular, fi.Mode().Type())
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Read reads the regular file at path (Open) of at most limit bytes; a
// larger one is ErrTooLarge, read no further than its limit.
func Read(path string, limit int64) ([]byte, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: %w of %d bytes", path, ErrTooLarge, limit)
	}
	return data, nil
}

// Write replaces path with data, mode 0600.
func Write(path string, data []byte) error {
	return write(path, plain, writeAll(data), nil, os.Rename)
}

// Create writes data to path, mode 0600, failing if path exists.
func Create(path string, data []byte) error {
	// A hard link publishes the file atomically and, unlike rename,
	// fails when the target exists.
	return write(path, plain, writeAll(data), nil, os.Link)
}

// WriteFunc replaces path, mode 0600, with what fill writes (a stream too
// large to hold in memory); verify, if not nil, reads the complete,
// synced temporary file by its name before it is published, and an error
// of either leaves path as it was.
func WriteFunc(path string, fill func(w io.Writer) error, verify func(tmp string) error) error {
	return write(path, plain, fill, verify, os.Rename)
}

func writeAll(data []byte) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}
}

// temp is how write names and guards its temporary file.
type temp struct {
	// pattern is os.CreateTemp's pattern for the file's name.
	pattern string
	// hold, if not nil, locks the open file until it is published or
	// removed (WriteLocked); release lets go of that lock around verify,
	// and hold takes it again after. Without hold the file is closed
	// before verify and publish.
	hold, release func(f *os.File) error
}

// plain is write's temporary file when nothing else looks for it.
var plain = temp{pattern: ".tmp-*"}

func write(path string, t temp, fill func(io.Writer) error, verify func(string) error, publish func(oldpath, newpath string) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, t.pattern)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	closed := false
	defer func() {
		if !closed {
			tmp.Close() // after the removal below: a lock is held until then
		}
	}()
	defer os.Remove(tmp.Name()) // gone already once renamed
	if t.hold != nil {
		if err := t.hold(tmp); err != nil {
			return fmt.Errorf("locking %s: %w", tmp.Name(), err)
		}
	}
	err = tmp.Chmod(0o600)
	if err == nil {
		err = fill(tmp)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if t.hold == nil {
		closed = true
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil && verify != nil {
		err = verifyHeld(tmp, t, verify)
	}
	if err == nil {
		err = publish(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := SyncDir(dir); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// verifyHeld runs verify on tmp, the lock let go meanwhile if t says so.
func verifyHeld(tmp *os.File, t temp, verify func(string) error) error {
	if t.release == nil {
		return verify(tmp.Name())
	}
	if err := t.release(tmp); err != nil {
		return fmt.Errorf("unlocking %s: %w", tmp.Name(), err)
	}
	if err := verify(tmp.Name()); err != nil {
		return err
	}
	if err := t.hold(tmp); err != nil {
		return fmt.Errorf("locking %s: %w", tmp.Name(), err)
	}
	return nil
}

// SyncDir fsyncs the directory dir, so that a name given in it (a
// rename, a link, a removal) survives a crash or power loss. For callers
// that rename into place themselves.
func SyncDir(dir string) error {
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
