package central

import (
	"context"
	"errors"
	"time"
)

// Review errors, returned (wrapped) by every Reviews implementation.
var (
	// ErrClaimed means another reviewer holds the case: a reviewer must
	// claim a case before deciding it, and two cannot hold it at once.
	ErrClaimed = errors.New("central: the case is claimed by another reviewer")
	// ErrStale means the review changed since the caller read it (its
	// Version moved on): the caller reads it again and retries or reports.
	ErrStale = errors.New("central: the review changed meanwhile")
)

// Summary is what the review queue filters and sorts by, taken from a
// submission's payload when central receives it (Summarize). It names no
// person: the engine's decision and why, the kind of document and the
// attempt, so stores keep it in the clear and index it while the payload
// itself stays sealed.
type Summary struct {
	Decision   string   `json:"decision"` // approve, review, reject, escalate
	Score      float64  `json:"score"`
	Reasons    []string `json:"reasons,omitempty"` // reason codes, in the engine's order
	NextAction string   `json:"next_action,omitempty"`
	DocType    string   `json:"doc_type,omitempty"`
	Country    string   `json:"country,omitempty"` // issuing state, ISO 3166 alpha-3 as the MRZ gives it
	SessionID  string   `json:"session_id,omitempty"`
	Attempt    int      `json:"attempt,omitempty"`
	// Hits counts the screening hits (sanctions and PEP) the device found.
	Hits int `json:"hits,omitempty"`
	// DeviceDecision is the decision the device reported when central did
	// not trust it and routed the case to review (decisioncheck.go); empty
	// when Decision is the device's.
	DeviceDecision string `json:"device_decision,omitempty"`
}

// NeedsReview reports whether the engine left the decision to a person.
func (s Summary) NeedsReview() bool { return s.Decision == "review" || s.Decision == "escalate" }

// ReviewState is where a case stands in the console.
type ReviewState string

// Review states.
const (
	// ReviewOpen: waiting in the queue (also a case nobody touched yet,
	// which has no Review stored).
	ReviewOpen ReviewState = "open"
	// ReviewClaimed: a reviewer holds it (Assignee).
	ReviewClaimed ReviewState = "claimed"
	// ReviewSecond: decided by one reviewer, waiting for a second one
	// (four eyes) to confirm or send it back.
	ReviewSecond ReviewState = "second_review"
	// ReviewDecided: final.
	ReviewDecided ReviewState = "decided"
	// ReviewOverride: a case the engine decided itself, with a change of
	// its decision proposed (Outcome) and waiting for a second user (four
	// eyes). Until confirmed it changes nothing: devices and partners see
	// the case as open, or as the decision it would replace (Standing).
	ReviewOverride ReviewState = "override"
)

// PendingStates are the states of a decision waiting for a second user
// (Review.Pending).
var PendingStates = []ReviewState{ReviewSecond, ReviewOverride}

// Pending reports whether r's decision waits for a second user: an
// override proposed, or a reviewer's decision in second review. Neither an
// erasure nor retention takes such a case: the second user confirms or
// declines it first.
func (r Review) Pending() bool { return contains(PendingStates, r.State) }

// ClaimLease is how long a reviewer's claim of a case (ReviewClaimed,
// from ClaimedAt) holds it back from retention: a case is not swept from
// under the reviewer working on it, nor kept forever by a claim left
// behind. The console sets no other end to a claim (an admin releases it).
const ClaimLease = 7 * 24 * time.Hour

// HoldsRetention reports whether r holds its case back from retention at
// at: its decision waits for a second user (Pending), or a reviewer
// claimed it less than ClaimLease before at.
func (r Review) HoldsRetention(at time.Time) bool {
	return r.Pending() || r.State == ReviewClaimed && at.Before(r.ClaimedAt.Add(ClaimLease))
}

// Shared is the state devices and partners see: a pending override is
// central's own business until confirmed, so it shows as open, or as
// decided when it would replace a decision (Standing).
func (r Review) Shared() ReviewState {
	switch {
	case r.State == ReviewOverride && r.Standing != nil:
		return ReviewDecided
	case r.State == "" || r.State == ReviewOverride:
		return ReviewOpen
	}
	return r.State
}

// Public is r as devices and partners see it (Shared): the outcome and
// the hits' resolutions of a final decision only, the standing one while
// an override of it waits; never a proposal's (a reviewer's resolutions
// before a second reviewer confirmed them), the notes or the names.
func (r Review) Public() Review {
	out := Review{State: r.Shared(), Version: r.Version, Seq: r.Seq}
	if out.State != ReviewDecided {
		return out
	}
	d, _ := r.InForce()
	out.Outcome, out.Reason, out.DecidedAt = d.Outcome, d.Reason, d.DecidedAt
	for _, h := range r.Hits {
		out.Hits = append(out.Hits, HitResolution{Index: h.Index, Status: h.Status})
	}
	return out
}

