package vault

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

func TestDropImages(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	v := openTest(t, Options{Now: clock.Now})
	s := testSubmission("delivered", 4096)
	for _, sub := range []Submission{s, testSubmission("waiting", 4096)} {
		if err := v.PutSubmission(ctx, sub); err != nil {
			t.Fatal(err)
		}
	}
	// What a drop must never do: destroy images that exist nowhere else.
	for _, st := range []State{"", StateSending} {
		if st != "" {
			if err := v.MarkState(ctx, "waiting", st, ""); err != nil {
				t.Fatal(err)
			}
		}
		if err := v.DropImages(ctx, "waiting"); !errors.Is(err, ErrNotSynced) {
			t.Errorf("DropImages of an undelivered submission = %v, want ErrNotSynced", err)
		}
	}
	if err := v.MarkState(ctx, "waiting", StateRejected, "refused"); err != nil {
		t.Fatal(err)
	}
	if err := v.DropImages(ctx, "waiting"); !errors.Is(err, ErrNotSynced) {
		t.Errorf("DropImages of a rejected submission = %v, want ErrNotSynced", err)
	}
	if got, err := v.GetSubmission(ctx, "waiting"); err != nil || len(got.Images) != 2 {
		t.Fatalf("undelivered submission after refused drops: %d images, %v", len(got.Images), err)
	}

	for _, st := range []State{StateSending, StateSynced} {
		if err := v.MarkState(ctx, s.ID, st, ""); err != nil {
			t.Fatal(err)
		}
	}
	if ids, err := v.SyncedWithImages(ctx); err != nil || !slices.Equal(ids, []string{s.ID}) {
		t.Fatalf("SyncedWithImages = %v, %v", ids, err)
	}
	selfie := s.Images["selfie"]
	var blobsBefore int
	countBlobs := func() int {
		n := 0
		rawUpdate(t, v, func(tx *bbolt.Tx) error {
			n = tx.Bucket([]byte(bucketBlobs)).Stats().KeyN
			return nil
		})
		return n
	}
	blobsBefore = countBlobs()
	clock.Advance(time.Minute)
	if err := v.DropImages(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	got, err := v.GetSubmission(ctx, s.ID)
	if err != nil || len(got.Images) != 0 || !bytes.Equal(got.Payload, s.Payload) {
		t.Fatalf("after DropImages: %d images, payload %q, %v; want the record without images", len(got.Images), got.Payload, err)
	}
	if n := countBlobs(); n != blobsBefore-2 {
		t.Errorf("blobs bucket holds %d records, want %d", n, blobsBefore-2)
	}
	infos, err := v.ListSubmissions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range infos {
		if info.ID == s.ID && (!info.ImagesDroppedAt.Equal(clock.Now()) || len(info.Images) != 0) {
			t.Errorf("info %+v; want images dropped at %v", info, clock.Now())
		}
	}
	if e, err := v.OutboxStatus(ctx, s.ID); err != nil || e.State != StateSynced || !e.ImagesDropped {
		t.Errorf("outbox entry %+v, %v; want synced with images dropped", e, err)
	}
	if ids, err := v.SyncedWithImages(ctx); err != nil || len(ids) != 0 {
		t.Errorf("SyncedWithImages after the drop = %v, %v", ids, err)
	}
	// Idempotent, and audited once.
	if err := v.DropImages(ctx, s.ID); err != nil {
		t.Errorf("second DropImages: %v", err)
	}
	log, err := v.AuditLog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := countAudit(log, "submission.images_dropped"); n != 1 {
		t.Errorf("%d images_dropped audit entries, want 1", n)
	}
	if err := v.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
	// The shredded image bytes are gone from the file once compacted.
	if err := v.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(rawFile(t, v.Path()), selfie[:64]) {
		t.Error("the vault file still holds the dropped image")
	}
	if err := v.DropImages(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("DropImages of an unknown id = %v, want ErrNotFound", err)
	}
}

func countAudit(log []AuditEntry, action string) int {
	n := 0
	for _, e := range log {
		if e.Action == action {
			n++
		}
	}
	return n
}

func TestRequeueAndStats(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	v := openTest(t, Options{Now: clock.Now})
	start := clock.Now()
	for _, id := range []string{"q1", "q2", "sent", "r1", "r2"} {
		if err := v.PutSubmission(ctx, testSubmission(id, 0)); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Minute)
	}
	mark := func(id string, states ...State) {
		t.Helper()
		for _, st := range states {
			if err := v.MarkState(ctx, id, st, "central rejected the request: 401 stale"); err != nil {
				t.Fatalf("%s -> %s: %v", id, st, err)
			}
		}
	}
	mark("q2", StateSending)
	mark("sent", StateSending, StateSynced)
	mark("r1", StateSending, StateRejected)
	mark("r2", StateRejected)
	st, err := v.OutboxStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Queued != 2 || st.Rejected != 2 || st.Synced != 1 || !st.OldestQueued.Equal(start) {
		t.Errorf("stats %+v; want 2 queued since %v, 2 rejected, 1 synced", st, start)
	}

	if err := v.Requeue(ctx, "q1", "alice"); !errors.Is(err, ErrInvalidTransition) {
		t.Errorf("Requeue of a queued submission = %v, want ErrInvalidTransition", err)
	}
	if err := v.Requeue(ctx, "sent", "alice"); !errors.Is(err, ErrInvalidTransition) {
		t.Errorf("Requeue of a synced submission = %v, want ErrInvalidTransition", err)
	}
	if err := v.Requeue(ctx, "r1", "alice"); err != nil {
		t.Fatal(err)
	}
	e, err := v.OutboxStatus(ctx, "r1")
	if err != nil || e.State != StateQueued || e.Attempts != 0 || !e.NextAttempt.Equal(clock.Now()) {
		t.Errorf("r1 after Requeue: %+v, %v; want queued, due now, attempts reset", e, err)
	}
	if n, err := v.RequeueRejected(ctx, ""); err != nil || n != 1 {
		t.Errorf("RequeueRejected = %d, %v; want 1 (r2)", n, err)
	}
	if n, err := v.RequeueRejected(ctx, ""); err != nil || n != 0 {
		t.Errorf("second RequeueRejected = %d, %v; want 0", n, err)
	}
	log, err := v.AuditLog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var actors []string
	for _, e := range log {
		if e.Action == "submission.requeued" {
			actors = append(actors, e.Actor)
		}
	}
	if !slices.Equal(actors, []string{"alice", "operator"}) {
		t.Errorf("re-queue audit actors %v", actors)
	}
}

