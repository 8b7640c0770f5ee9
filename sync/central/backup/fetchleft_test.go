package backup_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/openkyc/kyc/sync/central/backup"
)

// TestFetchRemovesLeftovers: a copy a killed Fetch or Copy left in the
// folder (.<file>.fetch-<digits>, a whole copy of the store) is removed by
// the next Fetch or Copy into that folder, whatever file it was for; one
// whose lock a process holds (a backup under way) is kept, and so is
// everything else of a folder that may be shared.
func TestFetchRemovesLeftovers(t *testing.T) {
	db := storeFile(t)
	b, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	srv := serveCopy(t, b)
	for _, c := range []struct {
		name string
		run  func(out string) error
	}{
		{"Fetch", func(out string) error {
			_, err := backup.Fetch(context.Background(), srv.Client(), srv.URL, "token", out)
			return err
		}},
		{"Copy", func(out string) error {
			_, err := backup.Copy(context.Background(), db, out)
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, n := range []string{".central-1.db.fetch-123", ".central-1.db.fetch-456", ".central-1.db.tmp-789", "notes.fetch-1", ".central-1.db.fetch-"} {
				if err := os.WriteFile(filepath.Join(dir, n), []byte("a whole copy"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Mkdir(filepath.Join(dir, ".x.fetch-2"), 0o700); err != nil {
				t.Fatal(err)
			}
			held, err := os.Open(filepath.Join(dir, ".central-1.db.fetch-456"))
			if err != nil {
				t.Fatal(err)
			}
			defer held.Close()
			if err := syscall.Flock(int(held.Fd()), syscall.LOCK_SH); err != nil {
				t.Fatal(err)
			}
			if err := c.run(filepath.Join(dir, "central-2.db")); err != nil {
				t.Fatal(err)
			}
			got := names(t, dir)
			want := []string{".central-1.db.fetch-", ".central-1.db.fetch-456", ".central-1.db.tmp-789", ".x.fetch-2", "central-2.db", "notes.fetch-1"}
			if !slices.Equal(got, want) {
				t.Errorf("the folder holds %q, want %q", got, want)
			}
		})
	}
}
