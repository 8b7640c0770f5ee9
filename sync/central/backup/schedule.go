package backup

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/openkyc/kyc/internal/atomicfile"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
	"github.com/openkyc/kyc/sync/central/store/boltstore"
)

// Schedule takes a copy of a serving store into a folder every Every and
// keeps the newest Keep of them, removing only older copies its store's
// audit trail says it took (another store's are left: prune)
// (`kyc-central serve --backup-dir`): a
// central nobody remembers to back up is still one failed disk from
// losing every case. Each copy is checked page by page before it gets its
// name (as Fetch's are) and is recorded in the audit trail.
//
// When the next copy is due is read from the folder, not kept in memory:
// the newest copy's time (in its name) plus Every, so a central restarted
// more often than Every still takes its copies, and one that was down
// when a copy was due takes it at start.
type Schedule struct {
	// Source is the store copied (boltstore.Store).
	Source Source
	// Store records each copy in the audit trail (the sealed store).
	Store central.Store
	// Dir holds the copies, named central-<UTC time>.db; best another
	// disk than the store's. Created 0700 if missing.
	Dir string
	// StoreDir is the store's folder: when Dir is on the same file system
	// Run warns at start, since one failed disk would take the store and
	// every copy of it.
	StoreDir string
	// Every is the interval between copies (default DefaultEvery).
	Every time.Duration
	// Keep is how many copies are kept, the newest (default DefaultKeep).
	Keep int
	// Now is central's clock (default time.Now).
	Now func() time.Time
	// Log receives the copies taken and the failures of Run.
	Log *slog.Logger
}

// Defaults of a Schedule.
const (
	DefaultEvery = 24 * time.Hour
	DefaultKeep  = 7
)

// copyLayout names a scheduled copy: central-20261204T103000Z.db.
const (
	copyPrefix = "central-"
	copyLayout = "20060102T150405Z"
	copySuffix = ".db"
)

// AuditScheduled is the audit actor of a scheduled copy.
const AuditScheduled = "backup-schedule"

func (s *Schedule) defaults() {
	if s.Every <= 0 {
		s.Every = DefaultEvery
	}
	if s.Keep <= 0 {
		s.Keep = DefaultKeep
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
}

// copies lists the scheduled copies in Dir, oldest first, by the time in
// their names as of now; other files are not the schedule's and are left
// alone. A copy dated after now was taken while the clock ran ahead (it
// has been set back since): it counts as older than every copy dated by
// the clock as it is, since those, the copy just taken among them, hold
// the store as it is now; were it counted by its date, the copies taken
// now would be the oldest and pruned as soon as taken, for as long as the
// clock takes to catch up with it.
func (s *Schedule) copies(now time.Time) ([]scheduled, error) {
	ents, err := os.ReadDir(s.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // Take creates it
	}
	if err != nil {
		return nil, fmt.Errorf("listing the backup folder: %w", err)
	}
	var out []scheduled
	for _, e := range ents {
		name := e.Name()
		stamp, ok := strings.CutPrefix(name, copyPrefix)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		stamp, ok = strings.CutSuffix(stamp, copySuffix)
		if !ok {
			continue
		}
		at, err := time.Parse(copyLayout, stamp)
		if err != nil {
			continue
		}
		out = append(out, scheduled{path: filepath.Join(s.Dir, name), at: at})
	}
	slices.SortFunc(out, func(a, b scheduled) int {
		if af, bf := a.at.After(now), b.at.After(now); af != bf {
			if af {
				return -1
			}
			return 1
		}
		return a.at.Compare(b.at)
	})
	return out, nil
}

type scheduled struct {
	path string
	at   time.Time
}

// Due is when the next copy is due: the newest copy's time plus Every, or
// now when there is none. Copies dated after now (the clock was set back)
// are not counted: a copy from "the future" must not hold off the next
// one, nor make one due again as soon as it is taken.
func (s *Schedule) Due() (time.Time, error) {
	s.defaults()
	now := s.Now()
	cs, err := s.copies(now)
	if err != nil {
		return time.Time{}, err
	}
	if len(cs) == 0 || cs[len(cs)-1].at.After(now) {
		return now, nil
	}
	return cs[len(cs)-1].at.Add(s.Every), nil
}

// Take takes a copy now and then removes the copies beyond the newest
// Keep. It returns the copy's path. A copy that cannot be taken or
// checked leaves no file under a copy's name and removes no older copy.
func (s *Schedule) Take(ctx context.Context) (string, error) {
	s.defaults()
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return "", fmt.Errorf("creating the backup folder: %w", err)
	}
	now := s.Now().UTC()
	out := filepath.Join(s.Dir, copyPrefix+now.Format(copyLayout)+copySuffix)
	if _, err := os.Stat(out); err == nil {
		return "", fmt.Errorf("taking a scheduled copy: %s exists (two copies in one second)", out)
	}
	sum := sha256.New()
	var n int64
	if err := stage(ctx, out, func(w io.Writer) error {
		var err error
		n, err = s.Source.Backup(ctx, io.MultiWriter(w, sum))
		return err
	}); err != nil {
		return "", fmt.Errorf("taking a scheduled copy: %w", err)
	}
	after, err := json.Marshal(scheduledState{backupState: backupState{Bytes: n, SHA256: fmt.Sprintf("%x", sum.Sum(nil))}, File: filepath.Base(out)})
	if err != nil {
		return out, err
	}
	if err := s.Store.AppendAudit(ctx, central.AuditEvent{ID: httpx.NewRequestID(), At: now, Actor: AuditScheduled,
		Action: AuditBackup, Subject: "store", Count: 1, After: after}); err != nil {
		return out, fmt.Errorf("recording the scheduled copy in the audit trail: %w", err)
	}
	return out, s.prune(ctx, now)
}

