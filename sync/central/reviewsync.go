package central

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/openkyc/kyc/sync/central/httpx"
	"github.com/openkyc/kyc/sync/protocol"
)

// getReviews answers a device's GET /v1/reviews?after=SEQ: the review
// changes of its own submissions after SEQ, oldest first, a page of
// protocol.MaxReviewPage at most. Only the decision travels: the
// reviewer's name and note stay at central, and a proposal waiting for a
// second reviewer goes as its state without an outcome.
func (s *Server) getReviews(w http.ResponseWriter, r *http.Request, d Device, _ []byte) error {
	var after int64
	if q := r.URL.Query().Get("after"); q != "" {
		var err error
		if after, err = strconv.ParseInt(q, 10, 64); err != nil || after < 0 {
			return httpx.Errorf(http.StatusBadRequest, "malformed", "after must be a sequence number (0 or more)")
		}
	}
	changes, err := s.cfg.Store.ReviewChanges(r.Context(), d.ID, after, protocol.MaxReviewPage)
	if err != nil {
		return fmt.Errorf("listing review changes of device %s: %w", d.ID, err)
	}
	out := protocol.ReviewUpdates{Reviews: make([]protocol.ReviewUpdate, 0, len(changes)), More: len(changes) >= protocol.MaxReviewPage}
	for _, c := range changes {
		if c.Ref.DeviceID != d.ID {
			continue // a store that ignored the filter: never another device's
		}
		out.Reviews = append(out.Reviews, reviewUpdate(c))
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

// reviewUpdate is what a device learns of a review change.
func reviewUpdate(c ReviewChange) protocol.ReviewUpdate {
	rv := c.Review.Public()
	u := protocol.ReviewUpdate{SubmissionID: c.ID, State: string(rv.State), Seq: rv.Seq}
	if rv.State == ReviewDecided {
		u.Outcome, u.Reason, u.DecidedAt = rv.Outcome, rv.Reason, rv.DecidedAt.UTC()
	}
	return u
}
