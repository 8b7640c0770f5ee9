package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/openkyc/kyc/sync/protocol"
	"github.com/openkyc/kyc/sync/vault"
)

// Defaults of Options' zero values.
const (
	DefaultPollInterval   = 15 * time.Second
	DefaultConfigEvery    = 10 * time.Minute
	DefaultRetention      = 30 * 24 * time.Hour
	DefaultRetentionEvery = time.Hour
)

// Options tune an Agent. The zero value is usable.
type Options struct {
	// PollInterval is how long Run waits between passes; zero means 15
	// seconds. Kick cuts a wait short.
	PollInterval time.Duration
	// ConfigDir, when set, is where Run keeps the down-synced
	// configuration (see SyncConfig and LoadConfig), refreshed every
	// ConfigEvery (zero: 10 minutes) and at the first pass.
	ConfigDir   string
	ConfigEvery time.Duration
	// KeepImages keeps a submission's images in the vault after central
	// acknowledged it. By default (false) they are shredded at once
	// (vault.DropImages); the record and decision stay until retention.
	KeepImages bool
	// Retention is how long delivered (synced) and rejected submissions
	// and capture sessions stay in the vault: the sweep
	// (vault.ShredOlderThan) runs at the first pass and every
	// RetentionEvery (zero: an hour). Zero means 30 days; negative turns
	// the sweep off. Undelivered submissions are never swept.
	Retention      time.Duration
	RetentionEvery time.Duration
	// AppVersion is reported to central with the device status.
	AppVersion string
	// OnPass, when set, is called after every pass of Run and RunOnce
	// with what it did and where the device stands (on Run's goroutine:
	// return quickly).
	OnPass func(Pass)
	// Logger receives what passes could not do; nil discards it.
	Logger *slog.Logger
	// Now and Sleep are the clock; nil means the real one. Tests simulate
	// hours of partition with them. Sleep must return early, with the
	// context's error, when its context ends.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Pass is what one pass of the sync loop did and where the device stands
// after it: what the app's status line and `kyc sync` show.
type Pass struct {
	At time.Time `json:"at"`
	// Online is whether central answered anything during the pass;
	// LastContact is when it last did (zero: not since the agent started).
	Online      bool      `json:"online"`
	LastContact time.Time `json:"last_contact,omitzero"`
	// Summary counts what the outbox pass did.
	Summary
	// QueueDepth counts submissions not yet delivered, OldestQueued is
	// when the oldest of them was queued, RejectedTotal counts those
	// central refused (awaiting an operator's re-queue).
	QueueDepth    int       `json:"queue_depth"`
	OldestQueued  time.Time `json:"oldest_queued,omitzero"`
	RejectedTotal int       `json:"rejected_total"`
	// Damaged counts outbox entries the vault cannot open: their
	// submissions are neither sent nor swept (vault.OutboxStats).
	Damaged int `json:"damaged,omitempty"`
	// Config is what a configuration refresh in this pass changed (nil if
	// none ran); ConfigVersion and Watchlists are what is in use, as
	// verified against central's key: none when the configuration on disk
	// is refused (ErrConfigAltered, which the status report sends central
	// as its last error).
	Config        *ConfigResult    `json:"config,omitempty"`
	ConfigVersion int64            `json:"config_version"`
	Watchlists    map[string]int64 `json:"watchlists,omitempty"`
	// ConfigError says, in words, why the refresh in this pass failed
	// (or which lists it could not install); the previous configuration
	// stays in use.
	ConfigError string `json:"config_error,omitempty"`
	// ClockOffset is central's clock minus the device's.
	ClockOffset time.Duration `json:"clock_offset_ns"`
	// ImagesDropped and Swept count images shredded after delivery and
	// records removed by the retention sweep in this pass.
	ImagesDropped int `json:"images_dropped,omitempty"`
	Swept         int `json:"retention_swept,omitempty"`
	// SweepPostponed: the retention sweep was due but waits, as central's
	// certificate says the device clock is wrong by an unknown amount.
	SweepPostponed bool `json:"retention_postponed,omitempty"`
	// Compacted: the vault was rewritten without its free pages, where
	// what was shredded lingered (Agent.compact).
	Compacted bool `json:"vault_compacted,omitempty"`
	// Reviews counts the submissions whose review by central's reviewers
	// changed in this pass (SyncReviews).
	Reviews int `json:"reviews,omitempty"`
	// LastError is the pass's most telling failure in words (Describe),
	// "" when it had none; Err is that error.
	LastError string `json:"last_error,omitempty"`
	Err       error  `json:"-"`
}

// Agent drains a vault's outbox into central and keeps the device's
// configuration current: the one sync loop of the device. The desktop app
// and `kyc sync` both run it:
//
//	a := agent.New(up, v, agent.Options{ConfigDir: dir, OnPass: show})
//	go a.Run(ctx)        // until ctx ends; returns only on a vault failure
//	a.Kick()             // "sync now"
//	a.Requeue(ctx, who)  // the operator puts rejected submissions back
//	a.Status()           // the last Pass, for a status line
//
// Run, RunOnce and SyncOnce must not run concurrently with each other;
// Kick, Requeue and Status are safe from any goroutine.
type Agent struct {
	up   *Uploader
	v    *vault.Vault
	opts Options
	kick chan struct{}

	mu   sync.Mutex
	last Pass

	// Owned by the goroutine running passes.
	pauseUntil                  time.Time
	lastConfig                  time.Time
	lastMaintain, lastRetention time.Time
	migrated                    bool
	passErr                     error // the outbox pass's most telling failure
	// recordedContact is the last contact the vault keeps (recordContact).
	recordedContact time.Time
	// shredded: images or records were shredded since the last
	// compaction, at lastCompact (compact).
	shredded    bool
	lastCompact time.Time
}

// New returns an Agent sending v's outbox with up.
func New(up *Uploader, v *vault.Vault, opts Options) *Agent {
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.ConfigEvery <= 0 {
		opts.ConfigEvery = DefaultConfigEvery
	}
	if opts.Retention == 0 {
		opts.Retention = DefaultRetention
	}
	if opts.RetentionEvery <= 0 {
		opts.RetentionEvery = DefaultRetentionEvery
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Agent{up: up, v: v, opts: opts, kick: make(chan struct{}, 1)}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// OutboxBackoff returns a vault.Options.Backoff: the delay before the next
// attempt doubles from base up to ceiling, with equal jitter, so a fleet
// that lost central at the same moment does not return in lockstep.
func OutboxBackoff(base, ceiling time.Duration) func(attempts int) time.Duration {
	return func(attempts int) time.Duration {
		d := base
		for i := 1; i < attempts && d < ceiling; i++ {
			d *= 2
		}
		d = min(d, ceiling)
		return d/2 + rand.N(d/2+1)
	}
}

// Summary counts what one pass over the outbox did.
type Summary struct {
	Synced   int `json:"synced"`
	Rejected int `json:"rejected"`
	Failed   int `json:"failed"` // queued again for a later attempt
	// Paused is set when central asked the device to hold off until then.
	Paused time.Time `json:"paused_until,omitzero"`
}

// Kick asks Run to start a pass now ("sync now"): the wait between passes
// ends, and queued submissions waiting out a backoff become due. Kicks
// while a pass runs are remembered (one at most). It never blocks.
func (a *Agent) Kick() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// Status returns the last pass of Run or RunOnce (the zero Pass before
// the first).
func (a *Agent) Status() Pass {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}

// Requeue puts rejected submissions back in the outbox, the ones named or,
// when ids is empty, all of them, and kicks the loop. actor names who
// asked, for the vault's audit log. It returns how many it re-queued.
func (a *Agent) Requeue(ctx context.Context, actor string, ids ...string) (int, error) {
	n, err := Requeue(ctx, a.v, actor, ids...)
	if n > 0 {
		a.Kick()
	}
	return n, err
}

// Requeue is Agent.Requeue for a vault no agent is running on (`kyc sync
// requeue`).
func Requeue(ctx context.Context, v *vault.Vault, actor string, ids ...string) (int, error) {
	if len(ids) == 0 {
		return v.RequeueRejected(ctx, actor)
	}
	n := 0
	for _, id := range ids {
		if err := v.Requeue(ctx, id, actor); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// busyStop is how many submissions in a row central may fail (5xx, 429,
// after the uploader's retries) before a pass stops: one may be central
// failing on that submission alone; two in a row is central failing, and
// each further one would only add its retries to the storm.
const busyStop = 2

// SyncOnce sends every submission that is due now, each until it is
// synced, rejected or its attempt fails (then the vault schedules it again
// with backoff), and returns. It stops early when central asks for a pause,
// when a failure concerns the device rather than one submission (revoked,
// unknown to central, untrusted certificate, signature refused), when
// central is unreachable and has not answered once in the pass, when
// central failed two submissions in a row (busyStop), or when
// ctx ends. Only a 422 from central marks a submission rejected. The error
// is the vault's (or ctx's); delivery failures are in the vault and in the
// Pass of Run.
func (a *Agent) SyncOnce(ctx context.Context) (Summary, error) {
	var sum Summary
	a.passErr = nil
	answered := a.up.lt.answers.Load()
	busy := 0 // submissions in a row central failed (5xx, 429)
	for {
		if a.opts.Now().Before(a.pauseUntil) {
			sum.Paused = a.pauseUntil
			return sum, nil
		}
		e, ok, err := a.v.NextPending(ctx)
		if err != nil {
			return sum, err
		}
		if !ok {
			return sum, nil
		}
		state, sendErr, err := a.syncOne(ctx, e)
		if err != nil {
			return sum, err
		}
		switch state {
		case vault.StateSynced:
			sum.Synced++
		case vault.StateRejected:
			sum.Rejected++
		case vault.StateQueued:
			sum.Failed++
		}
		if errors.Is(sendErr, ErrBusy) {
			busy++
		} else {
			busy = 0
		}
		if sendErr != nil {
			a.passErr = sendErr
			if deviceWide(sendErr) || busy >= busyStop {
				return sum, nil
			}
			if errors.Is(sendErr, ErrUnreachable) && a.up.lt.answers.Load() == answered {
				// Central has not answered once in this pass: each other
				// submission would only wait out the same retries (seconds
				// each; a long offline queue made a pass of an hour, the
				// status and "sync now" waiting behind it). They stay due
				// for the next pass.
				return sum, nil
			}
		}
	}
}

// syncOne claims one submission, sends it and records the outcome. It
// returns the state it left the submission in ("" if another sender held
// it) and the send's failure; err means the vault itself failed or ctx
// ended.
func (a *Agent) syncOne(ctx context.Context, e vault.OutboxEntry) (st vault.State, sendErr, err error) {
	id := e.SubmissionID
	if err := a.v.MarkState(ctx, id, vault.StateSending, ""); err != nil {
		if errors.Is(err, vault.ErrInvalidTransition) {
			return "", nil, nil // another sender holds its lease
		}
		return "", nil, err
	}
	s, err := a.v.GetSubmission(ctx, id)
	if err != nil {
		if ctx.Err() != nil {
			return "", nil, ctx.Err()
		}
		// The record is unreadable (shredded, damaged): it can never be
		// sent; say so rather than retry forever.
		reason := "unreadable in the vault: " + err.Error()
		st, err := a.mark(ctx, id, vault.StateRejected, reason)
		return st, fmt.Errorf("%w: %s", ErrRejected, reason), err
	}
	// Once central holds the manifest, the outbox resumes this upload
	// before starting others (central refuses a device more than
	// central.MaxOpenUploads open ones, for a minute each time).
	var started func()
	var startErr error
	if !e.Started {
		started = func() { startErr = a.v.MarkStarted(ctx, id) }
	}
	sendErr = a.up.uploadNoting(ctx, s, started)
	if startErr != nil && ctx.Err() == nil {
		return "", nil, startErr // the vault failed; the lease gives the submission back
	}
	var later *RetryLaterError
	switch {
	case sendErr == nil:
		st, err := a.mark(ctx, id, vault.StateSynced, "")
		if err == nil && !a.opts.KeepImages {
			// Central holds them now; a failure here is retried by the
			// next sweep (SyncedWithImages).
			if derr := a.v.DropImages(ctx, id); derr != nil {
				a.opts.Logger.Warn("dropping images of a delivered submission", "err", derr)
			} else {
				a.shredded = true
			}
		}
		return st, nil, err
	case ctx.Err() != nil:
		// Shutting down: give the submission back now rather than make
		// the next run wait for the lease to lapse.
		st, merr := a.mark(context.WithoutCancel(ctx), id, vault.StateQueued, "interrupted")
		return st, nil, errors.Join(ctx.Err(), merr)
	case errors.Is(sendErr, ErrRejected):
		st, err := a.mark(ctx, id, vault.StateRejected, sendErr.Error())
		return st, sendErr, err
	case errors.As(sendErr, &later):
		a.pauseUntil = a.opts.Now().Add(later.After)
	}
	st, err = a.mark(ctx, id, vault.StateQueued, Describe(sendErr))
	return st, sendErr, err
}

func (a *Agent) mark(ctx context.Context, id string, st vault.State, reason string) (vault.State, error) {
	if err := a.v.MarkState(ctx, id, st, reason); err != nil {
		return "", fmt.Errorf("recording sync state: %w", err)
	}
	if st == vault.StateSynced || st == vault.StateRejected {
		// The audit trail records outcomes, not every retry.
		if err := a.v.Audit(ctx, vault.AuditEvent{Actor: "sync", Action: "submission." + string(st), Subject: id, Detail: reason}); err != nil {
			return st, fmt.Errorf("auditing sync outcome: %w", err)
		}
	}
	return st, nil
}

// RunOnce runs one whole pass, as each pass of Run does, but refreshes
// the configuration whether or not it is due: `kyc sync --once`.
func (a *Agent) RunOnce(ctx context.Context) (Pass, error) {
	return a.pass(ctx, true)
}

// Run is the sync loop, until ctx ends. Each pass: the vault's
// maintenance when due (shred the images of delivered submissions, the
// retention sweep), the outbox (SyncOnce), a configuration refresh when
// due, the review decisions central's reviewers made (SyncReviews), a
// status report to central (PUT /v1/status: versions in use, outbox
// state, clock offset, last error); then OnPass, then a wait of
// PollInterval (or until central's Retry-After lapses, or a Kick, whose
// pass also refreshes the configuration).
// Failures of a pass are retried on the next and reported in its Pass;
// only a vault failure stops Run, with that error. It returns nil when ctx
// ends.
func (a *Agent) Run(ctx context.Context) error {
	// A kicked pass ("sync now") refreshes the configuration too: an
	// operator who asks expects the newest lists, not the ones of up to
	// ConfigEvery ago.
	kicked := false
	for {
		if _, err := a.pass(ctx, kicked); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		wait := a.opts.PollInterval
		if d := a.pauseUntil.Sub(a.opts.Now()); d > 0 {
			wait = d
		}
		var err error
		kicked, err = a.wait(ctx, wait)
		if err != nil {
			return nil
		}
		if kicked {
			if _, err := a.v.RetryNow(ctx); err != nil && ctx.Err() == nil {
				return err
			}
		}
	}
}

// syncConfig refreshes the configuration in ConfigDir (SyncConfig),
// judging central's answer against the newest configuration the vault
// recorded installing too, and records what it installed there. The
// enrolment is pinned in the vault first when it holds none (a device
// enrolled before versions kept the pin, or a vault made after the
// enrolment); an enrolment other than the one pinned installs nothing
// (ErrEnrollmentRemoved).
func (a *Agent) syncConfig(ctx context.Context) (ConfigResult, error) {
	enr := a.up.cfg.Enrollment
	pin, ok, err := a.v.Pinned(ctx)
	switch {
	case err != nil:
		return ConfigResult{}, err
	case !ok:
		pin = PinOf(enr)
		if err := a.v.SetPin(ctx, pin); err != nil {
			return ConfigResult{}, err
		}
	default:
		if err := CheckPin(pin, enr); err != nil {
			return ConfigResult{}, err
		}
	}
	res, cfg, err := syncConfig(ctx, a.up, a.opts.ConfigDir, pin.Config)
	if err == nil || errors.Is(err, ErrConfigPartial) {
		if merr := a.v.RecordConfig(ctx, pin.Keys, MarkOf(cfg)); merr != nil {
			return res, errors.Join(err, merr)
		}
	}
	return res, err
}

// configInUse is the risk version and the lists verifications decide
// with, as the app and the CLI load them: the configuration installed in
// ConfigDir, checked against central's key (VerifyInstalled). One changed
// on disk is refused there, so it is reported as refused (err, with
// version 0 and no lists), never as the versions its file names. An
// enrolment without central's key has none to check: its file is read.
func (a *Agent) configInUse(ctx context.Context) (version int64, lists map[string]int64, err error) {
	var cfg protocol.Config
	if pub := a.up.cfg.Enrollment.CentralSignKey; len(pub) > 0 {
		in, err := VerifyInstalled(a.opts.ConfigDir, pub)
		if err != nil {
			return 0, nil, err
		}
		// As the loader refuses it: an enrolment not the one pinned, or
		// a configuration older than the newest installed.
		pin, ok, err := a.v.Pinned(ctx)
		switch {
		case err != nil:
			return 0, nil, err
		case ok:
			if err := CheckPin(pin, a.up.cfg.Enrollment); err != nil {
				return 0, nil, err
			}
			if err := CheckMark(pin.Config, in.Config, a.opts.Now()); err != nil {
				return 0, nil, err
			}
		}
		cfg = in.Config
	} else if cfg, err = LoadConfig(a.opts.ConfigDir); err != nil {
		return 0, nil, nil // as unreadable as none: nothing to report
	}
	for _, w := range cfg.Watchlists {
		if lists == nil {
			lists = map[string]int64{}
		}
		lists[w.Name] = w.Version
	}
	return cfg.Version, lists, nil
}

// wait sleeps for d unless a Kick comes first.
func (a *Agent) wait(ctx context.Context, d time.Duration) (kicked bool, err error) {
	select {
	case <-a.kick:
		return true, nil
	default:
	}
	wctx, cancel := context.WithCancel(ctx)
	got := make(chan bool, 1)
	go func() {
		select {
		case <-a.kick:
			got <- true
			cancel()
		case <-wctx.Done():
			got <- false
		}
	}()
	_ = a.opts.Sleep(wctx, d) // it ends early on a kick or with ctx, which the lines below tell apart
	cancel()
	kicked = <-got
	if ctx.Err() != nil {
		return kicked, ctx.Err()
	}
	return kicked, nil
}

// pass runs one pass; its error is the vault's or ctx's.
func (a *Agent) pass(ctx context.Context, forceConfig bool) (Pass, error) {
	p := Pass{At: a.opts.Now()}
	before := a.up.lt.answers.Load()
	var errs passErrors

	if err := a.maintain(ctx, &p); err != nil {
		return p, err
	}
	sum, err := a.SyncOnce(ctx)
	if err != nil {
		return p, err
	}
	p.Summary = sum
	errs.add(a.passErr)
	if !sum.Paused.IsZero() && a.passErr == nil {
		errs.add(&RetryLaterError{After: sum.Paused.Sub(a.opts.Now())})
	}

	paused := a.opts.Now().Before(a.pauseUntil)
	if a.opts.ConfigDir != "" && !paused && (forceConfig || a.lastConfig.IsZero() || a.opts.Now().Sub(a.lastConfig) >= a.opts.ConfigEvery) {
		res, err := a.syncConfig(ctx)
		if ctx.Err() != nil {
			return p, ctx.Err()
		}
		switch {
		case err == nil:
			a.lastConfig = a.opts.Now()
		case errors.Is(err, ErrConfigPartial):
			// The good lists are in; the bad ones are retried at the next
			// refresh, not at every pass.
			a.lastConfig = a.opts.Now()
			a.opts.Logger.Warn("configuration partly installed", "err", err)
		default:
			// The previous configuration stays; retried on the next pass.
			a.opts.Logger.Warn("configuration refresh failed", "err", err)
		}
		if err == nil || errors.Is(err, ErrConfigPartial) {
			p.Config = &res
		}
		p.ConfigError = Describe(err)
		errs.add(err)
	}

	if !paused {
		n, fetchErr, err := syncReviews(ctx, a.up, a.v)
		p.Reviews = n
		if err != nil {
			return p, err
		}
		errs.add(fetchErr)
	}

	stats, err := a.v.OutboxStats(ctx)
	if err != nil {
		return p, err
	}
	p.QueueDepth, p.OldestQueued, p.RejectedTotal, p.Damaged = stats.Queued, stats.OldestQueued, stats.Rejected, stats.Damaged
	if stats.Damaged > 0 {
		errs.add(fmt.Errorf("%d outbox entries in the vault are damaged: their submissions are neither sent nor swept; one whose record still opens is queued again at the next maintenance", stats.Damaged))
	}
	var refused error
	if a.opts.ConfigDir != "" {
		p.ConfigVersion, p.Watchlists, refused = a.configInUse(ctx)
		errs.add(refused)
	}
	p.ClockOffset = a.up.ClockOffset()
	first := errs.first()
	if refused != nil {
		// Version 0 and no lists alone read as a device not yet synced:
		// the report says the device verifies nothing, and why. The next
		// pass installs central's configuration again, not the next
		// ConfigEvery: until then the device verifies nothing.
		first = refused
		a.lastConfig = time.Time{}
	}
	if !paused {
		st := protocol.DeviceStatus{
			AppVersion: a.opts.AppVersion, ConfigVersion: p.ConfigVersion, Watchlists: p.Watchlists,
			QueueDepth: p.QueueDepth, Rejected: p.RejectedTotal, OldestQueued: p.OldestQueued,
			ClockOffsetMS: p.ClockOffset.Milliseconds(), LastError: Describe(first),
		}
		if err := a.up.SendStatus(ctx, st); err != nil {
			if ctx.Err() != nil {
				return p, ctx.Err()
			}
			var ce *CentralError
			if !(errors.As(err, &ce) && (ce.Status == 404 || ce.Status == 405)) { // a central without the status route
				errs.add(err)
			}
		}
	}
	if err := a.sweep(ctx, &p); err != nil {
		return p, err
	}
	errs.add(a.compact(ctx, &p))
	p.ClockOffset = a.up.ClockOffset()
	p.LastContact = a.up.LastContact()
	if err := a.recordContact(ctx, p.LastContact); err != nil {
		return p, err
	}
	p.Online = a.up.lt.answers.Load() > before
	p.Err = errs.first()
	p.LastError = Describe(p.Err)
	if p.Err != nil {
		a.opts.Logger.Info("sync pass", "online", p.Online, "queued", p.QueueDepth, "err", p.LastError)
	}
	a.mu.Lock()
	a.last = p
	a.mu.Unlock()
	if a.opts.OnPass != nil {
		a.opts.OnPass(p)
	}
	return p, nil
}

// contactRecordEvery is how far apart two contacts the vault keeps are at
// least while the device stays online: a write a minute, not one a pass,
// for a clock check whose tolerance is minutes.
const contactRecordEvery = time.Minute

// recordContact keeps central's last answer in the vault, where the device
// check finds it after a restart (vault.RecordContact).
func (a *Agent) recordContact(ctx context.Context, at time.Time) error {
	if at.IsZero() || (!a.recordedContact.IsZero() && at.Sub(a.recordedContact).Abs() < contactRecordEvery) {
		return nil
	}
	if err := a.v.RecordContact(ctx, at); err != nil {
		return err
	}
	a.recordedContact = at
	return nil
}

// maintain drops the images of delivered submissions an earlier run left
// behind, when due (the first pass, then every RetentionEvery).
func (a *Agent) maintain(ctx context.Context, p *Pass) error {
	now := a.opts.Now()
	if !a.lastMaintain.IsZero() && now.Sub(a.lastMaintain) < a.opts.RetentionEvery {
		return nil
	}
	if !a.migrated {
		if err := a.requeueMisjudged(ctx); err != nil {
			return err
		}
		a.migrated = true
	}
	repaired, err := a.v.RepairOutbox(ctx)
	if err != nil {
		return err
	}
	if repaired > 0 {
		a.opts.Logger.Warn("outbox entries damaged in the vault were made anew", "count", repaired)
	}
	if !a.opts.KeepImages {
		ids, err := a.v.SyncedWithImages(ctx)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := a.v.DropImages(ctx, id); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				a.opts.Logger.Warn("dropping images of a delivered submission", "err", err)
				continue
			}
			p.ImagesDropped++
			a.shredded = true
		}
	}
	a.lastMaintain = now
	return nil
}

// sweep runs the retention sweep when due (the first pass, then every
// RetentionEvery), after the pass's exchanges with central so that it
// knows central's clock as far as they tell (clock.centralOffset). A
// record is shredded only when it is older than Retention by both the
// device's clock and central's: records are dated by the device's clock,
// which may have been right when they were written and jumped since (a
// year ahead would shred every delivered and rejected record at once), or
// been off by the same amount all along (then central's would age them
// early). While the clock is wrong, records are kept longer, not lost;
// the status report shows the offset. While central's certificate says
// the clock is wrong by an unknown amount, the sweep waits.
func (a *Agent) sweep(ctx context.Context, p *Pass) error {
	now := a.opts.Now()
	if a.opts.Retention <= 0 || !a.lastRetention.IsZero() && now.Sub(a.lastRetention) < a.opts.RetentionEvery {
		return nil
	}
	off, ok := a.up.clock.centralOffset()
	if !ok {
		p.SweepPostponed = true
		return nil
	}
	// Two steps: a Date of the year 1 makes off the smallest Duration,
	// and off-Retention would wrap round to centuries ahead, shredding
	// everything; Time.Add saturates instead.
	n, err := a.v.ShredOlderThan(ctx, now.Add(-a.opts.Retention).Add(min(off, 0)))
	if err != nil {
		return err
	}
	p.Swept = n
	a.shredded = a.shredded || n > 0
	a.lastRetention = now
	return nil
}

// compact rewrites the vault without its free pages (vault.Compact) on the
// first pass, for what an earlier run shredded, then when something was
// shredded and RetentionEvery has passed since the last time. bbolt leaves
// a freed page as it was until it reuses it: a delivered submission's
// images and their wrapped data key stay in the file after DropImages,
// whole, for anyone holding the file and the vault key (a kiosk's disk
// holds both) to decrypt, until the file is rewritten. Once an hour bounds
// the cost: the rewrite copies every image still queued, and the app's
// sealing waits for it. A failure is the pass's error, retried when due
// again; it leaves the original file as it was.
func (a *Agent) compact(ctx context.Context, p *Pass) error {
	now := a.opts.Now()
	if !a.lastCompact.IsZero() && (!a.shredded || now.Sub(a.lastCompact) < a.opts.RetentionEvery) {
		return nil
	}
	a.lastCompact = now
	if err := a.v.Compact(ctx); err != nil {
		return err
	}
	a.shredded = false
	p.Compacted = true
	return nil
}

// requeueMisjudged puts back submissions that agents before this version
// marked rejected for answers that are not final (a 401 stale or
// unknown_device, a 403 revoked...): their reason reads "central rejected
// the request: <status> ..." with a status other than 422. Nothing else
// ever re-queued them. It puts back too those a central before this
// version refused for their attestation's date alone (dateRefusal).
func (a *Agent) requeueMisjudged(ctx context.Context) error {
	entries, err := a.v.Outbox(ctx)
	if err != nil {
		return err
	}
	const oldPrefix = "central rejected the request: "
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Reason, oldPrefix)
		if e.State != vault.StateRejected || !(ok && !strings.HasPrefix(rest, "422 ") || dateRefusal(e.Reason)) {
			continue
		}
		if err := a.v.Requeue(ctx, e.SubmissionID, "sync (a refusal that is not final)"); err != nil && !errors.Is(err, vault.ErrInvalidTransition) {
			return err
		}
	}
	return nil
}

// dateRefusal reports whether a rejection's reason is a central before
// this version refusing an attestation for its report's date, the device's
// clock (2000-01-01 after a dead CMOS battery), without looking at the
// challenge that proves by central's clock when it was made. Central now
// takes such an attestation when it signs a recent challenge, and says
// "signs no recent challenge" when it refuses one.
func dateRefusal(reason string) bool {
	rest, ok := strings.CutPrefix(reason, "central rejected the submission: 422 attestation: the attestation is dated ")
	return ok && !strings.Contains(rest, "signs no recent challenge")
}

// passErrors keeps the most telling failure of a pass: the first one.
type passErrors struct{ err error }

func (e *passErrors) add(err error) {
	if err != nil && e.err == nil {
		e.err = err
	}
}

func (e *passErrors) first() error { return e.err }
