package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"go.etcd.io/bbolt"

	"github.com/openkyc/kyc/sync/central"
)

// The partner API's buckets. Keys joining ids use NUL, which ids cannot
// hold (checkIDs).
var (
	bucketPartners       = []byte("partners")                  // id -> Partner
	bucketPartnerClients = []byte("partner-clients")           // client id -> id
	bucketPTokens        = []byte("partner-tokens")            // token hash -> PartnerToken
	bucketPTokensBy      = []byte("partner-tokens-by-partner") // partner \0 created (unix ns) + hash -> nil
	bucketFlows          = []byte("flows")                     // partner \0 id -> FlowSession
	bucketFlowLaunch     = []byte("flow-launch")               // launch hash -> partner \0 id
	bucketFlowExpiry     = []byte("flow-expiry")               // expires (unix ns) + partner \0 id -> nil, open flows only
	bucketIdem           = []byte("idempotency")               // partner \0 key -> idemRecord
	bucketIdemDue        = []byte("idempotency-due")           // created (unix ns) + partner \0 key -> nil
	// Webhook events (webhook.go).
	bucketEvents     = []byte("webhook-events")            // seq -> eventRecord
	bucketEventIDs   = []byte("webhook-event-ids")         // event id -> seq
	bucketEventsBy   = []byte("webhook-events-by-partner") // partner \0 seq -> nil
	bucketEventsOpen = []byte("webhook-pending")           // partner \0 session \0 seq -> nil, undelivered and not dead
	bucketEventHeads = []byte("webhook-heads")             // partner \0 session \0 -> its key in webhook-due
	bucketEventsDue  = []byte("webhook-due")               // next attempt (unix ns) + seq -> nil, each session's oldest pending event
	bucketEventsDone = []byte("webhook-done")              // created (unix ns) + seq -> nil, delivered or dead (retention's queue)
	bucketAttempts   = []byte("webhook-attempts")          // event seq + attempt number -> DeliveryAttempt
	bucketCursors    = []byte("cursors")                   // name -> seq
	partnerBuckets   = [][]byte{bucketPartners, bucketPartnerClients, bucketPTokens, bucketPTokensBy, bucketFlows, bucketFlowLaunch,
		bucketFlowExpiry, bucketIdem, bucketIdemDue, bucketEvents, bucketEventIDs, bucketEventsBy, bucketEventsOpen, bucketEventHeads,
		bucketEventsDue, bucketEventsDone, bucketAttempts, bucketCursors}
)

// idemTTL is how long an Idempotency-Key is kept.
const idemTTL = 24 * time.Hour

// checkIDs refuses ids the store's keys cannot hold.
func checkIDs(ids ...string) error {
	for _, id := range ids {
		if id == "" || strings.IndexByte(id, 0) >= 0 {
			return fmt.Errorf("invalid id %q", id)
		}
	}
	return nil
}

// timeKey is t as a big-endian key part: unix ns, clamped to what an int64
// holds rather than wrapped around (UnixNano's is undefined outside it), so
// times before 1970 sort first and times after 2262 last. Times between are
// the same bytes as files written before the clamp.
func timeKey(t time.Time) []byte {
	var ns int64
	switch {
	case t.After(time.Unix(0, math.MaxInt64)):
		ns = math.MaxInt64
	case t.After(time.Unix(0, 0)):
		ns = t.UnixNano()
	}
	return binary.BigEndian.AppendUint64(nil, uint64(ns))
}

func join(parts ...string) []byte { return []byte(strings.Join(parts, "\x00")) }

