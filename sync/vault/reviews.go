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

// metaReviewCursor is the meta record holding the sequence number of the
// last review change applied (ApplyReviews).
const metaReviewCursor = "review-cursor"

// Review is central's review of a delivered submission as the device last
// heard of it: where the case stands in the console and, once decided,
// the outcome. It is kept on the submission's outbox entry.
type Review struct {
	State     string    `json:"state"`
	Outcome   string    `json:"outcome,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	DecidedAt time.Time `json:"decided_at,omitzero"`
	// Seq is the change's number at central; an older change never
	// replaces a newer one.
	Seq int64 `json:"seq"`
	// UpdatedAt is when the device learnt it (the vault clock).
	UpdatedAt time.Time `json:"updated_at"`
}

// ReviewUpdate is one review change to apply to the submission it names.
type ReviewUpdate struct {
	SubmissionID string
	Review
}

// reviewCursor is the sealed form of the cursor.
type reviewCursor struct {
	Seq int64 `json:"seq"`
}

// ReviewCursor returns the sequence number of the last review change
// ApplyReviews recorded: the next fetch asks central for those after it.
func (v *Vault) ReviewCursor(ctx context.Context) (int64, error) {
	var c reviewCursor
	err := v.view(ctx, func(tx *bbolt.Tx, k *keyring) error {
		pt, err := getRecord(tx, k, bucketMeta, []byte(metaReviewCursor))
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := json.Unmarshal(pt, &c); err != nil {
			return fmt.Errorf("%w: decoding review cursor: %w", ErrCorrupt, err)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("reading review cursor: %w", err)
	}
	return c.Seq, nil
}

// ApplyReviews records each update on its submission's outbox entry
// (OutboxEntry.Review) unless the entry already holds a newer change, and
// moves the review cursor to cursor, all in one transaction: a crash
// leaves either everything applied and the cursor moved, or neither, so a
// change is never skipped. A submission the vault no longer holds (shred,
// retention) is passed over. A review of a submission central has not
// acknowledged (not synced) is held aside on its entry (HeldReview) and
// applied when central acknowledges it (MarkState): central may hold it
// while its acknowledgement was lost, and the cursor moves past the change
// either way, but the device must not show a decision on a submission it
// cannot tell central holds. Each decision applied is audited. It returns
// how many entries' reviews changed. The cursor never moves back.
func (v *Vault) ApplyReviews(ctx context.Context, updates []ReviewUpdate, cursor int64) (int, error) {
	for _, u := range updates {
		if err := validateID(kindSubmission, u.SubmissionID); err != nil {
			return 0, fmt.Errorf("applying reviews: %w", err)
		}
		if strings.TrimSpace(u.State) == "" {
			return 0, fmt.Errorf("applying reviews: %w: review without a state", ErrInvalid)
		}
	}
	var n int
	err := v.update(ctx, func(tx *bbolt.Tx, k *keyring) error {
		n = 0
		now := v.opts.Now()
		for _, u := range updates {
			key := k.recordID(kindSubmission, u.SubmissionID)
			e, err := readOutbox(tx, k, key)
			if err != nil {
				continue // gone, or damaged (OutboxStats counts it)
			}
			r := u.Review
			r.UpdatedAt = now
			changed := false
			if e.State != StateSynced {
				if newer(&r, e.HeldReview) {
					e.HeldReview, changed = &r, true
				}
			} else if changed, err = v.applyReview(tx, k, &e, r); err != nil {
				return err
			}
			if !changed {
				continue
			}
			if err := v.putOutbox(tx, k, key, e); err != nil {
				return err
			}
			if e.State == StateSynced {
				n++
			}
		}
		prev, err := getRecord(tx, k, bucketMeta, []byte(metaReviewCursor))
		var c reviewCursor
		switch {
		case err == nil:
			if err := json.Unmarshal(prev, &c); err != nil {
				return fmt.Errorf("%w: decoding review cursor: %w", ErrCorrupt, err)
			}
		case !errors.Is(err, ErrNotFound):
			return err
		}
		if cursor <= c.Seq {
			return nil
		}
		pt, err := json.Marshal(reviewCursor{Seq: cursor})
		if err != nil {
			return fmt.Errorf("encoding review cursor: %w", err)
		}
		return v.putRecord(tx, k, bucketMeta, []byte(metaReviewCursor), pt)
	})
	if err != nil {
		return 0, fmt.Errorf("applying reviews: %w", err)
	}
	return n, nil
}

// newer reports whether r is a later change than have (nil: none).
func newer(r, have *Review) bool { return have == nil || have.Seq < r.Seq }

// applyReview makes r the review of the synced entry e unless e holds a
// newer one, auditing a decision, and reports whether e changed. The
// caller writes e.
func (v *Vault) applyReview(tx *bbolt.Tx, k *keyring, e *OutboxEntry, r Review) (bool, error) {
	if !newer(&r, e.Review) {
		return false, nil
	}
	e.Review = &r
	if r.State != "decided" {
		return true, nil
	}
	detail := "central's reviewer decided: " + r.Outcome
	if r.Reason != "" {
		detail += " (" + r.Reason + ")"
	}
	return true, v.appendAudit(tx, k, AuditEvent{Actor: "central", Action: "submission.reviewed", Subject: e.SubmissionID, Detail: detail})
}
