package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/wailsapp/wails/v2/pkg/runtime"

	"github.com/openkyc/kyc/engine/device"
	"github.com/openkyc/kyc/internal/deviceconf"
	"github.com/openkyc/kyc/internal/engines"
	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/vault"
)

// deviceKeyFile is the device's signing key in its folder, shared with
// `kyc enroll` and `kyc sync` (internal/deviceconf resolves the rest).
const deviceKeyFile = deviceconf.DeviceKeyFile

// Startup is called by Wails when the window is created: it starts the
// app's background work and makes view changes reach every window.
func (a *App) Startup(ctx context.Context) {
	a.emit = func(event string, data ...any) { runtime.EventsEmit(ctx, event, data...) }
	a.Start(ctx)
}

// Start loads the settings and starts the background work: the start-up
// device check, the vault, the models, the demo videos, the sync loop and
// the idle watchdog. Shutdown stops them.
func (a *App) Start(ctx context.Context) {
	a.ctx, a.cancel = context.WithCancel(ctx)
	a.mu.Lock()
	a.lastActivity = a.now()
	if err := a.loadFiles(); err != nil {
		a.lastError = err.Error()
	}
	a.mu.Unlock()
	a.goBackground(a.startUp)
	a.goBackground(func(ctx context.Context) {
		// The watchlists are the device's (deviceConfig), not the engines'.
		e, err := engines.Open(ctx, a.cfg.Store, "")
		if err == nil {
			if _, cerr := a.deviceConfig(ctx); cerr != nil && ctx.Err() == nil {
				a.cfg.Logger.Error("loading the device configuration", "err", cerr)
			}
			// While the operator signs in, not during the first customer.
			if werr := e.Warm(ctx); werr != nil && ctx.Err() == nil {
				a.cfg.Logger.Warn("warming the engines", "err", werr)
			}
		}
		a.engines, a.enginesErr = e, err
		close(a.enginesReady)
		if err != nil {
			a.cfg.Logger.Error("loading the engines", "err", err)
		}
	})
	a.goBackground(a.watchIdle)
}

// Shutdown stops the background work, ends any session and closes the
// vault and the models. Wails calls it when the window closes.
func (a *App) Shutdown(context.Context) {
	if a.cancel == nil {
		return
	}
	a.cancel()
	a.mu.Lock()
	a.endSessionLocked()
	a.mu.Unlock()
	a.wg.Wait()
	if a.engines != nil {
		a.engines.Close()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.vault != nil {
		a.vault.Close()
		a.vault = nil
	}
}

// goBackground runs fn on a goroutine Shutdown waits for.
func (a *App) goBackground(fn func(ctx context.Context)) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		fn(a.ctx)
	}()
}

// loadFiles reads settings, the session configuration and the operator
// accounts; a file that does not exist keeps the defaults.
func (a *App) loadFiles() error {
	if a.cfg.Dir == "" {
		return errors.New("no folder for the app's files: set KYC_HOME")
	}
	s := DefaultSettings()
	if err := readJSON(filepath.Join(a.cfg.Dir, "settings.json"), &s); err != nil {
		return err
	}
	if err := s.Validate(); err != nil {
		return err
	}
	c := DefaultSessionConfig()
	if err := readJSON(filepath.Join(a.cfg.Dir, "session.json"), &c); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return err
	}
	var ops operators
	if err := readJSON(filepath.Join(a.cfg.Dir, "operators.json"), &ops); err != nil {
		return err
	}
	a.settings, a.sessionCfg, a.accounts = s, c, ops
	return nil
}

// startUp runs the start-up device check, opens the vault, makes sure the
// demo camera exists and starts syncing; then shows sign-in, or the
// blocked screen when the device policy says so.
func (a *App) startUp(ctx context.Context) {
	st := a.checkDevice()
	v, err := a.openVault(ctx)
	a.mu.Lock()
	a.device = &st
	a.vault = v
	if err != nil {
		a.vaultErr = err.Error()
		a.cfg.Logger.Error("opening the vault", "err", err)
	}
	if st.Verdict == string(device.VerdictBlock) {
		a.setScreenLocked(ScreenBlocked)
	} else {
		a.setScreenLocked(ScreenSignIn)
	}
	a.mu.Unlock()
	if err := a.ensureDemo(ctx); err != nil {
		a.cfg.Logger.Warn("demo camera unavailable", "err", err)
	}
	if v != nil {
		a.startSync(ctx, v)
	}
}

func (a *App) deviceDir() string { return a.dev.Dir }

