package central

import (
	"context"
	"errors"
	"time"
)

// Lane names a session's webhook events (partner and session): they are
// delivered one at a time, in Seq order.
type Lane struct {
	PartnerID, SessionID string
	// UpTo, when not zero, leaves out the lane's events after this Seq.
	UpTo int64
}

// LaneLease is what LeaseLane found at the head of a lane.
type LaneLease struct {
	// Event is the lane's oldest pending event, held by the caller until
	// Until when Held; RecordLeased or ReleaseLane ends the lease.
	Event WebhookEvent
	Held  bool
	Until time.Time
	// Owner is the lease's token, random for each lease taken and stored
	// with it: RenewLane, RecordLeased and ReleaseLane act only while the
	// stored lease is still Owner's. Until is no token: two instances'
	// clocks may agree to the microsecond, or a lease be taken again to the
	// instant another held, and the wrong one's record would then pass.
	Owner string
	// Empty: no event of the lane (up to Lane.UpTo) is pending.
	Empty bool
	// Wait, when nothing was held and the lane is not empty, is when to
	// look again: the head's next attempt, or the end of another
	// holder's lease.
	Wait time.Time
}

// WebhookLanes is a lease on the head of a lane, so one sender at a time
// sends a session's next event, and a lease left by an instance that died
// runs out: the job queue's delivery worker on a store shared by several
// instances (pgstore), and the polling worker of one (boltstore), record
// their attempts through it alike.
type WebhookLanes interface {
	// LeaseLane looks at the oldest pending event of l (neither delivered
	// nor dead): when it is due at now and nobody holds it, it is held
	// until now+hold and returned Held; otherwise Wait says when it may
	// be. RecordLeased or ReleaseLane ends the lease.
	LeaseLane(ctx context.Context, l Lane, now time.Time, hold time.Duration) (LaneLease, error)
	// RenewLane extends a lease LeaseLane gave (l Held) to now+hold, for
	// a send that lasts longer than one hold (a large push on a slow
	// link): the new Until, or ErrLeaseLost when the lease is no longer
	// l's Owner's (it ran out and another holder took the event, or the
	// event was delivered or ended meanwhile).
	RenewLane(ctx context.Context, l LaneLease, now time.Time, hold time.Duration) (time.Time, error)
	// RecordLeased is RecordAttempt for the holder of lease l: the attempt
	// and the event's new state (delivered, next attempt, dead) are stored
	// only while the event is pending under l's Owner, and the lease ends.
	// Otherwise nothing is stored and the error is ErrLeaseLost: the send
	// outlived the lease, and the event is the new holder's to send and
	// record (at least once), or was delivered or ended meanwhile.
	RecordLeased(ctx context.Context, l LaneLease, a DeliveryAttempt, delivered bool, nextAt, deadAt time.Time) error
	// ReleaseLane ends lease l without an attempt (a send cut off by
	// shutdown), so the event may be leased again at once; ErrLeaseLost
	// when the lease was no longer l's Owner's.
	ReleaseLane(ctx context.Context, l LaneLease) error
}

// ErrLeaseLost is RenewLane's, RecordLeased's and ReleaseLane's error
// when the lease is no longer the caller's.
var ErrLeaseLost = errors.New("the lane's lease is no longer held")
