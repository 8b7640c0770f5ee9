package protocol

import (
	"strconv"
	"time"
)

// PathReviews is where a device GETs the review decisions central's
// reviewers made on its submissions (ReviewsPath).
const PathReviews = "/v1/reviews"

// MaxReviewPage is the most review changes central answers at once; a full
// page says More.
const MaxReviewPage = 500

// ReviewsPath asks for the device's review changes after the sequence
// number after (0: from the start).
func ReviewsPath(after int64) string {
	return PathReviews + "?after=" + strconv.FormatInt(after, 10)
}

// Review states and outcomes as they reach the device; central's console
// names them (central.ReviewState, central.Outcome*).
const (
	ReviewOpen     = "open"
	ReviewClaimed  = "claimed"
	ReviewSecond   = "second_review"
	ReviewDecided  = "decided"
	ReviewApprove  = "approve"
	ReviewReject   = "reject"
	ReviewResubmit = "resubmit"
)

// ReviewUpdate is where a reviewer's work on one of the device's
// submissions stands. It carries the decision, never who made it or their
// note: those stay in central's audit trail. Outcome, Reason and DecidedAt
// are set only once the case is decided (a proposal waiting for a second
// reviewer is not a decision).
type ReviewUpdate struct {
	SubmissionID string    `json:"submission_id"`
	State        string    `json:"state"`
	Outcome      string    `json:"outcome,omitempty"`
	Reason       string    `json:"reason,omitempty"` // the reject reason, from the console's list
	DecidedAt    time.Time `json:"decided_at,omitzero"`
	// Seq is the change's place in central's sequence of review changes:
	// the device asks for those after the highest it applied.
	Seq int64 `json:"seq"`
}

// ReviewUpdates is central's answer at PathReviews, by Seq ascending.
type ReviewUpdates struct {
	Reviews []ReviewUpdate `json:"reviews"`
	// More says the page is full: ask again after the last Seq.
	More bool `json:"more,omitempty"`
}
