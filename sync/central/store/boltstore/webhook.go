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

// Webhook events are stored by Seq. Each undelivered, not dead event has
// an entry under its session in webhook-pending; the oldest of each
// session (its head) is recorded in webhook-heads with its key in
// webhook-due, by its next attempt, where it is while its partner is not
// disabled (a disabled partner's events are held: holdLanes takes its
// heads out and puts them back). So DueEvents walks only the heads that
// are due, in NextAt then Seq order, however many events were delivered
// before, wait behind a failing one, or are held.

// eventRecord is a WebhookEvent as stored: the payload as bytes, kept
// byte for byte (raw JSON would be compacted).
type eventRecord struct {
	ID          string    `json:"id"`
	PartnerID   string    `json:"partner_id"`
	SessionID   string    `json:"session_id"`
	Type        string    `json:"type"`
	Payload     []byte    `json:"payload"`
	CreatedAt   time.Time `json:"created_at"`
	Seq         int64     `json:"seq"`
	Attempts    int       `json:"attempts"`
	NextAt      time.Time `json:"next_at,omitzero"`
	DeliveredAt time.Time `json:"delivered_at,omitzero"`
	DeadAt      time.Time `json:"dead_at,omitzero"`
	// HeldBefore is nanoseconds (central.WebhookEvent.HeldBefore).
	HeldBefore time.Duration `json:"held_before,omitempty"`
}

func (r *eventRecord) event() central.WebhookEvent {
	utc := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		return t.UTC()
	}
	return central.WebhookEvent{ID: r.ID, PartnerID: r.PartnerID, SessionID: r.SessionID, Type: r.Type, Payload: r.Payload,
		CreatedAt: utc(r.CreatedAt), Seq: r.Seq, Attempts: r.Attempts, NextAt: utc(r.NextAt), DeliveredAt: utc(r.DeliveredAt), DeadAt: utc(r.DeadAt),
		HeldBefore: r.HeldBefore}
}

func (r *eventRecord) pending() bool { return r.DeliveredAt.IsZero() && r.DeadAt.IsZero() }

// sessionKey is the prefix of a session's entries in webhook-pending.
func sessionKey(partnerID, sessionID string) []byte { return append(join(partnerID, sessionID), 0) }

func loadEvent(tx *bbolt.Tx, seq []byte) (eventRecord, error) {
	var r eventRecord
	err := get(tx.Bucket(bucketEvents), seq, &r)
	return r, err
}

// eventByID returns the event with id and its key.
func eventByID(tx *bbolt.Tx, id string) (eventRecord, []byte, error) {
	seq := tx.Bucket(bucketEventIDs).Get([]byte(id))
	if seq == nil {
		return eventRecord{}, nil, central.ErrNotFound
	}
	seq = bytes.Clone(seq)
	r, err := loadEvent(tx, seq)
	return r, seq, err
}

// refreshHead makes the session's oldest pending event (if any) its one
// entry in webhook-due.
func refreshHead(tx *bbolt.Tx, sk []byte) error {
	heads, due := tx.Bucket(bucketEventHeads), tx.Bucket(bucketEventsDue)
	if old := heads.Get(sk); old != nil {
		if err := due.Delete(bytes.Clone(old)); err != nil {
			return err
		}
		if err := heads.Delete(sk); err != nil {
			return err
		}
	}
	k, _ := tx.Bucket(bucketEventsOpen).Cursor().Seek(sk)
	if k == nil || !bytes.HasPrefix(k, sk) {
		return nil
	}
	seq := bytes.Clone(k[len(sk):])
	r, err := loadEvent(tx, seq)
	if err != nil {
		return err
	}
	dk := append(timeKey(r.NextAt), seq...)
	held, err := partnerHeld(tx, r.PartnerID)
	if err != nil {
		return err
	}
	if !held {
		if err := due.Put(dk, nil); err != nil {
			return err
		}
	}
	return heads.Put(sk, dk)
}

// partnerHeld reports whether partner id is disabled (an unknown one is
// not: its events fail and die as usual).
func partnerHeld(tx *bbolt.Tx, id string) (bool, error) {
	var p central.Partner
	if err := get(tx.Bucket(bucketPartners), []byte(id), &p); err != nil && !errors.Is(err, central.ErrNotFound) {
		return false, err
	}
	return p.Disabled, nil
}

