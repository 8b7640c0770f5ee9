package boltstore

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/storetest"
)

// TestErasureIndexesOfOlderFiles: a file from before flow-submissions,
// idempotency-by-session and webhook-events-by-session has them filled at
// Open, so an erasure finds the sessions holding a submission, scrubs
// their events and drops their Initiate Flow answers.
func TestErasureIndexesOfOlderFiles(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "central.db"))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ref := central.SubmissionRef{DeviceID: "d1", Key: "k1"}
	f := central.FlowSession{ID: "s1", PartnerID: "p", UserID: "siti", Status: central.FlowCompleted, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour),
		Submissions: []central.SubmissionRef{ref}}
	if err := s.CreateFlow(ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvents(ctx, []central.WebhookEvent{{ID: "e1", PartnerID: "p", SessionID: "s1", Type: "t", Payload: []byte(`{"user":"siti"}`), CreatedAt: t0}}); err != nil {
		t.Fatal(err)
	}
	answer := func() (int, []byte, error) { return 201, []byte(`{"session_id":"s1"}`), nil }
	if _, _, _, err := s.Idempotent(ctx, "p", "flows:1", []byte("h"), t0, answer); err != nil {
		t.Fatal(err)
	}
	s = reopenAsOlder(t, s, func(tx *bbolt.Tx) error { // as an older build left it
		for _, b := range [][]byte{bucketFlowSubs, bucketIdemBySess, bucketEventsBySess} {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Delete(keyFlowSubs)
	})
	if flows, events, err := s.EraseFlows(ctx, ref, t0.Add(time.Hour)); err != nil || flows != 1 || events != 1 {
		t.Errorf("EraseFlows = %d sessions, %d events, %v; want the session and event stored before the indexes", flows, events, err)
	}
	if _, _, replayed, err := s.Idempotent(ctx, "p", "flows:1", []byte("h"), t0, answer); err != nil || replayed {
		t.Errorf("Idempotent after the erasure: replayed %v, %v; want the answer dropped", replayed, err)
	}
}

// BenchmarkEraseFlows: storetest.BenchmarkEraseFlows among 20,000
// sessions on bbolt.
func BenchmarkEraseFlows(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "central.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchmarkEraseFlows(b, s, 20_000)
}

// TestErasureIndexesLeaveWithTheirRecords: the entries of
// flow-submissions, idempotency-by-session and webhook-events-by-session
// go when their session, answer and event leave by retention or expiry;
// none is left behind.
func TestErasureIndexesLeaveWithTheirRecords(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "central.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	f := central.FlowSession{ID: "s1", PartnerID: "p", Status: central.FlowCompleted, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour),
		Submissions: []central.SubmissionRef{{DeviceID: "d1", Key: "k1"}}}
	if err := s.CreateFlow(ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvents(ctx, []central.WebhookEvent{{ID: "e1", PartnerID: "p", SessionID: "s1", Type: "t", Payload: []byte(`{}`), CreatedAt: t0}}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordAttempt(ctx, central.DeliveryAttempt{EventID: "e1", At: t0, Status: 200}, true, time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	answer := func() (int, []byte, error) { return 201, []byte(`{"session_id":"s1"}`), nil }
	if _, _, _, err := s.Idempotent(ctx, "p", "flows:1", []byte("h"), t0, answer); err != nil {
		t.Fatal(err)
	}
	later := t0.Add(48 * time.Hour)
	for _, kind := range []central.DataKind{central.ExpireFlows, central.ExpireWebhooks} {
		if n, err := s.Expire(ctx, kind, later, later, 10); err != nil || n != 1 {
			t.Fatalf("Expire(%s) = %d, %v", kind, n, err)
		}
	}
	if _, _, _, err := s.Idempotent(ctx, "p", "face-match:1", []byte("h"), later, func() (int, []byte, error) { return 200, []byte(`{}`), nil }); err != nil {
		t.Fatal(err) // sweeps the expired flows:1
	}
	err = s.db.View(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketFlowSubs, bucketIdemBySess, bucketEventsBySess} {
			if k, _ := tx.Bucket(b).Cursor().First(); k != nil {
				t.Errorf("%s still holds %q", b, k)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
