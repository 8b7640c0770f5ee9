package app

import (
	"context"
	"errors"
	"fmt"
	"github.com/openkyc/kyc/internal/engines"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/wailsapp/wails/v2/pkg/runtime"

	"github.com/openkyc/kyc/engine/device"
	"github.com/openkyc/kyc/models"
	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/vault"
)

// Environment variables and files shared with the `kyc` sync commands, so
// the app and `kyc sync` use one device identity and one vault.
const (
	envVaultKeyFile    = "KYC_VAULT_KEY_FILE"
	envVaultPassphrase = "KYC_VAULT_PASSPHRASE"
	envWatchlists      = "KYC_WATCHLISTS_DIR"
	deviceKeyFile      = "device.key"
	enrollmentFile     = "enrollment.json"
	vaultFile          = "vault.db"
	// vaultKeyFile is the key the app provisions for its vault when the
	// environment names none: a kiosk keeps it root-only on its disk.
	vaultKeyFile = "vault.key"
)

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
		e, err := engines.Open(ctx, a.cfg.Store, a.watchlistDir())
		if err == nil {
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

func (a *App) deviceDir() string {
	if a.cfg.DeviceDir != "" {
		return a.cfg.DeviceDir
	}
	return identity.DefaultDir()
}

func (a *App) watchlistDir() string {
	if a.cfg.WatchlistDir != "" {
		return a.cfg.WatchlistDir
	}
	if d := os.Getenv(envWatchlists); d != "" {
		return d
	}
	if home, err := models.Home(); err == nil {
		return filepath.Join(home, "watchlists")
	}
	return ""
}

// openVault opens the device's vault with the key the environment names
// (a key file, else a passphrase), else with a key file the app
// provisions beside the vault on first run.
func (a *App) openVault(ctx context.Context) (*vault.Vault, error) {
	dir := a.deviceDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the device folder %s: %w", dir, err)
	}
	var key vault.KeySource
	switch {
	case os.Getenv(envVaultKeyFile) != "":
		key = vault.KeyFile(os.Getenv(envVaultKeyFile))
	case os.Getenv(envVaultPassphrase) != "":
		key = vault.Passphrase(os.Getenv(envVaultPassphrase))
	default:
		p := filepath.Join(dir, vaultKeyFile)
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			if err := vault.GenerateKeyFile(p); err != nil {
				return nil, fmt.Errorf("provisioning the vault key: %w", err)
			}
		}
		key = vault.KeyFile(p)
	}
	v, err := vault.Open(ctx, filepath.Join(dir, vaultFile), key, vault.Options{Backoff: agent.OutboxBackoff(30*time.Second, time.Hour)})
	if err != nil {
		return nil, fmt.Errorf("opening the vault: %w", err)
	}
	return v, nil
}

// syncStatus is what the home screen says about central.
type syncStatus struct {
	Enrolled    bool      `json:"enrolled"`
	CentralURL  string    `json:"central_url,omitempty"`
	LastContact time.Time `json:"last_contact,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
}

// startSync drains the outbox into central in the background when the
// device is enrolled (`kyc enroll`); otherwise submissions stay queued in
// the vault and the home screen says the device is not enrolled.
func (a *App) startSync(ctx context.Context, v *vault.Vault) {
	dir := a.deviceDir()
	// A device enrolled while the app runs (`kyc enroll`) starts syncing
	// without a restart: look for the enrolment until it appears.
	var (
		id  *identity.Identity
		enr identity.Enrollment
		err error
	)
	for {
		if id, err = identity.Load(filepath.Join(dir, deviceKeyFile)); err == nil {
			if enr, err = identity.LoadEnrollment(filepath.Join(dir, enrollmentFile)); err == nil {
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
	up, err := agent.NewUploader(agent.Config{Identity: id, Enrollment: enr, RetryMax: -1, Timeout: 10 * time.Second})
	if err != nil {
		a.mu.Lock()
		a.syncState.LastError = err.Error()
		a.mu.Unlock()
		return
	}
	a.mu.Lock()
	a.syncState.Enrolled, a.syncState.CentralURL = true, enr.CentralURL
	a.mu.Unlock()
	ag := agent.New(up, v, agent.Options{})
	configDir := filepath.Join(dir, "config")
	for {
		sum, err := ag.SyncOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		// Fetching the configuration is the contact that proves central
		// answers even when nothing is due.
		_, cerr := agent.SyncConfig(ctx, up, configDir)
		a.mu.Lock()
		switch {
		case err != nil:
			a.syncState.LastError = err.Error()
		case cerr != nil:
			a.syncState.LastError = cerr.Error()
		default:
			a.syncState.LastError = ""
			a.syncState.LastContact = time.Now()
		}
		if sum.Synced+sum.Rejected > 0 && a.screen == ScreenHome {
			a.setScreenLocked(ScreenHome) // the queue changed: redraw it
		}
		a.mu.Unlock()
		t := time.NewTimer(a.cfg.SyncEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
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
