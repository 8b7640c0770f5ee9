package boltstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"runtime/debug"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/openkyc/kyc/internal/ctxio"
)

// Errors of Inspect.
var (
	// ErrInUse means a store file is open in another process (a running
	// central holds its lock), so it cannot be copied or replaced from
	// here.
	ErrInUse = errors.New("boltstore: the store file is in use by another process")
	// ErrDamaged means a store file is cut short or has a damaged page.
	ErrDamaged = errors.New("boltstore: the store file is damaged")
)

// Backup writes a consistent copy of the whole store to w, as of one read
// transaction, while the store serves; it returns the bytes written. The
// copy is a store file Open reads as it is. A read transaction held open
// keeps bbolt from growing its map, so writers may wait on it when the
// file must grow: copy to a local file, not straight to a slow client.
func (s *Store) Backup(ctx context.Context, w io.Writer) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		n, err = tx.WriteTo(ctxio.Writer(ctx, w))
		return err
	})
	if err != nil {
		return n, fmt.Errorf("copying the store: %w", err)
	}
	return n, nil
}

// Summary is what a store file holds, counted by Inspect.
type Summary struct {
	Bytes       int64     `json:"bytes"`
	Devices     int       `json:"devices"`
	Submissions int       `json:"submissions"`
	AuditEvents int       `json:"audit_events"`
	Users       int       `json:"users"`
	Newest      time.Time `json:"newest_audit_event,omitzero"`
}

// Inspect opens the store file at path read-only, checks every page of
// it (bbolt's consistency check: a cut or damaged copy fails) and counts
// what it holds, without migrating or changing anything. ErrInUse when a
// running central holds the file; ErrNewerFormat when a newer release
// wrote it (this build would misread it, so backup and restore refuse it); a path that is no regular file (a FIFO,
// a device: a symbolic link is followed) is ErrDamaged.
func Inspect(ctx context.Context, path string) (sum Summary, err error) {
	// A page the file no longer holds is mapped all the same, and reading
	// it would kill the process (SIGBUS); bbolt panics on some damaged
	// pages. Both become ErrDamaged.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			sum, err = Summary{}, fmt.Errorf("inspecting %s: %w: %v", path, ErrDamaged, r)
		}
	}()
	fi, err := os.Stat(path)
	if err != nil {
		return Summary{}, fmt.Errorf("inspecting %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		// A FIFO or a device would block the open or read without end.
		return Summary{}, fmt.Errorf("inspecting %s: %w: not a regular file (%v)", path, ErrDamaged, fi.Mode().Type())
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return Summary{}, fmt.Errorf("inspecting %s: %w", path, ErrInUse)
	}
	if err != nil {
		return Summary{}, fmt.Errorf("inspecting %s: %w: %v", path, ErrDamaged, err)
	}
	defer db.Close()
	sum = Summary{Bytes: fi.Size()}
	err = db.View(func(tx *bbolt.Tx) error {
		if fi.Size() < tx.Size() {
			return fmt.Errorf("%w: %d bytes of the %d its pages need (cut short)", ErrDamaged, fi.Size(), tx.Size())
		}
		if err := readAll(ctx, tx); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if tx.Bucket(bucketSubs) == nil || tx.Bucket(bucketMeta) == nil {
			return errors.New("a bbolt file but not central's store (no submissions or meta bucket)")
		}
		if err := checkFormat(tx); err != nil {
			return err
		}
		sum.Devices = keys(tx, bucketDevices)
		sum.Submissions = keys(tx, bucketSubs)
		sum.AuditEvents = keys(tx, bucketChain) + keys(tx, bucketAudit)
		sum.Users = keys(tx, bucketUsers)
		if b := tx.Bucket(bucketChain); b != nil {
			if _, v := b.Cursor().Last(); v != nil {
				var rec auditRecord
				if json.Unmarshal(v, &rec) == nil {
					sum.Newest = rec.At
				}
			}
		}
		return nil
	})
	if err != nil {
		return Summary{}, fmt.Errorf("inspecting %s: %w", path, err)
	}
	return sum, nil
}

// readAll reads every key and value of every bucket, so every page the
// store reaches is read in this goroutine, where a damaged one panics
// recoverably. (tx.Check would do more, but on a file without a synced
// freelist, as central's are, it rebuilds the freelist in a goroutine of
// bbolt's own, whose panic on a damaged page nothing can recover.)
func readAll(ctx context.Context, tx *bbolt.Tx) error {
	h := crc32.NewIEEE() // reads every byte: a value's pages may run past the file's end
	var walk func(b *bbolt.Bucket) error
	walk = func(b *bbolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				if nb := b.Bucket(k); nb != nil {
					return walk(nb)
				}
				return nil
			}
			_, err := h.Write(v)
			return err
		})
	}
	err := tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return walk(b)
	})
	return err
}

// keys counts the keys of bucket name (0 when it is absent).
func keys(tx *bbolt.Tx, name []byte) int {
	b := tx.Bucket(name)
	if b == nil {
		return 0
	}
	return b.Stats().KeyN
}
