package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wailsapp/wails/v2/pkg/runtime"

	"github.com/openkyc/kyc/engine/device"
	"github.com/openkyc/kyc/internal/deviceconf"
	"github.com/openkyc/kyc/internal/engines"
	"github.com/openkyc/kyc/internal/runtimeinfo"
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
	a.ui.lastActivity = a.now()
	if err := a.loadFiles(); err != nil {
		a.ui.lastError = err.Error()
	}
	a.mu.Unlock()
	a.goBackground(a.startUp)
	a.goBackground(func(ctx context.Context) {
		// The watchlists are the device's (deviceConfig), not the engines'.
		e, err := engines.Open(ctx, a.cfg.Store, "")
		if err == nil {
			_, _ = a.deviceConfig(ctx) // it logs a configuration refused
			// While the operator signs in, not during the first customer.
			if werr := e.Warm(ctx); werr != nil && ctx.Err() == nil {
				a.cfg.Logger.Warn("warming the engines", "err", werr)
			}
			// Warm-up's garbage would stay resident until a customer.
			runtimeinfo.ReleaseMemory()
			a.cfg.Logger.Info("engines ready")
		}
		a.engines.e, a.engines.err = e, err
		close(a.engines.ready)
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
	if e, ok, _ := a.engines.loaded(); ok && e != nil {
		e.Close()
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
	a.settings, a.sessionCfg, a.staff.accounts = s, c, ops
	return nil
}

// startUp opens the vault, runs the start-up device check, makes sure
// the demo camera exists and starts syncing; sign-in, or the blocked
// screen when the device policy says so, shows once the check is done.
func (a *App) startUp(ctx context.Context) {
	v := a.openAndCheck(ctx)
	if err := a.ensureDemo(ctx); err != nil {
		a.cfg.Logger.Warn("demo camera unavailable", "err", err)
	}
	if v != nil {
		a.startSync(ctx, v)
	}
}

// openAndCheck opens the vault, takes from it when central last answered
// (the clock check's reference, which an app started offline would
// otherwise lack, passing a clock turned back), runs the device check and
// shows sign-in or the blocked screen. The vault is nil when it did not
// open (vaultErr says why).
func (a *App) openAndCheck(ctx context.Context) *vault.Vault {
	v, err := a.openVault(ctx)
	var contact time.Time
	if err == nil {
		var cerr error
		if contact, cerr = v.LastContact(ctx); cerr != nil {
			// The next contact replaces the record; the vault serves on.
			a.cfg.Logger.Error("reading the last contact with central", "err", cerr)
		}
	}
	a.mu.Lock()
	a.vault = v
	if err != nil {
		a.vaultErr = err.Error()
		a.cfg.Logger.Error("opening the vault", "err", err)
	}
	if a.link.status.LastContact.IsZero() {
		a.link.status.LastContact = contact
	}
	a.mu.Unlock()
	st := a.checkDevice()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.device = &st
	if st.Verdict == string(device.VerdictBlock) {
		a.setScreenLocked(ScreenBlocked)
	} else {
		a.setScreenLocked(ScreenSignIn)
	}
	return v
}

// deviceConfig is the configuration the next verification uses, through
// the loader the command line uses too (deviceconf.Device.Load): the risk
// configuration and watchlists sync installed, checked against central's
// signature on an enrolled device (one changed on disk is an error, and
// nothing is verified), and the lists imported on this device. It reads
// again only what changed on disk since the last call and logs what it
// left out. When the configuration is refused, or no longer is, the home
// screen is drawn again to say so (configInUse).
func (a *App) deviceConfig(ctx context.Context) (*deviceconf.Config, error) {
	c, flipped, err := a.loadConfig(ctx)
	if flipped {
		a.mu.Lock()
		if a.ui.screen == ScreenHome {
			a.setScreenLocked(ScreenHome)
		}
		a.mu.Unlock()
	}
	if err != nil {
		return nil, err // Load's errors say what it was loading
	}
	return c, nil
}

// loadConfig is deviceConfig under confMu; flipped says whether the
// configuration turned refused or usable again.
func (a *App) loadConfig(ctx context.Context) (c *deviceconf.Config, flipped bool, err error) {
	a.confMu.Lock()
	defer a.confMu.Unlock()
	last, lastErr := a.conf, a.confErr
	// The enrolment the vault pinned: from the vault the app holds, else
	// (not open yet, or failed to) read from its file.
	a.mu.Lock()
	var pins deviceconf.Pins = a.dev.VaultPins()
	if a.vault != nil {
		pins = a.vault
	}
	a.mu.Unlock()
	c, err = a.dev.Load(ctx, last, pins)
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, err
		}
		// The last configuration is not kept for show: it is not what the
		// device would decide with.
		a.conf, a.confErr = nil, err
		if lastErr == nil || lastErr.Error() != err.Error() {
			a.cfg.Logger.Error("device configuration refused", "err", err)
		}
		return nil, lastErr == nil, err
	}
	a.conf, a.confErr = c, nil
	if last == nil || c.Screening != last.Screening || c.Risk.Path != last.Risk.Path || c.Risk.Problem != last.Risk.Problem {
		a.cfg.Logger.Info("device configuration", "source", c.Source, "watchlists", c.Watchlists.Names(), "risk", cmp.Or(c.Risk.Path, "built-in defaults"))
		if c.Warning != "" {
			a.cfg.Logger.Warn("device configuration", "problem", c.Warning)
		}
		for _, p := range c.Watchlists.Problems {
			a.cfg.Logger.Warn("watchlist left out", "problem", p)
		}
		if c.Risk.Problem != "" {
			a.cfg.Logger.Warn("risk configuration", "problem", c.Risk.Problem)
		}
	}
	return c, lastErr != nil, nil
}

