package boltstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/openkyc/kyc/sync/central"
)

// auditRecord is a central.AuditEvent as stored: Before and After as
// bytes (base64 in the JSON), because encoding them as raw JSON would
// compact them and they are kept byte for byte.
type auditRecord struct {
	ID      string    `json:"id"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`
	Action  string    `json:"action"`
	Count   int       `json:"count"`
	Refs    []string  `json:"refs,omitempty"`
	Subject string    `json:"subject,omitempty"`
	Before  []byte    `json:"before,omitempty"`
	After   []byte    `json:"after,omitempty"`
	Seq     int64     `json:"seq"`
	Prev    []byte    `json:"prev,omitempty"`
	Hash    []byte    `json:"hash,omitempty"`
}

func toRecord(e central.AuditEvent) auditRecord {
	return auditRecord{ID: e.ID, At: e.At, Actor: e.Actor, Action: e.Action, Count: e.Count, Refs: e.Refs, Subject: e.Subject,
		Before: e.Before, After: e.After, Seq: e.Seq, Prev: e.Prev, Hash: e.Hash}
}

func (r auditRecord) event() central.AuditEvent {
	return central.AuditEvent{ID: r.ID, At: r.At.UTC(), Actor: r.Actor, Action: r.Action, Count: r.Count, Refs: r.Refs, Subject: r.Subject,
		Before: r.Before, After: r.After, Seq: r.Seq, Prev: r.Prev, Hash: r.Hash}
}

// auditAnchor is where the stored chain starts after retention.
type auditAnchor struct {
	Seq  int64  `json:"seq"`
	Hash []byte `json:"hash"`
}

func seqKey(seq int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(seq)) }

// auditHead returns the Seq and Hash the next event chains after: the last
// stored event's, else the anchor's.
func auditHead(tx *bbolt.Tx) (int64, []byte, error) {
	if _, v := tx.Bucket(bucketChain).Cursor().Last(); v != nil {
		var r auditRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return 0, nil, err
		}
		return r.Seq, r.Hash, nil
	}
	var a auditAnchor
	if err := get(tx.Bucket(bucketMeta), keyAnchor, &a); err != nil && !errors.Is(err, central.ErrNotFound) {
		return 0, nil, err
	}
	return a.Seq, a.Hash, nil
}

// appendAudit chains e after the head and stores it, inside tx (bbolt has
// one writer at a time, so the head cannot move meanwhile).
func appendAudit(tx *bbolt.Tx, e central.AuditEvent) error {
	seq, prev, err := auditHead(tx)
	if err != nil {
		return err
	}
	if err := central.ChainAudit(&e, seq, prev); err != nil {
		return err
	}
	return put(tx.Bucket(bucketChain), seqKey(e.Seq), toRecord(e))
}

// AppendAudit implements central.Store.
func (s *Store) AppendAudit(ctx context.Context, e central.AuditEvent) error {
	return s.update(ctx, "recording audit event", func(tx *bbolt.Tx) error { return appendAudit(tx, e) })
}

// Audit implements central.Store. It walks the chain from f.AfterSeq and
// filters in Go: the trail is a log read page by page, not searched by
// arbitrary fields at scale.
func (s *Store) Audit(ctx context.Context, f central.AuditFilter) ([]central.AuditEvent, error) {
	var out []central.AuditEvent
	limit := central.Filter{Limit: f.Limit}.EffectiveLimit()
	err := s.view(ctx, "reading audit trail", func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketChain).Cursor()
		for k, v := c.Seek(seqKey(max(f.AfterSeq, 0) + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			var r auditRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			e := r.event()
			switch {
			case !f.After.IsZero() && e.At.Before(f.After),
				!f.Before.IsZero() && !e.At.Before(f.Before),
				f.Action != "" && e.Action != f.Action,
				f.Actor != "" && e.Actor != f.Actor,
				!central.MatchSubject(f.Subject, e.Subject):
				continue
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// DeleteAuditBefore implements central.Store. It deletes from the start
// of the chain up to the first event not older than before, so what is
// left still chains from the anchor even if events were not appended in
// time order.
func (s *Store) DeleteAuditBefore(ctx context.Context, before time.Time) (int, error) {
	n := 0
	err := s.update(ctx, "expiring audit trail", func(tx *bbolt.Tx) error {
		n = 0
		var last auditRecord
		c := tx.Bucket(bucketChain).Cursor()
		for k, v := c.First(); k != nil; k, v = c.First() {
			var r auditRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			if !r.At.Before(before) {
				break
			}
			if err := c.Delete(); err != nil {
				return err
			}
			last = r
			n++
		}
		if n == 0 {
			return nil
		}
		return put(tx.Bucket(bucketMeta), keyAnchor, auditAnchor{Seq: last.Seq, Hash: last.Hash})
	})
	return n, err
}

// AuditAnchor implements central.Store.
func (s *Store) AuditAnchor(ctx context.Context) (int64, []byte, error) {
	var a auditAnchor
	err := s.view(ctx, "reading audit anchor", func(tx *bbolt.Tx) error {
		if err := get(tx.Bucket(bucketMeta), keyAnchor, &a); err != nil && !errors.Is(err, central.ErrNotFound) {
			return err
		}
		return nil
	})
	return a.Seq, a.Hash, err
}

// chainLegacyAudit moves the events of a file from before the chain (the
// "audit" bucket, in time order) into it, chained in that order, once.
func chainLegacyAudit(tx *bbolt.Tx) error {
	old := tx.Bucket(bucketAudit)
	if old == nil {
		return nil
	}
	err := old.ForEach(func(_, v []byte) error {
		var e central.AuditEvent
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("legacy audit event: %w", err)
		}
		e.Seq, e.Prev, e.Hash = 0, nil, nil
		if len(e.Before) > 0 && !json.Valid(e.Before) || len(e.After) > 0 && !json.Valid(e.After) {
			e.Before, e.After = nil, nil
		}
		return appendAudit(tx, e)
	})
	if err != nil {
		return err
	}
	return tx.DeleteBucket(bucketAudit)
}
