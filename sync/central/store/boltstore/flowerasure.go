package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"github.com/openkyc/kyc/sync/central"
)

var _ central.FlowEraser = (*Store)(nil)

var (
	// What EraseFlows finds by: the sessions holding each submission, and
	// the Idempotency-Key answers (central.AnswerSession) and the events
	// of each session. Ids only, no person's data.
	bucketFlowSubs     = []byte("flow-submissions")          // device \0 key \0 partner \0 id -> nil
	bucketIdemBySess   = []byte("idempotency-by-session")    // partner \0 session \0 key -> nil
	bucketEventsBySess = []byte("webhook-events-by-session") // partner \0 session \0 seq -> nil
	keyFlowSubs        = []byte("flow-submissions")          // set once the three hold every session, answer and event stored before them
)

// EraseFlows implements central.Store. The sessions are found by
// flow-submissions (indexFlow keeps it with the session); a session whose
// Submissions no longer list the submission is passed over. Status,
// expiry and launch hash stay, so the flows' other indexes do.
func (s *Store) EraseFlows(ctx context.Context, ref central.SubmissionRef, at time.Time) (flows, events int, err error) {
	err = s.update(ctx, "erasing partner sessions", func(tx *bbolt.Tx) error {
		var err error
		flows, events, err = eraseFlows(tx, ref, at)
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	return flows, events, nil
}

// eraseFlows is EraseFlows inside tx; Expire's ExpireDecision calls it too
// for each submission it deletes.
func eraseFlows(tx *bbolt.Tx, ref central.SubmissionRef, at time.Time) (flows, events int, err error) {
	b := tx.Bucket(bucketFlows)
	var found []central.FlowSession
	prefix := append(join(ref.DeviceID, ref.Key), 0)
	c := tx.Bucket(bucketFlowSubs).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		var f central.FlowSession
		switch err := get(b, k[len(prefix):], &f); {
		case errors.Is(err, central.ErrNotFound):
			continue // a longer submission key sharing the prefix
		case err != nil:
			return 0, 0, err
		}
		if slices.Contains(f.Submissions, ref) {
			found = append(found, f)
		}
	}
	for _, f := range found {
		central.ScrubFlow(&f, at)
		if err := put(b, join(f.PartnerID, f.ID), f); err != nil {
			return 0, 0, err
		}
		flows++
		n, err := scrubEvents(tx, f.PartnerID, f.ID)
		if err != nil {
			return 0, 0, err
		}
		events += n
		if err := dropSessionAnswers(tx, f.PartnerID, f.ID); err != nil {
			return 0, 0, err
		}
		if err := dropHostedSession(tx, f.PartnerID, f.ID); err != nil {
			return 0, 0, err
		}
	}
	return flows, events, nil
}

// dropHostedSession deletes the session's hosted state (its captures:
// central.HostedSessionPrefix).
func dropHostedSession(tx *bbolt.Tx, partnerID, sessionID string) error {
	b := tx.Bucket(bucketHosted)
	if b == nil {
		return nil
	}
	prefix := []byte(central.HostedSessionPrefix(partnerID, sessionID))
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// indexFlowSubs adds (add) or removes f's entries in flow-submissions.
func indexFlowSubs(tx *bbolt.Tx, f *central.FlowSession, add bool) error {
	b := tx.Bucket(bucketFlowSubs)
	for _, r := range f.Submissions {
		k := join(r.DeviceID, r.Key, f.PartnerID, f.ID)
		var err error
		if add {
			err = b.Put(k, nil)
		} else {
			err = b.Delete(k)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// idemSessionKey is the idempotency-by-session entry of the answer rec
// stored under k (partner \0 key); nil when the answer names no session.
func idemSessionKey(k []byte, rec idemRecord) []byte {
	sess := central.AnswerSession(rec.Body)
	i := bytes.IndexByte(k, 0)
	if sess == "" || i < 0 {
		return nil
	}
	return slices.Concat(k[:i+1], []byte(sess), k[i:])
}

// indexIdem adds (add) or removes the idempotency-by-session entry of the
// answer rec stored under k.
func indexIdem(tx *bbolt.Tx, k []byte, rec idemRecord, add bool) error {
	sk := idemSessionKey(k, rec)
	if sk == nil {
		return nil
	}
	if add {
		return tx.Bucket(bucketIdemBySess).Put(sk, nil)
	}
	return tx.Bucket(bucketIdemBySess).Delete(sk)
}

// dropSessionAnswers deletes the stored Idempotency-Key answers naming
// the session (with their entries in idempotency-due).
func dropSessionAnswers(tx *bbolt.Tx, partnerID, sessionID string) error {
	prefix := append(join(partnerID, sessionID), 0)
	by, idem, due := tx.Bucket(bucketIdemBySess), tx.Bucket(bucketIdem), tx.Bucket(bucketIdemDue)
	var entries [][]byte
	c := by.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		entries = append(entries, bytes.Clone(k))
	}
	for _, sk := range entries {
		k := append(join(partnerID), append([]byte{0}, sk[len(prefix):]...)...)
		var rec idemRecord
		switch err := get(idem, k, &rec); {
		case err == nil && bytes.Equal(idemSessionKey(k, rec), sk):
			if err := due.Delete(append(timeKey(rec.CreatedAt), k...)); err != nil {
				return err
			}
			if err := idem.Delete(k); err != nil {
				return err
			}
		case err != nil && !errors.Is(err, central.ErrNotFound):
			return err
		}
		if err := by.Delete(sk); err != nil {
			return err
		}
	}
	return nil
}

// fillErasureIndexes fills flow-submissions, idempotency-by-session and
// webhook-events-by-session from the sessions, answers and events of a
// file written before them, once.
func fillErasureIndexes(tx *bbolt.Tx) error {
	for _, b := range [][]byte{bucketFlowSubs, bucketIdemBySess, bucketEventsBySess} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	meta := tx.Bucket(bucketMeta)
	if meta.Get(keyFlowSubs) != nil {
		return nil
	}
	err := tx.Bucket(bucketFlows).ForEach(func(_, v []byte) error {
		var f central.FlowSession
		if err := json.Unmarshal(v, &f); err != nil {
			return err
		}
		return indexFlowSubs(tx, &f, true)
	})
	if err != nil {
		return err
	}
	err = tx.Bucket(bucketIdem).ForEach(func(k, v []byte) error {
		var rec idemRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return err
		}
		return indexIdem(tx, k, rec, true)
	})
	if err != nil {
		return err
	}
	err = tx.Bucket(bucketEvents).ForEach(func(k, v []byte) error {
		var r eventRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		return tx.Bucket(bucketEventsBySess).Put(append(sessionKey(r.PartnerID, r.SessionID), k...), nil)
	})
	if err != nil {
		return err
	}
	return meta.Put(keyFlowSubs, []byte("1"))
}

// scrubEvents rewrites the payload of every event of a session (its
// webhooks' and its pushes', central.FlowLanes, found by
// webhook-events-by-session) to central.ErasedEventPayload, and empties
// the excerpt of their attempts that had an answer (a receiver may echo
// the event back); delivery state and other indexes stay as they are.
func scrubEvents(tx *bbolt.Tx, partnerID, sessionID string) (int, error) {
	n := 0
	for _, lane := range central.FlowLanes(sessionID) {
		prefix := sessionKey(partnerID, lane)
		var seqs [][]byte
		c := tx.Bucket(bucketEventsBySess).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			seqs = append(seqs, bytes.Clone(k[len(prefix):]))
		}
		for _, seq := range seqs {
			r, err := loadEvent(tx, seq)
			if err != nil {
				return n, err
			}
			if r.Payload, err = central.ErasedEventPayload(r.event()); err != nil {
				return n, err
			}
			if err := put(tx.Bucket(bucketEvents), seq, r); err != nil {
				return n, err
			}
			if err := scrubAttempts(tx, seq); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// scrubAttempts empties the excerpt of the event's attempts that had an
// answer.
func scrubAttempts(tx *bbolt.Tx, seq []byte) error {
	b := tx.Bucket(bucketAttempts)
	type change struct {
		k []byte
		a central.DeliveryAttempt
	}
	var changes []change
	c := b.Cursor()
	for k, v := c.Seek(seq); k != nil && bytes.HasPrefix(k, seq); k, v = c.Next() {
		var a central.DeliveryAttempt
		if err := json.Unmarshal(v, &a); err != nil {
			return err
		}
		if a.Status != 0 && a.Excerpt != "" {
			a.Excerpt = ""
			changes = append(changes, change{bytes.Clone(k), a})
		}
	}
	for _, ch := range changes {
		if err := put(b, ch.k, ch.a); err != nil {
			return err
		}
	}
	return nil
}
