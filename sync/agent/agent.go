package agent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/openkyc/kyc/sync/vault"
)

// Options tune an Agent. The zero value is usable.
type Options struct {
	// PollInterval is how long Run waits when nothing is due; zero means
	// 15 seconds.
	PollInterval time.Duration
	// ConfigDir, when set, is where Run keeps the down-synced configuration
	// (see SyncConfig), refreshed every ConfigEvery (zero: 10 minutes).
	ConfigDir   string
	ConfigEvery time.Duration
	// Now and Sleep are the clock; nil means the real one. Tests simulate
	// hours of partition with them.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Agent drains a vault's outbox into central.
type Agent struct {
	up   *Uploader
	v    *vault.Vault
	opts Options
	// pauseUntil holds off all sends after central asked for a pause
	// (Retry-After); only the goroutine running the agent touches it.
	pauseUntil time.Time
	lastConfig time.Time
}

// New returns an Agent sending v's outbox with up.
func New(up *Uploader, v *vault.Vault, opts Options) *Agent {
	if opts.PollInterval <= 0 {
		opts.PollInterval = 15 * time.Second
	}
	if opts.ConfigEvery <= 0 {
		opts.ConfigEvery = 10 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	return &Agent{up: up, v: v, opts: opts}
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

// SyncOnce sends every submission that is due now, each until it is
// synced, rejected or its attempt fails (then the vault schedules it again
// with backoff), and returns. It stops early when central asks for a pause
// or ctx ends.
func (a *Agent) SyncOnce(ctx context.Context) (Summary, error) {
	var sum Summary
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
		state, err := a.syncOne(ctx, e.SubmissionID)
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
	}
}

// syncOne claims one submission, sends it and records the outcome. It
// returns the state it left the submission in ("" if another sender held
// it); an error means the vault itself failed or ctx ended.
func (a *Agent) syncOne(ctx context.Context, id string) (vault.State, error) {
	if err := a.v.MarkState(ctx, id, vault.StateSending, ""); err != nil {
		if errors.Is(err, vault.ErrInvalidTransition) {
			return "", nil // another sender holds its lease
		}
		return "", err
	}
	s, err := a.v.GetSubmission(ctx, id)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		// The record is unreadable (shredded, damaged): it can never be
		// sent; say so rather than retry forever.
		return a.mark(ctx, id, vault.StateRejected, "unreadable in the vault: "+err.Error())
	}
	err = a.up.Upload(ctx, s)
	var later *RetryLaterError
	switch {
	case err == nil:
		return a.mark(ctx, id, vault.StateSynced, "")
	case ctx.Err() != nil:
		// Shutting down: give the submission back now rather than make
		// the next run wait for the lease to lapse.
		st, merr := a.mark(context.WithoutCancel(ctx), id, vault.StateQueued, "interrupted")
		return st, errors.Join(ctx.Err(), merr)
	case errors.Is(err, ErrRejected):
		return a.mark(ctx, id, vault.StateRejected, err.Error())
	case errors.As(err, &later):
		a.pauseUntil = a.opts.Now().Add(later.After)
	}
	return a.mark(ctx, id, vault.StateQueued, err.Error())
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

// Run syncs until ctx ends: a pass over the outbox, a configuration
// refresh when due, then a pause of PollInterval (or until central's
// Retry-After lapses). Failures of a pass are retried on the next; only a
// vault failure stops Run.
func (a *Agent) Run(ctx context.Context) error {
	for {
		if _, err := a.SyncOnce(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if a.opts.ConfigDir != "" && a.opts.Now().Sub(a.lastConfig) >= a.opts.ConfigEvery {
			// A failed refresh keeps the previous configuration and is
			// retried on the next pass.
			if _, err := SyncConfig(ctx, a.up, a.opts.ConfigDir); err == nil {
				a.lastConfig = a.opts.Now()
			}
		}
		wait := a.opts.PollInterval
		if d := a.pauseUntil.Sub(a.opts.Now()); d > 0 {
			wait = d
		}
		if err := a.opts.Sleep(ctx, wait); err != nil {
			return nil
		}
	}
}
