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
// instance sends the event again (at least once).
type laneKeeper struct {
	ctx    context.Context // the attempt's: cancelled when the lease is lost
	cancel context.CancelCauseFunc
	stopc  chan struct{}
	done   chan struct{}

	mu   sync.Mutex
	lost bool
}

// keep starts keeping lease l, held for hold at a time; stop ends it.
func (q *QueueWorker) keep(ctx context.Context, l central.LaneLease, hold time.Duration) *laneKeeper {
	k := &laneKeeper{stopc: make(chan struct{}), done: make(chan struct{})}
	k.ctx, k.cancel = context.WithCancelCause(ctx)
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
			now := q.w.cfg.Now()
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.Until.Sub(now))
			until, err := q.lanes.RenewLane(rctx, l, now, hold)
			cancel()
			switch {
			case err == nil:
				l.Until = until
				continue
			case errors.Is(err, central.ErrLeaseLost):
			case q.w.cfg.Now().Add(every).Before(l.Until):
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

// held reports whether the lease is still the keeper's.
func (k *laneKeeper) held() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return !k.lost
}

// stop stops renewing and reports whether the lease was lost meanwhile.
func (k *laneKeeper) stop() (lost bool) {
	close(k.stopc)
	<-k.done
	k.cancel(nil)
	return !k.held()
}
