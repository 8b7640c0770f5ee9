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
// retention) is passed over. Each decision is audited. It returns how many
// entries changed. The cursor never moves back.
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
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if e.Review != nil && e.Review.Seq >= u.Seq {
				continue
			}
			r := u.Review
			r.UpdatedAt = now
			e.Review = &r
			if err := v.putOutbox(tx, k, key, e); err != nil {
				return err
			}
			n++
			if r.State == "decided" {
				detail := "central's reviewer decided: " + r.Outcome
				if r.Reason != "" {
					detail += " (" + r.Reason + ")"
				}
				if err := v.appendAudit(tx, k, AuditEvent{Actor: "central", Action: "submission.reviewed", Subject: u.SubmissionID, Detail: detail}); err != nil {
					return err
				}
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
