package backup_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/openkyc/kyc/sync/central/backup"
	"github.com/openkyc/kyc/sync/central/store/boltstore"
)

// TestFetchNotOverAStoreInUse: a copy fetched (or copied) to the path of
// a store a central holds open, --out mistyped as the data folder's
// central.db, is refused before anything is written: renamed over it, it
// would leave the running central writing to a file no name leads to,
// and every write since the copy would be lost at its next start.
func TestFetchNotOverAStoreInUse(t *testing.T) {
	ctx := context.Background()
	b, err := os.ReadFile(storeFile(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := serveCopy(t, b)
	dir := t.TempDir()
	db := filepath.Join(dir, "central.db")
	running, err := boltstore.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer running.Close()
	before, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, boltstore.ErrInUse) {
			t.Errorf("%s over a store in use = %v, want ErrInUse", what, err)
		}
		if after, err := os.Stat(db); err != nil || !os.SameFile(before, after) {
			t.Errorf("%s replaced the store a central holds open (%v)", what, err)
		}
	}
	_, err = backup.Fetch(ctx, srv.Client(), srv.URL, "token", db)
	check("Fetch", err)
	_, err = backup.Copy(ctx, storeFile(t), db)
	check("Copy", err)
}
