package boltstore

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/openkyc/kyc/sync/central"
)

// TestLeasesAtOpen: a lease found in the file when it is opened was taken
// by a process that is gone (bbolt locks the file to one), so its event
// is leased again at once, not when the lease would have run out; and a
// file from before leases (no webhook-leases bucket) opens with its
// events free to lease.
func TestLeasesAtOpen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "central.db")
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	lane := central.Lane{PartnerID: "p1", SessionID: "s1"}
	reopen := func(s *Store, raw func(tx *bbolt.Tx) error) *Store {
		t.Helper()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if raw != nil {
			db, err := bbolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(raw); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		}
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ev := central.WebhookEvent{ID: "e1", PartnerID: "p1", SessionID: "s1", Type: "t", Payload: []byte(`{}`), CreatedAt: t0}
	if err := s.AppendEvents(ctx, []central.WebhookEvent{ev}); err != nil {
		t.Fatal(err)
	}
	if l, err := s.LeaseLane(ctx, lane, t0, time.Hour); err != nil || !l.Held {
		t.Fatalf("lease = %+v, %v", l, err)
	}
	s = reopen(s, nil)
	l, err := s.LeaseLane(ctx, lane, t0.Add(time.Second), time.Hour)
	if err != nil || !l.Held {
		t.Fatalf("lease after a restart = %+v, %v; want held at once", l, err)
	}
	s = reopen(s, func(tx *bbolt.Tx) error { return tx.DeleteBucket(bucketLeases) })
	defer s.Close()
	if l, err := s.LeaseLane(ctx, lane, t0.Add(2*time.Second), time.Hour); err != nil || !l.Held {
		t.Fatalf("lease in a file from before leases = %+v, %v; want held", l, err)
	}
}
