// Package app is the Go side of the desktop application's screens: the
// methods the Wails window binds, and the verification flow behind them.
// The flow lives here, not in the page: the app decides which screen is
// shown (View) and every window showing the UI renders the same one. It
// wires the capture guidance, the verification engine, the vault and the
// sync agent together; it holds no engine logic itself.
package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/openkyc/kyc/internal/engines"

	"github.com/openkyc/kyc/engine/camera"
	"github.com/openkyc/kyc/engine/capture"
	"github.com/openkyc/kyc/engine/device"
	"github.com/openkyc/kyc/internal/deviceconf"
	"github.com/openkyc/kyc/internal/runtimeinfo"
	"github.com/openkyc/kyc/models"
	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/vault"
)

// Config is what the desktop binary hands the app.
type Config struct {
	Version string
	Store   *models.Store
	// SysRoot is the filesystem root cameras are listed from and the device
	// checks inspect ("/").
	SysRoot string
	// Profile is the deployment profile whose policy judges the device.
	Profile device.Profile
	// DevicePolicy is a JSON device policy file laid over the profile's
	// default (a deployment's own, e.g. one accepting its VDI); empty uses
	// the default alone. main takes it from $KYC_DEVICE_POLICY.
	DevicePolicy string
	// Dir holds settings.json, session.json, operators.json and the demo
	// videos (default $KYC_HOME/desktop).
	Dir string
	// DeviceDir holds the device key, the enrolment, the vault and the
	// configuration sync installs, shared with `kyc sync` (default
	// $KYC_DEVICE_DIR, else <user config>/openkyc/device).
	DeviceDir string
	// WatchlistDir is the folder of the lists imported on this device
	// (default $KYC_WATCHLISTS_DIR, else $KYC_HOME/watchlists); the lists
	// central sent are screened too, and win a name clash.
	WatchlistDir string
	// KeyDir is where the device keeps the vault key it provisions,
	// outside DeviceDir (default $KYC_VAULT_KEY_DIR, else
	// deviceconf.DefaultKeyDir).
	KeyDir string
	// DemoCardPhoto and DemoSelfiePhoto are the demo person's photos (on
	// the card, and in the selfie video); one given alone serves for
	// both. Without either there is no demo camera: the operator picks a
	// camera in the settings. main takes them from $KYC_DEMO_PHOTO.
	DemoCardPhoto, DemoSelfiePhoto string
	// SyncEvery is the pause between sync passes, and between looks for
	// an enrolment before there is one (default 15 s).
	SyncEvery time.Duration
	// Clock is the time idle timeouts, session lifetimes and the liveness
	// challenge's time bounds are judged by; nil means time.Now. Tests
	// move it forward.
	Clock func() time.Time
	// ChallengeOrder orders a challenge's prompts each time one starts;
	// nil draws the order at random (capture.ShuffleChallenges). Tests fix
	// it.
	ChallengeOrder func([]capture.Message) []capture.Message
	Logger         *slog.Logger
}

// App is bound to the window: its exported methods are callable from the
// frontend as window.go.app.App.<Method>.
//
// Its state, by who changes it: the screens (ui), the signed-in operator
// (staff), the running verification (sess), the link with central (link)
// and the Smart QR hand-off, all under mu, which no call holds across a
// model run, a camera read or a network call; the models (engines),
// written once at start-up; the configuration verifications run on
// (confMu); the queue's summaries (their own lock). Lock order: mu before
// confMu or the summaries' lock, never the reverse.
type App struct {
	cfg Config
	// dev is where the device's state and configuration live, resolved
	// once from Config and the environment (internal/deviceconf).
	dev deviceconf.Device
	// emit tells every window the view changed; nil outside Wails.
	emit func(event string, data ...any)

	ctx    context.Context // the app's lifetime: Shutdown cancels it
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the app starts

	preview *preview
	engines loadedEngines

	mu       sync.Mutex
	ui       uiState
	staff    staffState
	settings Settings
	// sessionCfg is what a session accepts and how it captures.
	sessionCfg SessionConfig
	device     *DeviceStatus // the last device check
	vault      *vault.Vault
	vaultErr   string // why the vault is not open
	sess       *session
	link       linkState
	handoff    *handoffRun // the Smart QR hand-off shown, nil when none
	// cameraStop ends the settings screen's camera preview or QR scan.
	cameraStop context.CancelFunc

	// confMu guards conf, the risk configuration and watchlists
	// verifications use, read again when sync changes them (deviceConfig),
	// and confErr, why the last load refused the configuration on disk
	// (conf is then nil). Apart from mu: reading a list must not hold up
	// the screens.
	confMu  sync.Mutex
	conf    *deviceconf.Config
	confErr error
	// summaries are the queue's lines of the sealed submissions, read
	// once from the vault (a payload never changes).
	summaries summaryCache
	// enrolled wakes the sync loop when the app enrols the device.
	enrolled chan struct{}
}

