package vault

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// TestLastContact: the last contact survives closing the vault (an app
// restarted offline still knows it), the next contact replaces it, a
// later one or an earlier one alike, a damaged one too (the sync loop
// that records contacts must not stop on it), and a new vault has none.
func TestLastContact(t *testing.T) {
	ctx := context.Background()
	v := openTest(t, Options{})
	if got, err := v.LastContact(ctx); err != nil || !got.IsZero() {
		t.Fatalf("new vault: %v, %v; want no contact", got, err)
	}
	first := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for _, at := range []time.Time{first, first.Add(time.Hour), first.Add(-time.Hour)} {
		if err := v.RecordContact(ctx, at); err != nil {
			t.Fatal(err)
		}
		path := v.Path()
		v.Close()
		v = openAt(t, path, Passphrase(testPassphrase), Options{})
		if got, err := v.LastContact(ctx); err != nil || !got.Equal(at) {
			t.Fatalf("after reopening: %v, %v; want %v", got, err, at)
		}
	}
	if err := v.RecordContact(ctx, time.Time{}); err == nil {
		t.Error("a zero time was recorded")
	}
	// Its wrapped data key damaged: reading says so, and the next
	// contact is recorded anew.
	rawUpdate(t, v, func(tx *bbolt.Tx) error {
		slot := dekSlot(bucketMeta, []byte(metaLastContact))
		val := clone(tx.Bucket([]byte(bucketKeys)).Get(slot))
		val[len(val)-1] ^= 1
		return tx.Bucket([]byte(bucketKeys)).Put(slot, val)
	})
	if _, err := v.LastContact(ctx); !errors.Is(err, ErrAuthentication) {
		t.Fatalf("damaged record: %v, want ErrAuthentication", err)
	}
	if err := v.RecordContact(ctx, first); err != nil {
		t.Fatalf("recording over a damaged record: %v", err)
	}
	if got, err := v.LastContact(ctx); err != nil || !got.Equal(first) {
		t.Fatalf("after recording over the damage: %v, %v", got, err)
	}
}
