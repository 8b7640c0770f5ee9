package webhook

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/jobs"
)

// Delivery through the job queue (Config.Lanes): the store queues a
// jobs.Delivery with each event in the transaction that writes it, and the
// instances' River clients work them with QueueWorker. A job delivers the
// head of its event's session (its lane) up to its own event: the oldest
// pending one, held with a lease (LeaseLane) so one instance at a time
// sends it. A job whose session has an earlier event that is not due (a
// retry waiting) or is held by another instance snoozes until then; a job
// whose own attempt failed snoozes until the retry the schedule gave it; a
// job of a disabled partner makes no attempt and snoozes (Hold).
// After its own event a job goes on with the session's later events for up
// to Drain, so a session's events follow each other without waiting for
// their jobs. An instance that dies mid-delivery leaves a lease that runs
// out within two Timeouts (a send that lasts longer renews it, lease.go)
// and a job River rescues: the next job of the
// session, or the rescued one, sends the event again (at least once; the
// receiver dedupes by webhook-id), and the session's later events only
// after it.

// Queue delivery defaults.
const (
	// DefaultDrain is how long a job goes on with its session's later
	// events.
	DefaultDrain = 30 * time.Second
	// blockedPoll bounds a snooze behind an event another instance holds:
	// that one is usually sent within milliseconds and its job then goes
	// on with the rest, so this is only the fallback.
	blockedPoll = 2 * time.Second
	// busyPause is the snooze of a job whose partner has PerPartner
	// deliveries under way in this instance.
	busyPause = time.Second
	// DefaultHold is the snooze of a job whose partner is disabled
	// (Config.Hold): its events are held, and go on at most this long
	// after it is enabled.
	DefaultHold = 5 * time.Minute
)

// QueueWorker works jobs.Delivery jobs (river.AddWorker).
type QueueWorker struct {
	river.WorkerDefaults[jobs.Delivery]
	w     *Worker
	lanes central.WebhookLanes

	mu         sync.Mutex
	perPartner map[string]int // deliveries under way in this instance, by slotOf
}

// QueueWorker returns the job queue's delivery worker, sending as w does;
// w's Config.Lanes must be set.
func (w *Worker) QueueWorker() (*QueueWorker, error) {
	if w.cfg.Lanes == nil {
		return nil, errors.New("webhook: QueueWorker needs Config.Lanes")
	}
	return &QueueWorker{w: w, lanes: w.cfg.Lanes, perPartner: map[string]int{}}, nil
}

// Work implements river.Worker.
func (q *QueueWorker) Work(ctx context.Context, job *river.Job[jobs.Delivery]) error {
	a := job.Args
	slot := slotOf(a.PartnerID, a.SessionID)
	if !q.take(slot) {
		return river.JobSnooze(busyPause)
	}
	defer q.release(slot)
	lane := central.Lane{PartnerID: a.PartnerID, SessionID: a.SessionID, UpTo: a.Seq}
	hold := 2 * q.w.cfg.Timeout
	var drainEnd time.Time // set once the job's own event is done
	for {
		draining := !drainEnd.IsZero()
		if ctx.Err() != nil || q.w.stopping.Err() != nil { // the instance stops: another goes on at once
			if draining {
				return nil
			}
			return river.JobSnooze(0)
		}
		now := q.w.cfg.Now()
		l, err := q.lanes.LeaseLane(ctx, lane, now, hold)
		if err != nil {
			return err // River retries the job
		}
		switch {
		case l.Empty && draining:
			return nil
		case l.Empty:
			drainEnd = time.Now().Add(q.w.cfg.Drain)
			lane.UpTo = 0
			continue
		case !l.Held && draining:
			return nil // the rest is not due; its own jobs see to it
		case !l.Held && l.Event.NextAt.After(now):
			return river.JobSnooze(max(l.Wait.Sub(now), 0))
		case !l.Held:
			return river.JobSnooze(min(max(l.Wait.Sub(now), 0), blockedPoll))
		}
		// Recorded even if the job's ctx ends: an attempt made is logged
		// (unless the lane's lease was lost meanwhile, or the worker was
		// interrupted, laneKeeper).
		rctx := context.WithoutCancel(ctx)
		k := q.w.keep(rctx, q.lanes, l, hold)
		res, err := q.w.deliverOnce(k.ctx, l.Event, func(res Result) error { return k.record(rctx, res) })
		k.stop() // deliverOnce made no attempt (held, or the store failed)
		switch {
		case (errors.Is(err, errLeaseLost) || errors.Is(err, errInterrupted)) && draining:
			return nil
		case errors.Is(err, errInterrupted):
			return river.JobSnooze(0) // the lane is released: another instance goes on at once
		case errors.Is(err, errLeaseLost):
			return river.JobSnooze(blockedPoll) // another instance has the event
		case errors.Is(err, errHeld) && draining:
			return nil
		case errors.Is(err, errHeld):
			return river.JobSnooze(q.w.cfg.Hold) // the lease runs out unused
		}
		if err != nil {
			return err
		}
		if !res.Delivered && res.DeadAt.IsZero() {
			if draining {
				return nil
			}
			return river.JobSnooze(max(res.NextAt.Sub(q.w.cfg.Now()), 0))
		}
		if draining && time.Now().After(drainEnd) {
			return nil
		}
	}
}

// Timeout implements river.Worker: a job delivers its own event and drains
// for up to Drain, an attempt usually within Timeout. A large send may
// outlast it (pace.go): the job's ctx ending does not cut an attempt off
// (it runs detached, within its own bounds, until Worker.Interrupt), the
// job ends after it, and so this, and the sweeps' and erasures' bounds
// derived from it, need not grow with the largest push. River's
// RescueAfter may then pass while the job still runs: the job it rescues,
// here or elsewhere, finds the lane leased (laneKeeper renews it) and
// snoozes, so the event is never sent by two runs at once; a run after
// the attempt finds it recorded.
func (q *QueueWorker) Timeout(*river.Job[jobs.Delivery]) time.Duration {
	return q.w.cfg.Drain + 3*q.w.cfg.Timeout
}

// take counts a delivery to the slot (slotOf) in this instance, or
// reports false at PerPartner.
func (q *QueueWorker) take(slot string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.perPartner[slot] >= q.w.cfg.PerPartner {
		return false
	}
	q.perPartner[slot]++
	return true
}

func (q *QueueWorker) release(slot string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.perPartner[slot]--; q.perPartner[slot] <= 0 {
		delete(q.perPartner, slot)
	}
}
