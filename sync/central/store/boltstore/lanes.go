package boltstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/openkyc/kyc/sync/central"
)

// A lane's lease is an entry of webhook-leases under its event's Seq,
// with its owner's token (central.LaneLease.Owner). Only this process
// holds the file (bbolt locks it), so a lease found at Open was taken by
// one that is gone: Open drops them all, and the events they held are due
// at once rather than when the leases would have run out. A file from
// before leases has no such bucket: none of its events is held.

var bucketLeases = []byte("webhook-leases") // event seq -> leaseRecord

var _ central.WebhookLanes = (*Store)(nil)

// leaseRecord is a lane's lease as stored.
type leaseRecord struct {
	Owner string    `json:"owner"`
	Until time.Time `json:"until"`
}

// resetLeases empties webhook-leases, creating it in a file from before
// (Open).
func resetLeases(tx *bbolt.Tx) error {
	if tx.Bucket(bucketLeases) != nil {
		if err := tx.DeleteBucket(bucketLeases); err != nil {
			return err
		}
	}
	_, err := tx.CreateBucket(bucketLeases)
	return err
}

// leaseOf returns the lease on the event at seq (zero when none).
func leaseOf(tx *bbolt.Tx, seq []byte) (leaseRecord, error) {
	var l leaseRecord
	if err := get(tx.Bucket(bucketLeases), seq, &l); err != nil && !errors.Is(err, central.ErrNotFound) {
		return l, err
	}
	return l, nil
}

// leased returns the event of lease l and its key once it is pending
// under l's owner, else ErrLeaseLost (ErrNotFound when it was deleted
// meanwhile: retention, erasure).
func leased(tx *bbolt.Tx, l central.LaneLease) (eventRecord, []byte, error) {
	seq := seqKey(l.Event.Seq)
	r, err := loadEvent(tx, seq)
	if err != nil {
		return r, nil, err
	}
	cur, err := leaseOf(tx, seq)
	if err != nil {
		return r, nil, err
	}
	if !r.pending() || cur.Owner == "" || cur.Owner != l.Owner {
		return r, nil, central.ErrLeaseLost
	}
	return r, seq, nil
}

// LeaseLane implements central.WebhookLanes.
func (s *Store) LeaseLane(ctx context.Context, l central.Lane, now time.Time, hold time.Duration) (central.LaneLease, error) {
	var out central.LaneLease
	err := s.update(ctx, "leasing webhook lane", func(tx *bbolt.Tx) error {
		out = central.LaneLease{}
		sk := sessionKey(l.PartnerID, l.SessionID)
		k, _ := tx.Bucket(bucketEventsOpen).Cursor().Seek(sk)
		if k == nil || !bytes.HasPrefix(k, sk) {
			out.Empty = true
			return nil
		}
		seq := bytes.Clone(k[len(sk):])
		r, err := loadEvent(tx, seq)
		if err != nil {
			return err
		}
		if l.UpTo > 0 && r.Seq > l.UpTo {
			out.Empty = true
			return nil
		}
		out.Event = r.event()
		cur, err := leaseOf(tx, seq)
		if err != nil {
			return err
		}
		switch {
		case !central.EventDue(r.NextAt, now):
			out.Wait = out.Event.NextAt
			return nil
		case central.LeaseRunning(cur.Until, now):
			out.Wait = cur.Until.UTC()
			return nil
		}
		// At microseconds, as PostgreSQL keeps it, so both stores answer alike.
		out.Held, out.Until, out.Owner = true, now.Add(hold).UTC().Truncate(time.Microsecond), rand.Text()
		return put(tx.Bucket(bucketLeases), seq, leaseRecord{Owner: out.Owner, Until: out.Until})
	})
	if err != nil {
		return central.LaneLease{}, err
	}
	return out, nil
}

// RenewLane implements central.WebhookLanes: the lease is never
// shortened.
func (s *Store) RenewLane(ctx context.Context, l central.LaneLease, now time.Time, hold time.Duration) (time.Time, error) {
	var until time.Time
	err := s.update(ctx, "renewing webhook lane lease", func(tx *bbolt.Tx) error {
		_, seq, err := leased(tx, l)
		if errors.Is(err, central.ErrNotFound) {
			return central.ErrLeaseLost // nothing left to hold
		}
		if err != nil {
			return err
		}
		cur, err := leaseOf(tx, seq)
		if err != nil {
			return err
		}
		until = now.Add(hold).UTC().Truncate(time.Microsecond)
		if cur.Until.After(until) {
			until = cur.Until.UTC()
		}
		return put(tx.Bucket(bucketLeases), seq, leaseRecord{Owner: l.Owner, Until: until})
	})
	if err != nil {
		return time.Time{}, err
	}
	return until, nil
}

// ReleaseLane implements central.WebhookLanes: the event keeps its state
// (no attempt), and is due to the next LeaseLane at once.
func (s *Store) ReleaseLane(ctx context.Context, l central.LaneLease) error {
	return s.update(ctx, "releasing webhook lane lease", func(tx *bbolt.Tx) error {
		_, seq, err := leased(tx, l)
		if errors.Is(err, central.ErrNotFound) {
			return central.ErrLeaseLost
		}
		if err != nil {
			return err
		}
		return tx.Bucket(bucketLeases).Delete(seq)
	})
}

// RecordLeased implements central.WebhookLanes: RecordAttempt once the
// event is pending under lease l, else ErrLeaseLost and nothing written
// (ErrNotFound, as RecordAttempt, when it was deleted).
func (s *Store) RecordLeased(ctx context.Context, l central.LaneLease, a central.DeliveryAttempt, delivered bool, nextAt, deadAt time.Time) error {
	return s.update(ctx, "recording delivery attempt", func(tx *bbolt.Tx) error {
		if a.EventID != l.Event.ID {
			return fmt.Errorf("event %s under the lease of %s", a.EventID, l.Event.ID)
		}
		r, seq, err := leased(tx, l)
		if err != nil {
			return err
		}
		return s.recordAttempt(tx, r, seq, a, delivered, nextAt, deadAt)
	})
}
