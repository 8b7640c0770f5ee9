package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/bbolt"
)

// State is where a submission stands in the outbox.
type State string

// Outbox states. A submission starts queued; a sender marks it sending, then
// synced, rejected (the server refused it; terminal unless re-queued by an
// operator) or queued again after a failed attempt.
const (
	StateQueued   State = "queued"
	StateSending  State = "sending"
	StateSynced   State = "synced"
	StateRejected State = "rejected"
)

// ErrInvalidTransition means MarkState was asked for a move the outbox does
// not allow, such as synced to sending, or sending while another sender's
// lease is still live.
var ErrInvalidTransition = errors.New("vault: invalid outbox state transition")

// OutboxEntry is the sync state of one submission.
type OutboxEntry struct {
	SubmissionID string `json:"submission_id"`
	State        State  `json:"state"`
	Attempts     int    `json:"attempts"` // send attempts started
	// NextAttempt is when a queued entry becomes due, or when a sending
	// entry's lease lapses; zero once synced or rejected.
	NextAttempt time.Time `json:"next_attempt"`
	Reason      string    `json:"reason,omitempty"` // why it entered its state (failure or rejection)
	EnqueuedAt  time.Time `json:"enqueued_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// ImagesDropped is set once DropImages shredded a synced
	// submission's images.
	ImagesDropped bool `json:"images_dropped,omitempty"`
	// Started is set once central holds the submission's manifest but not
	// yet all its images (MarkStarted): NextPending resumes it before any
	// submission central has not seen, since central holds only a few
	// uploads of a device open and refuses to open more.
	Started bool `json:"started,omitempty"`
	// Review is central's review of the delivered submission as the
	// device last heard of it (ApplyReviews); nil until central sends one.
	Review *Review `json:"review,omitempty"`
	// HeldReview is a review central sent before the device recorded the
	// submission synced (ApplyReviews); it becomes Review then.
	HeldReview *Review `json:"held_review,omitempty"`
}

// due reports whether NextPending may hand the entry to a sender at now.
func (e OutboxEntry) due(now time.Time) bool {
	return (e.State == StateQueued || e.State == StateSending) && e.waitOver(now)
}

// clockStepBack is how far before an entry's last write the clock must
// read for waitOver to take the clock as put back.
const clockStepBack = time.Minute

// waitOver reports whether the entry's wait (a backoff, or a sending
// lease) is over at now. A wait is a few minutes or hours measured from
// the entry's last write; when the clock reads well before that write, it
// ran ahead then and was put back since (a clock set forward by hand, then
// corrected), and waiting for NextAttempt would hold the submission until
// the clock caught up, possibly years. Such a wait is over. NTP's small
// steps back stay under clockStepBack, so a live lease still holds.
func (e OutboxEntry) waitOver(now time.Time) bool {
	return !e.NextAttempt.After(now) || e.UpdatedAt.After(now.Add(clockStepBack))
}

// enqueue writes a fresh outbox entry for the submission stored under key.
// It runs in the caller's transaction, which is what makes a submission and
// its entry atomic.
func (v *Vault) enqueue(tx *bbolt.Tx, k *keyring, key []byte, id string, now time.Time) error {
	return v.putOutbox(tx, k, key, OutboxEntry{SubmissionID: id, State: StateQueued, NextAttempt: now, EnqueuedAt: now, UpdatedAt: now})
}

func (v *Vault) putOutbox(tx *bbolt.Tx, k *keyring, key []byte, e OutboxEntry) error {
	pt, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encoding outbox entry: %w", err)
	}
	return v.putRecord(tx, k, bucketOutbox, key, pt)
}

func readOutbox(tx *bbolt.Tx, k *keyring, key []byte) (OutboxEntry, error) {
	pt, err := getRecord(tx, k, bucketOutbox, key)
	if err != nil {
		return OutboxEntry{}, err
	}
	var e OutboxEntry
	if err := json.Unmarshal(pt, &e); err != nil {
		return OutboxEntry{}, fmt.Errorf("%w: decoding outbox entry: %w", ErrCorrupt, err)
	}
	return e, nil
}

// OutboxStatus returns the outbox entry of a submission.
func (v *Vault) OutboxStatus(ctx context.Context, submissionID string) (OutboxEntry, error) {
	if err := validateID(kindSubmission, submissionID); err != nil {
		return OutboxEntry{}, fmt.Errorf("reading outbox entry: %w", err)
	}
	var e OutboxEntry
	err := v.view(ctx, func(tx *bbolt.Tx, k *keyring) (err error) {
		e, err = readOutbox(tx, k, k.recordID(kindSubmission, submissionID))
		return err
	})
	if err != nil {
		return OutboxEntry{}, fmt.Errorf("reading outbox entry: %w", err)
	}
	return e, nil
}

// eachOutbox decrypts every outbox entry in turn and hands it to fn,
// stopping when ctx is done. An entry that does not open (a damaged
// value or wrapped key) is passed over and counted: one damaged entry
// must not stop every other submission from being sent.
func eachOutbox(ctx context.Context, tx *bbolt.Tx, k *keyring, fn func(OutboxEntry)) (damaged int, err error) {
	c := tx.Bucket([]byte(bucketOutbox)).Cursor()
	for key, _ := c.First(); key != nil; key, _ = c.Next() {
		if err := ctx.Err(); err != nil {
			return damaged, err
		}
		e, err := readOutbox(tx, k, key)
		if err != nil {
			damaged++
			continue
		}
		fn(e)
	}
	return damaged, nil
}

// NextPending returns the entry a sender should work on next: among queued
// entries that are due and sending entries whose lease has lapsed, a
// Started one first, then the one due earliest (then enqueued earliest).
// ok is false when nothing is due.
// It does not claim the entry; the sender claims it with
// MarkState(StateSending), which fails for all but one concurrent sender.
// Every entry is decrypted, so the cost grows with the outbox.
func (v *Vault) NextPending(ctx context.Context) (entry OutboxEntry, ok bool, err error) {
	err = v.view(ctx, func(tx *bbolt.Tx, k *keyring) error {
		now := v.opts.Now()
		_, err := eachOutbox(ctx, tx, k, func(e OutboxEntry) {
			if e.due(now) && (!ok || before(e, entry)) {
				entry, ok = e, true
			}
		})
		return err
	})
	if err != nil {
		return OutboxEntry{}, false, fmt.Errorf("finding next pending submission: %w", err)
	}
	return entry, ok, nil
}

// before orders entries for NextPending.
func before(a, b OutboxEntry) bool {
	if a.Started != b.Started {
		return a.Started
	}
	if c := a.NextAttempt.Compare(b.NextAttempt); c != 0 {
		return c < 0
	}
	if c := a.EnqueuedAt.Compare(b.EnqueuedAt); c != 0 {
		return c < 0
	}
	return a.SubmissionID < b.SubmissionID
}

// MarkState moves a submission's outbox entry to state, recording reason
// (required for StateRejected):
//
//   - sending, from queued or from sending whose lease lapsed: counts an
//     attempt and leases the entry for Options.SendLease;
//   - queued, from sending (the attempt failed): due again after
//     Options.Backoff(attempts); from rejected (operator re-queue): due now;
//   - synced, from sending;
//   - rejected, from queued or sending.
//
// Anything else is ErrInvalidTransition.
func (v *Vault) MarkState(ctx context.Context, submissionID string, state State, reason string) error {
	if err := validateID(kindSubmission, submissionID); err != nil {
		return fmt.Errorf("updating outbox entry: %w", err)
	}
	if state == StateRejected && strings.TrimSpace(reason) == "" {
		return fmt.Errorf("updating outbox entry: %w: rejection needs a reason", ErrInvalid)
	}
	err := v.update(ctx, func(tx *bbolt.Tx, k *keyring) error {
		key := k.recordID(kindSubmission, submissionID)
		e, err := readOutbox(tx, k, key)
		if err != nil {
			return err
		}
		now := v.opts.Now()
		if err := v.transition(&e, state, now); err != nil {
			return err
		}
		e.Reason, e.UpdatedAt = reason, now
		if state == StateSynced && e.HeldReview != nil {
			held := *e.HeldReview
			e.HeldReview = nil
			if _, err := v.applyReview(tx, k, &e, held); err != nil {
				return err
			}
		}
		return v.putOutbox(tx, k, key, e)
	})
	if err != nil {
		return fmt.Errorf("updating outbox entry: %w", err)
	}
	return nil
}

// MarkStarted records that central holds the manifest of a queued or
// sending submission but not all its images (OutboxEntry.Started).
// Another state is ErrInvalidTransition.
func (v *Vault) MarkStarted(ctx context.Context, submissionID string) error {
	if err := validateID(kindSubmission, submissionID); err != nil {
		return fmt.Errorf("marking an upload started: %w", err)
	}
	err := v.update(ctx, func(tx *bbolt.Tx, k *keyring) error {
		key := k.recordID(kindSubmission, submissionID)
		e, err := readOutbox(tx, k, key)
		if err != nil {
			return err
		}
		if e.State != StateQueued && e.State != StateSending {
			return fmt.Errorf("%w: %s is %s", ErrInvalidTransition, submissionID, e.State)
		}
		if e.Started {
			return nil
		}
		e.Started = true
		return v.putOutbox(tx, k, key, e)
	})
	if err != nil {
		return fmt.Errorf("marking an upload started: %w", err)
	}
	return nil
}

// transition applies the state machine documented on MarkState.
func (v *Vault) transition(e *OutboxEntry, to State, now time.Time) error {
	from := e.State
	switch {
	case to == StateSending && (from == StateQueued || from == StateSending && e.waitOver(now)):
		e.Attempts++
		e.NextAttempt = now.Add(v.opts.SendLease)
	case to == StateQueued && from == StateSending:
		e.NextAttempt = now.Add(v.opts.Backoff(e.Attempts))
	case to == StateQueued && from == StateRejected:
		e.NextAttempt = now
	case to == StateSynced && from == StateSending,
		to == StateRejected && (from == StateQueued || from == StateSending):
		e.NextAttempt = time.Time{}
	case to == StateSending && from == StateSending:
		return fmt.Errorf("%w: another sender holds the lease until %s", ErrInvalidTransition, e.NextAttempt.Format(time.RFC3339))
	default:
		return fmt.Errorf("%w: %s to %q", ErrInvalidTransition, from, to)
	}
	e.State = to
	return nil
}
