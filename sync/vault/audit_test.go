package vault

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.etcd.io/bbolt"
)

// auditVault returns a vault with five audit entries.
func auditVault(t *testing.T) *Vault {
	t.Helper()
	v := openTest(t, Options{Now: newFakeClock().Now})
	for i := 1; i <= 5; i++ {
		if err := v.Audit(context.Background(), AuditEvent{Actor: "op", Action: "test.event", Subject: fmt.Sprint("s", i)}); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

func TestAuditLog(t *testing.T) {
	ctx := context.Background()
	v := auditVault(t)
	log, err := v.AuditLog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 5 {
		t.Fatalf("%d entries, want 5", len(log))
	}
	for i, e := range log {
		if e.Seq != uint64(i+1) || e.Subject != fmt.Sprint("s", i+1) || e.At.IsZero() {
			t.Fatalf("entry %d = %+v", i, e)
		}
	}
	// Appending continues the chain across a reopen.
	path := v.Path()
	v.Close()
	v = openAt(t, path, Passphrase(testPassphrase), Options{})
	if err := v.Audit(ctx, AuditEvent{Action: "after.reopen"}); err != nil {
		t.Fatal(err)
	}
	if err := v.VerifyAudit(ctx); err != nil {
		t.Fatalf("VerifyAudit after reopen: %v", err)
	}
}

func TestAuditTamperDetected(t *testing.T) {
	ctx := context.Background()
	entry := func(seq uint64) []byte { return auditKey(seq) }
	tests := []struct {
		name   string
		tamper func(tx *bbolt.Tx) error
	}{
		{"middle entry deleted", func(tx *bbolt.Tx) error {
			return tx.Bucket([]byte(bucketAudit)).Delete(entry(3))
		}},
		{"first entry deleted", func(tx *bbolt.Tx) error {
			return tx.Bucket([]byte(bucketAudit)).Delete(entry(1))
		}},
		{"last entry deleted", func(tx *bbolt.Tx) error {
			return tx.Bucket([]byte(bucketAudit)).Delete(entry(5))
		}},
		{"head deleted", func(tx *bbolt.Tx) error {
			return tx.Bucket([]byte(bucketMeta)).Delete([]byte(metaAuditHead))
		}},
		{"entry edited", func(tx *bbolt.Tx) error {
			b := tx.Bucket([]byte(bucketAudit))
			val := clone(b.Get(entry(2)))
			val[len(val)-20] ^= 0x40
			return b.Put(entry(2), val)
		}},
		{"entries swapped", func(tx *bbolt.Tx) error {
			b := tx.Bucket([]byte(bucketAudit))
			two, four := clone(b.Get(entry(2))), clone(b.Get(entry(4)))
			if err := b.Put(entry(2), four); err != nil {
				return err
			}
			return b.Put(entry(4), two)
		}},
		{"entry renumbered into gap", func(tx *bbolt.Tx) error {
			b := tx.Bucket([]byte(bucketAudit))
			keys := tx.Bucket([]byte(bucketKeys))
			// Move entry 4 and its data key to slot 3: both fail to
			// authenticate under slot 3's AAD.
			if err := b.Put(entry(3), clone(b.Get(entry(4)))); err != nil {
				return err
			}
			return keys.Put(dekSlot(bucketAudit, entry(3)), clone(keys.Get(dekSlot(bucketAudit, entry(4)))))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := auditVault(t)
			if err := v.VerifyAudit(ctx); err != nil {
				t.Fatalf("before tampering: %v", err)
			}
			rawUpdate(t, v, tc.tamper)
			if err := v.VerifyAudit(ctx); !errors.Is(err, ErrAuditTampered) {
				t.Fatalf("VerifyAudit = %v, want ErrAuditTampered", err)
			}
		})
	}
}