// CreatePartner implements central.Store.
func (s *Store) CreatePartner(ctx context.Context, p central.Partner) error {
	if err := checkIDs(p.ID, p.ClientID); err != nil {
		return fmt.Errorf("creating partner: %w", err)
	}
	return s.update(ctx, "creating partner", func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketPartners).Get([]byte(p.ID)) != nil || tx.Bucket(bucketPartnerClients).Get([]byte(p.ClientID)) != nil {
			return central.ErrPartnerExists
		}
		if err := tx.Bucket(bucketPartnerClients).Put([]byte(p.ClientID), []byte(p.ID)); err != nil {
			return err
		}
		if p.Disabled { // events may have come for its id already
			if err := holdLanes(tx, p.ID, true); err != nil {
				return err
			}
		}
		return put(tx.Bucket(bucketPartners), []byte(p.ID), p)
	})
}

// UpdatePartner implements central.Store. fn runs inside the write
// transaction, so it must not call the store.
func (s *Store) UpdatePartner(ctx context.Context, id string, fn func(*central.Partner) error) (central.Partner, error) {
	var out central.Partner
	var fnErr error
	err := s.update(ctx, "updating partner", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketPartners)
		var p central.Partner
		if err := get(b, []byte(id), &p); err != nil {
			return err
		}
		old, wasHeld := p.ClientID, p.Disabled
		if err := fn(&p); err != nil {
			fnErr = err
			return err
		}
		p.ID = id
		if p.Disabled != wasHeld {
			if err := holdLanes(tx, id, p.Disabled); err != nil {
				return err
			}
		}
		if p.ClientID != old {
			if err := checkIDs(p.ClientID); err != nil {
				return err
			}
			cb := tx.Bucket(bucketPartnerClients)
			if cb.Get([]byte(p.ClientID)) != nil {
				return central.ErrPartnerExists
			}
			if err := cb.Delete([]byte(old)); err != nil {
				return err
			}
			if err := cb.Put([]byte(p.ClientID), []byte(id)); err != nil {
				return err
			}
		}
		out = p
		return put(b, []byte(id), p)
	})
	if fnErr != nil {
		return central.Partner{}, fnErr
	}
	return out, err
}

// Partner implements central.Store.
func (s *Store) Partner(ctx context.Context, id string) (central.Partner, error) {
	var p central.Partner
	err := s.view(ctx, "reading partner", func(tx *bbolt.Tx) error {
		return get(tx.Bucket(bucketPartners), []byte(id), &p)
	})
	return p, err
}

// PartnerByClientID implements central.Store.
func (s *Store) PartnerByClientID(ctx context.Context, clientID string) (central.Partner, error) {
	var p central.Partner
	err := s.view(ctx, "reading partner", func(tx *bbolt.Tx) error {
		id := tx.Bucket(bucketPartnerClients).Get([]byte(clientID))
		if id == nil {
			return central.ErrNotFound
		}
		return get(tx.Bucket(bucketPartners), id, &p)
	})
	return p, err
}

// PartnersList implements central.Store.
func (s *Store) PartnersList(ctx context.Context) ([]central.Partner, error) {
	var out []central.Partner
	err := s.view(ctx, "listing partners", func(tx *bbolt.Tx) error {
		out = nil
		return tx.Bucket(bucketPartners).ForEach(func(k, _ []byte) error {
			var p central.Partner
			if err := get(tx.Bucket(bucketPartners), k, &p); err != nil {
				return err
			}
			out = append(out, p)
			return nil
		})
	})
	return out, err
}

// PutPartnerToken implements central.Store. It drops the partner's tokens
// expired by the new one's creation, so a partner's tokens stay few.
func (s *Store) PutPartnerToken(ctx context.Context, t central.PartnerToken) error {
	if err := checkIDs(t.PartnerID); err != nil || len(t.Hash) == 0 {
		return fmt.Errorf("recording partner token: invalid token")
	}
	return s.update(ctx, "recording partner token", func(tx *bbolt.Tx) error {
		tb, by := tx.Bucket(bucketPTokens), tx.Bucket(bucketPTokensBy)
		prefix := append([]byte(t.PartnerID), 0)
		var gone [][]byte
		c := by.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			h := k[len(prefix)+8:]
			var old central.PartnerToken
			if err := get(tb, h, &old); err != nil && !errors.Is(err, central.ErrNotFound) {
				return err
			}
			if old.ExpiresAt.Before(t.CreatedAt) {
				gone = append(gone, bytes.Clone(k))
			}
		}
		for _, k := range gone {
			if err := by.Delete(k); err != nil {
				return err
			}
			if err := tb.Delete(k[len(prefix)+8:]); err != nil {
				return err
			}
		}
		if tb.Get(t.Hash) != nil {
			return fmt.Errorf("token already exists")
		}
		if err := by.Put(append(append(prefix, timeKey(t.CreatedAt)...), t.Hash...), nil); err != nil {
			return err
		}
		return put(tb, t.Hash, t)
	})
}

