package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/openkyc/kyc/sync/protocol"
	"github.com/openkyc/kyc/sync/vault"
)

// maxReviewPages bounds the pages one pass fetches: a device back after a
// long absence catches up over a few passes rather than hold one open.
const maxReviewPages = 20

// FetchReviews asks central for the review changes of this device's
// submissions after the sequence number after (GET /v1/reviews).
func (u *Uploader) FetchReviews(ctx context.Context, after int64) (protocol.ReviewUpdates, error) {
	var out protocol.ReviewUpdates
	resp, err := u.do(ctx, http.MethodGet, protocol.ReviewsPath(after), nil)
	if err != nil {
		return out, fmt.Errorf("fetching reviews: %w", err)
	}
	if err := json.Unmarshal(resp.body, &out); err != nil {
		return out, fmt.Errorf("fetching reviews: decoding: %w", err)
	}
	return out, nil
}

// SyncReviews brings central's review decisions to the device: it fetches
// the changes after the vault's review cursor and records them on their
// submissions' outbox entries with the new cursor, in one vault
// transaction per page, so a crash repeats a page rather than lose one.
// It returns how many entries changed. A central without the route (an
// older version: 404 or 405) is not an error.
func SyncReviews(ctx context.Context, u *Uploader, v *vault.Vault) (int, error) {
	n, fetchErr, err := syncReviews(ctx, u, v)
	if err != nil {
		return n, err
	}
	return n, fetchErr
}

// syncReviews is SyncReviews with the failure to reach central (fetchErr,
// retried at the next pass) apart from the vault's (err, which stops Run).
func syncReviews(ctx context.Context, u *Uploader, v *vault.Vault) (applied int, fetchErr, err error) {
	for range maxReviewPages {
		after, err := v.ReviewCursor(ctx)
		if err != nil {
			return applied, nil, err
		}
		page, err := u.FetchReviews(ctx, after)
		var ce *CentralError
		switch {
		case errors.As(err, &ce) && (ce.Status == http.StatusNotFound || ce.Status == http.StatusMethodNotAllowed):
			return applied, nil, nil
		case err != nil && ctx.Err() != nil:
			return applied, nil, ctx.Err()
		case err != nil:
			return applied, err, nil
		}
		cursor := after
		updates := make([]vault.ReviewUpdate, 0, len(page.Reviews))
		var jumped error
		for _, r := range page.Reviews {
			if r.Seq <= after {
				continue // central's ordering broken, or a replay: nothing new
			}
			if r.Seq-cursor > MaxReviewSeqJump {
				// Taken, the cursor would pass every change central numbers
				// below it, later ones included, for good. Stopping here
				// loses nothing: central numbers its next changes below it,
				// so they come before it in the pages to come.
				jumped = fmt.Errorf("fetching reviews: central numbers a change %d, %d past the one before (%d); it and what follows are not taken", r.Seq, r.Seq-cursor, cursor)
				break
			}
			cursor = max(cursor, r.Seq)
			if r.SubmissionID == "" || len(r.SubmissionID) > maxSubmissionID || !utf8.ValidString(r.SubmissionID) || strings.TrimSpace(r.State) == "" {
				continue // not one of the vault's ids: the cursor passes it
			}
			// Shown to operators (`kyc sync --list`, the app): defused and
			// bounded as central's other words are.
			updates = append(updates, vault.ReviewUpdate{SubmissionID: r.SubmissionID, Review: vault.Review{
				State: protocol.Printable(r.State, protocol.MaxText), Outcome: protocol.Printable(r.Outcome, protocol.MaxText),
				Reason: protocol.Printable(r.Reason, protocol.MaxText), DecidedAt: r.DecidedAt, Seq: r.Seq}})
		}
		n, err := v.ApplyReviews(ctx, updates, cursor)
		applied += n
		if err != nil {
			return applied, nil, err
		}
		if jumped != nil {
			return applied, jumped, nil
		}
		if !page.More || cursor == after {
			return applied, nil, nil
		}
	}
	return applied, nil, nil
}

// MaxReviewSeqJump is the largest step from one review change to the next
// the device takes: central numbers its review changes one by one (all
// devices' together), and four billion of them between two of one
// device's is a broken number (a bug, a damaged row), not a busy central.
const MaxReviewSeqJump = 1 << 32

// maxSubmissionID is the longest id the vault stores.
const maxSubmissionID = 256
