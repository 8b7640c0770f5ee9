// Package jobs is central's job queue on PostgreSQL: River
// (github.com/riverqueue/river) with its pgx v5 driver, on the store's own
// connection pool. The store inserts a delivery job in the transaction that
// writes each webhook event (transactional enqueue: the event and its job
// commit together or not at all), and every central instance runs a client
// that works them; River locks each job to one client, rescues the jobs of
// a client that died, and elects one leader that inserts the periodic jobs
// (the retention sweep) once for the whole cluster. An erasure request is
// recorded with its job the same way (Erasure).
//
// The recheck of approvals needs the face engine, which not every instance
// of a cluster may load: any instance may lead, so the leader does not
// queue it. Each instance that rechecks queues it itself (QueueRechecks)
// and alone works its queue; Recheck's uniqueness keeps one waiting or
// running in the cluster, so an approval is never judged twice.
//
// The package holds what the store and the workers share: the job kinds
// (their args), River's schema migration, and the client's settings. The
// embedded bbolt store has no queue: one instance, whose webhook worker
// polls the store, whose Serve runs the retention sweep itself, and whose
// erasure requests are carried out before they answer.
//
// River keeps in river_job, in clear and in every dump of the database,
// each job's args and the text of its failed runs: the args name records
// only (ids), the texts are scrubbed by the client (scrub.go), and
// finished jobs are deleted after CompletedRetention or FailedRetention.
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
)

// Queues.
const (
	// QueueWebhooks holds the webhook (and push) deliveries.
	QueueWebhooks = "webhooks"
	// QueueMaintenance holds the retention sweep.
	QueueMaintenance = river.QueueDefault
	// QueueErasures holds the erasures on request, apart from the sweep
	// so that a long sweep does not hold one back.
	QueueErasures = "erasures"
	// QueueRecheck holds the recheck of approvals, worked only by the
	// clients that recheck (Config.Rechecks).
	QueueRecheck = "recheck"
)

// Delivery is the job of delivering one webhook event (package webhook
// works it). The event's row in webhook_events stays the record of what
// happened (attempts, delivered, dead); the job only makes sure a client
// looks at it, so a job run twice, or for an event delivered meanwhile,
// sends nothing more.
type Delivery struct {
	EventID   string `json:"event_id"`
	Seq       int64  `json:"seq"`
	PartnerID string `json:"partner_id"`
	SessionID string `json:"session_id"`
}

// Kind implements river.JobArgs.
func (Delivery) Kind() string { return "webhook_delivery" }

// InsertOpts implements river.JobArgsWithInsertOpts. Retries of a failed
// delivery are snoozes (the webhook schedule, not River's), so attempts
// count only runs that errored (the store failing) or that a dead client
// left running.
func (Delivery) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueWebhooks, MaxAttempts: 100}
}

// Sweep is the retention sweep (central.Server.Sweep), inserted by the
// leader every SweepEvery.
type Sweep struct{}

// Kind implements river.JobArgs.
func (Sweep) Kind() string { return "retention_sweep" }

// InsertOpts implements river.JobArgsWithInsertOpts: one sweep waiting at
// a time.
func (Sweep) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMaintenance, MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByPeriod: time.Minute}}
}

// Recheck is central's recheck of the device approvals (package
// recheck), inserted by each instance that rechecks (QueueRechecks).
type Recheck struct{}

// Kind implements river.JobArgs.
func (Recheck) Kind() string { return "recheck_approvals" }

// InsertOpts implements river.JobArgsWithInsertOpts: one recheck in the
// cluster at a time, waiting or running (a run over a backlog may outlast
// the period, and two would judge the same approvals from one cursor).
func (Recheck) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueRecheck, MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateScheduled}}}
}

// Erasure is the job of carrying out one erasure request
// (central.Server.RunErasure), inserted by the store in the transaction
// that records the request. It names the record only: whose submissions
// stay in the store's erasures table, as blind-index tokens, never in
// River's.
type Erasure struct {
	ID string `json:"id"`
}

