package boltstore

import (
	"bytes"
	"context"
	"encoding/json"

	"go.etcd.io/bbolt"

	"github.com/openkyc/kyc/sync/central"
)

var _ central.StoredUserRewriter = (*Store)(nil)

// RewriteFlowUsers implements central.StoredUserRewriter. No index is
// keyed by a session's user reference, so only the session is written.
func (s *Store) RewriteFlowUsers(ctx context.Context, after central.FlowKey, limit int, fn func(*central.FlowSession) error) (last central.FlowKey, n int, err error) {
	err = s.update(ctx, "sealing sessions' user references", func(tx *bbolt.Tx) error {
		last, n = after, 0
		b := tx.Bucket(bucketFlows)
		type change struct {
			k []byte
			f central.FlowSession
		}
		var changes []change
		c := b.Cursor()
		k, v := c.First()
		if after != (central.FlowKey{}) {
			from := join(after.PartnerID, after.ID)
			if k, v = c.Seek(from); bytes.Equal(k, from) {
				k, v = c.Next()
			}
		}
		for ; k != nil && n < limit; k, v = c.Next() {
			var f central.FlowSession
			if err := json.Unmarshal(v, &f); err != nil {
				return err
			}
			user := f.UserID
			if err := fn(&f); err != nil {
				return err
			}
			if f.UserID != user {
				var stored central.FlowSession
				if err := json.Unmarshal(v, &stored); err != nil {
					return err
				}
				stored.UserID = f.UserID
				changes = append(changes, change{bytes.Clone(k), stored})
			}
			last, n = central.FlowKey{PartnerID: f.PartnerID, ID: f.ID}, n+1
		}
		for _, ch := range changes {
			if err := put(b, ch.k, ch.f); err != nil {
				return err
			}
		}
		return nil
	})
	return last, n, err
}

// RewriteEventUsers implements central.StoredUserRewriter.
func (s *Store) RewriteEventUsers(ctx context.Context, afterSeq int64, limit int, fn func(*central.WebhookEvent, []central.DeliveryAttempt) error) (last int64, n int, err error) {
	err = s.update(ctx, "sealing events' user references", func(tx *bbolt.Tx) error {
		last, n = afterSeq, 0
		type change struct {
			b *bbolt.Bucket
			k []byte
			v any
		}
		var changes []change
		events, attempts := tx.Bucket(bucketEvents), tx.Bucket(bucketAttempts)
		c := events.Cursor()
		for k, v := c.Seek(seqKey(max(afterSeq, 0) + 1)); k != nil && n < limit; k, v = c.Next() {
			var r eventRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			var keys [][]byte
			var as []central.DeliveryAttempt
			ac := attempts.Cursor()
			for ak, av := ac.Seek(k); ak != nil && bytes.HasPrefix(ak, k); ak, av = ac.Next() {
				var a central.DeliveryAttempt
				if err := json.Unmarshal(av, &a); err != nil {
					return err
				}
				keys, as = append(keys, bytes.Clone(ak)), append(as, a)
			}
			ev := r.event()
			ev.Payload = bytes.Clone(r.Payload)
			excerpts := make([]string, len(as))
			for i, a := range as {
				excerpts[i] = a.Excerpt
			}
			if err := fn(&ev, as); err != nil {
				return err
			}
			if !bytes.Equal(ev.Payload, r.Payload) {
				r.Payload = ev.Payload
				changes = append(changes, change{events, bytes.Clone(k), r})
			}
			for i, a := range as {
				if a.Excerpt != excerpts[i] {
					var stored central.DeliveryAttempt
					if err := get(attempts, keys[i], &stored); err != nil {
						return err
					}
					stored.Excerpt = a.Excerpt
					changes = append(changes, change{attempts, keys[i], stored})
				}
			}
			last, n = r.Seq, n+1
		}
		for _, ch := range changes {
			if err := put(ch.b, ch.k, ch.v); err != nil {
				return err
			}
		}
		return nil
	})
	return last, n, err
}
