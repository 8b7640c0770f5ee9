package webhook

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// errLeaseLost ends a queue job's attempt whose lane lease could no longer
// be said to be its own: the attempt is cut off and not recorded (the
// lane may be another instance's now, whose record counts).
var errLeaseLost = errors.New("webhook: the lane's lease was lost during the attempt")

// laneKeeper holds a lane's lease while its head is sent: a send may last
// far longer than one hold (a large push on a slow link, pace.go), so it
// renews the lease every quarter hold, and cuts the send off (ctx) once it
// cannot say the lease is still its own: RenewLane says it was lost, or
// the lease would run out before the next renewal could tell. So another
// instance, or a job River rescued meanwhile, finds the lane held and
// waits, and never sends the same head at the same time. An instance that
// dies stops renewing: its lease runs out within a hold and another
// instance sends the event again (at least once). The attempt is recorded
// under the lease (record), so a send that outlived it anyway (a stalled
// process, a store that failed renewals) changes nothing of the new
// holder's.
type laneKeeper struct {
	ctx    context.Context // the attempt's: cancelled when the lease is lost or the worker interrupted
	cancel context.CancelCauseFunc
	lanes  central.WebhookLanes
	stopc  chan struct{}
	done   chan struct{}
	once   sync.Once
	// unwatch stops the watch on the worker's Interrupt.
	unwatch func() bool

	mu   sync.Mutex
	lost bool
	l    central.LaneLease // Until as last renewed; the renewer's until done
}

// keep starts keeping lease l on lanes, held for hold at a time; record
// or stop ends it.
func (w *Worker) keep(ctx context.Context, lanes central.WebhookLanes, l central.LaneLease, hold time.Duration) *laneKeeper {
	k := &laneKeeper{lanes: lanes, l: l, stopc: make(chan struct{}), done: make(chan struct{})}
	k.ctx, k.cancel = context.WithCancelCause(ctx)
	k.unwatch = context.AfterFunc(w.stopping, func() { k.cancel(errInterrupted) })
	every := hold / 4
	go func() {
		defer close(k.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-k.stopc:
				return
			case <-tick.C:
			}
			// A renewal may take as long as the lease has left: a slow
			// store (a loaded machine) is not taken for a lost lease.
			now := w.cfg.Now()
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.Until.Sub(now))
			until, err := lanes.RenewLane(rctx, l, now, hold)
			cancel()
			switch {
			case err == nil:
				l.Until = until
				k.l = l // read after done only
				continue
			case errors.Is(err, central.ErrLeaseLost):
			case w.cfg.Now().Add(every).Before(l.Until):
				continue // the store failed; the lease lasts till the next try
			}
			k.mu.Lock()
			k.lost = true
			k.mu.Unlock()
			k.cancel(errLeaseLost)
			return
		}
	}()
	return k
}

// stop stops renewing and reports whether the lease was lost meanwhile;
// it may be called again.
func (k *laneKeeper) stop() (lost bool) {
	k.once.Do(func() {
		close(k.stopc)
		<-k.done
		k.unwatch()
		k.cancel(nil)
	})
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lost
}

// record stops renewing and records res under the lease (RecordLeased):
// errLeaseLost, nothing recorded, when the lease was lost (the keeper saw
// it, or the store finds it another's). An attempt the worker's Interrupt
// cut off is not recorded either (errInterrupted) and the lane is
// released, so another instance sends the event at once; one delivered
// before the cut is recorded.
func (k *laneKeeper) record(ctx context.Context, res Result) error {
	interrupted := errors.Is(context.Cause(k.ctx), errInterrupted)
	if k.stop() {
		return errLeaseLost
	}
	if interrupted && !res.Delivered {
		if err := k.lanes.ReleaseLane(ctx, k.l); err != nil && !errors.Is(err, central.ErrLeaseLost) {
			return errors.Join(errInterrupted, err) // the lease runs out unused
		}
		return errInterrupted
	}
	err := k.lanes.RecordLeased(ctx, k.l, res.Attempt, res.Delivered, res.NextAt, res.DeadAt)
	if errors.Is(err, central.ErrLeaseLost) {
		return errLeaseLost
	}
	return err
}
