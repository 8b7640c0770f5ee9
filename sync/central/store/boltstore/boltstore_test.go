package boltstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/seal"
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

// TestAuditTamper changes a stored event with a raw write to the file,
// plain and sealed.
func TestAuditTamper(t *testing.T) {
	tamper := func(t *testing.T, s central.Store, seq int64) {
		t.Helper()
		if ss, ok := s.(*seal.Store); ok {
			s = ss.Store
		}
		db := s.(*Store).db
		err := db.Update(func(tx *bbolt.Tx) error {
			b := tx.Bucket(bucketChain)
			var r auditRecord
			if err := get(b, seqKey(seq), &r); err != nil {
				return err
			}
			r.Count++
			return put(b, seqKey(seq), r)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Run("plain", func(t *testing.T) { storetest.RunAuditTamper(t, open, tamper) })
	t.Run("sealed", func(t *testing.T) { storetest.RunAuditTamper(t, storetest.Sealed(open), tamper) })
}

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
	if w := storetest.PublishWatchlist(t, s, "un", []byte("chunked")); w.Version != 4 {
		t.Fatalf("next version = %+v", w)
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
	s = reopenAsOlder(t, s, func(tx *bbolt.Tx) error {
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
	if n, err := s.Expire(ctx, central.ExpireDecision, t0.Add(time.Hour), t0.Add(time.Hour), 10); err != nil || n != 1 {
		t.Errorf("Expire of an older file's submission = %d, %v; want 1", n, err)
	}
}

// bulk stores submissions ten thousand to a transaction, as
// BeginSubmission does one by one.
func bulk(tb testing.TB, s central.Store, subs []central.Submission) {
	tb.Helper()
	db := s.(*Store).db
	for len(subs) > 0 {
		n := min(len(subs), 10_000)
		err := db.Update(func(tx *bbolt.Tx) error {
			for _, sub := range subs[:n] {
				if _, _, err := beginSubmission(tx, sub); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
		subs = subs[n:]
	}
}

// bulkAudit appends audit events ten thousand to a transaction, as
// AppendAudit does one by one.
func bulkAudit(tb testing.TB, s central.Store, evs []central.AuditEvent) {
	tb.Helper()
	db := s.(*Store).db
	for len(evs) > 0 {
		n := min(len(evs), 10_000)
		err := db.Update(func(tx *bbolt.Tx) error {
			for _, e := range evs[:n] {
				if err := appendAudit(tx, e); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
		evs = evs[n:]
	}
}

// TestAuditIndexOfOlderFiles: a file from before the audit's index by
// actor and action has its chain indexed at Open.
func TestAuditIndexOfOlderFiles(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "central.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 4 {
		if err := s.AppendAudit(ctx, central.AuditEvent{ID: fmt.Sprint("e", i), At: t0, Actor: fmt.Sprint("u", i%2), Action: "claim"}); err != nil {
			t.Fatal(err)
		}
	}
	s = reopenAsOlder(t, s, func(tx *bbolt.Tx) error {
		if err := tx.DeleteBucket(bucketAuditBy); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Delete(keyAuditBy)
	})
	for _, f := range []central.AuditFilter{{Actor: "u1"}, {Action: "claim", AfterSeq: 2}} {
		evs, err := s.Audit(ctx, f)
		if err != nil || len(evs) != 2 || evs[1].ID != "e3" {
			t.Errorf("Audit(%+v) = %+v, %v; want e1 or e2, then e3", f, evs, err)
		}
	}
}

// TestHeldLanesOfOlderFiles: a file from before a disabled partner's lane
// heads were kept out of webhook-due has them taken out at Open, so
// DueEvents, which no longer looks at partners, still holds them.
func TestHeldLanesOfOlderFiles(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "central.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s.CreatePartner(ctx, central.Partner{ID: "held", ClientID: "c", CreatedAt: t0, Disabled: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvents(ctx, []central.WebhookEvent{{ID: "e1", PartnerID: "held", SessionID: "s1", Type: "t", Payload: []byte(`{}`), CreatedAt: t0}}); err != nil {
		t.Fatal(err)
	}
	// As an older build left it: the head in webhook-due.
	s = reopenAsOlder(t, s, func(tx *bbolt.Tx) error {
		dk := tx.Bucket(bucketEventHeads).Get(sessionKey("held", "s1"))
		if dk == nil {
			return errors.New("no head recorded")
		}
		return tx.Bucket(bucketEventsDue).Put(bytes.Clone(dk), nil)
	})
	if evs, err := s.DueEvents(ctx, t0.Add(time.Hour), 10); err != nil || len(evs) != 0 {
		t.Errorf("DueEvents = %+v, %v; want the disabled partner's event held", evs, err)
	}
}

// TestEventsDoneOfOlderFiles: a file from before webhook-done has its
// delivered events put there at Open, so their retention deletes them.
func TestEventsDoneOfOlderFiles(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "central.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	evs := []central.WebhookEvent{{ID: "e1", PartnerID: "p", SessionID: "s1", Type: "t", Payload: []byte(`{}`), CreatedAt: t0},
		{ID: "e2", PartnerID: "p", SessionID: "s2", Type: "t", Payload: []byte(`{}`), CreatedAt: t0}}
	if err := s.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordAttempt(ctx, central.DeliveryAttempt{EventID: "e1", At: t0, Status: 200}, true, time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	s = reopenAsOlder(t, s, func(tx *bbolt.Tx) error { // as an older build left it
		if err := tx.DeleteBucket(bucketEventsDone); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(bucketEventsDone); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Delete(keyEventsDone)
	})
	if n, err := s.Expire(ctx, central.ExpireWebhooks, t0.Add(time.Hour), t0.Add(time.Hour), 10); err != nil || n != 1 {
		t.Errorf("Expire(webhooks) = %d, %v; want the delivered one", n, err)
	}
	if left, err := s.Events(ctx, "p", 0, 10); err != nil || len(left) != 1 || left[0].ID != "e2" {
		t.Errorf("events left = %+v, %v; want e2, still owed", left, err)
	}
}

// BenchmarkScale: storetest.BenchmarkScale on bbolt.
func BenchmarkScale(b *testing.B) {
	storetest.BenchmarkScale(b, func(b *testing.B) central.Store {
		s, err := Open(filepath.Join(b.TempDir(), "central.db"))
		if err != nil {
			b.Fatal(err)
		}
		return s
	}, storetest.Seeder{Subs: bulk, Audit: bulkAudit})
}

func BenchmarkQueue(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "central.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchmarkQueue(b, s, bulk)
}

// TestLegacyConsoleData: a file from before the review console (audit
// events keyed by time, no chain; complete submissions in no review
// queue) is migrated at Open: the events are chained in time order and
// verify, and the submissions are in the queue.
func TestLegacyConsoleData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "central.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	sub := central.Submission{DeviceID: "d1", Key: protocol.SubmissionKey("old"), ID: "old", ManifestHash: []byte("m"), ReceivedAt: t0, CompletedAt: t0}
	s = reopenAsOlder(t, s, func(tx *bbolt.Tx) error {
		if err := put(tx.Bucket(bucketSubs), subKey(sub.DeviceID, sub.Key), sub); err != nil {
			return err
		}
		if err := tx.Bucket(bucketMeta).Delete(keyReviewQ); err != nil {
			return err
		}
		old, err := tx.CreateBucket(bucketAudit)
		if err != nil {
			return err
		}
		// As the old AppendAudit keyed them: time, then a sequence.
		for i, e := range []central.AuditEvent{
			{ID: "b", At: t0.Add(time.Hour), Actor: "retention", Action: "retention_sweep", Count: 3},
			{ID: "a", At: t0, Actor: "admin", Action: "erasure", Count: 1, Refs: []string{"req-1"}},
		} {
			k := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, uint64(e.At.UnixNano())), uint64(i+1))
			if err := put(old, k, e); err != nil {
				return err
			}
		}
		return nil
	})
	if c, err := central.VerifyAuditChain(ctx, s, nil); err != nil || c.Events != 2 {
		t.Errorf("VerifyAuditChain = %d, %v; want 2", c.Events, err)
	}
	evs, err := s.Audit(ctx, central.AuditFilter{})
	if err != nil || len(evs) != 2 || evs[0].ID != "a" || evs[0].Seq != 1 || evs[1].ID != "b" || evs[0].Refs[0] != "req-1" {
		t.Errorf("migrated events = %+v, %v", evs, err)
	}
	if err := s.AppendAudit(ctx, central.AuditEvent{ID: "c", At: t0, Action: "new"}); err != nil {
		t.Fatal(err)
	}
	if c, err := central.VerifyAuditChain(ctx, s, nil); err != nil || c.Events != 3 {
		t.Errorf("VerifyAuditChain after an append = %d, %v; want 3", c.Events, err)
	}
	cs, total, err := s.Queue(ctx, central.QueueFilter{})
	if err != nil || total != 1 || cs[0].ID != "old" || cs[0].Summary.Decision != "" {
		t.Errorf("Queue = %+v total %d, %v; want the old submission", cs, total, err)
	}
}

// reopenAsOlder makes s's file what an older build left (older changes it
// in one transaction), then closes it and opens it again, as an upgrade
// does; the store opened is closed when the test ends.
func reopenAsOlder(t *testing.T, s *Store, older func(tx *bbolt.Tx) error) *Store {
	t.Helper()
	if err := s.db.Update(older); err != nil {
		t.Fatal(err)
	}
	path := s.db.Path()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestQueueCountOfOlderFiles: a file from before review-queue-n has its
// queue counted at Open, once, so the totals the counts give are exact.
func TestQueueCountOfOlderFiles(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "central.db"))
	if err != nil {
		t.Fatal(err)
	}
	subs := storetest.QueueData(40)
	bulk(t, s, subs)
	for _, sub := range subs[:5] {
		_, err := s.UpdateReview(ctx, central.SubmissionRef{DeviceID: sub.DeviceID, Key: sub.Key}, func(c central.Case) (central.Review, central.AuditEvent, error) {
			return central.Review{State: central.ReviewClaimed, Assignee: "ana"}, central.AuditEvent{ID: "claim-" + c.ID, Action: "claim"}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	s = reopenAsOlder(t, s, func(tx *bbolt.Tx) error {
		if err := tx.DeleteBucket(bucketQueueN); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Delete(keyReviewQN)
	})
	storetest.CheckQueueTotals(t, s, "reopened")
	if _, total, err := s.Queue(ctx, central.QueueFilter{}); err != nil || total != len(subs) {
		t.Errorf("Queue of the reopened file: total %d, %v; want %d", total, err, len(subs))
	}
}

// TestSealedUserAtRest: the file holds no partner's user reference in
// clear.
func TestSealedUserAtRest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "central.db")
	storetest.RunSealedUserAtRest(t, opener(path), func(t *testing.T, _ central.Store) []byte {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

// TestErasedCapturesAtRest: erasure leaves no byte of a session's sealed
// captures in the pages of the file in use. A page bbolt freed keeps its
// old bytes until it is used again (copy on write), sealed; retiring the
// key-encryption key (kyc-central keys rotate) leaves them unopenable.
func TestErasedCapturesAtRest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "central.db")
	storetest.RunErasedCapturesAtRest(t, opener(path), func(t *testing.T, raw central.Store) []byte {
		return pagesInUse(t, raw.(*Store), path)
	})
}

// opener opens the store at path, for the suites that reopen it.
func opener(path string) func(t *testing.T) central.Store {
	return func(t *testing.T) central.Store {
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

// pagesInUse is the bytes of every page of the file at path that is not
// free (meta, freelist, branches, leaves and their overflow).
func pagesInUse(t *testing.T, s *Store, path string) []byte {
	t.Helper()
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	size := s.db.Info().PageSize
	var out []byte
	err = s.db.View(func(tx *bbolt.Tx) error {
		for id := 0; ; {
			info, err := tx.Page(id)
			if err != nil || info == nil {
				return err
			}
			n := 1
			if info.Type != "free" {
				n += info.OverflowCount
				out = append(out, file[id*size:min((id+n)*size, len(file))]...)
			}
			id += n
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSealStoredUsers: the user references a release before sealing
// stored clear are sealed, in no page in use of the file after.
func TestSealStoredUsers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "central.db")
	storetest.RunSealStoredUsers(t, opener(path), func(t *testing.T, raw central.Store) []byte {
		return pagesInUse(t, raw.(*Store), path)
	})
}

// TestImageChunksOutsideRead: a write that grows the file completes while
// an image's reader is inside a yield (a client reading slowly): the
// chunks are copied out of the read transaction before they are yielded,
// as bbolt remaps a growing file only once no read holds the old mapping.
func TestImageChunksOutsideRead(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "central.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	img := bytes.Repeat([]byte{0xFF, 0xD8, 0xFF, 0xE0}, 1<<18)
	sum := sha256.Sum256(img)
	sub := central.Submission{
		DeviceID: "d1", Key: protocol.SubmissionKey("s1"), ID: "s1", ManifestHash: []byte("m"), ReceivedAt: time.Now().UTC(),
		Payload: []byte(`{}`),
		Images:  []central.ImageProgress{{ImageMeta: protocol.ImageMeta{Name: "selfie", Size: int64(len(img)), SHA256: sum[:], Key: make([]byte, 32)}}},
	}
	if _, _, err := s.BeginSubmission(ctx, sub); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendChunk(ctx, central.Chunk{DeviceID: "d1", Key: sub.Key, Image: "selfie", Data: img, At: sub.ReceivedAt}); err != nil {
		t.Fatal(err)
	}
	grown := false
	err = s.ImageChunks(ctx, "d1", sub.Key, "selfie", func([]byte) error {
		if grown {
			return nil
		}
		grown = true
		done := make(chan error, 1)
		go func() {
			done <- s.db.Update(func(tx *bbolt.Tx) error {
				b, err := tx.CreateBucketIfNotExists([]byte("grow"))
				if err != nil {
					return err
				}
				return b.Put([]byte("k"), make([]byte, 64<<20))
			})
		}()
		select {
		case err := <-done:
			return err
		case <-time.After(time.Minute): // a bound on a hang: the write waits for this yield to return
			return errors.New("a write growing the file waited for the image's reader")
		}
	})
	if err != nil || !grown {
		t.Fatalf("ImageChunks with a write growing the file in its yield: %v", err)
	}
}
