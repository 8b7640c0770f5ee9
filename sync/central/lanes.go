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

// EventMaxWait is the longest an event's next attempt is set after the
// attempt before it: the Standard Webhooks schedule's longest wait
// (webhook.StandardSchedule, which a Retry-After does not pass), and so
// the push's, which shares it.
const EventMaxWait = 10 * time.Hour

// EventClockSlack is how far past EventMaxWait after central's clock an
// event's next attempt, or a lane's lease, may be before it is taken as
// set by a clock since put back: the clocks of instances sharing the
// store differ by less.
const EventClockSlack = time.Minute

// EventDue reports whether an event whose next attempt is at next is due
// at now. One further ahead than any wait sets (EventMaxWait and
// EventClockSlack) was set while central's clock read later than it does
// now (an NTP step back, or a clock set years ahead and corrected): it is
// due now, or it, and its session's later events behind it, would wait
// for as long as the clock was off.
func EventDue(next, now time.Time) bool {
	return !next.After(now) || next.After(now.Add(EventMaxWait+EventClockSlack))
}

// LeaseRunning reports whether a lane's lease until until still holds at
// now. One ending further ahead than EventMaxWait (and EventClockSlack)
// was taken by a clock since put back: it has run out, or the lane would
// stay held for as long as the clock was off. (A lease lasts two of the
// taking instance's --webhook-timeout, renewed while a send lasts: far
// less, whatever each instance's setting.)
func LeaseRunning(until, now time.Time) bool {
	return until.After(now) && !until.After(now.Add(EventMaxWait+EventClockSlack))
}
