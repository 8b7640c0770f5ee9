// Command kyc is the headless on-device KYC tool: it runs the engine on
// files and cameras, manages models and the local vault, and syncs with
// central. Every result is JSON on stdout (see internal/cli).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/openkyc/kyc/internal/cli"
	"github.com/openkyc/kyc/internal/runtimeinfo"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	runtimeinfo.TuneGC()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, version)
	stop()
	os.Exit(code)
}