// uiState is what the window shows.
type uiState struct {
	rev    int // increases on every change
	screen Screen
	back   Screen // where settings returns to
	// lastError is the message shown above the screen until the next
	// action.
	lastError string
	// lastActivity is the last input, for the idle timeout.
	lastActivity time.Time
}

// staffState is the operator accounts and who is signed in.
type staffState struct {
	accounts operators
	operator string // "" when nobody is signed in
	role     Role
	guard    guessGuard // wrong passphrases in a row
}

// linkState is the device's link with central.
type linkState struct {
	status SyncStatus   // the sync loop's last pass
	agent  *agent.Agent // nil until the device is enrolled
	// uploader is the device's signed client of central, nil until the
	// device is enrolled; the Smart QR hand-off uses it.
	uploader *agent.Uploader
}

// loadedEngines are the models, loaded once in the background at start-up:
// ready is closed once e or err is set, and neither changes after.
type loadedEngines struct {
	ready chan struct{}
	e     *engines.Engines
	err   error
}

// wait returns the engines once loaded, or ctx's error.
func (l *loadedEngines) wait(ctx context.Context) (*engines.Engines, error) {
	select {
	case <-l.ready:
		return l.e, l.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// loaded returns the engines if they are loaded (ok), without waiting.
func (l *loadedEngines) loaded() (e *engines.Engines, ok bool, err error) {
	select {
	case <-l.ready:
		return l.e, true, l.err
	default:
		return nil, false, nil
	}
}

// New returns an App; Startup must run before the window calls it.
func New(cfg Config) *App {
	if cfg.SysRoot == "" {
		cfg.SysRoot = "/"
	}
	if cfg.Profile == "" {
		cfg.Profile = device.ProfileField
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SyncEvery <= 0 {
		cfg.SyncEvery = 15 * time.Second
	}
	if cfg.Dir == "" {
		cfg.Dir, _ = DefaultDir() // an empty Dir is reported by Start
	}
	dev := deviceconf.Resolve(deviceconf.Overrides{Dir: cfg.DeviceDir, KeyDir: cfg.KeyDir, LocalWatchlists: cfg.WatchlistDir})
	return &App{cfg: cfg, dev: dev, preview: newPreview(), engines: loadedEngines{ready: make(chan struct{})},
		enrolled: make(chan struct{}, 1), ui: uiState{screen: ScreenStarting}, settings: DefaultSettings(),
		sessionCfg: DefaultSessionConfig()}
}

// ModelStatus is one row of the start screen's model table.
type ModelStatus struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Kind     string `json:"kind"`
	License  string `json:"license"`
	Purpose  string `json:"purpose"`
	Verified bool   `json:"verified"`
	Problem  string `json:"problem,omitempty"`
}

// now is the app's clock (Config.Clock).
func (a *App) now() time.Time {
	if a.cfg.Clock != nil {
		return a.cfg.Clock()
	}
	return time.Now()
}

// HomeInfo is the engine's state as the start screen shows it.
type HomeInfo struct {
	runtimeinfo.Versions
	RuntimeError string          `json:"runtime_error,omitempty"`
	Cameras      []camera.Device `json:"cameras"`
	CameraError  string          `json:"camera_error,omitempty"`
	Models       []ModelStatus   `json:"models"`
	ModelsOK     bool            `json:"models_ok"`
	Device       DeviceStatus    `json:"device"`
}

// DeviceStatus is a device check as the screens show it: the verdict, and
// the checks that did not pass.
type DeviceStatus struct {
	Profile  string          `json:"profile"`
	Verdict  string          `json:"verdict"`
	Findings []device.Result `json:"findings"`
	Error    string          `json:"error,omitempty"`
}

// Home gathers the engine's state: cameras found, each model's verified
// status, the versions of the libraries actually loaded and the device
// check. Problems are shown on the screen rather than failing the call, so
// an operator sees what to fix.
func (a *App) Home() HomeInfo {
	var h HomeInfo
	v, err := runtimeinfo.Read(a.cfg.Version, a.cfg.Store)
	h.Versions = v
	if err != nil {
		h.RuntimeError = err.Error()
	}
	cams, err := camera.List(a.cfg.SysRoot)
	h.Cameras = append([]camera.Device{}, cams...)
	if err != nil {
		h.CameraError = err.Error()
	}
	h.Device = a.checkDevice()
	st, err := a.cfg.Store.Verify()
	h.ModelsOK = err == nil
	for _, s := range st {
		h.Models = append(h.Models, ModelStatus{s.Name, s.Version, string(s.Kind), s.License, s.Purpose, s.Verified, s.Problem})
	}
	return h
}

// lifetime is the app's context, the background one before Start.
func (a *App) lifetime() context.Context {
	if a.ctx == nil {
		return context.Background()
	}
	return a.ctx
}

// checkDevice runs the device checks under the configured profile. A
// policy that cannot be built is shown as a blocking problem: an app that
// cannot judge its device must not start a verification.
func (a *App) checkDevice() DeviceStatus {
	st := DeviceStatus{Profile: string(a.cfg.Profile), Verdict: string(device.VerdictBlock), Findings: []device.Result{}}
	pol, err := a.devicePolicy()
	if err != nil {
		st.Error = err.Error()
		return st
	}
	ctx := a.lifetime()
	a.mu.Lock()
	lastContact := a.link.status.LastContact // the clock check compares the wall clock with it
	a.mu.Unlock()
	rep, err := device.Run(ctx, device.Options{Root: a.cfg.SysRoot, Policy: pol, LastCentralContact: lastContact})
	if err != nil {
		st.Error = err.Error()
		return st
	}
	st.Verdict = string(rep.Verdict)
	for _, c := range rep.Checks {
		if c.Status != device.StatusPass {
			st.Findings = append(st.Findings, c)
		}
	}
	a.cfg.Logger.Info("device check", "profile", rep.Profile, "verdict", rep.Verdict, "findings", len(st.Findings))
	return st
}

// devicePolicy is the profile's default policy with the configured policy
// file laid over it.
func (a *App) devicePolicy() (device.Policy, error) {
	pol, err := device.DefaultPolicy(a.cfg.Profile)
	if err != nil {
		return pol, err
	}
	path := a.cfg.DevicePolicy
	if path == "" {
		return pol, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return pol, fmt.Errorf("reading the device policy: %w", err)
	}
	if err := json.Unmarshal(b, &pol); err != nil {
		return pol, fmt.Errorf("decoding the device policy %s: %w", path, err)
	}
	if err := pol.Validate(); err != nil {
		return pol, fmt.Errorf("device policy %s: %w", path, err)
	}
	return pol, nil
}

// ScreenRendered is called by the page once a screen is on screen; the log
// line lets operators and the UI tests see each screen arrive. The name is
// the page's text: only one of the app's screens is logged as sent, any
// other as "unknown", so a script in the page neither writes a line of
// its choosing nor fills the log with one call.
func (a *App) ScreenRendered(screen string) {
	name := "unknown"
	if s := Screen(screen); s.known() {
		name = string(s)
	}
	a.cfg.Logger.Info(name + " screen rendered")
}