// deviceConfig is the configuration the next verification uses: the risk
// configuration and watchlists sync installed, and the lists imported on
// this device. It reads again only what changed on disk since the last
// call, keeps the risk configuration in use when a new one is invalid, and
// logs what it left out.
func (a *App) deviceConfig(ctx context.Context) (*deviceconf.Config, error) {
	a.confMu.Lock()
	defer a.confMu.Unlock()
	last := a.conf
	c, err := a.dev.Load(ctx, last)
	if err != nil {
		return nil, fmt.Errorf("loading the device configuration: %w", err)
	}
	a.conf = c
	if last == nil || c.Screening != last.Screening || c.Risk.Path != last.Risk.Path || c.Risk.Problem != last.Risk.Problem {
		a.cfg.Logger.Info("device configuration", "watchlists", c.Watchlists.Names(), "risk", cmp.Or(c.Risk.Path, "built-in defaults"))
		for _, p := range c.Watchlists.Problems {
			a.cfg.Logger.Warn("watchlist left out", "problem", p)
		}
		if c.Risk.Problem != "" {
			a.cfg.Logger.Warn("risk configuration", "problem", c.Risk.Problem)
		}
	}
	return c, nil
}

// openVault opens the device's vault with the key deviceconf resolves:
// the operator's key file or passphrase (refused when weak for a new
// vault), else a key
// the device keeps outside its folder, moved there from beside the vault
// where earlier versions kept it.
func (a *App) openVault(ctx context.Context) (*vault.Vault, error) {
	if err := os.MkdirAll(a.dev.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the device folder %s: %w", a.dev.Dir, err)
	}
	k, err := a.dev.VaultKey()
	if err != nil {
		return nil, fmt.Errorf("the vault key: %w", err)
	}
	if k.Migrated {
		a.cfg.Logger.Info("the vault key was moved out of the device folder", "to", k.Path)
	}
	if k.Weak != nil {
		a.cfg.Logger.Warn("the vault's passphrase is weak: rotate it", "why", k.Weak)
	}
	v, err := vault.Open(ctx, a.dev.VaultPath(), k.Source, vault.Options{Backoff: agent.OutboxBackoff(30*time.Second, time.Hour)})
	if err != nil {
		return nil, fmt.Errorf("opening the vault: %w", err)
	}
	return v, nil
}

// syncStatus is what the home screen says about central, from the sync
// loop's last pass.
type syncStatus struct {
	Enrolled   bool   `json:"enrolled"`
	CentralURL string `json:"central_url,omitempty"`
	// Online is whether central answered during the last pass;
	// LastContact when it last did; LastPass when the last pass ended.
	Online      bool      `json:"online"`
	LastContact time.Time `json:"last_contact,omitzero"`
	LastPass    time.Time `json:"last_pass,omitzero"`
	// QueueDepth counts submissions not yet delivered, the oldest queued
	// at OldestQueued; Rejected those central refused.
	QueueDepth   int       `json:"queue_depth"`
	OldestQueued time.Time `json:"oldest_queued,omitzero"`
	Rejected     int       `json:"rejected"`
	// LastError is the last pass's failure in words, "" when it had none.
	LastError string `json:"last_error,omitempty"`
}

// ErrNotEnrolled means an action needs the device enrolled with central
// (`kyc enroll`) and it is not.
var ErrNotEnrolled = errors.New("the device is not enrolled with central (kyc enroll)")