// InForce is the final decision of r that devices and partners see (as
// Public): r's own when decided, the one a pending override would replace
// (Standing) while it waits; with Seq, the change that made it final.
// False when r has none.
func (r Review) InForce() (Standing, bool) {
	switch {
	case r.State == ReviewDecided:
		seq := r.DecidedSeq
		if seq == 0 {
			seq = r.Seq
		}
		return Standing{Assignee: r.Assignee, Outcome: r.Outcome, Reason: r.Reason, DecidedBy: r.DecidedBy,
			DecidedAt: r.DecidedAt, SecondBy: r.SecondBy, Seq: seq}, true
	case r.State == ReviewOverride && r.Standing != nil:
		return *r.Standing, true
	}
	return Standing{}, false
}

// Outcomes a reviewer gives a case.
const (
	OutcomeApprove   = "approve"
	OutcomeReject    = "reject"
	OutcomeResubmit  = "resubmit" // request resubmission
	HitFalsePositive = "false_positive"
	HitConfirmed     = "confirmed"
)

// Review is the console's state of one case. The zero Review is an open
// case nobody has touched.
type Review struct {
	State    ReviewState `json:"state"`
	Assignee string      `json:"assignee,omitempty"` // who holds it (claimed, second_review, override: who proposed)
	// ClaimedAt is when Assignee claimed it.
	ClaimedAt time.Time `json:"claimed_at,omitzero"`
	// Outcome is the decision given (or proposed, in second_review).
	Outcome string `json:"outcome,omitempty"`
	Reason  string `json:"reason,omitempty"` // the reject reason, from the console's list
	Note    string `json:"note,omitempty"`
	// DecidedBy and DecidedAt record the (first) decision; SecondBy the
	// second reviewer who confirmed it.
	DecidedBy string    `json:"decided_by,omitempty"`
	DecidedAt time.Time `json:"decided_at,omitzero"`
	SecondBy  string    `json:"second_by,omitempty"`
	// Hits is each screening hit's resolution, by the hit's index in the
	// report: HitFalsePositive or HitConfirmed, with a note.
	Hits []HitResolution `json:"hits,omitempty"`
	// ProposedHits are the hit resolutions of a pending override
	// (ReviewOverride), which become Hits only when it is confirmed.
	ProposedHits []HitResolution `json:"proposed_hits,omitempty"`
	// Standing is the final decision a pending override (ReviewOverride)
	// of an overridden case would replace: devices and partners go on
	// seeing it (Public) until the override is confirmed, and a decline
	// restores it. Nil for an override of the engine's own decision.
	Standing *Standing `json:"standing,omitempty"`
	// DecidedSeq is the Seq of the change that made a decided review's
	// decision final when a later change restored it (a declined override
	// of it): the partners were told it then, and a restore tells them
	// nothing. Zero when the review's own change (Seq) made it.
	DecidedSeq int64 `json:"decided_seq,omitempty"`
	// Version counts the review's changes; Seq is the store-wide sequence
	// number of its last change, which devices and webhooks follow.
	Version int64 `json:"version"`
	Seq     int64 `json:"seq"`
}

// Standing is a final decision kept aside while an override of it waits
// (Review.Standing): the Review fields it restores.
type Standing struct {
	Assignee  string    `json:"assignee,omitempty"`
	Outcome   string    `json:"outcome"`
	Reason    string    `json:"reason,omitempty"`
	DecidedBy string    `json:"decided_by,omitempty"`
	DecidedAt time.Time `json:"decided_at,omitzero"`
	SecondBy  string    `json:"second_by,omitempty"`
	// Seq is the review change that made it final (Review.InForce),
	// zero in reviews stored before it was kept.
	Seq int64 `json:"seq,omitempty"`
}

// HitResolution is a reviewer's verdict on one screening hit.
type HitResolution struct {
	Index  int       `json:"index"`
	Status string    `json:"status"` // HitFalsePositive or HitConfirmed
	Note   string    `json:"note"`
	By     string    `json:"by"`
	At     time.Time `json:"at"`
	// SecondBy confirms a HitConfirmed (four eyes).
	SecondBy string `json:"second_by,omitempty"`
}

// Case is a submission as the console lists it: its record without the
// payload, its summary and its review.
type Case struct {
	Ref         SubmissionRef `json:"ref"`
	ID          string        `json:"id"`
	CreatedAt   time.Time     `json:"created_at"` // on the device (capture)
	ReceivedAt  time.Time     `json:"received_at"`
	CompletedAt time.Time     `json:"completed_at,omitzero"`
	// CompletedSeq orders completions store-wide (Completed); 0 while
	// uploading (submissions complete before it existed were numbered in
	// received order when the store was upgraded).
	CompletedSeq int64   `json:"completed_seq,omitempty"`
	Verdict      string  `json:"verdict"` // the device attestation's
	Fresh        bool    `json:"attestation_fresh"`
	Summary      Summary `json:"summary"`
	Review       Review  `json:"review"`
	// Seal is the submission's wrapped data key (no index tokens), so
	// seal.Store can open the sealed ID; nil if stored unsealed. It never
	// leaves central.
	Seal *Seal `json:"-"`
}

