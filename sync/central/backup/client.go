package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/openkyc/kyc/internal/atomicfile"
	"github.com/openkyc/kyc/internal/ctxio"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/seal"
	"github.com/openkyc/kyc/sync/central/store/boltstore"
)

// Errors of taking and restoring copies.
var (
	// ErrDigest means a downloaded copy is not what central sent: its
	// SHA-256 or its length differs from the answer's headers.
	ErrDigest = errors.New("backup: the copy does not match central's digest")
	// ErrExists means the restore target holds a store and the caller did
	// not allow replacing it.
	ErrExists = errors.New("backup: a store is already there")
)

// Fetch downloads a copy of the store of the central at base (its admin
// API, with token) into out: to a temporary file beside out (write),
// checked against the answer's length and Repr-Digest and by
// boltstore.Inspect, synced, and only then renamed over out, so out is
// never a partial or damaged copy; an out a running central holds open
// (its store) is refused, boltstore.ErrInUse. client carries central's CA; its Timeout should be zero
// (a large store takes a while), ctx bounds the download.
func Fetch(ctx context.Context, client *http.Client, base, token, out string) (boltstore.Summary, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+Path, nil)
	if err != nil {
		return boltstore.Summary{}, fmt.Errorf("fetching a copy of the store: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return boltstore.Summary{}, fmt.Errorf("fetching a copy of the store: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return boltstore.Summary{}, fmt.Errorf("fetching a copy of the store: central answered %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	want, err := reprDigest(resp.Header.Get("Repr-Digest"))
	if err != nil {
		return boltstore.Summary{}, fmt.Errorf("fetching a copy of the store: %w", err)
	}
	fill := func(w io.Writer) error {
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(w, h), resp.Body)
		if err != nil {
			return fmt.Errorf("receiving the copy: %w", err)
		}
		if resp.ContentLength >= 0 && n != resp.ContentLength {
			return fmt.Errorf("%w: %d bytes of %d", ErrDigest, n, resp.ContentLength)
		}
		if !bytes.Equal(h.Sum(nil), want) {
			return fmt.Errorf("%w: SHA-256 %x, central sent %x", ErrDigest, h.Sum(nil), want)
		}
		return nil
	}
	return write(ctx, out, fill)
}

// reprDigest reads the sha-256 of a Repr-Digest header (RFC 9530).
func reprDigest(h string) ([]byte, error) {
	for item := range strings.SplitSeq(h, ",") {
		v, ok := strings.CutPrefix(strings.TrimSpace(item), "sha-256=:")
		if !ok {
			continue
		}
		d, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(v, ":"))
		if err != nil || len(d) != sha256.Size {
			return nil, fmt.Errorf("%w: malformed Repr-Digest %q", ErrDigest, h)
		}
		return d, nil
	}
	return nil, fmt.Errorf("%w: central sent no sha-256 Repr-Digest", ErrDigest)
}

// Copy copies the store file at db, which no central may hold open (else
// boltstore.ErrInUse: fetch from the running central instead), into out as
// Fetch does.
func Copy(ctx context.Context, db, out string) (boltstore.Summary, error) {
	src, err := openIdle(db)
	if err != nil {
		return boltstore.Summary{}, err
	}
	defer src.Close()
	return write(ctx, out, func(w io.Writer) error {
		return src.View(func(tx *bbolt.Tx) error {
			_, err := tx.WriteTo(w)
			return err
		})
	})
}

// write publishes what fill writes at out once boltstore.Inspect has
// read the whole of it, through a file beside it named
// .<out's name>.fetch-<digits>, locked while it is written
// (atomicfile.WriteLocked). Such files a killed Fetch or Copy left in
// out's folder, each a whole copy of the store, are removed first when
// no process holds them (isFetching; a Fetch under way does).
func write(ctx context.Context, out string, fill func(io.Writer) error) (boltstore.Summary, error) {
	if _, err := atomicfile.RemoveLeftovers(filepath.Dir(out), isFetching); err != nil {
		return boltstore.Summary{}, fmt.Errorf("removing the copies a killed backup left: %w", err)
	}
	if err := notInUse(out); err != nil {
		return boltstore.Summary{}, err
	}
	var sum boltstore.Summary
	err := atomicfile.WriteLocked(out, "."+filepath.Base(out)+fetchingInfix, atomicfile.VerifyShared, fill, func(tmp string) error {
		var err error
		if sum, err = boltstore.Inspect(ctx, tmp); err != nil {
			return err
		}
		return notInUse(out) // a central may have started on it meanwhile
	})
	return sum, err
}

