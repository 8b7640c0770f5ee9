package pgstore

import (
	"context"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/storetest"
)

// TestMigrationIndexesFlowSubmissions: a database of schema 13 (sessions
// listing their submissions only in their documents; Initiate Flow
// answers not kept under their session) is migrated: an erasure finds
// the sessions holding a submission and drops their answers.
func TestMigrationIndexesFlowSubmissions(t *testing.T) {
	ctx := context.Background()
	dsn, conn := databaseAtSchema(t, 13)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, r := range []struct{ id, doc string }{
		{"s1", `{"id":"s1","partner_id":"p","user_id":"siti","status":"COMPLETED","submissions":[{"DeviceID":"d0","Key":"k0"},{"DeviceID":"d1","Key":"k1"}]}`},
		{"s2", `{"id":"s2","partner_id":"p","user_id":"budi","status":"COMPLETED","submissions":[{"DeviceID":"d1","Key":"k2"}]}`},
		{"s3", `{"id":"s3","partner_id":"p","user_id":"ani","status":"CREATED"}`},
	} {
		if _, err := conn.Exec(ctx, `INSERT INTO flows (partner_id, id, status, expires_at, doc) VALUES ('p', $1, 'COMPLETED', $2, $3)`, r.id, t0, []byte(r.doc)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, `INSERT INTO idempotency_keys (partner_id, key, request_hash, status, body, created_at) VALUES
		('p', 'flows:1', '\x01', 201, '{"session_id":"s1"}', $1), ('p', 'face-match:1', '\x02', 422, '', $1)`, t0); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if flows, _, err := s.EraseFlows(ctx, central.SubmissionRef{DeviceID: "d1", Key: "k1"}, t0); err != nil || flows != 1 {
		t.Errorf("EraseFlows = %d sessions, %v; want s1", flows, err)
	}
	if f, err := s.Flow(ctx, "p", "s1"); err != nil || f.UserID != central.ErasedUserID {
		t.Errorf("s1 = user %q, %v; want erased", f.UserID, err)
	}
	var keys []string
	if err := conn.QueryRow(ctx, `SELECT array_agg(key ORDER BY key) FROM idempotency_keys`).Scan(&keys); err != nil || len(keys) != 1 || keys[0] != "face-match:1" {
		t.Errorf("idempotency keys left = %v, %v; want the Face Match answer only", keys, err)
	}
}

// BenchmarkEraseFlows: storetest.BenchmarkEraseFlows among 20,000
// sessions on PostgreSQL.
func BenchmarkEraseFlows(b *testing.B) {
	s := openFresh(b)
	defer s.Close()
	storetest.BenchmarkEraseFlows(b, s, 20_000)
}