// refusedWords says, for the operator, why no verification can start
// when the device configuration is refused (err from deviceConfig).
func refusedWords(err error) string {
	return "No verification can start: " + err.Error()
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
		a.cfg.Logger.Warn("the vault's passphrase is weak: rotate it (kyc vault rotate)", "why", k.Weak)
	}
	// The enrolment is the evidence the device had a vault (it is written
	// once the vault holds its pin): a vault missing beside it was deleted,
	// and a new one would drop the pin and the queued results unsaid.
	v, err := vault.Open(ctx, a.dev.VaultPath(), k.Source, vault.Options{Backoff: agent.OutboxBackoff(30*time.Second, time.Hour),
		Evidence: []string{a.dev.EnrollmentPath()}})
	if errors.Is(err, vault.ErrMissing) {
		return nil, fmt.Errorf("opening the vault: %w; to acknowledge the loss, close the app and run kyc vault reset --i-understand --dir %s", err, a.dev.Dir)
	}
	if err != nil {
		return nil, fmt.Errorf("opening the vault: %w", err)
	}
	return v, nil
}

// SyncStatus is what the home screen says about central, from the sync
// loop's last pass.
type SyncStatus struct {
	Enrolled   bool   `json:"enrolled"`
	CentralURL string `json:"central_url,omitempty"`
	// Online is whether central answered during the last pass;
	// LastContact when it last did; LastPass when the last pass ended.
	Online      bool      `json:"online"`
	LastContact time.Time `json:"last_contact,omitzero"`
	LastPass    time.Time `json:"last_pass,omitzero"`
	// OfflineSince is when central stopped answering: the last contact,
	// or the first pass when there never was one; zero while online.
	OfflineSince time.Time `json:"offline_since,omitzero"`
	// QueueDepth counts submissions not yet delivered, the oldest queued
	// at OldestQueued; Rejected those central refused.
	QueueDepth   int       `json:"queue_depth"`
	OldestQueued time.Time `json:"oldest_queued,omitzero"`
	Rejected     int       `json:"rejected"`
	// LastError is the last pass's failure in words, "" when it had none.
	LastError string `json:"last_error,omitempty"`
}

// SyncView is the sync panel: the last pass's status and what follows from
// it at Now, the app's clock (the page counts ages from it).
type SyncView struct {
	SyncStatus
	Now time.Time `json:"now"`
	// MaxOfflineSeconds is how long the device policy lets the device go
	// without central (0: no limit); OverPolicy says it has gone longer.
	MaxOfflineSeconds int64 `json:"max_offline_seconds"`
	OverPolicy        bool  `json:"over_policy"`
}