// notInUse refuses (boltstore.ErrInUse) an out that is a store a process
// holds open to write (a running central holds bbolt's exclusive lock on
// its file): --out naming the data folder's central.db. Renamed over, the
// store would lose its name while central goes on writing to it, and
// every write since the copy would be lost at its next start.
func notInUse(out string) error {
	fi, err := os.Lstat(out)
	if err != nil || !fi.Mode().IsRegular() {
		return nil // nothing there, or not a file a store is kept in: the rename decides
	}
	f, err := os.Open(out)
	if err != nil {
		return fmt.Errorf("checking %s: %w", out, err)
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return fmt.Errorf("writing the copy to %s: %w (a running central's store: give --out another file)", out, boltstore.ErrInUse)
	}
	if err != nil {
		return fmt.Errorf("checking %s: %w", out, err)
	}
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}

// fetchingInfix comes, in the name of a copy being written by Fetch or
// Copy, between a dot and the file's own name and os.CreateTemp's digits.
const fetchingInfix = ".fetch-"

// fetchingName matches the name of a copy being written by Fetch or Copy
// into a folder, whatever file it is for: --out names differ from run to
// run (a date in them), and a killed run's copy is found by the next.
var fetchingName = regexp.MustCompile(`^\..+` + regexp.QuoteMeta(fetchingInfix) + `\d+$`)

// isFetching reports whether name is that of a copy being written by
// Fetch or Copy.
func isFetching(name string) bool { return fetchingName.MatchString(name) }