// holdLanes takes the heads of partner id's sessions out of webhook-due
// (held) or puts them back.
func holdLanes(tx *bbolt.Tx, id string, held bool) error {
	prefix := append([]byte(id), 0)
	due := tx.Bucket(bucketEventsDue)
	c := tx.Bucket(bucketEventHeads).Cursor()
	for k, dk := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, dk = c.Next() {
		var err error
		if held {
			err = due.Delete(dk)
		} else {
			err = due.Put(bytes.Clone(dk), nil)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// holdDisabledLanes takes the heads of every disabled partner out of
// webhook-due (a file from before they were held this way), at Open.
func holdDisabledLanes(tx *bbolt.Tx) error {
	return tx.Bucket(bucketPartners).ForEach(func(k, v []byte) error {
		var p central.Partner
		if err := json.Unmarshal(v, &p); err != nil {
			return err
		}
		if !p.Disabled {
			return nil
		}
		return holdLanes(tx, string(k), true)
	})
}

// appendEvents stores evs inside tx (AppendEvents).
func appendEvents(tx *bbolt.Tx, evs []central.WebhookEvent) error {
	b, ids := tx.Bucket(bucketEvents), tx.Bucket(bucketEventIDs)
	for _, ev := range evs {
		if err := checkIDs(ev.ID, ev.PartnerID, ev.SessionID); err != nil {
			return fmt.Errorf("webhook event: %w", err)
		}
		if ev.CreatedAt.IsZero() {
			return fmt.Errorf("webhook event %s: no CreatedAt", ev.ID)
		}
		if ids.Get([]byte(ev.ID)) != nil {
			continue
		}
		n, err := b.NextSequence()
		if err != nil {
			return err
		}
		r := eventRecord{ID: ev.ID, PartnerID: ev.PartnerID, SessionID: ev.SessionID, Type: ev.Type, Payload: ev.Payload,
			CreatedAt: ev.CreatedAt, Seq: int64(n), NextAt: ev.CreatedAt}
		seq := seqKey(r.Seq)
		sk := sessionKey(ev.PartnerID, ev.SessionID)
		for _, e := range []struct {
			b    []byte
			k, v []byte
		}{
			{bucketEventIDs, []byte(ev.ID), seq},
			{bucketEventsBy, append(append([]byte(ev.PartnerID), 0), seq...), nil},
			{bucketEventsOpen, append(bytes.Clone(sk), seq...), nil},
			{bucketEventsBySess, append(bytes.Clone(sk), seq...), nil},
		} {
			if err := tx.Bucket(e.b).Put(e.k, e.v); err != nil {
				return err
			}
		}
		if err := put(b, seq, r); err != nil {
			return err
		}
		if tx.Bucket(bucketEventHeads).Get(sk) == nil {
			if err := refreshHead(tx, sk); err != nil {
				return err
			}
		}
	}
	return nil
}

// AppendEvents implements central.Store.
func (s *Store) AppendEvents(ctx context.Context, evs []central.WebhookEvent) error {
	return s.update(ctx, "recording webhook events", func(tx *bbolt.Tx) error { return appendEvents(tx, evs) })
}

// DueEvents implements central.Store.
func (s *Store) DueEvents(ctx context.Context, now time.Time, limit int) ([]central.WebhookEvent, error) {
	var out []central.WebhookEvent
	limit = queueLimit(limit)
	err := s.view(ctx, "listing due webhook events", func(tx *bbolt.Tx) error {
		out = nil
		end := timeKey(now)
		c := tx.Bucket(bucketEventsDue).Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k[:8], end) <= 0 && len(out) < limit; k, _ = c.Next() {
			r, err := loadEvent(tx, k[8:])
			if err != nil {
				return err
			}
			out = append(out, r.event())
		}
		// Then those due because set by a clock since put back
		// (central.EventDue): the index's far end.
		far := timeKey(now.Add(central.EventMaxWait + central.EventClockSlack))
		for k, _ := c.Last(); k != nil && bytes.Compare(k[:8], far) > 0 && len(out) < limit; k, _ = c.Prev() {
			r, err := loadEvent(tx, k[8:])
			if err != nil {
				return err
			}
			out = append(out, r.event())
		}
		return nil
	})
	return out, err
}

// RecordAttempt implements central.Store. The state changes only while
// the event is pending: an attempt recorded for an event delivered or
// dead meanwhile (by another worker, or replayed and delivered) is logged
// and leaves it as it is. A failed attempt with neither nextAt nor deadAt
// is retried at once. The first attempt's Held is kept on the event.
func (s *Store) RecordAttempt(ctx context.Context, a central.DeliveryAttempt, delivered bool, nextAt, deadAt time.Time) error {
	return s.update(ctx, "recording delivery attempt", func(tx *bbolt.Tx) error {
		r, seq, err := eventByID(tx, a.EventID)
		if err != nil {
			return err
		}
		return s.recordAttempt(tx, r, seq, a, delivered, nextAt, deadAt)
	})
}

// recordAttempt stores attempt a of event r (at seq) and its new state
// (RecordAttempt, RecordLeased); the event's lease, if any, ends.
func (s *Store) recordAttempt(tx *bbolt.Tx, r eventRecord, seq []byte, a central.DeliveryAttempt, delivered bool, nextAt, deadAt time.Time) error {
	if r.Attempts == 0 {
		r.HeldBefore = a.Held
	}
	r.Attempts++
	ak := append(bytes.Clone(seq), seqKey(int64(r.Attempts))...)
	if err := put(tx.Bucket(bucketAttempts), ak, a); err != nil {
		return err
	}
	if r.pending() {
		switch {
		case delivered:
			r.DeliveredAt, r.NextAt = a.At, time.Time{}
		case !deadAt.IsZero():
			r.DeadAt, r.NextAt = deadAt, time.Time{}
		case !nextAt.IsZero():
			r.NextAt = nextAt
		default:
			r.NextAt = a.At
		}
	}
	if err := tx.Bucket(bucketLeases).Delete(seq); err != nil {
		return err
	}
	return s.putEvent(tx, seq, r)
}

// putEvent stores r and keeps its session's pending entries and head in
// step with its state.
func (s *Store) putEvent(tx *bbolt.Tx, seq []byte, r eventRecord) error {
	if err := put(tx.Bucket(bucketEvents), seq, r); err != nil {
		return err
	}
	sk := sessionKey(r.PartnerID, r.SessionID)
	ok := append(bytes.Clone(sk), seq...)
	done := append(timeKey(r.CreatedAt), seq...)
	if r.pending() {
		if err := tx.Bucket(bucketEventsOpen).Put(ok, nil); err != nil {
			return err
		}
		if err := tx.Bucket(bucketEventsDone).Delete(done); err != nil {
			return err
		}
	} else {
		if err := tx.Bucket(bucketEventsOpen).Delete(ok); err != nil {
			return err
		}
		if err := tx.Bucket(bucketEventsDone).Put(done, nil); err != nil {
			return err
		}
	}
	return refreshHead(tx, sk)
}

// fillEventsDone puts the delivered and dead events of a file from before
// webhook-done into it, once.
func fillEventsDone(tx *bbolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta.Get(keyEventsDone) != nil {
		return nil
	}
	err := tx.Bucket(bucketEvents).ForEach(func(k, v []byte) error {
		var r eventRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		if r.pending() {
			return nil
		}
		return tx.Bucket(bucketEventsDone).Put(append(timeKey(r.CreatedAt), k...), nil)
	})
	if err != nil {
		return err
	}
	return meta.Put(keyEventsDone, []byte("1"))
}

// Events implements central.Store.
func (s *Store) Events(ctx context.Context, partnerID string, afterSeq int64, limit int) ([]central.WebhookEvent, error) {
	var out []central.WebhookEvent
	limit = queueLimit(limit)
	err := s.view(ctx, "listing webhook events", func(tx *bbolt.Tx) error {
		out = nil
		from := seqKey(max(afterSeq, 0) + 1)
		if partnerID == "" {
			c := tx.Bucket(bucketEvents).Cursor()
			for k, v := c.Seek(from); k != nil && len(out) < limit; k, v = c.Next() {
				var r eventRecord
				if err := json.Unmarshal(v, &r); err != nil {
					return err
				}
				out = append(out, r.event())
			}
			return nil
		}
		prefix := append([]byte(partnerID), 0)
		c := tx.Bucket(bucketEventsBy).Cursor()
		for k, _ := c.Seek(append(bytes.Clone(prefix), from...)); k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, _ = c.Next() {
			r, err := loadEvent(tx, k[len(prefix):])
			if err != nil {
				return err
			}
			out = append(out, r.event())
		}
		return nil
	})
	return out, err
}

// Attempts implements central.Store.
func (s *Store) Attempts(ctx context.Context, eventID string) ([]central.DeliveryAttempt, error) {
	var out []central.DeliveryAttempt
	err := s.view(ctx, "listing delivery attempts", func(tx *bbolt.Tx) error {
		out = nil
		seq := tx.Bucket(bucketEventIDs).Get([]byte(eventID))
		if seq == nil {
			return central.ErrNotFound
		}
		c := tx.Bucket(bucketAttempts).Cursor()
		for k, v := c.Seek(seq); k != nil && bytes.HasPrefix(k, seq); k, v = c.Next() {
			var a central.DeliveryAttempt
			if err := json.Unmarshal(v, &a); err != nil {
				return err
			}
			a.At = a.At.UTC()
			out = append(out, a)
		}
		return nil
	})
	return out, err
}

// ReplayEvent implements central.Store: the event is pending again, due at
// now (before its session's later events, being older); its attempts are
// kept.
func (s *Store) ReplayEvent(ctx context.Context, eventID string, now time.Time) error {
	return s.update(ctx, "replaying webhook event", func(tx *bbolt.Tx) error {
		r, seq, err := eventByID(tx, eventID)
		if err != nil {
			return err
		}
		r.DeliveredAt, r.DeadAt, r.NextAt = time.Time{}, time.Time{}, now
		return s.putEvent(tx, seq, r)
	})
}

// Cursor implements central.Store.
func (s *Store) Cursor(ctx context.Context, name string) (int64, error) {
	var seq int64
	err := s.view(ctx, "reading cursor", func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketCursors).Get([]byte(name)); len(v) == 8 {
			seq = int64(binary.BigEndian.Uint64(v))
		}
		return nil
	})
	return seq, err
}