func TestRetryNow(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	v := openTest(t, Options{Now: clock.Now})
	for _, id := range []string{"backing-off", "leased"} {
		if err := v.PutSubmission(ctx, testSubmission(id, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.MarkState(ctx, "backing-off", StateSending, ""); err != nil {
		t.Fatal(err)
	}
	if err := v.MarkState(ctx, "backing-off", StateQueued, "offline"); err != nil {
		t.Fatal(err)
	}
	if err := v.MarkState(ctx, "leased", StateSending, ""); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := v.NextPending(ctx); ok {
		t.Fatal("something is due before RetryNow")
	}
	if n, err := v.RetryNow(ctx); err != nil || n != 1 {
		t.Fatalf("RetryNow = %d, %v; want 1", n, err)
	}
	e, ok, err := v.NextPending(ctx)
	if err != nil || !ok || e.SubmissionID != "backing-off" {
		t.Errorf("NextPending after RetryNow = %+v, %v, %v; want backing-off (the leased one keeps its lease)", e, ok, err)
	}
}

// TestDamagedOutboxEntry: one outbox entry whose value no longer opens (a
// flipped bit) is passed over and counted by everything that walks the
// outbox, and its submission is never swept, since whether central has it
// is unknown. Before, every walk failed on it: NextPending, OutboxStats
// and the retention sweep alike, so the sync loop stopped at its first
// pass and no other submission was ever sent again.
func TestDamagedOutboxEntry(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	v := openTest(t, Options{Now: clock.Now})
	for _, id := range []string{"a", "b", "c"} {
		if err := v.PutSubmission(ctx, testSubmission(id, 10)); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.MarkState(ctx, "c", StateRejected, "central rejected the submission"); err != nil {
		t.Fatal(err)
	}
	var damagedKey []byte
	rawUpdate(t, v, func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bucketOutbox))
		k, val := b.Cursor().First()
		damagedKey = clone(k)
		val = clone(val)
		val[len(val)-1] ^= 1
		return b.Put(damagedKey, val)
	})
	e, ok, err := v.NextPending(ctx)
	if err != nil || !ok {
		t.Fatalf("NextPending with a damaged entry: %+v, %v, %v; want one of the others", e, ok, err)
	}
	st, err := v.OutboxStats(ctx)
	if err != nil || st.Damaged != 1 || st.Queued+st.Rejected != 2 {
		t.Fatalf("OutboxStats: %+v, %v; want 1 damaged and the 2 others counted", st, err)
	}
	if _, err := v.RetryNow(ctx); err != nil {
		t.Errorf("RetryNow: %v", err)
	}
	if _, err := v.RequeueRejected(ctx, "operator"); err != nil {
		t.Errorf("RequeueRejected: %v", err)
	}
	if _, err := v.ApplyReviews(ctx, []ReviewUpdate{{SubmissionID: "a", Review: Review{State: "open", Seq: 1}}, {SubmissionID: "b", Review: Review{State: "open", Seq: 2}}}, 2); err != nil {
		t.Errorf("ApplyReviews: %v", err)
	}
	clock.Advance(365 * 24 * time.Hour)
	if _, err := v.ShredOlderThan(ctx, clock.Now()); err != nil {
		t.Fatalf("retention sweep: %v", err)
	}
	rawUpdate(t, v, func(tx *bbolt.Tx) error {
		if tx.Bucket([]byte(bucketSubmissions)).Get(damagedKey) == nil {
			t.Error("the sweep shredded the submission whose entry is damaged")
		}
		return nil
	})
}

// TestRepairOutbox: a damaged outbox entry gets a fresh one when its
// submission still opens: queued again (central dedupes a resend), or
// synced when its images were dropped after delivery; one whose
// submission does not open either stays counted as damaged.
func TestRepairOutbox(t *testing.T) {
	ctx := context.Background()
	v := openTest(t, Options{})
	for _, id := range []string{"queued", "delivered", "lost"} {
		if err := v.PutSubmission(ctx, testSubmission(id, 10)); err != nil {
			t.Fatal(err)
		}
	}
	for _, st := range []State{StateSending, StateSynced} {
		if err := v.MarkState(ctx, "delivered", st, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.DropImages(ctx, "delivered"); err != nil {
		t.Fatal(err)
	}
	flip := func(bucket, id string) {
		t.Helper()
		rawUpdate(t, v, func(tx *bbolt.Tx) error {
			key := v.keys.recordID(kindSubmission, id)
			val := clone(tx.Bucket([]byte(bucket)).Get(key))
			val[len(val)-1] ^= 1
			return tx.Bucket([]byte(bucket)).Put(key, val)
		})
	}
	for _, id := range []string{"queued", "delivered", "lost"} {
		flip(bucketOutbox, id)
	}
	flip(bucketSubmissions, "lost")

	n, err := v.RepairOutbox(ctx)
	if err != nil || n != 2 {
		t.Fatalf("RepairOutbox: %d, %v; want 2 repaired", n, err)
	}
	if e, err := v.OutboxStatus(ctx, "queued"); err != nil || e.State != StateQueued {
		t.Errorf("queued after the repair: %+v, %v", e, err)
	}
	if e, err := v.OutboxStatus(ctx, "delivered"); err != nil || e.State != StateSynced || !e.ImagesDropped {
		t.Errorf("delivered after the repair: %+v, %v", e, err)
	}
	if st, err := v.OutboxStats(ctx); err != nil || st.Damaged != 1 {
		t.Errorf("OutboxStats after the repair: %+v, %v; want the lost one still counted", st, err)
	}
	if n, err := v.RepairOutbox(ctx); err != nil || n != 0 {
		t.Errorf("second RepairOutbox: %d, %v; want nothing", n, err)
	}
}
