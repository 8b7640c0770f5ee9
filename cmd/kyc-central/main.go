// Command kyc-central runs the central backend that devices sync to.
//
//	kyc-central serve [--addr 127.0.0.1:8443]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/openkyc/kyc/sync/central"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if len(os.Args) < 2 || os.Args[1] != "serve" {
		fmt.Fprintln(os.Stderr, "usage: kyc-central serve [--addr host:port]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:8443", "listen address")
	_ = fs.Parse(os.Args[2:])

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ready := make(chan string, 1)
	go func() {
		select {
		case a := <-ready:
			logger.Info("kyc-central listening", "addr", a, "version", version)
		case <-ctx.Done():
		}
	}()
	if err := central.New(central.Config{Addr: *addr, Version: version}).Serve(ctx, ready); err != nil {
		logger.Error("kyc-central stopped", "err", err)
		os.Exit(1)
	}
}
