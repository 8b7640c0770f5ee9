package backup_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/backup"
	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/central/seal"
	"github.com/openkyc/kyc/sync/central/store/boltstore"
	"github.com/openkyc/kyc/sync/protocol"
)

// TestRestoreKeepsErasures: a copy taken before a person's submission was
// erased, restored over the store that erased it, does not bring it back:
// the erasures the replaced store still holds tombstones of are carried
// into the restored store (the submission deleted again, its tombstone
// kept, so a device resending it is refused), while the rest of the copy
// is restored as it was.
func TestRestoreKeepsErasures(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := filepath.Join(dir, "central.db")
	raw, err := boltstore.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := seal.LoadOrCreateKeyring(filepath.Join(dir, "central.keys"))
	if err != nil {
		t.Fatal(err)
	}
	st := seal.New(raw, kr, kr)
	now := time.Now().UTC()
	sub := func(id string) central.Submission {
		return central.Submission{DeviceID: "dev-1", Key: protocol.SubmissionKey(id), ID: id, ManifestHash: []byte(id),
			CreatedAt: now, ReceivedAt: now, Verdict: "ok", Payload: json.RawMessage(`{"name":"` + id + `"}`)}
	}
	for _, id := range []string{"erased", "kept"} {
		centraltest.StoreSubmission(t, st, sub(id), map[string][]byte{"selfie.jpg": centraltest.JPEG(t, 32, 24)}, protocol.MaxChunkSize)
	}
	copyPath := filepath.Join(t.TempDir(), "copy.db")
	f, err := os.Create(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Backup(ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteSubmission(ctx, "dev-1", protocol.SubmissionKey("erased")); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	sum, kept, err := backup.Restore(ctx, copyPath, db, true, now, kr)
	if err != nil {
		t.Fatal(err)
	}
	if kept == "" || sum.Submissions != 1 {
		t.Errorf("Restore = %+v, kept %q; want one submission, the old store kept", sum, kept)
	}
	restored, err := boltstore.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	st = seal.New(restored, kr, kr)
	defer st.Close()
	if got, err := st.Upload(ctx, "dev-1", protocol.SubmissionKey("erased")); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("the erased submission after the restore: %s, %v; want ErrNotFound", got.Payload, err)
	}
	if _, _, err := st.BeginSubmission(ctx, sub("erased")); !errors.Is(err, central.ErrErased) {
		t.Errorf("the erased submission sent again after the restore: %v, want ErrErased", err)
	}
	if got, err := st.Upload(ctx, "dev-1", protocol.SubmissionKey("kept")); err != nil || string(got.Payload) != `{"name":"kept"}` {
		t.Errorf("the other submission after the restore: %s, %v", got.Payload, err)
	}
}
