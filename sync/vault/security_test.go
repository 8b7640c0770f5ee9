package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// TestNoPlaintextOnDisk stores personal data and searches the raw file, as
// someone who copied the disk would, while open and after Close.
func TestNoPlaintextOnDisk(t *testing.T) {
	ctx := context.Background()
	const (
		name = "Siti Rahmawati Kusumaningrum"
		nik  = "3171234567890123" // 16-digit Indonesian national id number
	)
	image := randomBytes(64 << 10)
	// The business ids themselves are personal here, to show they never
	// reach the file either (record keys are HMACs).
	subID := "ktp-" + nik
	sessID := "session-" + name
	v := openTest(t, Options{})
	path := v.Path()
	sub := Submission{
		ID:      subID,
		Payload: fmt.Appendf(nil, `{"full_name":%q,"nik":%q}`, name, nik),
		Images:  map[string][]byte{"ktp-photo-" + nik: image},
	}
	if err := v.PutSubmission(ctx, sub); err != nil {
		t.Fatal(err)
	}
	if err := v.PutSession(ctx, sessID, []byte(name+" "+nik)); err != nil {
		t.Fatal(err)
	}
	if err := v.Audit(ctx, AuditEvent{Actor: name, Action: "submission.captured", Subject: subID, Detail: nik}); err != nil {
		t.Fatal(err)
	}
	if err := v.MarkState(ctx, subID, StateSending, ""); err != nil {
		t.Fatal(err)
	}
	if err := v.MarkState(ctx, subID, StateRejected, "NIK "+nik+" does not match name "+name); err != nil {
		t.Fatal(err)
	}

	secrets := map[string][]byte{
		"name":         []byte(name),
		"name (lower)": bytes.ToLower([]byte(name)),
		"NIK":          []byte(nik),
		"image head":   image[:32],
		"image middle": image[len(image)/2 : len(image)/2+32],
		"passphrase":   []byte(testPassphrase),
	}
	check := func(when string) {
		t.Helper()
		raw := rawFile(t, path)
		for what, s := range secrets {
			if bytes.Contains(raw, s) {
				t.Errorf("%s: vault file contains the %s in plaintext", when, what)
			}
		}
	}
	check("while open")

	// Bucket and record keys, checked directly as well as via the file scan.
	if err := v.db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(bucket []byte, b *bbolt.Bucket) error {
			return b.ForEach(func(k, _ []byte) error {
				for what, s := range secrets {
					if bytes.Contains(k, s) || bytes.Contains(bucket, s) {
						t.Errorf("key in bucket %s contains the %s", bucket, what)
					}
				}
				return nil
			})
		})
	}); err != nil {
		t.Fatal(err)
	}

	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	check("after Close")

	// The data is really there: reopening decrypts it.
	v = openAt(t, path, Passphrase(testPassphrase), Options{})
	got, err := v.GetSubmission(ctx, subID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Images["ktp-photo-"+nik], image) {
		t.Fatal("image did not round-trip")
	}
}

