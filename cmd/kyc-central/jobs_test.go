package main

import (
	"path/filepath"
	"testing"

	"github.com/openkyc/kyc/sync/central/seal"
	"github.com/openkyc/kyc/sync/central/store/pgstore"
)

// TestQueueLanesSealed: the job queue's deliveries lease their events
// through the sealed store (whose events' bodies open), never the
// PostgreSQL store under it; on bbolt there is no queue.
func TestQueueLanesSealed(t *testing.T) {
	kr, err := seal.LoadOrCreateKeyring(filepath.Join(t.TempDir(), "central.keys"))
	if err != nil {
		t.Fatal(err)
	}
	pg := &pgstore.Store{} // never used: lanes only picks it
	sealed := seal.New(pg, kr, kr)
	if got := (queueConfig{pg: pg, store: sealed}).lanes(); got != sealed {
		t.Errorf("lanes on PostgreSQL = %T, want the sealed store", got)
	}
	if got := (queueConfig{store: sealed}).lanes(); got != nil {
		t.Errorf("lanes on bbolt = %T, want none", got)
	}
}