// PartnerTokenByHash implements central.Store.
func (s *Store) PartnerTokenByHash(ctx context.Context, hash []byte, now time.Time) (central.PartnerToken, error) {
	var t central.PartnerToken
	err := s.view(ctx, "reading partner token", func(tx *bbolt.Tx) error {
		if err := get(tx.Bucket(bucketPTokens), hash, &t); err != nil {
			return err
		}
		if !now.Before(t.ExpiresAt) {
			return central.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return central.PartnerToken{}, err
	}
	return t, nil
}

// ValidPartnerToken implements central.Store.
func (s *Store) ValidPartnerToken(ctx context.Context, partnerID string, minExpiry time.Time) (central.PartnerToken, error) {
	var out central.PartnerToken
	err := s.view(ctx, "reading partner token", func(tx *bbolt.Tx) error {
		prefix := append([]byte(partnerID), 0)
		end := append(bytes.Clone(prefix), bytes.Repeat([]byte{0xff}, 9)...)
		c := tx.Bucket(bucketPTokensBy).Cursor()
		k, _ := c.Seek(end)
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Prev() {
			var t central.PartnerToken
			if err := get(tx.Bucket(bucketPTokens), k[len(prefix)+8:], &t); err != nil {
				return err
			}
			if !t.ExpiresAt.Before(minExpiry) {
				out = t
				return nil
			}
		}
		return central.ErrNotFound
	})
	return out, err
}

// flowOpen reports whether a session can still expire.
func flowOpen(f *central.FlowSession) bool {
	switch f.Status {
	case central.FlowCompleted, central.FlowError, central.FlowExpired:
		return false
	}
	return true
}

// indexFlow adds (add) or removes the launch, expiry and submission
// entries of f.
func indexFlow(tx *bbolt.Tx, f *central.FlowSession, add bool) error {
	if err := indexFlowSubs(tx, f, add); err != nil {
		return err
	}
	k := join(f.PartnerID, f.ID)
	lb, eb := tx.Bucket(bucketFlowLaunch), tx.Bucket(bucketFlowExpiry)
	ek := append(timeKey(f.ExpiresAt), k...)
	if !add {
		if len(f.LaunchHash) > 0 {
			if err := lb.Delete(f.LaunchHash); err != nil {
				return err
			}
		}
		return eb.Delete(ek)
	}
	if len(f.LaunchHash) > 0 {
		if v := lb.Get(f.LaunchHash); v != nil && !bytes.Equal(v, k) {
			return central.ErrPartnerExists
		}
		if err := lb.Put(f.LaunchHash, k); err != nil {
			return err
		}
	}
	if flowOpen(f) {
		return eb.Put(ek, nil)
	}
	return nil
}

// CreateFlow implements central.Store. The session is stored with Version
// 1.
func (s *Store) CreateFlow(ctx context.Context, f central.FlowSession) error {
	if err := checkIDs(f.PartnerID, f.ID); err != nil {
		return fmt.Errorf("creating flow: %w", err)
	}
	return s.update(ctx, "creating flow", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketFlows)
		k := join(f.PartnerID, f.ID)
		if b.Get(k) != nil {
			return central.ErrPartnerExists
		}
		f.Version = 1
		if err := indexFlow(tx, &f, true); err != nil {
			return err
		}
		return put(b, k, f)
	})
}

