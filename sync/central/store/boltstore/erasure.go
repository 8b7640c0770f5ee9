package boltstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/openkyc/kyc/sync/central"
)

var (
	bucketErasures      = []byte("erasures")         // id -> erasureRecord
	bucketErasuresByAge = []byte("erasures-by-time") // requested at (unix ns) + id -> nil
	erasureBuckets      = [][]byte{bucketErasures, bucketErasuresByAge}
)

var _ central.Erasures = (*Store)(nil)

// erasureRecord is central.Erasure with its criteria, which the JSON of
// the API leaves out.
type erasureRecord struct {
	central.Erasure
	Tokens        [][]byte `json:"tokens,omitempty"`
	DeviceID      string   `json:"device_id,omitempty"`
	SubmissionKey string   `json:"submission_key,omitempty"`
}

func (r erasureRecord) erasure() central.Erasure {
	e := r.Erasure
	e.Tokens, e.DeviceID, e.SubmissionKey = r.Tokens, r.DeviceID, r.SubmissionKey
	return e
}

func toErasureRecord(e central.Erasure) erasureRecord {
	return erasureRecord{Erasure: e, Tokens: e.Tokens, DeviceID: e.DeviceID, SubmissionKey: e.SubmissionKey}
}

func erasureAgeKey(at time.Time, id string) []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano())), id...)
}

func getErasure(tx *bbolt.Tx, id string) (erasureRecord, error) {
	var r erasureRecord
	err := get(tx.Bucket(bucketErasures), []byte(id), &r)
	return r, err
}

// AddErasure implements central.Store. There is no job queue here: the
// caller carries the erasure out.
func (s *Store) AddErasure(ctx context.Context, e central.Erasure, queue bool) error {
	if queue {
		return errors.New("recording erasure: the embedded store has no job queue")
	}
	return s.update(ctx, "recording erasure", func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketErasures).Get([]byte(e.ID)) != nil {
			return central.ErrConflict
		}
		e.Status = central.ErasureQueued
		if err := put(tx.Bucket(bucketErasures), []byte(e.ID), toErasureRecord(e)); err != nil {
			return err
		}
		return tx.Bucket(bucketErasuresByAge).Put(erasureAgeKey(e.RequestedAt, e.ID), nil)
	})
}

// Erasure implements central.Store.
func (s *Store) Erasure(ctx context.Context, id string) (central.Erasure, error) {
	var r erasureRecord
	err := s.view(ctx, "reading erasure", func(tx *bbolt.Tx) error {
		var err error
		r, err = getErasure(tx, id)
		return err
	})
	return r.erasure(), err
}

// Erasures implements central.Store, newest first from the age index.
func (s *Store) Erasures(ctx context.Context, unfinished bool, limit int) ([]central.Erasure, error) {
	limit = central.Filter{Limit: limit}.EffectiveLimit()
	var out []central.Erasure
	err := s.view(ctx, "listing erasures", func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketErasuresByAge).Cursor()
		for k, _ := c.Last(); k != nil && len(out) < limit; k, _ = c.Prev() {
			r, err := getErasure(tx, string(k[8:]))
			if err != nil {
				return err
			}
			if !unfinished || !r.Status.Finished() {
				out = append(out, r.erasure())
			}
		}
		return nil
	})
	return out, err
}

// StartErasure implements central.Store.
func (s *Store) StartErasure(ctx context.Context, id string) (central.Erasure, error) {
	var r erasureRecord
	err := s.update(ctx, "starting erasure", func(tx *bbolt.Tx) error {
		var err error
		if r, err = getErasure(tx, id); err != nil || r.Status.Finished() {
			return err
		}
		r.Status = central.ErasureRunning
		r.Attempts++
		return put(tx.Bucket(bucketErasures), []byte(id), r)
	})
	return r.erasure(), err
}

// EraseSubmission implements central.Store.
func (s *Store) EraseSubmission(ctx context.Context, id string, ref central.SubmissionRef) error {
	return s.update(ctx, "erasing submission", func(tx *bbolt.Tx) error {
		r, err := getErasure(tx, id)
		if err != nil {
			return fmt.Errorf("no erasure %s: %w", id, err)
		}
		if err := eraseSubmission(tx, ref.DeviceID, ref.Key); err != nil {
			return err
		}
		r.Erased++
		return put(tx.Bucket(bucketErasures), []byte(id), r)
	})
}

// FinishErasure implements central.Store.
func (s *Store) FinishErasure(ctx context.Context, id string, status central.ErasureStatus, at time.Time, cause string, ev central.AuditEvent) (central.Erasure, bool, error) {
	var r erasureRecord
	ended := false
	err := s.update(ctx, "ending erasure", func(tx *bbolt.Tx) error {
		var err error
		if r, err = getErasure(tx, id); err != nil || r.Status.Finished() {
			return err
		}
		r.Status, r.FinishedAt, r.Error = status, at, cause
		r.Tokens, r.DeviceID, r.SubmissionKey = nil, "", ""
		if err := put(tx.Bucket(bucketErasures), []byte(id), r); err != nil {
			return err
		}
		ev.Count = r.Erased
		ended = true
		return appendAudit(tx, ev)
	})
	if err != nil {
		ended = false
	}
	return r.erasure(), ended, err
}