// Kind implements river.JobArgs.
func (Erasure) Kind() string { return "erasure" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (Erasure) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueErasures, MaxAttempts: ErasureAttempts}
}

// ErasureAttempts is how many runs an erasure gets before it ends failed.
const ErasureAttempts = 10

// ErasureSnoozes bounds the runs of an erasure that end out of time: each
// goes on in the next run (River snoozes it, counting no attempt), but
// past ErasureSnoozes of them a run out of time is a failed attempt, so an
// erasure that never ends within its bound (each run held up the same
// way) ends failed after ErasureAttempts, visible in its record, rather
// than "running" for ever. A hundred runs of 90 s erase far more than one
// person holds.
const ErasureSnoozes = 100

// Migrate brings River's tables (river_job, river_leader, ...) to the
// version this build needs. River's migrations cannot share one
// transaction (one adds an enum value the next uses), so instances starting
// together are kept apart by a session advisory lock instead.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	err = pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
		if _, err := c.Exec(ctx, `SELECT pg_advisory_lock($1)`, lockMigrate); err != nil {
			return err
		}
		defer c.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, lockMigrate)
		_, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	return nil
}

// lockMigrate is the advisory lock key of River's migrations (arbitrary,
// apart from the store's).
const lockMigrate = 0x6b7963_10

// NewInserter returns a client that only inserts jobs (the store's): it
// works none, so it needs no workers and is never started.
func NewInserter(pool *pgxpool.Pool) (*river.Client[pgx.Tx], error) {
	c, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, fmt.Errorf("river inserter: %w", err)
	}
	return c, nil
}

// PullInDeliveries makes the Delivery jobs waiting for a time after
// after (snoozed or retried by River) available at now, and returns how
// many. A delivery job waits at most the webhook schedule's longest wait
// (the event's next attempt); one scheduled further ahead was scheduled
// while the clock read later than it does now (an NTP step back, or a
// clock set years ahead and corrected), and would wait for as long as it
// was off. The webhook worker judges the event due again at once
// (central.EventDue); this brings its job to it.
func PullInDeliveries(ctx context.Context, pool *pgxpool.Pool, now, after time.Time) (int64, error) {
	tag, err := pool.Exec(ctx, `UPDATE river_job SET scheduled_at = $1
		WHERE kind = $2 AND state IN ('scheduled', 'retryable') AND scheduled_at > $3`, now, Delivery{}.Kind(), after)
	if err != nil {
		return 0, fmt.Errorf("jobs: pulling in deliveries scheduled by a clock put back: %w", err)
	}
	return tag.RowsAffected(), nil
}

// Defaults of Config.
const (
	// DefaultWorkers is how many deliveries one instance runs at once.
	DefaultWorkers = 16
	// DefaultJobTimeout bounds one job run: a delivery job keeps
	// delivering its session's later events for up to a drain period
	// (webhook.DefaultDrain) after its own, each request within its
	// timeout, so a minute covers both.
	DefaultJobTimeout = time.Minute
	// DefaultRescueAfter is when River takes back a job a client left
	// running (it died): longer than any job runs.
	DefaultRescueAfter = 2 * time.Minute
	// DefaultSweepEvery spaces the retention sweeps.
	DefaultSweepEvery = time.Hour
)

// Retention of finished jobs in river_job (River's job cleaner deletes
// them after it; River's defaults are a day for completed and cancelled
// jobs, a week for discarded ones).
const (
	CompletedRetention = time.Hour
	FailedRetention    = 7 * 24 * time.Hour
)

