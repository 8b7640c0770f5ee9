package boltstore

import (
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/protocol"
)

func plainSubmission(id string, received time.Time, image []byte) central.Submission {
	sub := central.Submission{DeviceID: "d1", Key: protocol.SubmissionKey(id), ID: id, ManifestHash: []byte(id),
		CreatedAt: received, ReceivedAt: received, Verdict: "allow", Payload: []byte(`{}`)}
	if image != nil {
		sum := sha256.Sum256(image)
		sub.Images = []central.ImageProgress{{ImageMeta: protocol.ImageMeta{Name: "selfie", Size: int64(len(image)), SHA256: sum[:], Key: make([]byte, 32)}}}
	}
	return sub
}

// TestCompletedLogOfOlderFiles: a file from before the completed log has
// its complete submissions numbered at Open, in received order; later
// completions continue the log.
func TestCompletedLogOfOlderFiles(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "central.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	img := []byte("image bytes")
	subs := []central.Submission{plainSubmission("late", t0.Add(2*time.Minute), nil), plainSubmission("uploading", t0, img), plainSubmission("early", t0.Add(time.Minute), nil)}
	for _, sub := range subs {
		if _, _, err := s.BeginSubmission(ctx, sub); err != nil {
			t.Fatal(err)
		}
	}
	// Make it an older file: no log.
	s = reopenAsOlder(t, s, func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketCompleted, bucketCompletedSeq} {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Delete(keyCompleted)
	})
	if _, err := s.AppendChunk(ctx, central.Chunk{DeviceID: "d1", Key: subs[1].Key, Image: "selfie", Data: img, At: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	cs, err := s.Completed(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cs {
		got = append(got, fmt.Sprint(c.ID, ":", c.CompletedSeq))
	}
	if strings.Join(got, ",") != "early:1,late:2,uploading:3" {
		t.Errorf("Completed = %v, want early:1,late:2,uploading:3", got)
	}
}

// loadEvents stores delivered events (written as such, as RecordAttempt
// leaves them) and pending ones (perSession per session), in batches.
func loadEvents(tb testing.TB, s *Store, delivered, sessions, perSession int, t0 time.Time) {
	tb.Helper()
	const batch = 10_000
	for from := 0; from < delivered; from += batch {
		err := s.db.Update(func(tx *bbolt.Tx) error {
			b := tx.Bucket(bucketEvents)
			for i := from; i < min(from+batch, delivered); i++ {
				n, err := b.NextSequence()
				if err != nil {
					return err
				}
				at := t0.Add(time.Duration(i) * time.Millisecond)
				r := eventRecord{ID: fmt.Sprint("old-", i), PartnerID: fmt.Sprint("p", i%10), SessionID: fmt.Sprint("old-", i),
					Type: central.EventSubmissionCompleted, Payload: []byte(`{"type":"submission.completed"}`), CreatedAt: at, Seq: int64(n), Attempts: 1, DeliveredAt: at}
				seq := seqKey(r.Seq)
				if err := tx.Bucket(bucketEventIDs).Put([]byte(r.ID), seq); err != nil {
					return err
				}
				if err := tx.Bucket(bucketEventsBy).Put(append(append([]byte(r.PartnerID), 0), seq...), nil); err != nil {
					return err
				}
				if err := put(b, seq, r); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	var evs []central.WebhookEvent
	for j := range perSession {
		for i := range sessions {
			evs = append(evs, central.WebhookEvent{ID: fmt.Sprint("new-", i, "-", j), PartnerID: fmt.Sprint("p", i%10), SessionID: fmt.Sprint("new-", i),
				Type: central.EventSubmissionCompleted, Payload: []byte(`{}`), CreatedAt: t0.Add(time.Hour + time.Duration(i+j)*time.Second)})
		}
	}
	if err := s.AppendEvents(context.Background(), evs); err != nil {
		tb.Fatal(err)
	}
}

// TestDueEventsAtScale: with 100k delivered events and 3000 pending ones
// DueEvents reads only the sessions' heads: the due index it walks holds
// one key a session, whatever was delivered before. How fast that is,
// BenchmarkDueEvents measures.
func TestDueEventsAtScale(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 100k events")
	}
	s := open(t).(*Store)
	defer s.Close()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	loadEvents(t, s, 100_000, 1000, 3, t0)
	evs, err := s.DueEvents(context.Background(), t0.Add(2*time.Hour), 100)
	if err != nil || len(evs) != 100 {
		t.Fatalf("DueEvents = %d events, %v", len(evs), err)
	}
	seen := map[string]bool{}
	for _, e := range evs {
		if !strings.HasSuffix(e.ID, "-0") || seen[e.SessionID] {
			t.Errorf("due event %s is not its session's first", e.ID)
		}
		seen[e.SessionID] = true
	}
	var keys int
	if err := s.db.View(func(tx *bbolt.Tx) error {
		keys = tx.Bucket(bucketEventsDue).Stats().KeyN
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if keys != 1000 {
		t.Errorf("the due index holds %d keys, want one for each of the 1000 sessions", keys)
	}
}

func BenchmarkDueEvents(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "central.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	loadEvents(b, s, 100_000, 1000, 3, t0)
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.DueEvents(context.Background(), t0.Add(2*time.Hour), 100); err != nil {
			b.Fatal(err)
		}
	}
}