// TestAADPreventsSwaps copies one record's stored bytes over another's slot,
// as an attacker with write access but no key could, and expects an
// authentication failure rather than the wrong data.
func TestAADPreventsSwaps(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// moves lists the raw copies to make, given both submissions' keys.
		moves  func(a, b keySet) []move
		outbox bool // read the outbox entry rather than the submission
	}{
		{"submission ciphertext only", func(a, b keySet) []move {
			return []move{{bucketSubmissions, a.sub, b.sub}}
		}, false},
		{"submission ciphertext and wrapped DEK", func(a, b keySet) []move {
			return []move{{bucketSubmissions, a.sub, b.sub}, {bucketKeys, dekSlot(bucketSubmissions, a.sub), dekSlot(bucketSubmissions, b.sub)}}
		}, false},
		{"image ciphertext and wrapped DEK", func(a, b keySet) []move {
			return []move{{bucketBlobs, a.blob, b.blob}, {bucketKeys, dekSlot(bucketBlobs, a.blob), dekSlot(bucketBlobs, b.blob)}}
		}, false},
		{"outbox entry and wrapped DEK", func(a, b keySet) []move {
			return []move{{bucketOutbox, a.sub, b.sub}, {bucketKeys, dekSlot(bucketOutbox, a.sub), dekSlot(bucketOutbox, b.sub)}}
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := openTest(t, Options{})
			a, b := storeForSwap(t, v, "victim-a"), storeForSwap(t, v, "victim-b")
			rawUpdate(t, v, func(tx *bbolt.Tx) error {
				for _, m := range tc.moves(a, b) {
					bk := tx.Bucket([]byte(m.bucket))
					if err := bk.Put(m.to, clone(bk.Get(m.from))); err != nil {
						return err
					}
				}
				return nil
			})
			var err error
			if tc.outbox {
				_, err = v.OutboxStatus(ctx, "victim-b")
			} else {
				_, err = v.GetSubmission(ctx, "victim-b")
			}
			if !errors.Is(err, ErrAuthentication) {
				t.Fatalf("reading the overwritten slot: err = %v, want ErrAuthentication", err)
			}
			// The untouched record still reads fine.
			if _, err := v.GetSubmission(ctx, "victim-a"); err != nil {
				t.Fatalf("untouched record: %v", err)
			}
		})
	}
	t.Run("flipped bit", func(t *testing.T) {
		v := openTest(t, Options{})
		a := storeForSwap(t, v, "victim")
		rawUpdate(t, v, func(tx *bbolt.Tx) error {
			bk := tx.Bucket([]byte(bucketSubmissions))
			val := clone(bk.Get(a.sub))
			val[len(val)/2] ^= 1
			return bk.Put(a.sub, val)
		})
		if _, err := v.GetSubmission(ctx, "victim"); !errors.Is(err, ErrAuthentication) {
			t.Fatalf("err = %v, want ErrAuthentication", err)
		}
	})
}

type keySet struct{ sub, blob []byte }

type move struct {
	bucket   string
	from, to []byte
}

// storeForSwap stores a one-image submission and returns its record keys.
func storeForSwap(t *testing.T, v *Vault, id string) keySet {
	t.Helper()
	s := testSubmission(id, 0)
	s.Images = map[string][]byte{"selfie": derivedBytes(id, 512)}
	if err := v.PutSubmission(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	ks := keySet{sub: v.keys.recordID(kindSubmission, id)}
	if err := v.db.View(func(tx *bbolt.Tx) error {
		k, _ := tx.Bucket([]byte(bucketBlobs)).Cursor().Seek(ks.sub)
		ks.blob = clone(k)
		return nil
	}); err != nil || !bytes.HasPrefix(ks.blob, ks.sub) {
		t.Fatalf("finding image key: %v", err)
	}
	return ks
}

func TestRotate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	newKey := newKeyFile(t, dir, "new.key")
	tests := []struct {
		name     string
		from, to KeySource
	}{
		{"passphrase to passphrase", Passphrase(testPassphrase), Passphrase("a new passphrase")},
		{"passphrase to key file", Passphrase(testPassphrase), KeyFile(newKey)},
		{"key file to passphrase", KeyFile(newKeyFile(t, dir, "old.key")), Passphrase("operator chosen")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "vault.db")
			v := openAt(t, path, tc.from, Options{})
			want := testSubmission("s1", 1024)
			if err := v.PutSubmission(ctx, want); err != nil {
				t.Fatal(err)
			}
			if err := v.PutSession(ctx, "sess", []byte("state")); err != nil {
				t.Fatal(err)
			}
			if err := v.Audit(ctx, AuditEvent{Action: "before.rotation"}); err != nil {
				t.Fatal(err)
			}
			if err := v.Rotate(ctx, tc.to); err != nil {
				t.Fatalf("Rotate: %v", err)
			}
			// The open vault keeps working under the new key.
			if err := v.PutSubmission(ctx, testSubmission("s2", 64)); err != nil {
				t.Fatal(err)
			}
			v.Close()

			if _, err := Open(ctx, path, tc.from, Options{}); !errors.Is(err, ErrWrongKey) {
				t.Fatalf("old key after rotation: err = %v, want ErrWrongKey", err)
			}
			v = openAt(t, path, tc.to, Options{})
			got, err := v.GetSubmission(ctx, "s1")
			if err != nil {
				t.Fatal(err)
			}
			assertSameSubmission(t, got, want)
			if _, err := v.GetSubmission(ctx, "s2"); err != nil {
				t.Fatal(err)
			}
			if s, err := v.GetSession(ctx, "sess"); err != nil || string(s) != "state" {
				t.Fatalf("session after rotation: %q, %v", s, err)
			}
			log, err := v.AuditLog(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(log) != 2 || log[1].Action != "vault.key_rotated" {
				t.Fatalf("audit log after rotation: %+v", log)
			}
		})
	}
}

