package backup_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central/backup"
	"github.com/openkyc/kyc/sync/central/store/boltstore"
	"github.com/openkyc/kyc/sync/central/store/boltstore/boltstoretest"
)

// TestRestoreNewerFormat: a copy a newer release wrote (its format
// version above this build's) is refused before anything is renamed:
// the store in place stays byte for byte, no .replaced- name is left,
// nor any other file.
func TestRestoreNewerFormat(t *testing.T) {
	ctx := context.Background()
	src := storeFile(t)
	boltstoretest.SetFormat(t, src, boltstore.FormatVersion+1)
	dir := t.TempDir()
	db := filepath.Join(dir, "central.db")
	st, err := boltstore.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	before, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := backup.Restore(ctx, src, db, true, time.Now(), nil); !errors.Is(err, boltstore.ErrNewerFormat) {
		t.Fatalf("Restore of a newer release's copy = %v, want ErrNewerFormat", err)
	}
	after, err := os.ReadFile(db)
	if err != nil || !bytes.Equal(before, after) {
		t.Fatalf("the store in place changed (%v)", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("the data folder holds %v, want only central.db", names)
	}
}

// TestRestoreRemovesLeftovers: a restore removes the copies a restore
// killed mid-copy left beside the store (.central.db.restore-<digits>:
// whole copies of a store, which would outlive erasures), keeps one whose
// lock a process holds (a restore under way), and leaves every other file
// of the folder; the copy it writes itself is named so too and kept from
// such a removal while it is written.
func TestRestoreRemovesLeftovers(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := filepath.Join(dir, "central.db")
	write := func(name string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("a copy of a store"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	left := write(".central.db.restore-1234")
	busy := write(".central.db.restore-5678")
	f, err := os.Open(busy)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	others := []string{write(".central.db.restore-12x4"), write(".central.db.restore-"), write(".other.db.restore-1234"),
		write(".tmp-1234"), write("central.db.restore-1234"), write(".central.db.tmp-1234")}
	if err := os.Mkdir(filepath.Join(dir, ".central.db.restore-999"), 0o700); err != nil {
		t.Fatal(err)
	}
	others = append(others, filepath.Join(dir, ".central.db.restore-999"))
	if err := os.Symlink(busy, filepath.Join(dir, ".central.db.restore-888")); err != nil {
		t.Fatal(err)
	}
	others = append(others, filepath.Join(dir, ".central.db.restore-888"))

	if sum, _, err := backup.Restore(ctx, storeFile(t), db, false, time.Now(), nil); err != nil || sum.Submissions != 1 {
		t.Fatalf("Restore = %+v, %v", sum, err)
	}
	if _, err := os.Lstat(left); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the copy a killed restore left: %v, want removed", err)
	}
	for _, p := range append(others, busy) {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s: %v, want kept", filepath.Base(p), err)
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".central.db.restore-") && filepath.Join(dir, e.Name()) != busy && !slices.Contains(others, filepath.Join(dir, e.Name())) {
			t.Errorf("the restore left %s", e.Name())
		}
	}
	// Unlocked, the busy one goes at the next removal (central's start).
	f.Close()
	if n, err := backup.RemoveLeftRestores(db); err != nil || n != 1 {
		t.Errorf("RemoveLeftRestores = %d, %v; want 1", n, err)
	}
	if _, err := os.Lstat(busy); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an unlocked leftover: %v, want removed", err)
	}
}
