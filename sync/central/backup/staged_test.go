package backup_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central/backup"
)

// stagedRe is the name a scheduled copy has while it is written.
var stagedRe = regexp.MustCompile(`^\.central-\d{8}T\d{6}Z\.db\.tmp-\d+$`)

// peekSource is a Source that lists the backup folder while the copy is
// being written.
type peekSource struct {
	backup.Source
	dir  string
	seen chan []string
}

func (p peekSource) Backup(ctx context.Context, w io.Writer) (int64, error) {
	ents, _ := os.ReadDir(p.dir)
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	select {
	case p.seen <- got:
	default:
	}
	return p.Source.Backup(ctx, w)
}

// TestScheduleRemovesStaged: a copy is written under a name of its own
// (.central-<time>.db.tmp-<digits>); at start, Run removes the files of
// that name a schedule killed mid-copy left (whole copies of the store,
// which would outlive erasures), and leaves everything else of a folder
// that may be shared: other names, a folder or a symbolic link of that
// name, and a staged copy whose lock a process holds (another central
// writing into the folder).
func TestScheduleRemovesStaged(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "copies")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	seen := make(chan []string, 1)
	s := newSite(t, nil)
	src := peekSource{Source: s.raw, dir: dir, seen: seen}
	write := func(name string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("a stale copy"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const left = ".central-20261204T010000Z.db.tmp-123"
	write(left)
	held := write(".central-20261204T020000Z.db.tmp-456")
	f, err := os.Open(held)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	keep := []string{".central-20261204T020000Z.db.tmp-456", ".tmp-789", ".central-20261204T010000Z.db.tmp-12x",
		"central-20261204T010000Z.db.tmp-1", ".backup-1", "notes.txt"}
	for _, n := range keep[1:] {
		write(n)
	}
	if err := os.Mkdir(filepath.Join(dir, ".central-20261204T010000Z.db.tmp-77"), 0o700); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.WriteFile(target, []byte("not the schedule's"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, ".central-20261204T010000Z.db.tmp-88")); err != nil {
		t.Fatal(err)
	}
	keep = append(keep, ".central-20261204T010000Z.db.tmp-77", ".central-20261204T010000Z.db.tmp-88")

	clk := &clock{time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)}
	runUntilCopy(t, &backup.Schedule{Source: src, Store: s.c.Store, Dir: dir, Now: clk.now})

	// While it was written, the copy had the staged name Run removes.
	during := <-seen
	var staged []string
	for _, n := range during {
		if stagedRe.MatchString(n) && n != left && !slices.Contains(keep, n) {
			staged = append(staged, n)
		}
	}
	if len(staged) != 1 {
		t.Errorf("while the copy was written the folder held %v; want one staged copy besides the files there before", during)
	}
	got := names(t, dir)
	want := append(slices.Clone(keep), "central-20261205T010000Z.db")
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("folder holds %v, want %v (%s removed, the rest kept)", got, want, left)
	}
	if b, err := os.ReadFile(target); err != nil || string(b) != "not the schedule's" {
		t.Errorf("the symbolic link's target: %q, %v", b, err)
	}
}