func TestShred(t *testing.T) {
	ctx := context.Background()
	v := openTest(t, Options{})
	path := v.Path()
	victim := testSubmission("victim", 8<<10)
	keep := testSubmission("keep", 8<<10)
	for _, s := range []Submission{victim, keep} {
		if err := v.PutSubmission(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	// Everything of the victim's an attacker could later find on disk.
	ks := storeForSwap(t, v, "victim-2")
	key := v.keys.recordID(kindSubmission, "victim")
	subCT := rawGet(t, v, bucketSubmissions, key)
	subDEK := rawGet(t, v, bucketKeys, dekSlot(bucketSubmissions, key))
	blobCT := rawGet(t, v, bucketBlobs, ks.blob)
	blobDEK := rawGet(t, v, bucketKeys, dekSlot(bucketBlobs, ks.blob))

	for _, id := range []string{"victim", "victim-2"} {
		if err := v.Shred(ctx, id); err != nil {
			t.Fatalf("Shred(%s): %v", id, err)
		}
		if _, err := v.GetSubmission(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("GetSubmission after Shred: err = %v, want ErrNotFound", err)
		}
		if _, err := v.OutboxStatus(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("outbox entry after Shred: err = %v, want ErrNotFound", err)
		}
	}
	if err := v.Shred(ctx, "victim"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Shred: err = %v, want ErrNotFound", err)
	}

	// Crypto-shredding: a surviving copy of the ciphertext (a backup, a free
	// page) put back in place cannot be decrypted, even with the right key.
	rawUpdate(t, v, func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bucketSubmissions)).Put(key, subCT)
	})
	if _, err := v.GetSubmission(ctx, "victim"); !errors.Is(err, ErrShredded) {
		t.Fatalf("restored ciphertext: err = %v, want ErrShredded", err)
	}
	rawUpdate(t, v, func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bucketSubmissions)).Delete(key)
	})

	// Compaction drops the shredded bytes from the file (bbolt leaves freed
	// pages as they were, so before it some usually remain).
	lingering := 0
	for _, b := range [][]byte{subCT, subDEK, blobCT, blobDEK} {
		if bytes.Contains(rawFile(t, path), b) {
			lingering++
		}
	}
	t.Logf("%d of 4 shredded values still in the file before compaction", lingering)
	if err := v.Compact(ctx); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	raw := rawFile(t, path)
	for what, b := range map[string][]byte{"submission ciphertext": subCT, "its wrapped DEK": subDEK, "image ciphertext": blobCT, "its wrapped DEK ": blobDEK} {
		if bytes.Contains(raw, b) {
			t.Errorf("%s still in the file after compaction", what)
		}
	}
	got, err := v.GetSubmission(ctx, "keep")
	if err != nil {
		t.Fatalf("GetSubmission after Compact: %v", err)
	}
	assertSameSubmission(t, got, keep)
	log, err := v.AuditLog(ctx)
	if err != nil || len(log) != 2 || log[0].Action != "submission.shredded" || log[0].Subject != "victim" {
		t.Fatalf("audit log = %+v, %v", log, err)
	}
}