// PutCursor implements central.Store.
func (s *Store) PutCursor(ctx context.Context, name string, seq int64) error {
	if name == "" {
		return errors.New("storing cursor: no name")
	}
	return s.update(ctx, "storing cursor", func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketCursors).Put([]byte(name), seqKey(seq))
	})
}

// WebhookHealth implements central.Store: it walks the partner's entries
// in webhook-events-by-partner backwards, and reads each attempted
// event's last attempt.
func (s *Store) WebhookHealth(ctx context.Context, partnerID string, window int) (central.WebhookHealth, error) {
	var h central.WebhookHealth
	err := s.view(ctx, "summing up webhook delivery", func(tx *bbolt.Tx) error {
		h = central.WebhookHealth{}
		prefix := append([]byte(partnerID), 0)
		c := tx.Bucket(bucketEventsBy).Cursor()
		// The first key after the partner's: its last entry is just before.
		k, _ := c.Seek(append(bytes.Clone(prefix), bytes.Repeat([]byte{0xff}, 9)...))
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		attempts := tx.Bucket(bucketAttempts)
		for ; k != nil && bytes.HasPrefix(k, prefix) && h.Events < window; k, _ = c.Prev() {
			seq := k[len(prefix):]
			r, err := loadEvent(tx, seq)
			if err != nil {
				return err
			}
			h.Events++
			switch {
			case !r.DeadAt.IsZero():
				h.Dead++
			case r.pending():
				h.Owed++
			}
			if r.Attempts == 0 {
				continue
			}
			var a central.DeliveryAttempt
			if err := get(attempts, append(bytes.Clone(seq), seqKey(int64(r.Attempts))...), &a); err != nil {
				return err
			}
			if h.Last.At.IsZero() || a.At.After(h.Last.At) {
				h.Last = a
				h.Last.At = a.At.UTC()
			}
		}
		return nil
	})
	return h, err
}