// UpdateFlow implements central.Store. fn runs inside the write
// transaction, so it must not call the store. fn cannot move the session
// (its ID and PartnerID are kept); events it returns without a PartnerID
// or SessionID get the session's.
func (s *Store) UpdateFlow(ctx context.Context, partnerID, id string, fn func(*central.FlowSession) ([]central.WebhookEvent, error)) (central.FlowSession, error) {
	var out central.FlowSession
	var fnErr error
	err := s.update(ctx, "updating flow", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketFlows)
		k := join(partnerID, id)
		var old central.FlowSession
		if err := get(b, k, &old); err != nil {
			return err
		}
		var f central.FlowSession
		if err := get(b, k, &f); err != nil {
			return err
		}
		evs, err := fn(&f)
		if err != nil {
			fnErr = err
			return err
		}
		f.PartnerID, f.ID, f.Version = partnerID, id, old.Version+1
		if err := indexFlow(tx, &old, false); err != nil {
			return err
		}
		if err := indexFlow(tx, &f, true); err != nil {
			return err
		}
		for i := range evs {
			if evs[i].PartnerID == "" {
				evs[i].PartnerID = partnerID
			}
			if evs[i].SessionID == "" {
				evs[i].SessionID = id
			}
		}
		if err := appendEvents(tx, evs); err != nil {
			return err
		}
		out = f
		return put(b, k, f)
	})
	if fnErr != nil {
		return central.FlowSession{}, fnErr
	}
	return out, err
}

// Flow implements central.Store.
func (s *Store) Flow(ctx context.Context, partnerID, id string) (central.FlowSession, error) {
	var f central.FlowSession
	err := s.view(ctx, "reading flow", func(tx *bbolt.Tx) error {
		return get(tx.Bucket(bucketFlows), join(partnerID, id), &f)
	})
	return f, err
}

// FlowByLaunch implements central.Store.
func (s *Store) FlowByLaunch(ctx context.Context, launchHash []byte) (central.FlowSession, error) {
	var f central.FlowSession
	err := s.view(ctx, "reading flow", func(tx *bbolt.Tx) error {
		if len(launchHash) == 0 {
			return central.ErrNotFound
		}
		k := tx.Bucket(bucketFlowLaunch).Get(launchHash)
		if k == nil {
			return central.ErrNotFound
		}
		return get(tx.Bucket(bucketFlows), k, &f)
	})
	return f, err
}

// ExpiredFlows implements central.Store, reading only the open sessions'
// expiry index up to now.
func (s *Store) ExpiredFlows(ctx context.Context, now time.Time, limit int) ([]central.FlowSession, error) {
	var out []central.FlowSession
	limit = queueLimit(limit)
	err := s.view(ctx, "listing expired flows", func(tx *bbolt.Tx) error {
		out = nil
		end := timeKey(now)
		c := tx.Bucket(bucketFlowExpiry).Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k[:8], end) < 0 && len(out) < limit; k, _ = c.Next() {
			var f central.FlowSession
			if err := get(tx.Bucket(bucketFlows), k[8:], &f); err != nil {
				return err
			}
			if f.ExpiresAt.Before(now) {
				out = append(out, f)
			}
		}
		// Then those made by a clock since put back: the index's far end.
		far := timeKey(now.Add(central.FlowMaxTTL + central.FlowClockSlack))
		for k, _ := c.Last(); k != nil && bytes.Compare(k[:8], far) > 0 && len(out) < limit; k, _ = c.Prev() {
			var f central.FlowSession
			if err := get(tx.Bucket(bucketFlows), k[8:], &f); err != nil {
				return err
			}
			out = append(out, f)
		}
		return nil
	})
	return out, err
}

// idemRecord is a stored Idempotency-Key's answer.
type idemRecord struct {
	Hash      []byte    `json:"hash"`
	Status    int       `json:"status"`
	Body      []byte    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
}

// idemSweep bounds how many expired keys one Idempotent call deletes.
const idemSweep = 64

