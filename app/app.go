// Package app is the Go side of the desktop application's screens: the
// methods the Wails window binds, and the session flow behind them. It
// wires the engine, the model store and (later) the vault; it holds no
// engine logic itself.
package app

import (
	"context"
	"log/slog"

	"github.com/openkyc/kyc/engine/camera"
	"github.com/openkyc/kyc/engine/device"
	"github.com/openkyc/kyc/internal/runtimeinfo"
	"github.com/openkyc/kyc/models"
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
	Logger  *slog.Logger
}

// App is bound to the window: its exported methods are callable from the
// frontend as window.go.app.App.<Method>.
type App struct {
	cfg Config
	ctx context.Context
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
	return &App{cfg: cfg}
}

// Startup is called by Wails when the window is created.
func (a *App) Startup(ctx context.Context) {
	a.ctx = ctx
}

// ModelStatus is one row of the home screen's model table.
type ModelStatus struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Kind     string `json:"kind"`
	License  string `json:"license"`
	Purpose  string `json:"purpose"`
	Verified bool   `json:"verified"`
	Problem  string `json:"problem,omitempty"`
}

// HomeInfo is everything the home screen shows.
type HomeInfo struct {
	runtimeinfo.Versions
	RuntimeError string          `json:"runtime_error,omitempty"`
	Cameras      []camera.Device `json:"cameras"`
	CameraError  string          `json:"camera_error,omitempty"`
	Models       []ModelStatus   `json:"models"`
	ModelsOK     bool            `json:"models_ok"`
	Device       DeviceStatus    `json:"device"`
}

// DeviceStatus is the start-up device check as the home screen shows it:
// the verdict, and the checks that did not pass.
type DeviceStatus struct {
	Profile  string          `json:"profile"`
	Verdict  string          `json:"verdict"`
	Findings []device.Result `json:"findings"`
	Error    string          `json:"error,omitempty"`
}

// Home gathers the home screen: cameras found, each model's verified
// status, and the versions of the libraries actually loaded. Problems are
// shown on the screen rather than failing the call, so an operator sees
// what to fix.
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

// checkDevice runs the device checks under the configured profile. A
// policy that cannot be built is shown as a blocking problem: an app that
// cannot judge its device must not start a verification.
func (a *App) checkDevice() DeviceStatus {
	st := DeviceStatus{Profile: string(a.cfg.Profile), Verdict: string(device.VerdictBlock), Findings: []device.Result{}}
	pol, err := device.DefaultPolicy(a.cfg.Profile)
	if err != nil {
		st.Error = err.Error()
		return st
	}
	ctx := a.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	rep, err := device.Run(ctx, device.Options{Root: a.cfg.SysRoot, Policy: pol})
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

// HomeRendered is called by the frontend once the home screen is on
// screen; the log line lets operators and the UI test see start-up finish.
func (a *App) HomeRendered() {
	a.cfg.Logger.Info("home screen rendered")
}
