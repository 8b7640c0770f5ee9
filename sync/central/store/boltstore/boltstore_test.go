package boltstore

import (
	"context"
	"crypto/sha256"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/storetest"
	"github.com/openkyc/kyc/sync/protocol"
)

func open(t *testing.T) central.Store {
	s, err := Open(filepath.Join(t.TempDir(), "central.db"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) { storetest.Run(t, open) }

func TestStorage(t *testing.T) { storetest.RunStorage(t, open) }

// TestConformanceSealed runs the whole suite through seal.Store.
func TestConformanceSealed(t *testing.T) { storetest.Run(t, storetest.Sealed(open)) }

func TestSealed(t *testing.T) { storetest.RunSealed(t, open) }

// TestLegacyWatchlists: a list stored whole (before chunking) reads back,
// and publishing a newer version removes the whole copy; an upload a crash
// cut short is removed at the next Open.
func TestLegacyWatchlists(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "central.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("whole list"))
	err = s.db.Update(func(tx *bbolt.Tx) error {
		if err := put(tx.Bucket(bucketWatchlists), []byte("un"), protocol.Watchlist{Name: "un", Version: 3, Size: 10, SHA256: sum[:]}); err != nil {
			return err
		}
		if err := tx.Bucket(bucketWLData).Put([]byte("un"), []byte("whole list")); err != nil {
			return err
		}
		// A crash's leftover: chunks of an upload no record names.
		return tx.Bucket(bucketWLChunks).Put(wlChunkKey("0123456789abcdef", 0), []byte("orphan"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if w, data, err := s.Watchlist(ctx, "un"); err != nil || w.Version != 3 || string(data) != "whole list" {
		t.Errorf("legacy list = %+v %q, %v", w, data, err)
	}
	if w, err := s.PutWatchlist(ctx, "un", []byte("chunked")); err != nil || w.Version != 4 {
		t.Fatalf("PutWatchlist = %+v, %v", w, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketWLData).Get([]byte("un")) != nil {
			t.Error("the whole copy outlived the newer version")
		}
		if tx.Bucket(bucketWLChunks).Get(wlChunkKey("0123456789abcdef", 0)) != nil {
			t.Error("an orphan upload survived Open")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, data, err := s.Watchlist(ctx, "un"); err != nil || string(data) != "chunked" {
		t.Errorf("after reopening: %q, %v", data, err)
	}
}

// TestRetentionOfOlderFiles: submissions stored before the retention
// queues existed are swept like the others.
func TestRetentionOfOlderFiles(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "central.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	sub := central.Submission{DeviceID: "d1", Key: protocol.SubmissionKey("old"), ID: "old", ManifestHash: []byte("m"), ReceivedAt: t0, CompletedAt: t0, Payload: []byte(`{}`)}
	// As an older build left it: the record and payload, in no queue.
	err = s.db.Update(func(tx *bbolt.Tx) error {
		k := subKey(sub.DeviceID, sub.Key)
		if err := tx.Bucket(bucketPayloads).Put(k, sub.Payload); err != nil {
			return err
		}
		if err := tx.Bucket(bucketMeta).Delete(keyQueues); err != nil {
			return err
		}
		rec := sub
		rec.Payload = nil
		return put(tx.Bucket(bucketSubs), k, rec)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, err := s.Expire(ctx, central.ExpireDecision, t0.Add(time.Hour), t0.Add(time.Hour), 10); err != nil || n != 1 {
		t.Errorf("Expire of an older file's submission = %d, %v; want 1", n, err)
	}
}