// stagedName matches the name a copy has while it is written (stage):
// its own name after a dot, then ".tmp-" and os.CreateTemp's digits.
// Nothing else in the folder, which may be shared, matches it.
var stagedName = regexp.MustCompile(`^\.` + regexp.QuoteMeta(copyPrefix) + `\d{8}T\d{6}Z` + regexp.QuoteMeta(copySuffix) + `\.tmp-\d+$`)

// stage writes the copy out through a staged file beside it (stagedName),
// synced and checked page by page (boltstore.Inspect) before it is
// renamed to out; a failure leaves no file. The staged file holds a
// shared lock (flock) until it is renamed or removed, so that
// removeStaged, in another central sharing the folder, leaves it
// (atomicfile.WriteLocked; boltstore.Inspect's read-only open takes a
// shared lock too: no conflict).
func stage(ctx context.Context, out string, fill func(io.Writer) error) error {
	return atomicfile.WriteLocked(out, "."+filepath.Base(out)+".tmp-", atomicfile.VerifyShared, fill, func(tmp string) error {
		_, err := boltstore.Inspect(ctx, tmp)
		return err
	})
}

// removeStaged removes the copies a schedule stopped mid-copy (killed, or
// the machine lost power) left staged in Dir: each is a whole copy of the
// store, whose submissions an erasure since would otherwise outlive. Only
// a regular file whose name is stagedName's and whose lock no process
// holds (taken without waiting: stage holds it while it writes) is
// removed (atomicfile.RemoveLeftovers); it returns how many were.
func (s *Schedule) removeStaged() (int, error) {
	n, err := atomicfile.RemoveLeftovers(s.Dir, stagedName.MatchString)
	if err != nil {
		return n, fmt.Errorf("removing the copies left staged: %w", err)
	}
	return n, nil
}

// scheduledState is what the audit trail keeps of a scheduled copy.
type scheduledState struct {
	backupState
	File string `json:"file"`
}

