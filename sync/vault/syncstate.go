package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/bbolt"
)

// ErrNotSynced means DropImages was asked for a submission central has not
// acknowledged: its images exist nowhere else.
var ErrNotSynced = errors.New("vault: submission has not been delivered")

// OutboxStats summarises the outbox for a status report.
type OutboxStats struct {
	// Queued counts submissions not yet delivered (queued or sending).
	Queued int `json:"queued"`
	// Rejected counts those central refused, awaiting an operator.
	Rejected int `json:"rejected"`
	Synced   int `json:"synced"`
	// OldestQueued is when the oldest undelivered submission was
	// enqueued; zero when none waits.
	OldestQueued time.Time `json:"oldest_queued,omitzero"`
	// Damaged counts entries that do not open (a damaged value or
	// wrapped key): left out of the counts above and of Outbox, never
	// sent, never swept.
	Damaged int `json:"damaged,omitempty"`
}

// Outbox returns every outbox entry that opens (OutboxStats counts those
// that do not), in no particular order. Every entry is decrypted, so the
// cost grows with the outbox.
func (v *Vault) Outbox(ctx context.Context) ([]OutboxEntry, error) {
	out, _, err := v.outbox(ctx)
	return out, err
}

func (v *Vault) outbox(ctx context.Context) (out []OutboxEntry, damaged int, err error) {
	err = v.view(ctx, func(tx *bbolt.Tx, k *keyring) error {
		out = out[:0]
		var err error
		damaged, err = eachOutbox(ctx, tx, k, func(e OutboxEntry) {
			out = append(out, e)
		})
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("listing outbox: %w", err)
	}
	return out, damaged, nil
}

// OutboxStats counts the outbox by state.
func (v *Vault) OutboxStats(ctx context.Context) (OutboxStats, error) {
	entries, damaged, err := v.outbox(ctx)
	if err != nil {
		return OutboxStats{}, err
	}
	s := OutboxStats{Damaged: damaged}
	for _, e := range entries {
		switch e.State {
		case StateQueued, StateSending:
			s.Queued++
			if s.OldestQueued.IsZero() || e.EnqueuedAt.Before(s.OldestQueued) {
				s.OldestQueued = e.EnqueuedAt
			}
		case StateRejected:
			s.Rejected++
		case StateSynced:
			s.Synced++
		}
	}
	return s, nil
}

// Requeue puts a rejected submission back in the outbox, due now, with its
// attempts counted afresh: the operator's answer once the cause of the
// rejection is fixed. It is audited with actor (who asked). A submission
// in any other state gives ErrInvalidTransition.
func (v *Vault) Requeue(ctx context.Context, submissionID, actor string) error {
	if err := validateID(kindSubmission, submissionID); err != nil {
		return fmt.Errorf("re-queuing submission: %w", err)
	}
	err := v.update(ctx, func(tx *bbolt.Tx, k *keyring) error {
		return v.requeue(tx, k, k.recordID(kindSubmission, submissionID), actor)
	})
	if err != nil {
		return fmt.Errorf("re-queuing submission: %w", err)
	}
	return nil
}

// RequeueRejected re-queues every rejected submission (see Requeue) in one
// transaction and returns how many.
func (v *Vault) RequeueRejected(ctx context.Context, actor string) (int, error) {
	var n int
	err := v.update(ctx, func(tx *bbolt.Tx, k *keyring) error {
		n = 0
		var keys [][]byte
		c := tx.Bucket([]byte(bucketOutbox)).Cursor()
		for key, _ := c.First(); key != nil; key, _ = c.Next() {
			e, err := readOutbox(tx, k, key)
			if err != nil {
				continue // damaged: OutboxStats counts it
			}
			if e.State == StateRejected {
				keys = append(keys, clone(key))
			}
		}
		// Write after iterating: putting under a bbolt cursor moves it.
		for _, key := range keys {
			if err := v.requeue(tx, k, key, actor); err != nil {
				return err
			}
		}
		n = len(keys)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("re-queuing rejected submissions: %w", err)
	}
	return n, nil
}

func (v *Vault) requeue(tx *bbolt.Tx, k *keyring, key []byte, actor string) error {
	e, err := readOutbox(tx, k, key)
	if err != nil {
		return err
	}
	if e.State != StateRejected {
		return fmt.Errorf("%w: only a rejected submission is re-queued, this one is %s", ErrInvalidTransition, e.State)
	}
	if strings.TrimSpace(actor) == "" {
		actor = "operator"
	}
	now := v.opts.Now()
	prev := e.Reason
	if err := v.transition(&e, StateQueued, now); err != nil {
		return err
	}
	e.Attempts, e.Reason, e.UpdatedAt = 0, "re-queued by "+actor, now
	if err := v.putOutbox(tx, k, key, e); err != nil {
		return err
	}
	return v.appendAudit(tx, k, AuditEvent{Actor: actor, Action: "submission.requeued", Subject: e.SubmissionID, Detail: "was rejected: " + prev})
}

// DropImages shreds the images of a submission central has acknowledged
// (outbox state synced), with their data keys; its record (payload and
// decision) and outbox entry stay until retention or Shred removes them.
// Dropping twice is a no-op. It is audited. A submission not yet synced
// gives ErrNotSynced: its images exist nowhere else.
func (v *Vault) DropImages(ctx context.Context, submissionID string) error {
	if err := validateID(kindSubmission, submissionID); err != nil {
		return fmt.Errorf("dropping images: %w", err)
	}
	err := v.update(ctx, func(tx *bbolt.Tx, k *keyring) error {
		key := k.recordID(kindSubmission, submissionID)
		e, err := readOutbox(tx, k, key)
		if err != nil {
			return err
		}
		if e.State != StateSynced {
			return fmt.Errorf("%w (it is %s)", ErrNotSynced, e.State)
		}
		if e.ImagesDropped {
			return nil
		}
		rec, err := readSubmission(tx, k, key)
		if err != nil {
			return err
		}
		n, err := deleteBlobs(tx, key)
		if err != nil {
			return err
		}
		now := v.opts.Now()
		rec.Images, rec.ImagesDroppedAt = nil, now
		pt, err := encodeSubmission(rec)
		if err != nil {
			return err
		}
		if err := v.putRecord(tx, k, bucketSubmissions, key, pt); err != nil {
			return err
		}
		e.ImagesDropped = true
		if err := v.putOutbox(tx, k, key, e); err != nil {
			return err
		}
		return v.appendAudit(tx, k, AuditEvent{Actor: "sync", Action: "submission.images_dropped", Subject: submissionID, Detail: fmt.Sprintf("%d images shredded after central acknowledged the submission", n)})
	})
	if err != nil {
		return fmt.Errorf("dropping images: %w", err)
	}
	return nil
}

// SyncedWithImages lists the synced submissions whose images DropImages
// has not shredded yet (an agent that stopped between the acknowledgement
// and the drop left them).
func (v *Vault) SyncedWithImages(ctx context.Context) ([]string, error) {
	entries, err := v.Outbox(ctx)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		if e.State == StateSynced && !e.ImagesDropped {
			ids = append(ids, e.SubmissionID)
		}
	}
	return ids, nil
}

// deleteBlobs deletes the images stored under a submission key (they share
// it as prefix) and returns how many.
func deleteBlobs(tx *bbolt.Tx, key []byte) (int, error) {
	var blobs [][]byte
	c := tx.Bucket([]byte(bucketBlobs)).Cursor()
	for k, _ := c.Seek(key); k != nil && bytes.HasPrefix(k, key); k, _ = c.Next() {
		blobs = append(blobs, clone(k))
	}
	// Delete after iterating: deleting under a bbolt cursor skips keys.
	for _, b := range blobs {
		if err := deleteRecord(tx, bucketBlobs, b); err != nil {
			return 0, err
		}
	}
	return len(blobs), nil
}

// RetryNow makes every queued submission due now, ignoring its backoff:
// "sync now" from an operator who knows the network is back. Submissions
// being sent keep their lease. It returns how many it moved.
func (v *Vault) RetryNow(ctx context.Context) (int, error) {
	var n int
	err := v.update(ctx, func(tx *bbolt.Tx, k *keyring) error {
		n = 0
		now := v.opts.Now()
		type due struct {
			key []byte
			e   OutboxEntry
		}
		var moved []due
		c := tx.Bucket([]byte(bucketOutbox)).Cursor()
		for key, _ := c.First(); key != nil; key, _ = c.Next() {
			e, err := readOutbox(tx, k, key)
			if err != nil {
				continue // damaged: OutboxStats counts it
			}
			if e.State == StateQueued && e.NextAttempt.After(now) {
				e.NextAttempt = now
				moved = append(moved, due{clone(key), e})
			}
		}
		for _, d := range moved {
			if err := v.putOutbox(tx, k, d.key, d.e); err != nil {
				return err
			}
		}
		n = len(moved)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("making queued submissions due: %w", err)
	}
	return n, nil
}

// RepairOutbox gives a fresh outbox entry to each submission whose entry
// does not open but whose record does, and returns how many: one whose
// images were dropped was delivered (DropImages needs that) and is synced
// again; any other is queued, due now, since whether central has it is
// unknown and a resend is safe (central dedupes, and the receipt says
// what it holds). Each repair is audited. Entries whose submission does
// not open either stay as they are (OutboxStats counts them).
func (v *Vault) RepairOutbox(ctx context.Context) (int, error) {
	var n int
	err := v.update(ctx, func(tx *bbolt.Tx, k *keyring) error {
		n = 0
		type fix struct {
			key []byte
			e   OutboxEntry
		}
		var fixes []fix
		now := v.opts.Now()
		c := tx.Bucket([]byte(bucketOutbox)).Cursor()
		for key, _ := c.First(); key != nil; key, _ = c.Next() {
			if _, err := readOutbox(tx, k, key); err == nil {
				continue
			}
			rec, err := readSubmission(tx, k, key)
			if err != nil {
				continue
			}
			e := OutboxEntry{SubmissionID: rec.ID, State: StateQueued, NextAttempt: now, EnqueuedAt: now, UpdatedAt: now, Reason: "outbox entry damaged; sent again"}
			if !rec.ImagesDroppedAt.IsZero() {
				e.State, e.NextAttempt, e.ImagesDropped, e.Reason = StateSynced, time.Time{}, true, "outbox entry damaged; delivered before"
			}
			fixes = append(fixes, fix{clone(key), e})
		}
		// Write after iterating: putting under a bbolt cursor moves it.
		for _, f := range fixes {
			// A fresh data key: the old wrapped one may be what is damaged.
			if err := deleteRecord(tx, bucketOutbox, f.key); err != nil {
				return err
			}
			if err := v.putOutbox(tx, k, f.key, f.e); err != nil {
				return err
			}
			if err := v.appendAudit(tx, k, AuditEvent{Actor: "sync", Action: "submission.outbox_repaired", Subject: f.e.SubmissionID, Detail: f.e.Reason}); err != nil {
				return err
			}
		}
		n = len(fixes)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("repairing outbox: %w", err)
	}
	return n, nil
}
