package central

import "context"

// FlowKey names a partner session: the order stores list sessions in
// (partner, then id).
type FlowKey struct {
	PartnerID, ID string
}

// StoredUserRewriter lets seal.SealStoredUsers seal the partners' user
// references stored in clear by a release before they were sealed at rest
// (sessions' UserID, event bodies, delivery attempts' excerpts), batch by
// batch. Each batch is one transaction: a run cut short leaves every
// record either as it was or rewritten, both of which read back.
type StoredUserRewriter interface {
	// RewriteFlowUsers passes up to limit sessions stored after after
	// (the zero FlowKey: from the first), in FlowKey order, to fn, and
	// stores each UserID fn changed, in one transaction; nothing else of
	// a session is written. It returns the last session passed and how
	// many it passed (fewer than limit: none is left).
	RewriteFlowUsers(ctx context.Context, after FlowKey, limit int, fn func(*FlowSession) error) (last FlowKey, n int, err error)
	// RewriteEventUsers passes up to limit events with a Seq above
	// afterSeq, in Seq order, each with its delivery attempts, to fn, and
	// stores each Payload and Excerpt fn changed, in one transaction;
	// nothing else is written. It returns the last Seq passed and how
	// many events it passed.
	RewriteEventUsers(ctx context.Context, afterSeq int64, limit int, fn func(*WebhookEvent, []DeliveryAttempt) error) (last int64, n int, err error)
}