// openIdle opens the store file at path read-only when no process holds
// it: boltstore.ErrInUse when one does (a running central holds bbolt's
// exclusive lock; the shared lock taken here keeps one from starting
// until it is closed). Read-only, so the file is left byte for byte.
func openIdle(path string) (*bbolt.DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("opening %s: %w (stop central first)", path, boltstore.ErrInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return db, nil
}

// Restore makes the copy at from the store file db of a stopped central:
// the copy is checked (boltstore.Inspect) and written beside db,
// temp-fsync-rename. A store already at db is kept, renamed
// db.replaced-<UTC time> (its name is returned), and only when replace is
// set (else ErrExists); one a running central holds is never touched
// (boltstore.ErrInUse). With keys (the data folder's keyring; nil skips
// it) the copy written beside db is opened and its data keys must open
// under keys (seal.CheckKeys, else seal.ErrForeignKeys): another
// central's copy, which this keyring cannot read, never replaces the
// store. A restore refused leaves no db.replaced-<UTC time> beside the
// store it did not replace. The erasures the store at db still holds
// tombstones of (boltstore.Tombstones: those of the last
// MaxAttestationAge) are carried into the copy before it is renamed: a
// submission erased since the copy was taken is erased from it again,
// its tombstone kept, so a restore does not bring back a person erased
// meanwhile. The copy is written beside db under a name
// of its own (restoringPrefix), locked while it is written; the copies a
// restore killed mid-copy left are removed first (RemoveLeftRestores).
// A copy a newer release wrote is refused (boltstore.ErrNewerFormat)
// before anything is renamed. central migrates an older copy forward when it opens it (the
// check opens it, so the copy restored with keys is migrated already).
func Restore(ctx context.Context, from, db string, replace bool, now time.Time, keys seal.KEKProvider) (boltstore.Summary, string, error) {
	if _, err := RemoveLeftRestores(db); err != nil {
		return boltstore.Summary{}, "", fmt.Errorf("restoring: %w", err)
	}
	sum, err := boltstore.Inspect(ctx, from)
	if err != nil {
		return boltstore.Summary{}, "", fmt.Errorf("restoring: the copy: %w", err)
	}
	var kept string
	var erased []central.SubmissionRef
	if _, err := os.Stat(db); err == nil {
		if !replace {
			return boltstore.Summary{}, "", fmt.Errorf("restoring over %s: %w (pass --replace to keep it aside and restore)", db, ErrExists)
		}
		// Held while the files are swapped: no central starts on the old
		// store meanwhile, and a running one is found here.
		cur, err := openIdle(db)
		if err != nil {
			return boltstore.Summary{}, "", fmt.Errorf("restoring: %w", err)
		}
		defer cur.Close()
		if erased, err = boltstore.Tombstones(cur); err != nil {
			return boltstore.Summary{}, "", fmt.Errorf("restoring: the store in place: %w", err)
		}
		kept = fmt.Sprintf("%s.replaced-%s", db, now.UTC().Format("20060102T150405Z"))
		if err := os.Link(db, kept); err != nil {
			return boltstore.Summary{}, "", fmt.Errorf("restoring: keeping the current store: %w", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return boltstore.Summary{}, "", fmt.Errorf("restoring over %s: %w", db, err)
	}
	src, err := os.Open(from)
	if err != nil {
		return boltstore.Summary{}, "", fmt.Errorf("restoring: %w", err)
	}
	defer src.Close()
	err = putBack(ctx, db, src, func(tmp string) error {
		if sum, err = boltstore.Inspect(ctx, tmp); err != nil || (keys == nil && len(erased) == 0) {
			return err
		}
		n, err := carryOver(ctx, tmp, erased, keys)
		sum.Submissions -= n
		return err
	})
	if err != nil {
		// Refused before the rename (the copy damaged, or not this
		// keyring's), kept is only another name of the store still in
		// place, which a retry would find in its way: it goes. After the
		// rename (syncing the folder failed) it is the old store's only
		// name, and stays.
		if kept != "" && sameFile(db, kept) && os.Remove(kept) == nil {
			kept = ""
		}
		return boltstore.Summary{}, kept, fmt.Errorf("restoring into %s: %w", filepath.Dir(db), err)
	}
	return sum, kept, nil
}

// sameFile reports whether paths a and b name one file.
func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// carryOver opens the store file at path (a copy being restored), erases
// again the submissions of erased it holds, keeping their tombstones, and
// with keys (nil skips it) reports whether keys opens its data keys
// (seal.CheckKeys). It returns how many submissions it erased.
func carryOver(ctx context.Context, path string, erased []central.SubmissionRef, keys seal.KEKProvider) (int, error) {
	st, err := boltstore.Open(path)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, ref := range erased {
		err = st.DeleteSubmission(ctx, ref.DeviceID, ref.Key)
		if errors.Is(err, central.ErrNotFound) {
			err = nil // not in the copy: nothing to erase again
			continue
		}
		if err != nil {
			err = fmt.Errorf("erasing again a submission the store in place erased: %w", err)
			break
		}
		n++
	}
	if err == nil && keys != nil {
		err = seal.CheckKeys(ctx, st, keys)
	}
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// restoringPrefix begins, after a dot and the store's own name, the name
// of a copy being restored beside the store (putBack); os.CreateTemp's
// digits end it.
const restoringPrefix = ".restore-"

// isRestoring reports whether name is that of a copy being restored
// beside the store file named base.
func isRestoring(name, base string) bool {
	digits, ok := strings.CutPrefix(name, "."+base+restoringPrefix)
	return ok && digits != "" && strings.Trim(digits, "0123456789") == ""
}

// putBack writes what src holds to db through a file beside it named
// .<db's name>.restore-<digits>, synced and checked by verify (which
// reads it by its name) before it is renamed over db; a failure leaves
// no file. The file holds a shared lock (flock) while it is written, so
// that RemoveLeftRestores, run by another restore or a central starting,
// leaves it; while verify opens it to write (the key check migrates it)
// bbolt's own lock holds it instead (atomicfile.VerifyExclusive).
func putBack(ctx context.Context, db string, src io.Reader, verify func(tmp string) error) error {
	return atomicfile.WriteLocked(db, "."+filepath.Base(db)+restoringPrefix, atomicfile.VerifyExclusive, func(w io.Writer) error {
		_, err := io.Copy(w, ctxio.Reader(ctx, src))
		return err
	}, verify)
}

// RemoveLeftRestores removes the copies a restore into the store file db
// left beside it when it was killed mid-copy (or the machine lost power):
// each is a whole copy of a store, whose submissions erasures since would
// otherwise outlive. Only a regular file named as putBack names them
// whose lock no process holds (taken without waiting: a restore under way
// holds it) is removed, nothing else of the folder; it returns how many
// were. Restore runs it first, and central at start.
func RemoveLeftRestores(db string) (int, error) {
	base := filepath.Base(db)
	n, err := atomicfile.RemoveLeftovers(filepath.Dir(db), func(name string) bool { return isRestoring(name, base) })
	if err != nil {
		return n, fmt.Errorf("removing the copies a restore left: %w", err)
	}
	return n, nil
}
