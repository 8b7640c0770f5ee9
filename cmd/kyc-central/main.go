// Command kyc-central runs the central backend that devices sync to.
//
//	kyc-central serve [--addr 127.0.0.1:8443] [--data DIR] [--store bolt|postgres] [--dsn DSN]
//	kyc-central token create [--central URL] [--ttl 24h]
//
// The admin bearer token comes from $KYC_CENTRAL_ADMIN_TOKEN or the file
// named by --admin-token-file; the PostgreSQL DSN from --dsn or
// $KYC_CENTRAL_DSN. Several instances can share one PostgreSQL database
// and must then share the box key file (--box-key).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/store/boltstore"
	"github.com/openkyc/kyc/sync/central/store/pgstore"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Environment variables read by kyc-central.
const (
	envAdminToken = "KYC_CENTRAL_ADMIN_TOKEN"
	envDSN        = "KYC_CENTRAL_DSN"
)

const usage = `usage:
  kyc-central serve [--addr host:port] [--data dir] [--store bolt|postgres] [--dsn dsn] [--box-key file] [--admin-token-file file]
  kyc-central token create [--central url] [--ttl 24h] [--admin-token-file file]`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var err error
	switch {
	case len(args) >= 1 && args[0] == "serve":
		err = serve(ctx, args[1:], stderr)
	case len(args) >= 2 && args[0] == "token" && args[1] == "create":
		err = createToken(ctx, args[2:], stdout, stderr)
	default:
		fmt.Fprintln(stderr, usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "kyc-central:", err)
		return 1
	}
	return 0
}

// adminToken reads the admin token from a file or the environment.
func adminToken(file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("reading admin token: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return os.Getenv(envAdminToken), nil
}

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8443", "listen address")
	data := fs.String("data", "kyc-central-data", "data directory (bbolt store, box key)")
	storeKind := fs.String("store", "bolt", "store: bolt (embedded, one instance) or postgres (several instances)")
	dsn := fs.String("dsn", os.Getenv(envDSN), "PostgreSQL connection string (--store postgres)")
	boxKeyFile := fs.String("box-key", "", "central's X25519 key file (default DATA/box.key; created if missing)")
	tokenFile := fs.String("admin-token-file", "", "file holding the admin API bearer token (default $"+envAdminToken+")")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := os.MkdirAll(*data, 0o700); err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	if *boxKeyFile == "" {
		*boxKeyFile = filepath.Join(*data, "box.key")
	}
	box, err := central.LoadOrCreateBoxKey(*boxKeyFile)
	if err != nil {
		return err
	}
	tok, err := adminToken(*tokenFile)
	if err != nil {
		return err
	}
	var store central.Store
	switch *storeKind {
	case "bolt":
		store, err = boltstore.Open(filepath.Join(*data, "central.db"))
	case "postgres":
		if *dsn == "" {
			return fmt.Errorf("--store postgres needs --dsn or $%s", envDSN)
		}
		store, err = pgstore.Open(ctx, *dsn)
	default:
		return fmt.Errorf("unknown store %q (bolt or postgres)", *storeKind)
	}
	if err != nil {
		return err
	}
	defer store.Close()
	srv, err := central.New(central.Config{Addr: *addr, Version: version, Store: store, BoxKey: box, AdminToken: tok})
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(stderr, nil))
	if tok == "" {
		logger.Warn("admin API disabled: no admin token")
	}
	ready := make(chan string, 1)
	go func() {
		select {
		case a := <-ready:
			logger.Info("kyc-central listening", "addr", a, "version", version, "store", *storeKind)
		case <-ctx.Done():
		}
	}()
	return srv.Serve(ctx, ready)
}

func createToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("central", "http://127.0.0.1:8443", "central's base URL")
	ttl := fs.Duration("ttl", central.DefaultTokenTTL, "how long the token stays valid")
	tokenFile := fs.String("admin-token-file", "", "file holding the admin API bearer token (default $"+envAdminToken+")")
	if err := fs.Parse(args); err != nil {
		return err
	}
	tok, err := adminToken(*tokenFile)
	if err != nil {
		return err
	}
	if tok == "" {
		return fmt.Errorf("no admin token: set $%s or --admin-token-file", envAdminToken)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(*url, "/")+"/admin/v1/enroll-tokens?ttl="+ttl.String(), nil)
	if err != nil {
		return fmt.Errorf("creating token: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("creating token: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("creating token: %w", err)
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("creating token: central answered %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	var tr central.TokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return fmt.Errorf("creating token: %w", err)
	}
	return json.NewEncoder(stdout).Encode(tr)
}