// startSync runs the device's one sync loop (agent.Run, as `kyc sync`
// does) once the device is enrolled: it drains the outbox into central,
// keeps the configuration current and reports each pass to the home
// screen (onPass). Until then submissions stay queued in the vault and
// the home screen says the device is not enrolled.
func (a *App) startSync(ctx context.Context, v *vault.Vault) {
	// A device enrolled while the app runs (`kyc enroll`) starts syncing
	// without a restart: look for the enrolment until it appears.
	var (
		id  *identity.Identity
		enr identity.Enrollment
		err error
	)
	for {
		if id, err = identity.Load(a.dev.DeviceKeyPath()); err == nil {
			if enr, err = identity.LoadEnrollment(a.dev.EnrollmentPath()); err == nil {
				break
			}
		}
		t := time.NewTimer(a.cfg.SyncEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	up, err := agent.NewUploader(agent.Config{Identity: id, Enrollment: enr})
	if err != nil {
		a.mu.Lock()
		a.syncState.Enrolled, a.syncState.CentralURL = true, enr.CentralURL
		a.syncState.LastError = "Sync cannot start: " + err.Error()
		a.mu.Unlock()
		a.cfg.Logger.Error("starting sync", "err", err)
		return
	}
	ag := agent.New(up, v, agent.Options{PollInterval: a.cfg.SyncEvery, ConfigDir: a.dev.ConfigDir(),
		AppVersion: a.cfg.Version, Logger: a.cfg.Logger, OnPass: a.onPass})
	a.mu.Lock()
	a.syncState.Enrolled, a.syncState.CentralURL = true, enr.CentralURL
	a.syncAgent = ag
	a.mu.Unlock()
	if err := ag.Run(ctx); err != nil {
		// Only a vault failure stops the loop.
		a.cfg.Logger.Error("sync stopped", "err", err)
		a.mu.Lock()
		a.syncState.LastError = "Sync stopped: " + err.Error()
		a.syncAgent = nil
		if a.screen == ScreenHome {
			a.setScreenLocked(ScreenHome)
		}
		a.mu.Unlock()
	}
}

// onPass shows a sync pass on the home screen and, when it installed new
// configuration, loads it for the next verification. It runs on the sync
// loop's goroutine.
func (a *App) onPass(p agent.Pass) {
	a.mu.Lock()
	old := a.syncState
	st := old
	st.Online, st.LastPass, st.QueueDepth, st.OldestQueued, st.Rejected, st.LastError =
		p.Online, p.At, p.QueueDepth, p.OldestQueued, p.RejectedTotal, p.LastError
	if !p.LastContact.IsZero() {
		st.LastContact = p.LastContact
	}
	a.syncState = st
	changed := p.Synced+p.Rejected > 0 || st.Online != old.Online || st.QueueDepth != old.QueueDepth ||
		st.Rejected != old.Rejected || st.LastError != old.LastError
	if changed && a.screen == ScreenHome {
		a.setScreenLocked(ScreenHome) // redraw the queue and the status
	}
	a.mu.Unlock()
	if c := p.Config; c != nil && (c.RiskUpdated || len(c.Watchlists) > 0) {
		// The sync loop is one of the app's goroutines, so Shutdown is
		// not waiting on a zero count while this one is added.
		a.goBackground(func(ctx context.Context) {
			if _, err := a.deviceConfig(ctx); err != nil && ctx.Err() == nil {
				a.cfg.Logger.Error("loading the configuration sync installed", "err", err)
			}
		})
	}
}

// SyncNow starts a sync pass at once (the home screen's "Sync now"):
// submissions waiting out a backoff are sent now.
func (a *App) SyncNow() error {
	a.mu.Lock()
	a.touchLocked()
	ag := a.syncAgent
	a.mu.Unlock()
	if ag == nil {
		return ErrNotEnrolled
	}
	ag.Kick()
	return nil
}

// Requeue puts a submission central refused back in the outbox, or every
// refused one when id is empty: the operator's action on the home queue,
// after what made central refuse it is fixed. The vault's audit log
// records who did it.
func (a *App) Requeue(id string) (QueueView, error) {
	a.mu.Lock()
	a.touchLocked()
	ag, v, op := a.syncAgent, a.vault, a.operator
	a.mu.Unlock()
	var ids []string
	if id != "" {
		ids = []string{id}
	}
	var err error
	switch {
	case op == "":
		err = errors.New("re-queuing: no operator is signed in")
	case ag != nil:
		_, err = ag.Requeue(a.ctx, "operator:"+op, ids...)
	case v != nil:
		_, err = agent.Requeue(a.ctx, v, "operator:"+op, ids...) // sent once the device is enrolled
	default:
		err = errors.New("re-queuing: the vault is not open")
	}
	a.mu.Lock()
	if err != nil {
		a.lastError = "The submission could not be re-queued: " + err.Error()
		a.cfg.Logger.Warn("re-queue", "id", id, "err", err)
	} else {
		a.cfg.Logger.Info("re-queued by the operator", "id", cmp.Or(id, "all rejected"))
	}
	if a.screen == ScreenHome {
		a.setScreenLocked(ScreenHome)
	}
	a.mu.Unlock()
	return a.Queue(), err
}

// watchIdle clears the session after the idle timeout without input (or
// at the end of its TTL) and shows home; idle at home for as long again,
// it signs the operator out.
func (a *App) watchIdle(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.mu.Lock()
		idle := a.now().Sub(a.lastActivity) > time.Duration(a.settings.IdleSeconds)*time.Second
		expired := a.sess != nil && a.now().Sub(a.sess.started) > a.sessionCfg.ttl()
		switch {
		case a.sess != nil && (idle || expired):
			a.cfg.Logger.Info("session cleared", "idle", idle, "expired", expired)
			a.endSessionLocked()
			a.lastActivity = a.now()
			a.lastError = "The session was cleared after a period without activity."
			a.setScreenLocked(ScreenHome)
		case idle && a.operator != "" && a.screen != ScreenProcessing:
			a.cfg.Logger.Info("operator signed out for inactivity")
			a.operator = ""
			a.setScreenLocked(ScreenSignIn)
		}
		a.mu.Unlock()
	}
}