// prune removes the oldest copies beyond Keep (copies' order as of now)
// that this store took: those its audit trail records (took). A copy it
// has no record of is another store's, such as the store this one
// replaced on a new disk, or one not mounted, whose data folder was
// found empty: pruned by its order, one a day, it would have been
// replaced within Keep days by copies of a store that holds nothing. It
// stays until an operator removes it.
func (s *Schedule) prune(ctx context.Context, now time.Time) error {
	cs, err := s.copies(now)
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range cs[:max(0, len(cs)-s.Keep)] {
		mine, err := s.took(ctx, c)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !mine {
			continue
		}
		if err := os.Remove(c.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("removing an old copy: %w", err))
		}
	}
	return errors.Join(errs...)
}

// took reports whether this store's audit trail records taking copy c:
// Take's event, dated in the second its name gives, naming its file.
func (s *Schedule) took(ctx context.Context, c scheduled) (bool, error) {
	evs, err := s.Store.Audit(ctx, central.AuditFilter{After: c.at, Before: c.at.Add(time.Second),
		Action: AuditBackup, Actor: AuditScheduled, Subject: "store"})
	if err != nil {
		return false, fmt.Errorf("reading the audit trail of an old copy: %w", err)
	}
	name := filepath.Base(c.path)
	for _, ev := range evs {
		var st scheduledState
		if json.Unmarshal(ev.After, &st) == nil && st.File == name {
			return true, nil
		}
	}
	return false, nil
}

// retryAfter is how long Run waits after a failed copy before it tries
// again (a full disk, a folder unmounted): soon, but not in a loop.
const retryAfter = 5 * time.Minute

// Run takes copies when they are due until ctx ends. A failure is logged
// and retried after retryAfter (or Every, if shorter). It first removes
// the copies a schedule stopped mid-copy left staged (removeStaged).
func (s *Schedule) Run(ctx context.Context) {
	s.defaults()
	if n, err := s.removeStaged(); err != nil {
		s.Log.Warn("removing the copies left staged in the backup folder failed", "cause", err.Error())
	} else if n > 0 {
		s.Log.Info("removed copies left staged in the backup folder", "files", n)
	}
	if s.StoreDir != "" {
		if same, err := SameFileSystem(s.Dir, s.StoreDir); err != nil {
			s.Log.Warn("cannot tell whether the backup folder is on the store's disk", "cause", err.Error())
		} else if same {
			s.Log.Warn(WarnSameDisk, "backup_dir", s.Dir, "store_dir", s.StoreDir)
		}
	}
	for {
		due, err := s.Due()
		if err == nil {
			if !wait(ctx, due.Sub(s.Now())) {
				return
			}
			var out string
			if out, err = s.Take(ctx); err == nil {
				s.Log.Info("scheduled copy of the store taken", "file", out)
				continue
			}
		}
		if ctx.Err() != nil {
			return
		}
		s.Log.Error("scheduled copy of the store failed", "cause", err.Error())
		if !wait(ctx, min(retryAfter, s.Every)) {
			return
		}
	}
}

// WarnSameDisk is Run's warning when the copies are kept on the store's
// own file system.
const WarnSameDisk = "the backup folder is on the store's own disk: a failed disk takes the copies with it; give --backup-dir another disk"

// SameFileSystem tells whether paths a and b lie on one file system (one
// device), each judged by itself or, when it does not exist yet, by the
// nearest folder above it that does (where it will be created).
func SameFileSystem(a, b string) (bool, error) {
	da, err := device(a)
	if err != nil {
		return false, err
	}
	db, err := device(b)
	if err != nil {
		return false, err
	}
	return da == db, nil
}

// device is the device number of path's file system.
func device(path string) (uint64, error) {
	path, err := filepath.Abs(path)
	if err != nil {
		return 0, fmt.Errorf("resolving %s: %w", path, err)
	}
	for {
		var st syscall.Stat_t
		err := syscall.Stat(path, &st)
		if err == nil {
			return uint64(st.Dev), nil // Dev is not uint64 on every platform
		}
		parent := filepath.Dir(path)
		if !errors.Is(err, syscall.ENOENT) || parent == path {
			return 0, fmt.Errorf("reading the file system of %s: %w", path, err)
		}
		path = parent
	}
}

// wait waits d, false when ctx ends first.
func wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
