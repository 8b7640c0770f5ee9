package backup_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/backup"
	"github.com/openkyc/kyc/sync/central/store/boltstore"
)

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// names lists the files of dir.
func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// TestScheduleTakesAndPrunes: each copy is a whole, checked store named
// for its time and audited; the oldest beyond Keep go, and files that are
// not the schedule's copies stay.
func TestScheduleTakesAndPrunes(t *testing.T) {
	s := newSite(t, nil)
	ctx := context.Background()
	s.submit(t, "sub-1")
	dir := filepath.Join(t.TempDir(), "copies")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, foreign := range []string{"notes.txt", "central-not-a-time.db"} {
		if err := os.WriteFile(filepath.Join(dir, foreign), []byte("mine"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	clk := &clock{time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC)}
	sch := &backup.Schedule{Source: s.raw, Store: s.c.Store, Dir: dir, Every: time.Hour, Keep: 2, Now: clk.now}
	var taken []string
	for i := range 3 {
		if i == 2 {
			s.submit(t, "sub-2") // only the newest copy holds it
		}
		out, err := sch.Take(ctx)
		if err != nil {
			t.Fatalf("copy %d: %v", i, err)
		}
		taken = append(taken, filepath.Base(out))
		clk.t = clk.t.Add(time.Hour)
	}
	want := []string{"central-20261204T020000Z.db", "central-20261204T030000Z.db", "central-not-a-time.db", "notes.txt"}
	if got := names(t, dir); !slices.Equal(got, want) {
		t.Fatalf("folder holds %v, want %v (copies taken %v)", got, want, taken)
	}
	sum, err := boltstore.Inspect(ctx, filepath.Join(dir, "central-20261204T030000Z.db"))
	if err != nil || sum.Submissions != 2 {
		t.Errorf("newest copy: %+v, %v; want both submissions", sum, err)
	}
	evs, err := s.c.Store.Audit(ctx, central.AuditFilter{Action: backup.AuditBackup})
	if err != nil || len(evs) != 3 {
		t.Fatalf("audit of the copies: %d events, %v; want 3", len(evs), err)
	}
	for _, ev := range evs {
		if ev.Actor != backup.AuditScheduled {
			t.Errorf("copy audited by %q, want %q", ev.Actor, backup.AuditScheduled)
		}
	}
	if info, err := os.Stat(filepath.Join(dir, taken[2])); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("copy mode: %v, %v; want 0600", info.Mode(), err)
	}
}

// TestScheduleDue: due at once without a copy, Every after the newest,
// copies dated after the clock (set back) not counted.
func TestScheduleDue(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		copies []string
		want   time.Time
	}{
		{"none", nil, now},
		{"one an hour old", []string{"central-20261204T110000Z.db"}, now.Add(23 * time.Hour)},
		{"newest counts", []string{"central-20261202T110000Z.db", "central-20261203T090000Z.db"}, now.Add(-3 * time.Hour)},
		{"dated after the clock", []string{"central-20261205T110000Z.db"}, now},
		{"one dated after the clock, not counted", []string{"central-20261204T110000Z.db", "central-20261205T110000Z.db"}, now.Add(23 * time.Hour)},
		{"not a copy", []string{"central-yesterday.db", "other-20261204T110000Z.db"}, now},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, n := range tc.copies {
				if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			sch := &backup.Schedule{Dir: dir, Now: func() time.Time { return now }}
			got, err := sch.Due()
			if err != nil || !got.Equal(tc.want) {
				t.Errorf("Due() = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// brokenSource fails a copy halfway, or writes something that is not a
// store.
type brokenSource struct{ garbage bool }

func (b brokenSource) Backup(_ context.Context, w io.Writer) (int64, error) {
	n, err := w.Write([]byte("half a page of a store"))
	if err != nil || b.garbage {
		return int64(n), err
	}
	return int64(n), errors.New("disk read error")
}

// TestScheduleFailureKeepsCopies: a copy that fails, or is not a readable
// store, gets no copy's name, is not audited, and removes no older copy
// even with Keep at one.
func TestScheduleFailureKeepsCopies(t *testing.T) {
	s := newSite(t, nil)
	ctx := context.Background()
	dir := t.TempDir()
	clk := &clock{time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC)}
	good := &backup.Schedule{Source: s.raw, Store: s.c.Store, Dir: dir, Keep: 1, Now: clk.now}
	first, err := good.Take(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []brokenSource{{}, {garbage: true}} {
		clk.t = clk.t.Add(time.Hour)
		bad := &backup.Schedule{Source: src, Store: s.c.Store, Dir: dir, Keep: 1, Now: clk.now}
		if out, err := bad.Take(ctx); err == nil {
			t.Fatalf("a broken copy (garbage %v) was kept as %s", src.garbage, out)
		}
		if got := names(t, dir); !slices.Equal(got, []string{filepath.Base(first)}) {
			t.Fatalf("after a failed copy (garbage %v) the folder holds %v, want only %s", src.garbage, got, filepath.Base(first))
		}
	}
	if evs, _ := s.c.Store.Audit(ctx, central.AuditFilter{Action: backup.AuditBackup}); len(evs) != 1 {
		t.Errorf("%d copies audited, want the one taken", len(evs))
	}
}

// TestScheduleRun: Run takes the copy due at start and ends with its
// context.
func TestScheduleRun(t *testing.T) {
	s := newSite(t, nil)
	dir := filepath.Join(t.TempDir(), "copies") // Run creates it
	sch := &backup.Schedule{Source: s.raw, Store: s.c.Store, Dir: dir}
	runUntilCopy(t, sch)
	if got := names(t, dir); len(got) != 1 {
		t.Errorf("folder holds %v, want one copy", got)
	}
}

// runUntilCopy runs sch until it has taken the copy due at its start, then
// stops it. The copy's log line is written once it has its name and audit.
func runUntilCopy(t *testing.T, sch *backup.Schedule) {
	t.Helper()
	runUntilLogged(t, sch, "scheduled copy of the store taken", "no copy taken at start")
}

// runUntilLogged runs sch (its Log set to hear msg) until it logs msg,
// failing with failure if it has not within a minute; either way Run is
// canceled and has returned when runUntilLogged does.
func runUntilLogged(t *testing.T, sch *backup.Schedule, msg, failure string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	heard := make(chan struct{}, 1)
	sch.Log = slog.New(signalHandler{msg: msg, c: heard})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sch.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	select {
	case <-heard:
	case <-time.After(time.Minute):
		t.Fatal(failure)
	}
}

// signalHandler signals c when a record with message msg is logged.
type signalHandler struct {
	msg string
	c   chan<- struct{}
}

func (h signalHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h signalHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		select {
		case h.c <- struct{}{}:
		default:
		}
	}
	return nil
}

func (h signalHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h signalHandler) WithGroup(string) slog.Handler      { return h }

// TestSameFileSystem: a folder and a file inside it, or a folder not yet
// made, are on one file system; a tmpfs is not the temporary folder's.
func TestSameFileSystem(t *testing.T) {
	tmp := t.TempDir()
	other := t.TempDir()
	for _, tc := range []struct {
		name string
		a, b string
		want bool
	}{
		{"two temporary folders", tmp, other, true},
		{"a folder not made yet", filepath.Join(tmp, "copies", "later"), other, true},
		{"the store folder itself", tmp, tmp, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := backup.SameFileSystem(tc.a, tc.b)
			if err != nil || got != tc.want {
				t.Errorf("SameFileSystem(%s, %s) = %v, %v; want %v", tc.a, tc.b, got, err, tc.want)
			}
		})
	}
	// /dev/shm is a tmpfs on Linux, apart from the disk t.TempDir is on;
	// where it is the same device there is nothing to tell apart here.
	shm, err := os.MkdirTemp("/dev/shm", "backup-test-")
	if err != nil {
		t.Skipf("no /dev/shm: %v", err)
	}
	defer os.RemoveAll(shm)
	var a, b syscall.Stat_t
	if syscall.Stat(shm, &a) != nil || syscall.Stat(tmp, &b) != nil || a.Dev == b.Dev {
		t.Skip("/dev/shm is on the temporary folder's device here")
	}
	if got, err := backup.SameFileSystem(filepath.Join(shm, "copies"), tmp); err != nil || got {
		t.Errorf("a tmpfs and the temporary folder: %v, %v; want false", got, err)
	}
}

// TestScheduleRunWarnsSameDisk: copies kept beside the store are taken,
// with a warning at start that one failed disk takes both.
func TestScheduleRunWarnsSameDisk(t *testing.T) {
	s := newSite(t, nil)
	storeDir := t.TempDir()
	sch := &backup.Schedule{Source: s.raw, Store: s.c.Store, Dir: filepath.Join(storeDir, "copies"), StoreDir: storeDir}
	runUntilLogged(t, sch, backup.WarnSameDisk, "no warning that the copies share the store's disk")
}

// TestScheduleClockSetBack: copies dated after the clock (taken while it
// ran ahead, since set back) neither crowd out the copies taken now nor
// make one due at every turn: the copy just taken, the store as it is,
// is kept, the copies from "the future" go first, and the next copy is
// due Every after the newest one dated by the clock as it is.
func TestScheduleClockSetBack(t *testing.T) {
	s := newSite(t, nil)
	ctx := context.Background()
	dir := t.TempDir()
	ahead := &clock{time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)}
	sch := &backup.Schedule{Source: s.raw, Store: s.c.Store, Dir: dir, Every: time.Hour, Keep: 2, Now: ahead.now}
	for range 2 {
		if _, err := sch.Take(ctx); err != nil {
			t.Fatal(err)
		}
		ahead.t = ahead.t.Add(time.Hour)
	}
	clk := &clock{time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC)}
	sch.Now = clk.now
	var taken []string
	for range 2 {
		s.submit(t, fmt.Sprint("sub-", len(taken)))
		out, err := sch.Take(ctx)
		if err != nil {
			t.Fatal(err)
		}
		taken = append(taken, filepath.Base(out))
		if _, err := os.Stat(out); err != nil {
			t.Fatalf("the copy just taken is gone (folder %v): %v", names(t, dir), err)
		}
		due, err := sch.Due()
		if want := clk.t.Add(time.Hour); err != nil || !due.Equal(want) {
			t.Fatalf("after a copy at %v the next is due %v, %v; want %v", clk.t, due, err, want)
		}
		clk.t = clk.t.Add(time.Hour)
	}
	if got := names(t, dir); !slices.Equal(got, taken) {
		t.Errorf("folder holds %v, want the copies taken since the clock was set back %v", got, taken)
	}
}

// TestScheduleKeepsAnotherStoresCopies: a central started on a new, empty
// store (the data disk replaced, or not mounted) with the folder of the
// old store's copies takes its own copies there but prunes only those:
// the old store's copies, which its audit trail does not record, are
// kept however many of its own it takes, not replaced one a day by
// copies of nothing.
func TestScheduleKeepsAnotherStoresCopies(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clk := &clock{time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC)}
	old := newSite(t, nil)
	old.submit(t, "sub-1")
	var theirs []string
	for range 2 {
		out, err := (&backup.Schedule{Source: old.raw, Store: old.c.Store, Dir: dir, Keep: 2, Now: clk.now}).Take(ctx)
		if err != nil {
			t.Fatal(err)
		}
		theirs = append(theirs, filepath.Base(out))
		clk.t = clk.t.Add(time.Hour)
	}
	fresh := newSite(t, nil)
	var mine []string
	for range 3 {
		out, err := (&backup.Schedule{Source: fresh.raw, Store: fresh.c.Store, Dir: dir, Keep: 2, Now: clk.now}).Take(ctx)
		if err != nil {
			t.Fatal(err)
		}
		mine = append(mine, filepath.Base(out))
		clk.t = clk.t.Add(time.Hour)
	}
	want := append(slices.Clone(theirs), mine[1:]...)
	if got := names(t, dir); !slices.Equal(got, want) {
		t.Errorf("folder holds %v, want the old store's copies and the newest two of the new one's: %v", got, want)
	}
}
