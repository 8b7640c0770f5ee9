package central

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/openkyc/kyc/sync/central/httpx"
)

// An erasure never takes a case whose decision waits for a second user: an
// override proposed (ReviewOverride) or a reviewer's decision in second
// review. Erasing it would drop the proposal unseen by anyone but the
// erasing admin (the erasure's audit event names no case), so one admin
// alone could bury a colleague's proposed reject; the second user confirms
// or declines it first, each audited on the case. The request is refused
// (409, dry run included, so the console's count already says so); a
// proposal made after it was accepted, before a queued run reached the
// case, fails that run instead (its job retries, and the record says why).

// errPendingReview is a run's refusal: it names no submission, as the
// erasure's record (where its cause is kept) does not.
var errPendingReview = httpx.Errorf(http.StatusConflict, "four_eyes_pending",
	"a decision on a submission to erase waits for a second reviewer: have it confirmed or declined, then erase again")

// refusePendingReview checks every case e names when it is asked for.
func (p *privacy) refusePendingReview(ctx context.Context, e Erasure) error {
	refs := []SubmissionRef{{DeviceID: e.DeviceID, Key: e.SubmissionKey}}
	if e.DeviceID == "" {
		// As countErasure: a person's first listing's worth.
		subs, err := p.s.cfg.Store.Submissions(ctx, Filter{Tokens: e.Tokens, Limit: MaxListLimit})
		if err != nil {
			return fmt.Errorf("finding submissions to erase: %w", err)
		}
		refs = refs[:0]
		for _, s := range subs {
			refs = append(refs, SubmissionRef{DeviceID: s.DeviceID, Key: s.Key})
		}
	}
	for _, ref := range refs {
		c, pending, err := p.pendingReview(ctx, ref)
		if err != nil {
			return err
		}
		if pending {
			return httpx.Errorf(http.StatusConflict, "four_eyes_pending",
				"a decision on submission %s waits for a second reviewer (%s): have it confirmed or declined first", c.ID, c.Review.State)
		}
	}
	return nil
}

// refusePendingCase is the run's check of one case, just before it is
// erased.
func (p *privacy) refusePendingCase(ctx context.Context, ref SubmissionRef) error {
	_, pending, err := p.pendingReview(ctx, ref)
	if err == nil && pending {
		err = errPendingReview
	}
	return err
}

// pendingReview reads ref's case and whether its decision waits for a
// second user; a submission absent or not complete has none.
func (p *privacy) pendingReview(ctx context.Context, ref SubmissionRef) (Case, bool, error) {
	c, err := p.s.cfg.Store.Case(ctx, ref)
	if errors.Is(err, ErrNotFound) {
		return c, false, nil
	}
	if err != nil {
		return c, false, fmt.Errorf("reading the review of a submission to erase: %w", err)
	}
	return c, c.Review.Pending(), nil
}