// Idempotent implements central.Store. Concurrent calls with one key are
// serialised in memory (one process holds the file): the first runs fn
// outside any transaction (fn may use the store), the others wait for it
// and then replay its answer, or run fn themselves if it failed (an
// error from fn stores nothing). A key is kept 24 h from its first call's
// now; expired keys are swept by later calls.
func (s *Store) Idempotent(ctx context.Context, partnerID, key string, requestHash []byte, now time.Time,
	fn func() (int, []byte, error)) (int, []byte, bool, error) {
	if err := checkIDs(partnerID, key); err != nil {
		return 0, nil, false, fmt.Errorf("idempotency key: %w", err)
	}
	k := join(partnerID, key)
	for {
		if err := ctx.Err(); err != nil {
			return 0, nil, false, err
		}
		s.idemMu.Lock()
		if ch, ok := s.idemBusy[string(k)]; ok {
			s.idemMu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return 0, nil, false, ctx.Err()
			}
		}
		var rec idemRecord
		err := s.view(ctx, "reading idempotency key", func(tx *bbolt.Tx) error { return get(tx.Bucket(bucketIdem), k, &rec) })
		switch {
		case err == nil && now.Before(rec.CreatedAt.Add(idemTTL)):
			s.idemMu.Unlock()
			if !bytes.Equal(rec.Hash, requestHash) {
				return 0, nil, false, central.ErrIdempotency
			}
			return rec.Status, rec.Body, true, nil
		case err != nil && !errors.Is(err, central.ErrNotFound):
			s.idemMu.Unlock()
			return 0, nil, false, err
		}
		done := make(chan struct{})
		s.idemBusy[string(k)] = done
		s.idemMu.Unlock()
		defer func() {
			s.idemMu.Lock()
			delete(s.idemBusy, string(k))
			close(done)
			s.idemMu.Unlock()
		}()
		status, body, err := s.runIdempotent(ctx, k, requestHash, now, fn)
		return status, body, false, err
	}
}

// runIdempotent runs fn and stores its answer under k.
func (s *Store) runIdempotent(ctx context.Context, k, requestHash []byte, now time.Time, fn func() (int, []byte, error)) (int, []byte, error) {
	status, body, err := fn()
	if err != nil {
		return status, body, err
	}
	err = s.update(context.WithoutCancel(ctx), "recording idempotency key", func(tx *bbolt.Tx) error {
		b, due := tx.Bucket(bucketIdem), tx.Bucket(bucketIdemDue)
		var old idemRecord
		if err := get(b, k, &old); err == nil {
			if err := due.Delete(append(timeKey(old.CreatedAt), k...)); err != nil {
				return err
			}
			if err := indexIdem(tx, k, old, false); err != nil {
				return err
			}
		}
		// Sweep a few expired keys.
		end := timeKey(now.Add(-idemTTL))
		var gone [][]byte
		c := due.Cursor()
		for dk, _ := c.First(); dk != nil && bytes.Compare(dk[:8], end) <= 0 && len(gone) < idemSweep; dk, _ = c.Next() {
			gone = append(gone, bytes.Clone(dk))
		}
		for _, dk := range gone {
			if err := due.Delete(dk); err != nil {
				return err
			}
			var rec idemRecord
			switch err := get(b, dk[8:], &rec); {
			case err == nil:
				if err := indexIdem(tx, dk[8:], rec, false); err != nil {
					return err
				}
			case !errors.Is(err, central.ErrNotFound):
				return err
			}
			if err := b.Delete(dk[8:]); err != nil {
				return err
			}
		}
		if err := due.Put(append(timeKey(now), k...), nil); err != nil {
			return err
		}
		rec := idemRecord{Hash: requestHash, Status: status, Body: body, CreatedAt: now}
		if err := indexIdem(tx, k, rec, true); err != nil {
			return err
		}
		return put(b, k, rec)
	})
	if err != nil {
		return 0, nil, err
	}
	return status, body, nil
}