func TestShredOlderThan(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	v := openTest(t, Options{Now: clock.Now})
	put := func(id string) {
		t.Helper()
		if err := v.PutSubmission(ctx, testSubmission(id, 128)); err != nil {
			t.Fatal(err)
		}
	}
	mark := func(id string, states ...State) {
		t.Helper()
		for _, s := range states {
			if err := v.MarkState(ctx, id, s, "reason"); err != nil {
				t.Fatalf("MarkState(%s, %s): %v", id, s, err)
			}
		}
	}
	put("old-synced")
	put("old-rejected")
	put("old-queued")
	put("old-sending")
	if err := v.PutSession(ctx, "old-session", []byte("x")); err != nil {
		t.Fatal(err)
	}
	mark("old-synced", StateSending, StateSynced)
	mark("old-rejected", StateRejected)
	mark("old-sending", StateSending)
	clock.Advance(30 * 24 * time.Hour)
	cutoff := clock.Now()
	put("new-synced")
	mark("new-synced", StateSending, StateSynced)
	if err := v.PutSession(ctx, "new-session", []byte("y")); err != nil {
		t.Fatal(err)
	}
	// Rewriting an old session does not make it young again.
	if err := v.PutSession(ctx, "old-session", []byte("x2")); err != nil {
		t.Fatal(err)
	}

	n, err := v.ShredOlderThan(ctx, cutoff)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("ShredOlderThan shredded %d records, want 3", n)
	}
	for id, wantGone := range map[string]bool{"old-synced": true, "old-rejected": true, "old-queued": false, "old-sending": false, "new-synced": false} {
		_, err := v.GetSubmission(ctx, id)
		if gone := errors.Is(err, ErrNotFound); gone != wantGone || (!gone && err != nil) {
			t.Errorf("%s: err = %v, want gone=%v", id, err, wantGone)
		}
	}
	for id, wantGone := range map[string]bool{"old-session": true, "new-session": false} {
		_, err := v.GetSession(ctx, id)
		if gone := errors.Is(err, ErrNotFound); gone != wantGone || (!gone && err != nil) {
			t.Errorf("%s: err = %v, want gone=%v", id, err, wantGone)
		}
	}
	log, err := v.AuditLog(ctx)
	if err != nil || len(log) != 1 || log[0].Action != "retention.sweep" || !log[0].At.Equal(cutoff) {
		t.Fatalf("audit log = %+v, %v", log, err)
	}
}

// TestShredOlderThanClockSetSince: submissions stored while the clock read
// 2000-01-01 (a dead CMOS battery), then, the clock set, delivered or
// rejected by central: the sweep keeps them for the retention period from
// then. Before, they were decades old by their stamp, and one central
// refused minutes before, which exists nowhere else, was shredded at once.
func TestShredOlderThanClockSetSince(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	now := clock.Now()
	v := openTest(t, Options{Now: clock.Now})
	clock.Advance(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Sub(now))
	for _, id := range []string{"rejected", "synced"} {
		if err := v.PutSubmission(ctx, testSubmission(id, 128)); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(now.Sub(clock.Now())) // the clock set
	for id, states := range map[string][]State{"rejected": {StateRejected}, "synced": {StateSending, StateSynced}} {
		for _, s := range states {
			if err := v.MarkState(ctx, id, s, "central rejected the submission"); err != nil {
				t.Fatal(err)
			}
		}
	}
	const retention = 30 * 24 * time.Hour
	if n, err := v.ShredOlderThan(ctx, clock.Now().Add(-retention)); err != nil || n != 0 {
		t.Fatalf("sweep minutes after delivery and rejection: %d shredded, %v; want none", n, err)
	}
	clock.Advance(retention + time.Hour)
	if n, err := v.ShredOlderThan(ctx, clock.Now().Add(-retention)); err != nil || n != 2 {
		t.Fatalf("sweep past the retention period: %d shredded, %v; want both", n, err)
	}
}
