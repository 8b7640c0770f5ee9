package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/jobs"
	"github.com/openkyc/kyc/sync/central/recheck"
	"github.com/openkyc/kyc/sync/central/store/pgstore"
	"github.com/openkyc/kyc/sync/central/webhook"
)

// queueConfig is serve's job queue: the PostgreSQL store (nil on bbolt:
// no queue), the webhook request timeout the queue's timings scale with,
// the deliveries' floor rate (webhook.Config.MinRate), and the recheck of
// approvals it runs (nil: none). store is the sealed store over pg.
type queueConfig struct {
	pg      *pgstore.Store
	store   central.Store
	timeout time.Duration
	minRate int64
	recheck *recheck.Rechecker
}

// minWebhookRate is the lowest --webhook-min-rate, in bytes a second.
const minWebhookRate = 1 << 10

// lanes is the webhook worker's Config.Lanes: the sealed PostgreSQL store
// when there is one (deliveries through the job queue; sealed, so the
// events' bodies open), else nil (the polling worker of the single bbolt
// instance).
func (q queueConfig) lanes() central.WebhookLanes {
	if q.pg == nil {
		return nil
	}
	return q.store
}

// startJobs runs this instance's River client (package jobs) on the
// PostgreSQL store: webhook and push deliveries with w, the retention
// sweep the leader queues hourly, the erasures requested, and the recheck
// of approvals (q.recheck) this instance queues every minute
// (jobs.QueueRechecks, whichever instance leads), one at a time in the
// cluster. A job runs
// at most 6 webhook timeouts (a delivery: its own event and the session's
// next ones for 3, webhook.QueueWorker; a sweep or an erasure goes on in
// another run), and a dead instance's jobs are rescued after 12. stop
// gives the jobs under way a moment (see there).
func startJobs(ctx context.Context, q queueConfig, srv *central.Server, w *webhook.Worker, logger *slog.Logger) (stop func(), err error) {
	qw, err := w.QueueWorker()
	if err != nil {
		return nil, err
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, qw)
	run := qw.Timeout(nil)
	river.AddWorker(workers, jobs.SweepWorker(func(ctx context.Context) error {
		_, err := srv.Sweep(ctx)
		if cerr := srv.CheckpointAudit(ctx); !errors.Is(cerr, central.ErrNothingToSeal) {
			err = errors.Join(err, cerr)
		}
		// Deliveries River holds for years: scheduled while the clock ran
		// ahead, put back since.
		if n, perr := q.pg.PullInDeliveries(ctx, time.Now()); perr != nil {
			err = errors.Join(err, perr)
		} else if n > 0 {
			logger.LogAttrs(ctx, slog.LevelWarn, "webhook deliveries scheduled by a clock since put back are due now", slog.Int64("jobs", n))
		}
		return err
	}, run))
	river.AddWorker(workers, jobs.ErasureWorker(srv.RunErasure, run))
	cfg := jobs.Config{Workers: workers, Logger: slog.New(warnings{logger.Handler()}).With("part", "jobs"), JobTimeout: run, RescueAfter: 2 * run}
	if q.recheck != nil {
		river.AddWorker(workers, jobs.RecheckWorker(func(ctx context.Context) error {
			_, err := q.recheck.Sweep(ctx)
			return err
		}, run))
		cfg.Rechecks = true
	}
	c, err := q.pg.Jobs(cfg)
	if err != nil {
		return nil, err
	}
	if err := c.Start(ctx); err != nil {
		return nil, fmt.Errorf("starting the job queue: %w", err)
	}
	stopAsking := func() {}
	if q.recheck != nil {
		asking, cancel := context.WithCancel(ctx)
		asked := make(chan struct{})
		go func() {
			defer close(asked)
			jobs.QueueRechecks(asking, c, recheck.DefaultEvery, func(err error) {
				logger.LogAttrs(asking, slog.LevelError, "recheck of approvals not queued", slog.String("cause", err.Error()))
			})
		}()
		stopAsking = func() { cancel(); <-asked }
	}
	return func() {
		stopAsking()
		// Jobs under way get one request's time to end; then the sends
		// still under way (a large push may last up to MaxTransfer) are
		// cut off, not recorded, their lanes released, and the jobs
		// cancelled, so another instance, or the next start, sends those
		// events again at once.
		grace, cancel := context.WithTimeout(context.WithoutCancel(ctx), q.timeout)
		err := c.Stop(grace)
		cancel()
		if err != nil {
			w.Interrupt()
			hard, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*q.timeout)
			err = c.StopAndCancel(hard)
			cancel()
		}
		if err != nil {
			logger.LogAttrs(ctx, slog.LevelError, "stopping the job queue", slog.String("cause", err.Error()))
		}
	}, nil
}

// warnings passes River's warnings and errors on (its info lines are
// per-queue job counts every few seconds).
type warnings struct{ slog.Handler }

func (w warnings) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && w.Handler.Enabled(ctx, l)
}

func (w warnings) WithAttrs(as []slog.Attr) slog.Handler { return warnings{w.Handler.WithAttrs(as)} }

func (w warnings) WithGroup(name string) slog.Handler { return warnings{w.Handler.WithGroup(name)} }