// syncView is st as the panel shows it now.
func (a *App) syncView(st SyncStatus) SyncView {
	sv := SyncView{SyncStatus: st, Now: a.now()}
	if pol, err := a.devicePolicy(); err == nil {
		sv.MaxOfflineSeconds = int64(time.Duration(pol.MaxOffline).Seconds())
	}
	if st.Enrolled && !st.Online && !st.OfflineSince.IsZero() && sv.MaxOfflineSeconds > 0 {
		sv.OverPolicy = sv.Now.Sub(st.OfflineSince) > time.Duration(sv.MaxOfflineSeconds)*time.Second
	}
	return sv
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
		id        *identity.Identity
		enr       identity.Enrollment
		err       error
		malformed string // the refusal last shown, so it is logged once
	)
	for {
		shown := "" // the enrolment file's refusal, if it is refused
		if id, err = identity.Load(a.dev.DeviceKeyPath()); err == nil {
			if enr, err = identity.LoadEnrollment(a.dev.EnrollmentPath()); err == nil {
				break
			}
			if errors.Is(err, identity.ErrMalformed) {
				shown = err.Error()
			}
		}
		// A file written by hand (its address with credentials in it,
		// say) is refused, shown and logged once, its error showing no
		// more of it than RedactURL. The loop goes on looking: enrolling
		// again (the app's "enrol again", kyc enroll --again) replaces
		// the file.
		if shown != malformed {
			malformed = shown
			a.mu.Lock()
			a.link.status.Enrolled, a.link.status.LastError = shown != "", ""
			if shown != "" {
				a.link.status.LastError = "Sync cannot start: " + shown
			}
			a.mu.Unlock()
			if shown != "" {
				a.cfg.Logger.Error("starting sync", "err", err)
			}
		}
		t := time.NewTimer(a.cfg.SyncEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-a.enrolled:
			t.Stop()
		}
	}
	central := identity.RedactURL(enr.CentralURL)
	up, err := agent.NewUploader(agent.Config{Identity: id, Enrollment: enr})
	if err != nil {
		a.mu.Lock()
		a.link.status.Enrolled, a.link.status.CentralURL = true, central
		a.link.status.LastError = "Sync cannot start: " + err.Error()
		a.mu.Unlock()
		a.cfg.Logger.Error("starting sync", "err", err)
		return
	}
	ag := agent.New(up, v, agent.Options{PollInterval: a.cfg.SyncEvery, ConfigDir: a.dev.ConfigDir(),
		AppVersion: a.cfg.Version, Logger: a.cfg.Logger, OnPass: a.onPass})
	a.mu.Lock()
	a.link.status.Enrolled, a.link.status.CentralURL = true, central
	if malformed != "" {
		a.link.status.LastError = "" // the refused file was replaced
	}
	a.link.agent, a.link.uploader = ag, up
	a.mu.Unlock()
	if err := ag.Run(ctx); err != nil {
		// Only a vault failure stops the loop.
		a.cfg.Logger.Error("sync stopped", "err", err)
		a.mu.Lock()
		a.link.status.LastError = "Sync stopped: " + err.Error()
		a.link.agent = nil
		if a.ui.screen == ScreenHome {
			a.setScreenLocked(ScreenHome)
		}
		a.mu.Unlock()
	}
}

// onPass shows a sync pass on the home screen and loads the configuration
// for the next verification. It runs on the sync loop's goroutine.
func (a *App) onPass(p agent.Pass) {
	a.mu.Lock()
	old := a.link.status
	st := old
	st.Online, st.LastPass, st.QueueDepth, st.OldestQueued, st.Rejected, st.LastError =
		p.Online, p.At, p.QueueDepth, p.OldestQueued, p.RejectedTotal, p.LastError
	if !p.LastContact.IsZero() {
		st.LastContact = p.LastContact
	}
	switch {
	case p.Online:
		st.OfflineSince = time.Time{}
	case st.OfflineSince.IsZero():
		st.OfflineSince = cmp.Or(st.LastContact, p.At)
	}
	a.link.status = st
	changed := p.Synced+p.Rejected > 0 || st.Online != old.Online || st.QueueDepth != old.QueueDepth ||
		st.Rejected != old.Rejected || st.LastError != old.LastError
	if changed && a.ui.screen == ScreenHome {
		a.setScreenLocked(ScreenHome) // redraw the queue and the status
	}
	a.mu.Unlock()
	// After every pass: sync may have installed a new configuration, and
	// the one on disk may have been changed since the last load, which
	// the home screen then says at once (deviceConfig logs it). Only what
	// changed on disk is read again. The sync loop is one of the app's
	// goroutines, so Shutdown is not waiting on a zero count while this
	// one is added.
	a.goBackground(func(ctx context.Context) { _, _ = a.deviceConfig(ctx) })
}

// SyncNow starts a sync pass at once (the home screen's "Sync now"):
// submissions waiting out a backoff are sent now. It is a signed-in
// operator's, as the home screen is: each call ends the backoff of every
// queued submission and refreshes the configuration, so a script calling
// it in a loop at a kiosk's sign-in would have the device send to central
// without pause.
func (a *App) SyncNow() error {
	a.mu.Lock()
	a.touchLocked()
	ag, op := a.link.agent, a.staff.operator
	a.mu.Unlock()
	if op == "" {
		return errors.New("syncing now: no operator is signed in")
	}
	if ag == nil {
		return ErrNotEnrolled
	}
	ag.Kick()
	return nil
}

