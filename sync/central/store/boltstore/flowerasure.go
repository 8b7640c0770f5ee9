package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"github.com/openkyc/kyc/sync/central"
)

var _ central.FlowEraser = (*Store)(nil)

// EraseFlows implements central.Store. No index leads from a submission to
// its sessions, so it reads every session (erasures are rare; sessions
// leave with their own retention), and each scrubbed session's partner's
// events. Status, expiry and launch hash stay, so the flows' indexes do.
func (s *Store) EraseFlows(ctx context.Context, ref central.SubmissionRef, at time.Time) (flows, events int, err error) {
	err = s.update(ctx, "erasing partner sessions", func(tx *bbolt.Tx) error {
		flows, events = 0, 0
		b := tx.Bucket(bucketFlows)
		var found []central.FlowSession
		err := b.ForEach(func(_, v []byte) error {
			var f central.FlowSession
			if err := json.Unmarshal(v, &f); err != nil {
				return err
			}
			if slices.Contains(f.Submissions, ref) {
				found = append(found, f)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, f := range found {
			central.ScrubFlow(&f, at)
			if err := put(b, join(f.PartnerID, f.ID), f); err != nil {
				return err
			}
			flows++
			n, err := scrubEvents(tx, f.PartnerID, f.ID)
			if err != nil {
				return err
			}
			events += n
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	return flows, events, nil
}

// scrubEvents rewrites the payload of every event of a session (its
// webhooks' and its pushes', central.FlowLanes) to
// central.ErasedEventPayload; delivery state and indexes stay as they are.
func scrubEvents(tx *bbolt.Tx, partnerID, sessionID string) (int, error) {
	n := 0
	prefix := append([]byte(partnerID), 0)
	c := tx.Bucket(bucketEventsBy).Cursor()
	var seqs [][]byte
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		seqs = append(seqs, bytes.Clone(k[len(prefix):]))
	}
	for _, seq := range seqs {
		r, err := loadEvent(tx, seq)
		if err != nil {
			return n, err
		}
		if !slices.Contains(central.FlowLanes(sessionID), r.SessionID) {
			continue
		}
		if r.Payload, err = central.ErasedEventPayload(r.event()); err != nil {
			return n, err
		}
		if err := put(tx.Bucket(bucketEvents), seq, r); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
