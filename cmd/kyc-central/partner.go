package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/partnerapi"
)

// partnerKeyName is the partner API's secret key file in the data
// directory: it keys pass-key hashes, derives partner and launch tokens,
// signs image links and seals webhook secrets.
const partnerKeyName = "partner.key"

const partnerKeyMagic = "openkyc-central-partner-key-v1\n"

// loadOrCreatePartnerKey reads the partner API's secret key, creating the
// file (mode 0600, written atomically) when missing, as the console key
// is kept. Instances sharing a store must share it.
func loadOrCreatePartnerKey(path string) ([]byte, error) {
	return central.LoadOrCreateSecret(path, "the partner key", partnerKeyMagic, partnerapi.SecretKeySize)
}

// partnerKeyPath is the partner key's file: the flag, else DATA/partner.key.
func partnerKeyPath(flagValue, data string) string {
	if flagValue != "" {
		return flagValue
	}
	return filepath.Join(data, partnerKeyName)
}

// publicURL is --public-url, else https://<addr> (a wildcard host becomes
// 127.0.0.1, which only suits a test: a real site gives --public-url).
func publicURL(flagValue, addr string, tls bool) string {
	if flagValue != "" {
		return flagValue
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = addr, ""
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	scheme := "https"
	if !tls {
		scheme = "http"
	}
	if port == "" {
		return scheme + "://" + host
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// mountPartnerAPI serves the partner API (/api/, /flow/, /openapi.json and
// the admin routes under /admin/v1/partners) on srv.
func mountPartnerAPI(srv *central.Server, cfg partnerapi.Config) (*partnerapi.API, error) {
	api, err := partnerapi.New(cfg)
	if err != nil {
		return nil, err
	}
	api.Mount(srv)
	return api, nil
}

const partnerUsage = `usage:
  kyc-central partner add --name NAME [--branch BRANCH]... [--webhook URL] [--data dir] [--store bolt|postgres] [--dsn dsn] [--partner-key file]
  kyc-central partner rotate-key --id ID [--overlap 24h] [--data dir] [--store bolt|postgres] [--dsn dsn] [--partner-key file]
  kyc-central partner webhook-secret --id ID [--overlap 24h] [--data dir] [--store bolt|postgres] [--dsn dsn] [--partner-key file]
  kyc-central partner disable|enable --id ID [--data dir] [--store bolt|postgres] [--dsn dsn] [--partner-key file]
  kyc-central partner push --id ID --url URL --token-url URL --client-id ID [--scope S]... [store flags]
                           (the OAuth2 client secret: one line on standard input; an empty line keeps the stored one)
  kyc-central partner push --id ID --remove [store flags]
  kyc-central partner push-key --id ID [store flags]
  kyc-central partner reference-image --id ID --url URL --auth bearer|basic|header [--header NAME] [--username U]
                           [--timeout 10s] [--max-bytes 5242880] [store flags]
                           (the token, password or header value: one line on standard input; empty keeps the stored one)
  kyc-central partner reference-image --id ID --remove [store flags]

add prints the partner's client id and pass key (and webhook secret with
--webhook) once, as JSON: central keeps only a hash of the pass key and the
secret sealed. rotate-key and webhook-secret print a new one; the previous
one stays valid for --overlap. disable stops a partner at once (its API
calls are refused, its hosted sessions and links answer "no longer
available", its webhook and push events are held) and enable lets it all
go on: nothing is deleted. push configures the enterprise push and, the
first time, prints the AES-256 key shared with the partner (once; push-key
makes a new one, used at once). reference-image configures the endpoint
flows with use_reference_image take the reference image from. A bbolt
store is locked by a running central: stop it first, or use the admin API
(/admin/v1/partners).`

// partnerStore is where the partner commands find the store and the
// partner API's key: the flags they share.
type partnerStore struct{ data, kind, dsn, keyFile *string }

func addPartnerStoreFlags(fs *flag.FlagSet) partnerStore {
	return partnerStore{
		data:    fs.String("data", "kyc-central-data", "data directory (bbolt store, partner key)"),
		kind:    fs.String("store", "bolt", "store: bolt or postgres"),
		dsn:     fs.String("dsn", os.Getenv(envDSN), "PostgreSQL connection string (--store postgres)"),
		keyFile: fs.String("partner-key", "", "the partner API's secret key file (default DATA/"+partnerKeyName+"; created if missing)"),
	}
}

// open opens the store and the partner API on it; the caller calls the
// func returned to close the store.
func (ps partnerStore) open(ctx context.Context, cmd string) (*partnerapi.API, func(), error) {
	if *ps.kind == "bolt" {
		if err := os.MkdirAll(*ps.data, 0o700); err != nil {
			return nil, nil, fmt.Errorf("partner %s: creating the data directory: %w", cmd, err)
		}
	}
	key, err := loadOrCreatePartnerKey(partnerKeyPath(*ps.keyFile, *ps.data))
	if err != nil {
		return nil, nil, err
	}
	store, err := openStore(ctx, *ps.kind, *ps.data, *ps.dsn)
	if err != nil {
		return nil, nil, err
	}
	api, err := partnerapi.New(partnerapi.Config{Store: store, SecretKey: key})
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return api, func() { store.Close() }, nil
}

// partner runs `kyc-central partner add|rotate-key|webhook-secret|disable|enable`.
func partner(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "push" || args[0] == "push-key" || args[0] == "reference-image") {
		return partnerSettings(ctx, args, stdout, stderr)
	}
	if len(args) == 0 || !slices.Contains([]string{"add", "rotate-key", "webhook-secret", "disable", "enable"}, args[0]) {
		fmt.Fprintln(stderr, partnerUsage)
		return errors.New("partner: add, rotate-key, webhook-secret, disable, enable, push, push-key or reference-image?")
	}
	cmd := args[0]
	fs := flag.NewFlagSet("partner "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	where := addPartnerStoreFlags(fs)
	var name, id, webhook *string
	var overlap *time.Duration
	var branches scopes
	if cmd == "add" {
		name = fs.String("name", "", "the partner's name")
		fs.Var(&branches, "branch", "a branch whose kiosk sessions the partner sees (repeat for more)")
		webhook = fs.String("webhook", "", "the partner's webhook URL (https://)")
	} else {
		id = fs.String("id", "", "the partner's id (ptn_...)")
	}
	if cmd == "rotate-key" || cmd == "webhook-secret" {
		overlap = fs.Duration("overlap", partnerapi.DefaultKeyOverlap, "how long the previous one stays valid")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if id != nil && *id == "" {
		return fmt.Errorf("partner %s: --id is required", cmd)
	}
	if overlap != nil && (*overlap <= 0 || *overlap > partnerapi.MaxOverlap) {
		return fmt.Errorf("partner %s: --overlap must be positive and at most %v", cmd, partnerapi.MaxOverlap)
	}
	api, closeStore, err := where.open(ctx, cmd)
	if err != nil {
		return err
	}
	defer closeStore()
	actor := "kyc-central partner " + cmd
	var out any
	switch cmd {
	case "add":
		out, err = api.CreatePartner(ctx, actor, partnerapi.NewPartner{Name: *name, Branches: branches, WebhookURL: *webhook})
	case "rotate-key":
		out, err = api.RotateKey(ctx, actor, *id, *overlap)
	case "webhook-secret":
		out, err = api.RotateWebhookSecret(ctx, actor, *id, *overlap)
	case "disable", "enable":
		out, err = api.SetDisabled(ctx, actor, *id, cmd == "disable")
	}
	if ve, ok := errors.AsType[*partnerapi.ValidationError](err); ok {
		return fmt.Errorf("partner %s: %s", cmd, ve.Fields[0].Message)
	}
	if errors.Is(err, central.ErrNotFound) {
		return fmt.Errorf("partner %s: no partner with id %q", cmd, *id)
	}
	if err != nil {
		return fmt.Errorf("partner %s: %w", cmd, err)
	}
	if cmd != "disable" && cmd != "enable" {
		fmt.Fprintln(stderr, "the secret below is shown once: central keeps only its hash (pass key) or sealed (webhook secret)")
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