// QueueFilter selects cases. Zero fields match everything.
type QueueFilter struct {
	// States keeps cases in one of these states (a case without a stored
	// review is ReviewOpen).
	States []ReviewState
	// Decisions keeps cases whose engine decision is one of these.
	Decisions []string
	Reason    string   // a reason code the case carries
	DeviceIDs []string // e.g. the devices of a branch
	DocType   string
	Country   string
	Assignee  string
	// ReceivedAfter (inclusive) and ReceivedBefore (exclusive).
	ReceivedAfter, ReceivedBefore time.Time
	// Tokens keeps only submissions carrying every one of these
	// blind-index tokens (as Filter.Tokens).
	Tokens [][]byte
	// Newest lists newest first; the queue itself is oldest first.
	Newest bool
	// After, if set, is the last case of the page before (keyset paging):
	// the listing starts after it in the listing's order (received time,
	// device, key), in place of Offset, which costs what it skips. Then
	// the total is not counted (-1): the first page gave it.
	After *Case
	// Uncounted asks for the page alone: the store stops at its last case
	// instead of counting every match, and total comes back -1 (a lookup
	// that many submissions match stays as cheap as its page).
	Uncounted bool
	Offset    int
	// Limit caps the page; zero or above MaxListLimit means MaxListLimit.
	Limit int
}

// Match reports whether c passes the filter (paging aside), for stores that
// filter in Go. Tokens are not checked here (the store knows them).
func (f QueueFilter) Match(c Case) bool {
	st := c.Review.State
	if st == "" {
		st = ReviewOpen
	}
	switch {
	case len(f.States) > 0 && !contains(f.States, st),
		len(f.Decisions) > 0 && !contains(f.Decisions, c.Summary.Decision),
		f.Reason != "" && !contains(c.Summary.Reasons, f.Reason),
		len(f.DeviceIDs) > 0 && !contains(f.DeviceIDs, c.Ref.DeviceID),
		f.DocType != "" && c.Summary.DocType != f.DocType,
		f.Country != "" && c.Summary.Country != f.Country,
		f.Assignee != "" && c.Review.Assignee != f.Assignee,
		!f.ReceivedAfter.IsZero() && c.ReceivedAt.Before(f.ReceivedAfter),
		!f.ReceivedBefore.IsZero() && !c.ReceivedAt.Before(f.ReceivedBefore):
		return false
	}
	return true
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// ReviewChange is one change of a review that devices and partners follow
// (ReviewChanges).
type ReviewChange struct {
	Ref    SubmissionRef `json:"ref"`
	ID     string        `json:"id"` // the submission id
	Review Review        `json:"review"`
	// Seal is as Case.Seal.
	Seal *Seal `json:"-"`
}

// Reviews is the console's store of cases: the queue over complete
// submissions and the reviews reviewers write.
type Reviews interface {
	// Queue lists complete submissions matching f with their reviews,
	// oldest received first (newest with f.Newest), and how many match in
	// all (-1 when f.After or f.Uncounted asked not to count).
	Queue(ctx context.Context, f QueueFilter) (cases []Case, total int, err error)
	// Case returns one submission's case; ErrNotFound if absent.
	Case(ctx context.Context, ref SubmissionRef) (Case, error)
	// UpdateReview changes a review in one transaction: fn gets the case
	// as stored (a zero Review if untouched) and returns the new review
	// and the audit event recording the change; the store sets the
	// review's Version and Seq and appends the event (AppendAudit's chain)
	// in the same transaction, so no change is without its audit entry.
	// An error from fn aborts and is returned as is.
	UpdateReview(ctx context.Context, ref SubmissionRef, fn func(Case) (Review, AuditEvent, error)) (Case, error)
	// ReviewChanges lists the changes of reviews after seq (by Seq), for
	// one device's submissions when deviceID is not empty, at most limit.
	ReviewChanges(ctx context.Context, deviceID string, after int64, limit int) ([]ReviewChange, error)
	// Completed lists submissions completed after seq, by CompletedSeq
	// (given to each submission in the transaction that completes it), at
	// most limit: the log the partner API follows to tell partners.
	Completed(ctx context.Context, after int64, limit int) ([]Case, error)
}

// QueueAll reads the cases matching f (its paging aside) a page at a time
// in f's order (each page after the one before, After), at most limit of
// them, and how many match in all: what a dashboard or an export reads at
// once.
func QueueAll(ctx context.Context, r Reviews, f QueueFilter, limit int) (cases []Case, total int, err error) {
	f.Limit, f.Offset, f.After = MaxListLimit, 0, nil
	for len(cases) < limit {
		page, n, err := r.Queue(ctx, f)
		if err != nil {
			return nil, 0, err
		}
		if f.After == nil {
			total = n
		}
		cases = append(cases, page...)
		if len(page) < MaxListLimit {
			break
		}
		f.After = &page[len(page)-1]
	}
	if len(cases) > limit {
		cases = cases[:limit]
	}
	return cases, total, nil
}