// Config configures an instance's client.
type Config struct {
	// Workers are the job kinds this client works (river.AddWorker);
	// required.
	Workers *river.Workers
	// ID names the client in River's tables (default: River's, host name
	// and time).
	ID string
	// MaxWorkers bounds concurrent deliveries (DefaultWorkers).
	MaxWorkers int
	// JobTimeout and RescueAfter: see their defaults. RescueAfter must be
	// longer than JobTimeout.
	JobTimeout, RescueAfter time.Duration
	// SweepEvery inserts a Sweep job that often (and once when a client
	// becomes leader); zero means DefaultSweepEvery, negative none (give
	// no Sweep worker then).
	SweepEvery time.Duration
	// Rechecks makes this client work QueueRecheck: give a RecheckWorker
	// then, and run QueueRechecks with the client. Without it the client
	// never claims a Recheck, whether or not it leads.
	Rechecks bool
	// FetchPoll is how often an idle client looks for jobs besides
	// PostgreSQL's notifications of new ones (River's default when zero).
	FetchPoll time.Duration
	Logger    *slog.Logger
}

// NewClient returns an instance's client working cfg.Workers on pool;
// Start it, and Stop it before the pool closes.
func NewClient(pool *pgxpool.Pool, cfg Config) (*river.Client[pgx.Tx], error) {
	if cfg.Workers == nil {
		return nil, errors.New("jobs: Config needs Workers")
	}
	if cfg.MaxWorkers <= 0 {
		cfg.MaxWorkers = DefaultWorkers
	}
	if cfg.JobTimeout <= 0 {
		cfg.JobTimeout = DefaultJobTimeout
	}
	if cfg.RescueAfter <= 0 {
		cfg.RescueAfter = DefaultRescueAfter
	}
	if cfg.RescueAfter <= cfg.JobTimeout {
		return nil, errors.New("jobs: RescueAfter must be longer than JobTimeout")
	}
	if cfg.SweepEvery == 0 {
		cfg.SweepEvery = DefaultSweepEvery
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	rc := &river.Config{
		ID:                   cfg.ID,
		Workers:              cfg.Workers,
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
		FetchPollInterval:    cfg.FetchPoll,
		Logger:               cfg.Logger,
		Middleware:           []rivertype.Middleware{scrubErrors()},
		// Retention of what River keeps of a job: its args (ids only) and
		// its errors (scrubbed). A completed job is of no further use (the
		// store's rows are the record: webhook_events, erasures), so it
		// goes within the hour; one cancelled or discarded stays a week,
		// for an operator to see why.
		CompletedJobRetentionPeriod: CompletedRetention,
		CancelledJobRetentionPeriod: FailedRetention,
		DiscardedJobRetentionPeriod: FailedRetention,
		Queues: map[string]river.QueueConfig{
			QueueWebhooks:    {MaxWorkers: cfg.MaxWorkers},
			QueueMaintenance: {MaxWorkers: 1},
			QueueErasures:    {MaxWorkers: 2},
		},
	}
	if cfg.SweepEvery > 0 {
		rc.PeriodicJobs = append(rc.PeriodicJobs, river.NewPeriodicJob(river.PeriodicInterval(cfg.SweepEvery),
			func() (river.JobArgs, *river.InsertOpts) { return Sweep{}, nil }, &river.PeriodicJobOpts{ID: "retention_sweep", RunOnStart: true}))
	}
	if cfg.Rechecks {
		rc.Queues[QueueRecheck] = river.QueueConfig{MaxWorkers: 1}
	}
	c, err := river.NewClient(riverpgxv5.New(pool), rc)
	if err != nil {
		return nil, fmt.Errorf("jobs: river client: %w", err)
	}
	return c, nil
}

// sweepRun bounds one run of a Sweep job, below DefaultRescueAfter so a
// live sweep is never taken for a dead one; a sweep with more to do goes
// on in the next run (the sweep works from the data, in batches).
const sweepRun = 90 * time.Second

// SweepWorker is the worker of Sweep jobs: sweep is central.Server.Sweep's
// error; run bounds one run (zero: 90 s, below DefaultRescueAfter).
func SweepWorker(sweep func(ctx context.Context) error, run time.Duration) river.Worker[Sweep] {
	return newSweepWorker[Sweep]("retention sweep", sweep, run)
}

// QueueRechecks inserts a Recheck with c at once and then at each multiple
// of every on the clock, until ctx ends; an instance that rechecks
// (Config.Rechecks) runs it beside its client. Instances ask at the same
// moments, so the cluster's asks meet in one job (one asked for while one
// waits or runs is skipped) and the recheck runs about once each period
// however many instances recheck. failed is told of an insert that failed
// (the store unreachable); the next moment asks again.
func QueueRechecks(ctx context.Context, c *river.Client[pgx.Tx], every time.Duration, failed func(error)) {
	for {
		if _, err := c.Insert(ctx, Recheck{}, nil); err != nil && ctx.Err() == nil {
			failed(fmt.Errorf("queueing the recheck of approvals: %w", err))
		}
		now := time.Now()
		t := time.NewTimer(now.Truncate(every).Add(every).Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// RecheckWorker is the worker of Recheck jobs: recheck is
// recheck.Rechecker.Sweep's error; run bounds one run as SweepWorker's
// does, and the recheck goes on from its stored cursor in the next.
func RecheckWorker(recheck func(ctx context.Context) error, run time.Duration) river.Worker[Recheck] {
	return newSweepWorker[Recheck]("recheck of approvals", recheck, run)
}

// sweepWorker works a job that works from the data in batches: a run out
// of time goes on in the next.
type sweepWorker[T river.JobArgs] struct {
	river.WorkerDefaults[T]
	what  string
	sweep func(ctx context.Context) error
	run   time.Duration
}

func newSweepWorker[T river.JobArgs](what string, sweep func(ctx context.Context) error, run time.Duration) *sweepWorker[T] {
	if run <= 0 {
		run = sweepRun
	}
	return &sweepWorker[T]{what: what, sweep: sweep, run: run}
}

func (w *sweepWorker[T]) Work(ctx context.Context, _ *river.Job[T]) error {
	err := w.sweep(ctx)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return river.JobSnooze(0) // out of time, not failed: go on
	}
	if err != nil {
		return fmt.Errorf("%s: %w", w.what, err)
	}
	return nil
}

func (w *sweepWorker[T]) Timeout(*river.Job[T]) time.Duration { return w.run }

// ErasureWorker is the worker of Erasure jobs: run is
// central.Server.RunErasure (final on the job's last attempt); a run is
// bounded like a sweep's (zero: 90 s), and one out of time goes on in the
// next (the erasure works from the data, so it resumes where it was), up
// to ErasureSnoozes times; then it counts as a failed attempt.
func ErasureWorker(run func(ctx context.Context, id string, final bool) error, bound time.Duration) river.Worker[Erasure] {
	if bound <= 0 {
		bound = sweepRun
	}
	return &erasureWorker{run: run, bound: bound}
}

type erasureWorker struct {
	river.WorkerDefaults[Erasure]
	run   func(ctx context.Context, id string, final bool) error
	bound time.Duration
}

func (w *erasureWorker) Work(ctx context.Context, job *river.Job[Erasure]) error {
	err := w.run(ctx, job.Args.ID, job.Attempt >= job.MaxAttempts)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		n := snoozes(job.JobRow)
		if n < ErasureSnoozes {
			return river.JobSnooze(0)
		}
		return fmt.Errorf("out of time in %d runs: %w", n+1, err)
	}
	return err
}

// snoozes is how many times River snoozed job: the count it keeps in the
// job's metadata ("snoozes"); zero when unreadable.
func snoozes(job *rivertype.JobRow) int {
	var m struct {
		Snoozes int `json:"snoozes"`
	}
	if json.Unmarshal(job.Metadata, &m) != nil {
		return 0
	}
	return m.Snoozes
}

func (w *erasureWorker) Timeout(*river.Job[Erasure]) time.Duration { return w.bound }

// NextRetry implements river.Worker: a failed run is retried after a
// second per attempt, not River's attempt^4 (an erasure is owed within
// days, but a transient fault should not hold it for an hour).
func (w *erasureWorker) NextRetry(job *river.Job[Erasure]) time.Time {
	return time.Now().Add(time.Duration(job.Attempt) * time.Second)
}
