package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"go.etcd.io/bbolt"

	"github.com/openkyc/kyc/sync/central"
)

// The retention of the records that are not submission data (Expire's
// partner kinds, and ended erasures' records). Events
// are read in Seq order, which is creation order, so a sweep stops at the
// first one not old enough; flows have no index by end of life (the
// expiry index holds open ones only), so a sweep reads them all, which
// one instance's hourly sweep can afford.

// expireWebhooks deletes up to limit events created before before that
// were delivered or are dead, with their ids, partner index entries and
// attempts. It reads webhook-done, so events still owed (a disabled
// partner's held backlog) are not read again at every sweep.
func expireWebhooks(tx *bbolt.Tx, before time.Time, limit int) (int, error) {
	var due []eventRecord
	end := timeKey(before)
	c := tx.Bucket(bucketEventsDone).Cursor()
	for k, _ := c.First(); k != nil && bytes.Compare(k[:8], end) < 0 && len(due) < limit; k, _ = c.Next() {
		r, err := loadEvent(tx, k[8:])
		if err != nil {
			return 0, err
		}
		due = append(due, r)
	}
	for _, r := range due {
		seq := seqKey(r.Seq)
		for _, d := range []struct{ b, k []byte }{
			{bucketEvents, seq},
			{bucketEventIDs, []byte(r.ID)},
			{bucketEventsBy, append(append([]byte(r.PartnerID), 0), seq...)},
			{bucketEventsDone, append(timeKey(r.CreatedAt), seq...)},
			{bucketEventsBySess, append(sessionKey(r.PartnerID, r.SessionID), seq...)},
		} {
			if err := tx.Bucket(d.b).Delete(d.k); err != nil {
				return 0, err
			}
		}
		ac := tx.Bucket(bucketAttempts).Cursor()
		for k, _ := ac.Seek(seq); k != nil && bytes.HasPrefix(k, seq); k, _ = ac.Seek(seq) {
			if err := ac.Delete(); err != nil {
				return 0, err
			}
		}
	}
	return len(due), nil
}

// expireFlows deletes up to limit sessions whose ExpiresAt is before
// before, with their launch and expiry entries.
func expireFlows(tx *bbolt.Tx, before time.Time, limit int) (int, error) {
	var due []central.FlowSession
	c := tx.Bucket(bucketFlows).Cursor()
	for k, v := c.First(); k != nil && len(due) < limit; k, v = c.Next() {
		var f central.FlowSession
		if err := json.Unmarshal(v, &f); err != nil {
			return 0, err
		}
		if f.ExpiresAt.Before(before) {
			due = append(due, f)
		}
	}
	for i := range due {
		f := &due[i]
		if err := indexFlow(tx, f, false); err != nil {
			return 0, err
		}
		if err := tx.Bucket(bucketFlows).Delete(join(f.PartnerID, f.ID)); err != nil {
			return 0, err
		}
	}
	return len(due), nil
}

// expireErasures deletes up to limit erasure records that ended before
// before, oldest request first.
func expireErasures(tx *bbolt.Tx, before time.Time, limit int) (int, error) {
	var due [][]byte
	c := tx.Bucket(bucketErasuresByAge).Cursor()
	for k, _ := c.First(); k != nil && len(due) < limit; k, _ = c.Next() {
		r, err := getErasure(tx, string(k[8:]))
		if err != nil {
			return 0, err
		}
		if r.Status.Finished() && r.FinishedAt.Before(before) {
			due = append(due, bytes.Clone(k))
		}
	}
	for _, k := range due {
		if err := tx.Bucket(bucketErasuresByAge).Delete(k); err != nil {
			return 0, err
		}
		if err := tx.Bucket(bucketErasures).Delete(k[8:]); err != nil {
			return 0, err
		}
	}
	return len(due), nil
}

// expireRecords implements Expire's kinds that are not submission data.
func (s *Store) expireRecords(ctx context.Context, kind central.DataKind, before time.Time, limit int) (int, error) {
	fn := map[central.DataKind]func(*bbolt.Tx, time.Time, int) (int, error){
		central.ExpireWebhooks: expireWebhooks, central.ExpireFlows: expireFlows, central.ExpireErasures: expireErasures,
		central.ExpireErased: expireErased}[kind]
	n := 0
	err := s.update(ctx, "expiring "+string(kind), func(tx *bbolt.Tx) error {
		var err error
		n, err = fn(tx, before, limit)
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
