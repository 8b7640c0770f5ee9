package boltstore

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/openkyc/kyc/sync/central"
)

// olderRiskFile is a store file as written before the risk history and
// the servings were kept: the current risk version, in meta only.
func olderRiskFile(t *testing.T, version int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "central.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		return put(b, keyRisk, riskRecord{Version: version, Doc: json.RawMessage(`{"bands":{"approve_min":90}}`)})
	})
	if err := errors.Join(err, db.Close()); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRiskHistoryMigration: a file written before the history was kept
// (the current version in meta only) opens with that version in the
// history, its earlier versions unknown, and the next publication after
// it.
func TestRiskHistoryMigration(t *testing.T) {
	path := olderRiskFile(t, 4)
	for range 2 { // opening again changes nothing
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if doc, err := s.RiskVersion(ctx, 4); err != nil || string(doc) != `{"bands":{"approve_min":90}}` {
			t.Errorf("RiskVersion(4) = %s, %v; want the current document", doc, err)
		}
		if doc, err := s.RiskVersion(ctx, 3); !errors.Is(err, central.ErrNotFound) {
			t.Errorf("RiskVersion(3) = %s, %v; want ErrNotFound (never kept)", doc, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if v, err := s.PutRisk(ctx, json.RawMessage(`{"bands":{"approve_min":92}}`)); err != nil || v != 5 {
		t.Fatalf("PutRisk = %d, %v; want version 5", v, err)
	}
	for v, want := range map[int64]string{4: `{"bands":{"approve_min":90}}`, 5: `{"bands":{"approve_min":92}}`} {
		if doc, err := s.RiskVersion(ctx, v); err != nil || string(doc) != want {
			t.Errorf("RiskVersion(%d) = %s, %v; want %s", v, doc, err, want)
		}
	}
}

// TestRiskServedOfOlderFiles: a file written before servings were
// recorded opens with none (a device names a version it was served from
// its next configuration sync on), and records them.
func TestRiskServedOfOlderFiles(t *testing.T) {
	s, err := Open(olderRiskFile(t, 2))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if served, err := s.RiskServed(ctx, "d1", 2); err != nil || served {
		t.Errorf("RiskServed in an older file = %t, %v; want none recorded", served, err)
	}
	if err := s.ServeRisk(ctx, "d1", 2); err != nil {
		t.Fatal(err)
	}
	if served, err := s.RiskServed(ctx, "d1", 2); err != nil || !served {
		t.Errorf("RiskServed after ServeRisk = %t, %v; want true", served, err)
	}
}

// TestConfigServedOfOlderFiles: a file written before servings were
// recorded opens with each of its devices given the upgrade's time, its
// lists unknown; the next open changes nothing, and a serving recorded
// since stays.
func TestConfigServedOfOlderFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "central.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket(bucketDevices)
		if err != nil {
			return err
		}
		return put(b, []byte("d1"), central.Device{ID: "d1", EnrolledAt: time.Now().Add(-time.Hour)})
	})
	if err := errors.Join(err, db.Close()); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	ctx := context.Background()
	served := central.ConfigServing{At: time.Now().Add(time.Minute).UTC(), Watchlists: map[string]int64{"un": 2}}
	for i := range 2 {
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.LastConfig(ctx, "d1")
		switch {
		case err != nil:
			t.Errorf("open %d: LastConfig: %v", i, err)
		case i == 0 && (!got.ListsUnknown || got.At.Before(before.Add(-time.Second)) || len(got.Watchlists) != 0):
			t.Errorf("after the upgrade: %+v, want the upgrade's time with the lists unknown", got)
		case i == 1 && (got.ListsUnknown || !got.At.Equal(served.At)):
			t.Errorf("opened again: %+v, want the serving recorded since (%+v)", got, served)
		}
		if i == 0 {
			err = s.ServeConfig(ctx, "d1", served)
		}
		if err := errors.Join(err, s.Close()); err != nil {
			t.Fatal(err)
		}
	}
}
