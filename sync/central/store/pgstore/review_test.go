package pgstore

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// TestMigrationClaimedAt: a database of schema 18 has the time each
// claimed case was claimed copied out of its review (the column retention
// reads to hold a live claim back); cases not claimed get none.
func TestMigrationClaimedAt(t *testing.T) {
	ctx := context.Background()
	dsn, conn := databaseAtSchema(t, 18)
	claimed := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	for _, r := range []struct {
		key    string
		state  central.ReviewState
		review central.Review
	}{
		{"claimed", central.ReviewClaimed, central.Review{State: central.ReviewClaimed, Assignee: "alice", ClaimedAt: claimed}},
		{"open", central.ReviewOpen, central.Review{}},
	} {
		doc, err := json.Marshal(r.review)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO submissions (device_id, key, id, manifest_hash, created_at, received_at, verdict, payload, review_state, review)
			VALUES ('d1', $1, $1, '\x00', $2, $2, 'allow', '{}', $3, $4)`, r.key, claimed, string(r.state), doc); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := map[string]*time.Time{"claimed": &claimed, "open": nil}
	for key, w := range want {
		var got *time.Time
		if err := conn.QueryRow(ctx, `SELECT claimed_at FROM submissions WHERE key = $1`, key).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if (got == nil) != (w == nil) || got != nil && !got.Equal(*w) {
			t.Errorf("%s: claimed_at = %v after migrating, want %v", key, got, w)
		}
	}
}
