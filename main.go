// Command kyc-desktop is the kiosk and field-agent desktop application: a
// Wails window whose screens are served from frontend/dist and whose Go
// side lives in package app. Build it with the tags desktop,production and
// webkit2_41 (see the Makefile).
package main

import (
	"embed"
	"fmt"
	"log/slog"
	"os"

	"github.com/wailsapp/wails/v2"
	"github.com/wailsapp/wails/v2/pkg/options"
	"github.com/wailsapp/wails/v2/pkg/options/assetserver"

	"github.com/openkyc/kyc/app"
	"github.com/openkyc/kyc/models"
)

//go:embed all:frontend/dist
var assets embed.FS

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	store, err := models.DefaultStore()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kyc-desktop:", err)
		os.Exit(1)
	}
	a := app.New(app.Config{Version: version, Store: store, Logger: logger})
	err = wails.Run(&options.App{
		Title:            "OpenKYC",
		Width:            1280,
		Height:           800,
		MinWidth:         1024,
		MinHeight:        700,
		AssetServer:      &assetserver.Options{Assets: assets},
		BackgroundColour: &options.RGBA{R: 238, G: 241, B: 246, A: 255},
		OnStartup:        a.Startup,
		Bind:             []any{a},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "kyc-desktop:", err)
		os.Exit(1)
	}
}