// ErrNotYoursToResend means the signed-in operator may not send a refused
// submission again: it is another operator's and they are not a
// supervisor, or they asked for every refused one, which is a
// supervisor's to ask (it covers other operators' submissions).
var ErrNotYoursToResend = errors.New("only the operator who ran this verification or a supervisor may send it again")

// Requeue puts a submission central refused back in the outbox, or every
// refused one when id is empty: the operator's action on the home queue,
// after what made central refuse it is fixed. One submission is the
// operator's who ran it or a supervisor's to send again (as Details is
// theirs to open), every refused one a supervisor's: re-sending is
// vouching that the cause is fixed, and whoever ran the verification
// knows whether it is. The vault's audit log records who did it; a
// refusal is logged, with the submission's id and the operator's name
// only.
func (a *App) Requeue(id string) (QueueView, error) {
	a.mu.Lock()
	a.touchLocked()
	ag, v, op, role := a.link.agent, a.vault, a.staff.operator, a.staff.role
	a.mu.Unlock()
	var ids []string
	if id != "" {
		ids = []string{id}
	}
	err := a.mayRequeue(v, op, role, id)
	switch {
	case err != nil:
	case ag != nil:
		_, err = ag.Requeue(a.ctx, "operator:"+op, ids...)
	default:
		_, err = agent.Requeue(a.ctx, v, "operator:"+op, ids...) // sent once the device is enrolled
	}
	a.mu.Lock()
	switch {
	case errors.Is(err, ErrNotYoursToResend):
		a.ui.lastError = err.Error()
		a.cfg.Logger.Warn("re-queue refused", "id", loggedID(id), "operator", op)
	case err != nil:
		a.ui.lastError = "The submission could not be re-queued: " + err.Error()
		a.cfg.Logger.Warn("re-queue", "id", loggedID(id), "err", err)
	default:
		a.cfg.Logger.Info("re-queued by the operator", "id", loggedID(id))
	}
	if a.ui.screen == ScreenHome {
		a.setScreenLocked(ScreenHome)
	}
	a.mu.Unlock()
	return a.Queue(), err
}

// mayRequeue says whether op, signed in with role, may send submission id
// (every refused one when empty) again; ErrNotYoursToResend if not.
func (a *App) mayRequeue(v *vault.Vault, op string, role Role, id string) error {
	switch {
	case op == "":
		return errors.New("re-queuing: no operator is signed in")
	case v == nil:
		return errors.New("re-queuing: the vault is not open")
	case role == RoleSupervisor:
		return nil
	case id == "":
		return ErrNotYoursToResend
	}
	sum, err := a.summary(a.ctx, v, id)
	if err != nil {
		return fmt.Errorf("re-queuing: %w", err)
	}
	if sum.Operator != op {
		return ErrNotYoursToResend
	}
	return nil
}

// loggedID is a submission id as a log line may carry it: an id the page
// sent is the page's text, so one longer or stranger than the app's own
// (submission.NewID's) is logged as a fixed marker.
func loggedID(id string) string {
	if id == "" {
		return "all rejected"
	}
	if len(id) > 80 || strings.ContainsFunc(id, func(r rune) bool {
		return !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) {
		return "(not a submission id)"
	}
	return id
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
		a.checkIdle()
	}
}

// checkIdle is one look of watchIdle at the clock.
func (a *App) checkIdle() {
	a.mu.Lock()
	defer a.mu.Unlock()
	idle := a.now().Sub(a.ui.lastActivity) > time.Duration(a.settings.IdleSeconds)*time.Second
	expired := a.sess != nil && a.now().Sub(a.sess.started) > a.sessionCfg.ttl()
	switch {
	case (a.sess != nil || a.handoff != nil) && (idle || expired):
		a.cfg.Logger.Info("session cleared", "idle", idle, "expired", expired)
		a.endSessionLocked()
		a.endHandoffLocked()
		a.ui.lastActivity = a.now()
		// A kiosk shows its welcome, which says nothing of the customer
		// who left; a laptop returns home and says why.
		if a.settings.Kiosk {
			a.setScreenLocked(ScreenIdle)
		} else {
			a.ui.lastError = "The session was cleared after a period without activity."
			a.setScreenLocked(ScreenHome)
		}
	case idle && a.staff.operator != "" && a.ui.screen != ScreenProcessing:
		a.cfg.Logger.Info("operator signed out for inactivity")
		a.staff.operator, a.staff.role = "", ""
		a.stopCameraLocked()
		if a.ui.screen != ScreenIdle {
			a.setScreenLocked(ScreenSignIn)
		}
	}
}
