package vault

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// ErrAuditTampered means the audit log's hash chain is broken: an entry was
// removed, edited, reordered, or the log was cut short.
var ErrAuditTampered = errors.New("vault: audit log has been tampered with")

// AuditEvent is one thing worth recording: who did what to which record.
// Events are sealed like every other record.
type AuditEvent struct {
	At      time.Time `json:"at"`                // zero means the vault clock
	Actor   string    `json:"actor,omitempty"`   // operator or component
	Action  string    `json:"action"`            // e.g. "submission.synced"; required
	Subject string    `json:"subject,omitempty"` // e.g. a submission id
	Detail  string    `json:"detail,omitempty"`
}

// AuditEntry is an event as stored, with its position in the log.
type AuditEntry struct {
	Seq uint64 // 1 for the first entry, no gaps
	AuditEvent
}

// auditRecord is the sealed form of an entry. Prev is the chain hash of the
// previous entry, so every entry commits to all entries before it.
type auditRecord struct {
	Seq   uint64     `json:"seq"`
	Event AuditEvent `json:"event"`
	Prev  []byte     `json:"prev,omitempty"`
}

// auditHead records the last entry's number and chain hash, so cutting
// entries off the end of the log is detected too.
type auditHead struct {
	Seq  uint64 `json:"seq"`
	Hash []byte `json:"hash"`
}

// chainHash is keyed with a secret derived from the master secret, so
// someone without the vault key cannot forge a consistent chain.
func chainHash(k *keyring, sealedPlaintext []byte) []byte {
	m := hmac.New(sha256.New, k.auditKey)
	m.Write(sealedPlaintext)
	return m.Sum(nil)
}

func auditKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, seq)
}

// Audit appends an event to the audit log.
func (v *Vault) Audit(ctx context.Context, ev AuditEvent) error {
	if ev.Action == "" {
		return fmt.Errorf("appending audit event: %w: empty action", ErrInvalid)
	}
	err := v.update(ctx, func(tx *bbolt.Tx, k *keyring) error {
		return v.appendAudit(tx, k, ev)
	})
	if err != nil {
		return fmt.Errorf("appending audit event: %w", err)
	}
	return nil
}

// appendAudit adds ev to the log inside the caller's transaction, so an
// operation and its audit entry commit together.
func (v *Vault) appendAudit(tx *bbolt.Tx, k *keyring, ev AuditEvent) error {
	if ev.At.IsZero() {
		ev.At = v.opts.Now()
	}
	head, err := readAuditHead(tx, k)
	if err != nil {
		return err
	}
	rec := auditRecord{Seq: head.Seq + 1, Event: ev, Prev: head.Hash}
	key := auditKey(rec.Seq)
	if tx.Bucket([]byte(bucketAudit)).Get(key) != nil {
		return fmt.Errorf("%w: entry %d exists beyond the log head", ErrAuditTampered, rec.Seq)
	}
	pt, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encoding audit entry: %w", err)
	}
	if err := v.putRecord(tx, k, bucketAudit, key, pt); err != nil {
		return err
	}
	rawHead, err := json.Marshal(auditHead{Seq: rec.Seq, Hash: chainHash(k, pt)})
	if err != nil {
		return fmt.Errorf("encoding audit head: %w", err)
	}
	return v.putRecord(tx, k, bucketMeta, []byte(metaAuditHead), rawHead)
}

// readAuditHead returns the log head; the zero head for an empty log.
func readAuditHead(tx *bbolt.Tx, k *keyring) (auditHead, error) {
	pt, err := getRecord(tx, k, bucketMeta, []byte(metaAuditHead))
	if errors.Is(err, ErrNotFound) {
		return auditHead{}, nil
	}
	if err != nil {
		return auditHead{}, fmt.Errorf("%w: head: %w", ErrAuditTampered, err)
	}
	var h auditHead
	if err := json.Unmarshal(pt, &h); err != nil {
		return auditHead{}, fmt.Errorf("%w: head: %w", ErrAuditTampered, err)
	}
	return h, nil
}

// AuditLog returns the whole audit log after verifying its hash chain; a
// broken chain gives ErrAuditTampered naming the first bad entry.
//
// What the chain cannot catch: replacing the whole vault file with an older
// copy of itself, which needs an anchor outside the device (the server keeps
// the last head it saw).
func (v *Vault) AuditLog(ctx context.Context) ([]AuditEntry, error) {
	var out []AuditEntry
	err := v.view(ctx, func(tx *bbolt.Tx, k *keyring) error {
		var prev []byte
		want := uint64(1)
		c := tx.Bucket([]byte(bucketAudit)).Cursor()
		for key, _ := c.First(); key != nil; key, _ = c.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			if len(key) != 8 || binary.BigEndian.Uint64(key) != want {
				return fmt.Errorf("%w: entry %d is missing", ErrAuditTampered, want)
			}
			pt, err := getRecord(tx, k, bucketAudit, key)
			if err != nil {
				return fmt.Errorf("%w: entry %d: %w", ErrAuditTampered, want, err)
			}
			var rec auditRecord
			if err := json.Unmarshal(pt, &rec); err != nil {
				return fmt.Errorf("%w: entry %d: %w", ErrAuditTampered, want, err)
			}
			if rec.Seq != want || !bytes.Equal(rec.Prev, prev) {
				return fmt.Errorf("%w: entry %d does not follow entry %d", ErrAuditTampered, want, want-1)
			}
			out = append(out, AuditEntry{Seq: rec.Seq, AuditEvent: rec.Event})
			prev = chainHash(k, pt)
			want++
		}
		head, err := readAuditHead(tx, k)
		if err != nil {
			return err
		}
		if head.Seq != want-1 || !bytes.Equal(head.Hash, prev) {
			return fmt.Errorf("%w: log ends at entry %d but its head names entry %d", ErrAuditTampered, want-1, head.Seq)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading audit log: %w", err)
	}
	return out, nil
}

// VerifyAudit checks the audit log's hash chain; see AuditLog.
func (v *Vault) VerifyAudit(ctx context.Context) error {
	_, err := v.AuditLog(ctx)
	return err
}
