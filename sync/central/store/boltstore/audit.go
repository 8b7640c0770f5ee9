package boltstore

import (
	"bytes"
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
	if err := indexAudit(tx, e.Seq, e.Actor, e.Action, (*bbolt.Bucket).Put); err != nil {
		return err
	}
	return put(tx.Bucket(bucketChain), seqKey(e.Seq), toRecord(e))
}

// The audit view filters by actor and by action, so the chain is indexed
// by both (bucketAuditBy): a page of one actor's or one action's events
// reads those, not the chain from its start. Keys are a field's tag, its
// value, 0 and the event's Seq; a value holding a 0 may match others of
// its prefix, which Audit's filter then leaves out.
const (
	auditByActor  = 'u'
	auditByAction = 'a'
)

func auditByKey(field byte, value string, seq int64) []byte {
	k := append(append([]byte{field}, value...), 0)
	return append(k, seqKey(seq)...)
}

// indexAudit puts (or, given Delete, removes) event seq's index entries.
func indexAudit(tx *bbolt.Tx, seq int64, actor, action string, op func(*bbolt.Bucket, []byte, []byte) error) error {
	b := tx.Bucket(bucketAuditBy)
	if err := op(b, auditByKey(auditByActor, actor, seq), nil); err != nil {
		return err
	}
	return op(b, auditByKey(auditByAction, action, seq), nil)
}

// fillAuditBy indexes the chain of a file from before the index, once.
func fillAuditBy(tx *bbolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta.Get(keyAuditBy) != nil {
		return nil
	}
	err := tx.Bucket(bucketChain).ForEach(func(_, v []byte) error {
		var r auditRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		return indexAudit(tx, r.Seq, r.Actor, r.Action, (*bbolt.Bucket).Put)
	})
	if err != nil {
		return err
	}
	return meta.Put(keyAuditBy, []byte("1"))
}

// AppendAudit implements central.Store.
func (s *Store) AppendAudit(ctx context.Context, e central.AuditEvent) error {
	return s.update(ctx, "recording audit event", func(tx *bbolt.Tx) error { return appendAudit(tx, e) })
}

// Audit implements central.Store. It walks the chain from f.AfterSeq, or
// with an actor or an action the index of its events, and filters in Go:
// other filters (subject, time) read the chain until they have a page.
func (s *Store) Audit(ctx context.Context, f central.AuditFilter) ([]central.AuditEvent, error) {
	var out []central.AuditEvent
	limit := central.Filter{Limit: f.Limit}.EffectiveLimit()
	err := s.view(ctx, "reading audit trail", func(tx *bbolt.Tx) error {
		out = nil
		chain := tx.Bucket(bucketChain)
		visit := func(v []byte) error {
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
				return nil
			}
			out = append(out, e)
			return nil
		}
		from := max(f.AfterSeq, 0) + 1
		if f.Actor == "" && f.Action == "" {
			c := chain.Cursor()
			for k, v := c.Seek(seqKey(from)); k != nil && len(out) < limit; k, v = c.Next() {
				if err := visit(v); err != nil {
					return err
				}
			}
			return nil
		}
		field, value := byte(auditByActor), f.Actor
		if f.Actor == "" {
			field, value = auditByAction, f.Action
		}
		prefix := auditByKey(field, value, 0)
		prefix = prefix[:len(prefix)-8]
		c := tx.Bucket(bucketAuditBy).Cursor()
		for k, _ := c.Seek(auditByKey(field, value, from)); k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, _ = c.Next() {
			if v := chain.Get(k[len(k)-8:]); v != nil {
				if err := visit(v); err != nil {
					return err
				}
			}
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
			if err := indexAudit(tx, r.Seq, r.Actor, r.Action, func(b *bbolt.Bucket, k, _ []byte) error { return b.Delete(k) }); err != nil {
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
