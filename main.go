// Command kyc-desktop is the kiosk and field-agent desktop application: a
// Wails window whose screens are served from frontend/dist and whose Go
// side lives in package app. Build it with the tags desktop,production and
// webkit2_41 (see the Makefile).
//
// Its settings come from the environment, read here only:
// $KYC_HOME (the app's folder and the models), the device's settings as
// internal/deviceconf resolves them for `kyc` too ($KYC_DEVICE_DIR,
// $KYC_VAULT_KEY_FILE, $KYC_VAULT_PASSPHRASE, $KYC_VAULT_KEY_DIR,
// $KYC_WATCHLISTS_DIR), $KYC_DEVICE_POLICY (a device policy file laid
// over the profile's), $KYC_DEMO_PHOTO (the photo the demo camera is
// rendered from; without it the operator picks a real camera) and
// $KYC_KIOSK.
//
// Kiosk mode (the settings screen, or KYC_KIOSK=1) makes the window
// fullscreen, frameless and not resizable, and lets only one instance run
// (which needs a D-Bus session bus). Production builds never offer the
// context menu or the developer tools.
package main

// #cgo pkg-config: egl
// #include <EGL/egl.h>
import "C"

import (
	"context"
	"embed"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/wailsapp/wails/v2"
	"github.com/wailsapp/wails/v2/pkg/options"
	"github.com/wailsapp/wails/v2/pkg/options/assetserver"
	"github.com/wailsapp/wails/v2/pkg/options/linux"
	"github.com/wailsapp/wails/v2/pkg/runtime"

	"github.com/openkyc/kyc/app"
	"github.com/openkyc/kyc/engine/device"
	"github.com/openkyc/kyc/internal/runtimeinfo"
	"github.com/openkyc/kyc/models"
)

//go:embed all:frontend/dist
var assets embed.FS

//go:embed build/appicon.png
var icon []byte

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	runtimeinfo.TuneGC()
	softwareGLOff()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kyc-desktop:", err)
		os.Exit(1)
	}
}

func run() error {
	if err := devServerGuard(devBuild, os.Args[1:], os.Getenv); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	store, err := models.DefaultStore()
	if err != nil {
		return err
	}
	dir, err := app.DefaultDir()
	if err != nil {
		return err
	}
	kiosk, err := app.LoadKioskSetting(dir)
	if err != nil {
		return err
	}
	kiosk = kiosk || os.Getenv("KYC_KIOSK") == "1"
	profile := device.ProfileField
	if kiosk {
		profile = device.ProfileKiosk
	}
	demo := os.Getenv("KYC_DEMO_PHOTO")
	a := app.New(app.Config{Version: version, Store: store, Dir: dir, Profile: profile, Logger: logger,
		DevicePolicy: os.Getenv("KYC_DEVICE_POLICY"), DemoCardPhoto: demo, DemoSelfiePhoto: demo})
	var windowCtx context.Context
	opts := &options.App{
		Title:            "OpenKYC",
		Width:            1280,
		Height:           800,
		MinWidth:         1024,
		MinHeight:        700,
		AssetServer:      &assetserver.Options{Assets: assets},
		BackgroundColour: &options.RGBA{R: 238, G: 241, B: 246, A: 255},
		OnStartup: func(ctx context.Context) {
			windowCtx = ctx
			a.Startup(ctx)
		},
		OnShutdown: a.Shutdown,
		Bind:       []any{a},
		Logger:     wailsLog{logger},
		Linux:      &linux.Options{Icon: icon, ProgramName: "OpenKYC"},
	}
	if kiosk {
		opts.Fullscreen, opts.Frameless, opts.DisableResize = true, true, true
		opts.WindowStartState = options.Fullscreen
		opts.SingleInstanceLock = &options.SingleInstanceLock{
			UniqueId: "org.openkyc.desktop",
			// A second launch brings the running kiosk forward instead.
			OnSecondInstanceLaunch: func(options.SecondInstanceData) {
				logger.Info("second launch: the running kiosk is brought forward")
				if windowCtx != nil {
					runtime.WindowUnminimise(windowCtx)
					runtime.WindowShow(windowCtx)
				}
			},
		}
	}
	return wails.Run(opts)
}

// windowGLEnv overrides softwareGLOff: "1" keeps GL in the window's
// process, "0" keeps it out even with a GPU.
const windowGLEnv = "KYC_WINDOW_GL"

// softwareGLOff keeps the window's own process from loading a GL driver
// when the machine has no GPU render node (or $KYC_WINDOW_GL is 0). GTK
// probes GLX when it opens the display and WebKitGTK's UI side opens an
// EGL display when the web view is made, only to share frames with the web
// process through GPU buffers; without a GPU both load Mesa's software
// rasteriser and its LLVM, some 60 MB resident in the app's process for
// nothing (TestDesktopMemory). WebKit then takes the web process's frames
// through shared memory, as it does on any machine without GPU buffers.
// GTK is told by GDK_GL=disable; EGL by an empty vendor list, which
// libglvnd reads once, on first use: it is set while EGL is first asked
// here and restored at once, so the web process, which aborts without an
// EGL display, gets the normal one.
func softwareGLOff() {
	switch os.Getenv(windowGLEnv) {
	case "1":
		return
	case "0":
	default:
		if gpus, _ := filepath.Glob("/dev/dri/renderD*"); len(gpus) > 0 {
			return
		}
	}
	if _, set := os.LookupEnv("GDK_GL"); !set {
		os.Setenv("GDK_GL", "disable")
	}
	const vendors = "__EGL_VENDOR_LIBRARY_FILENAMES"
	old, had := os.LookupEnv(vendors)
	os.Setenv(vendors, os.DevNull)
	C.eglQueryString(C.EGLDisplay(C.EGL_NO_DISPLAY), C.EGL_EXTENSIONS)
	if had {
		os.Setenv(vendors, old)
	} else {
		os.Unsetenv(vendors)
	}
}
