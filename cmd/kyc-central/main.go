// Command kyc-central runs the central backend that devices sync to.
//
//	kyc-central serve [--addr 127.0.0.1:8443] [--data DIR] [--store bolt|postgres] [--dsn DSN]
//	                  [--console-addr HOST:PORT] [--metrics-addr 127.0.0.1:9464] [--face-match-turns N ...] --tls-cert F --tls-key F | --insecure-http
//	kyc-central tls init --dir D --host H [--host H2 ...]
//	kyc-central token create [--central https://HOST:PORT] [--ca F] [--ttl 24h]
//	kyc-central keys status|rotate [--data DIR] [--keys F]   (keys.go)
//	kyc-central user add --name N --role admin|reviewer|auditor [--scope BRANCH]...   (console.go)
//	kyc-central user reset-totp --name N
//	kyc-central partner add --name N [--branch B]... [--webhook URL]   (partner.go)
//	kyc-central partner rotate-key|webhook-secret --id ID [--overlap 24h]
//	kyc-central partner disable|enable --id ID
//	kyc-central partner push|push-key|reference-image --id ID ...   (partner_settings.go)
//	kyc-central backup --out F [--central URL --ca F] | --data DIR   (backup.go)
//	kyc-central restore --from F [--data DIR] [--replace]
//
// serve also serves the partner API (package partnerapi) at /api/v1/,
// its OpenAPI document at /openapi.json, the hosted capture flow at /flow/
// (package hostedflow, hostedflow.go; links built on --public-url; the
// engine from --models) and partner administration under /admin/v1/partners; its
// secrets derive from DATA/partner.key (--partner-key), created when
// missing and shared by every instance of a store.
//
// serve also serves the review console at /console/ (package console):
// people sign in with the accounts `user add` creates (password from
// standard input, TOTP enrolled at the first sign-in); the TOTP secrets are
// sealed under DATA/console.key (--console-key), created when missing.
// With --console-addr the console is served only there (same certificate,
// same middleware) and --addr answers 404 for it: the hosted flow's pages,
// which anyone opens and partners frame, then run in another origin than
// the console.
//
// Central speaks HTTPS (`tls init` makes a private CA and a server
// certificate for an offline site); plain HTTP only with --insecure-http on
// a loopback address. The admin bearer token (bootstrap only; 32 random
// bytes at least) comes from $KYC_CENTRAL_ADMIN_TOKEN or the file named by
// --admin-token-file; the PostgreSQL DSN from --dsn or $KYC_CENTRAL_DSN.
// Behind a load balancer, --trusted-proxies (or
// $KYC_CENTRAL_TRUSTED_PROXIES) names it, so that failure budgets, audit
// events and logs count the client its X-Forwarded-For names, not the
// balancer.
// Several instances can share one PostgreSQL database and must then share
// the box and sign key files (--box-key, --sign-key). Prometheus metrics
// are served only with --metrics-addr, on that listener of their own
// (plain HTTP, unauthenticated: a loopback address such as
// 127.0.0.1:9464).
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/backup"
	"github.com/openkyc/kyc/sync/central/console"
	"github.com/openkyc/kyc/sync/central/hostedflow"
	"github.com/openkyc/kyc/sync/central/partnerapi"
	"github.com/openkyc/kyc/sync/central/pki"
	"github.com/openkyc/kyc/sync/central/seal"
	"github.com/openkyc/kyc/sync/central/store/boltstore"
	"github.com/openkyc/kyc/sync/central/store/pgstore"
	"github.com/openkyc/kyc/sync/central/webhook"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Environment variables read by kyc-central.
const (
	envAdminToken = "KYC_CENTRAL_ADMIN_TOKEN"
	envDSN        = "KYC_CENTRAL_DSN"
	// envTrustedProxies is --trusted-proxies when no such flag is given.
	envTrustedProxies = "KYC_CENTRAL_TRUSTED_PROXIES"
)

const usage = `usage:
  kyc-central serve [--addr host:port] [--data dir] [--store bolt|postgres] [--dsn dsn] [--box-key file] [--sign-key file]
                    [--admin-token-file file] [--console-key file] [--console-addr host:port] [--metrics-addr host:port]
                    [--partner-key file] [--public-url https://host] [--face-match-turns n] [--face-match-share n]
                    [--face-match-wait 30s] [--face-match-body-time 30s] [--recheck-approvals]
                    [--trusted-proxies ip-or-cidr,...]
                    (--tls-cert file --tls-key file | --insecure-http)
  kyc-central tls init --dir dir --host name-or-ip [--host ...]
  kyc-central token create [--central https://host:port] [--ca file] [--ttl 24h] [--admin-token-file file]
  kyc-central keys status|rotate [--data dir] [--store bolt|postgres] [--dsn dsn] [--keys file]
  kyc-central user add --name name --role admin|reviewer|auditor [--scope branch]... [--data dir] [--store bolt|postgres] [--dsn dsn]
                       (password on standard input; TOTP is enrolled at the first sign-in at /console/)
  kyc-central user reset-totp --name name [--data dir] [--store bolt|postgres] [--dsn dsn]
  kyc-central partner add --name name [--branch branch]... [--webhook url] [--data dir] [--store bolt|postgres] [--dsn dsn]
  kyc-central partner rotate-key|webhook-secret --id id [--overlap 24h] [--data dir] [--store bolt|postgres] [--dsn dsn]
  kyc-central partner disable|enable --id id [--data dir] [--store bolt|postgres] [--dsn dsn]
  kyc-central partner push|push-key|reference-image --id id ... (the enterprise push, the reference-image endpoint: kyc-central partner)
  kyc-central backup --out file [--central https://host:port] [--ca file] [--admin-token-file file] | --data dir
  kyc-central restore --from file [--data dir] [--replace]   (backup.go; central stopped)`

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
	case len(args) >= 1 && args[0] == "partner":
		err = partner(ctx, args[1:], stdout, stderr)
	case len(args) >= 1 && args[0] == "user":
		err = user(ctx, args[1:], stdout, stderr)
	case len(args) >= 1 && args[0] == "keys":
		err = keys(ctx, args[1:], stdout, stderr)
	case len(args) >= 1 && args[0] == "backup":
		err = backupCmd(ctx, args[1:], stdout, stderr)
	case len(args) >= 1 && args[0] == "restore":
		err = restoreCmd(ctx, args[1:], stdout, stderr)
	case len(args) >= 2 && args[0] == "tls" && args[1] == "init":
		err = tlsInit(args[2:], stdout, stderr)
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

// adminToken reads the admin token from a file or the environment. The
// file must be private to its owner, as central's key files are: the
// token reads every submission and copies the whole store.
func adminToken(file string) (string, error) {
	if file != "" {
		fi, err := os.Stat(file)
		if err != nil {
			return "", fmt.Errorf("reading admin token: %w", err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return "", fmt.Errorf("reading admin token %s: mode %v is readable by others (chmod 600 it)", file, fi.Mode().Perm())
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("reading admin token: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return os.Getenv(envAdminToken), nil
}

// hosts collects repeated --host flags.
type hosts []string

func (h *hosts) String() string     { return strings.Join(*h, ",") }
func (h *hosts) Set(v string) error { *h = append(*h, v); return nil }

// prefixes is a repeatable flag of comma-separated addresses or CIDR
// prefixes.
type prefixes []netip.Prefix

func (p *prefixes) String() string {
	s := make([]string, len(*p))
	for i, x := range *p {
		s[i] = x.String()
	}
	return strings.Join(s, ",")
}

func (p *prefixes) Set(list string) error {
	for _, v := range strings.Split(list, ",") {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		pf, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil {
				return fmt.Errorf("%q is neither an address nor a CIDR prefix", v)
			}
			pf = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		} else if pf.Addr().Is4In6() {
			// ::ffff:10.0.0.0/104 is 10.0.0.0/8, as peers are compared unmapped.
			if pf.Bits() < 96 {
				return fmt.Errorf("%q mixes IPv4-mapped and other IPv6 addresses: name the IPv4 prefix", v)
			}
			pf = netip.PrefixFrom(pf.Addr().Unmap(), pf.Bits()-96)
		}
		*p = append(*p, pf.Masked())
	}
	return nil
}

// proxiesFromEnv reads $KYC_CENTRAL_TRUSTED_PROXIES into p unless a
// --trusted-proxies or --trusted-proxy flag was given, which wins.
func proxiesFromEnv(fs *flag.FlagSet, p *prefixes) error {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "trusted-proxies" || f.Name == "trusted-proxy" })
	if env := os.Getenv(envTrustedProxies); env != "" && !given {
		if err := p.Set(env); err != nil {
			return fmt.Errorf("reading $%s: %w", envTrustedProxies, err)
		}
	}
	return nil
}

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8443", "listen address")
	data := fs.String("data", "kyc-central-data", "data directory (bbolt store, box and sign keys)")
	storeKind := fs.String("store", "bolt", "store: bolt (embedded, one instance) or postgres (several instances)")
	dsn := fs.String("dsn", os.Getenv(envDSN), "PostgreSQL connection string (--store postgres)")
	boxKeyFile := fs.String("box-key", "", "central's X25519 key file (default DATA/box.key; created if missing)")
	signKeyFile := fs.String("sign-key", "", "central's Ed25519 signing key file (default DATA/sign.key; created if missing)")
	tokenFile := fs.String("admin-token-file", "", "file holding the admin API bearer token, private to its owner (mode 0600; default $"+envAdminToken+")")
	keysFile := keysFlag(fs)
	partnerKey := fs.String("partner-key", "", "the partner API's secret key file (default DATA/"+partnerKeyName+"; created if missing; shared by every instance of a store)")
	pubURL := fs.String("public-url", "", "central's base URL as partners' users reach it, for launch URLs and links (default https://ADDR)")
	consoleKey := fs.String("console-key", "", "the review console's secret key file, sealing TOTP secrets (default DATA/"+consoleKeyName+"; created if missing; shared by every instance of a store)")
	certFile := fs.String("tls-cert", "", "server certificate, PEM (kyc-central tls init makes one)")
	keyFile := fs.String("tls-key", "", "server certificate's private key, PEM")
	insecure := fs.Bool("insecure-http", false, "serve plain HTTP, on a loopback address only (tests)")
	consoleAddr := fs.String("console-addr", "", "serve the review console only on this address, with the same certificate (best a host name of its own, e.g. console.central.example), and answer 404 for /console/ on --addr, which anyone opens the hosted flow at (default: the console on --addr)")
	metricsAddr := fs.String("metrics-addr", "", "serve Prometheus /metrics on this address only, plain HTTP without authentication: keep it on loopback (e.g. 127.0.0.1:9464) or a monitoring network (default: no metrics)")
	promptTime := fs.Duration("challenge-prompt-time", 0, "hosted flow: how long a head-turn prompt may wait for the turn (0: the engine's 5s); longer helps people on slow phones, shorter a replay less")
	challengeTime := fs.Duration("challenge-time", 0, "hosted flow: how long all the head turns may take from the first prompt (0: the engine's 20s)")
	whTimeout := fs.Duration("webhook-timeout", webhook.DefaultTimeout, "bound of a webhook or push request's connection and answer, to which its body adds its size at --webhook-min-rate (at most 15 min); on PostgreSQL it also scales the job queue's timings (a session's lease 2x, a job's run 6x, the rescue of a dead instance's jobs 12x)")
	whMinRate := fs.Int64("webhook-min-rate", webhook.DefaultMinRate, "slowest body transfer a webhook or push request is allowed, in bytes a second (at least 1024): its body adds its size at this rate to --webhook-timeout (at most 15 min)")
	var proxies prefixes
	fs.Var(&proxies, "trusted-proxies", "the load balancers in front of central, comma-separated addresses or CIDRs you control: from them, the client is the rightmost X-Forwarded-For entry that is not one of them (default $"+envTrustedProxies+", else none: forwarding headers ignored, every client is its TCP peer)")
	fs.Var(&proxies, "trusted-proxy", "one more of --trusted-proxies (repeatable)")
	fmTurns := fs.Int("face-match-turns", 0, "Face Match requests this instance runs at once; the others wait for a turn, their bodies unread (0: one per core)")
	fmShare := fs.Int("face-match-share", 0, "Face Match turns one partner may hold at once, so that another always finds one (0: half of --face-match-turns, at least one)")
	fmWait := fs.Duration("face-match-wait", 0, "how long a Face Match request waits for a turn before 503 face_match_busy (0: "+partnerapi.DefaultFaceMatchWait.String()+")")
	fmBodyTime := fs.Duration("face-match-body-time", 0, "how long a Face Match request's whole body may take to arrive once it has its turn, else 408 timeout (0: "+partnerapi.DefaultFaceMatchBodyTime.String()+")")
	tokenOwner := fs.String("admin-token-owner", "", "the console admin account of the person who holds the admin token: the token's risk and watchlist proposals are theirs, so another admin must confirm them (default: none, and the token cannot propose, only publish a new watchlist name)")
	verifyCooldown := fs.Duration("audit-verify-cooldown", console.DefaultVerifyCooldown, "console: how long after the start of a \"Verify chain\" (or ten times its walk's time after its end, if later) the next may start on any instance sharing the store; sooner is 429 with a Retry-After")
	riskTTL := fs.Duration("risk-proposal-ttl", central.DefaultRiskProposalTTL, "how long proposed risk settings wait for a second admin to confirm them before they expire")
	recheckApprovals := fs.Bool("recheck-approvals", false, "recheck every device approval with central's face engine once its images are in (document against selfie, the selfie's liveness), and send one the engine contradicts to review; needs the face models")
	backupDir := fs.String("backup-dir", "", "take a checked copy of the bbolt store into this folder every --backup-every, keeping the newest --backup-keep (best another disk; default: no scheduled copies; PostgreSQL: use its own tools)")
	backupEvery := fs.Duration("backup-every", backup.DefaultEvery, "interval between scheduled copies of the store (--backup-dir), at least a minute")
	backupKeep := fs.Int("backup-keep", backup.DefaultKeep, "how many scheduled copies of the store to keep (--backup-dir), the newest")
	modelsDir := fs.String("models", "", "model directory of the Face Match API (default $KYC_MODELS_DIR, else $KYC_HOME/models; kyc models install fills it); without the models the API answers 503")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := proxiesFromEnv(fs, &proxies); err != nil {
		return err
	}
	if *promptTime < 0 || *challengeTime < 0 {
		return errors.New("--challenge-prompt-time and --challenge-time must not be negative")
	}
	if *fmTurns < 0 || *fmShare < 0 || *fmWait < 0 || *fmBodyTime < 0 {
		return errors.New("--face-match-turns, --face-match-share, --face-match-wait and --face-match-body-time must not be negative")
	}
	if *whTimeout <= 0 {
		return errors.New("--webhook-timeout must be positive: it bounds each delivery and scales the job queue's leases")
	}
	if *riskTTL <= 0 {
		return errors.New("--risk-proposal-ttl must be positive")
	}
	if *backupDir != "" && (*backupEvery < time.Minute || *backupKeep < 1) {
		return errors.New("--backup-every must be at least a minute and --backup-keep at least 1")
	}
	if *whMinRate < minWebhookRate {
		return fmt.Errorf("--webhook-min-rate must be at least %d bytes a second: slower, a stalled request holds its session's lane for most of 15 minutes", minWebhookRate)
	}
	if *fmTurns > 0 && *fmShare > *fmTurns {
		return fmt.Errorf("--face-match-share %d exceeds --face-match-turns %d: a partner cannot hold more turns than there are", *fmShare, *fmTurns)
	}
	srvTLS, err := serveTLS(*certFile, *keyFile, *insecure, *addr)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*data, 0o700); err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	if *boxKeyFile == "" {
		*boxKeyFile = filepath.Join(*data, "box.key")
	}
	if *signKeyFile == "" {
		*signKeyFile = filepath.Join(*data, "sign.key")
	}
	box, err := central.LoadOrCreateBoxKey(*boxKeyFile)
	if err != nil {
		return err
	}
	sign, err := central.LoadOrCreateSignKey(*signKeyFile)
	if err != nil {
		return err
	}
	tok, err := adminToken(*tokenFile)
	if err != nil {
		return err
	}
	if tok != "" {
		if err := central.CheckAdminToken(tok); err != nil {
			return fmt.Errorf("refusing to start: %w", err)
		}
	}
	if *tokenOwner != "" && tok == "" {
		return errors.New("--admin-token-owner names the holder of the admin token, but there is none (--admin-token-file or $" + envAdminToken + ")")
	}
	var store central.Store
	switch *storeKind {
	case "bolt":
		store, err = boltstore.Open(filepath.Join(*data, "central.db"))
		if errors.Is(err, boltstore.ErrNewerFormat) {
			// Served, it would ignore what it does not know (an erasure,
			// a hold): the release that wrote it serves it.
			return fmt.Errorf("refusing to start: %w; run the release that wrote it, or restore a copy this release wrote", err)
		}
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
	pg, _ := store.(*pgstore.Store)     // nil on bbolt: no job queue
	bolt, _ := store.(*boltstore.Store) // nil on PostgreSQL: pg_dump backs it up
	if store, err = sealed(ctx, store, *keysFile, *data); err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(stderr, nil))
	if bolt != nil {
		// The copies a `kyc-central restore` killed mid-copy left beside
		// the store: each a whole store, which erasures would not reach.
		if n, err := backup.RemoveLeftRestores(filepath.Join(*data, "central.db")); err != nil {
			logger.Warn("removing the copies a restore left in the data folder failed", "cause", err.Error())
		} else if n > 0 {
			logger.Info("removed copies a restore left in the data folder", "files", n)
		}
	}
	// Once: the user references a release before sealing them stored clear.
	if n, err := store.(*seal.Store).SealStoredUsers(ctx, 0); err != nil {
		return fmt.Errorf("sealing the partners' user references stored clear: %w", err)
	} else if n > 0 {
		logger.Info("sealed the partners' user references stored clear", slog.Int("records", n))
	}
	srv, err := central.New(central.Config{
		Addr: *addr, Version: version, Store: store, BoxKey: box, SignKey: sign, AdminToken: tok,
		TLS: srvTLS, InsecureHTTP: *insecure, MetricsAddr: *metricsAddr, ConsoleAddr: *consoleAddr, Logger: logger, SweepByQueue: pg != nil, ErasureByQueue: pg != nil, TrustedProxies: proxies,
		RiskProposalTTL: *riskTTL, AdminTokenOwner: *tokenOwner,
	})
	if err != nil {
		return err
	}
	pkey, err := loadOrCreatePartnerKey(partnerKeyPath(*partnerKey, *data))
	if err != nil {
		return err
	}
	fm, closeFM := openFaceMatcher(ctx, *modelsDir, logger)
	defer closeFM()
	q := queueConfig{pg: pg, store: store, timeout: *whTimeout, minRate: *whMinRate}
	if *recheckApprovals {
		stopRecheck, err := startRecheck(ctx, store, fm, &q, logger)
		if err != nil {
			return err
		}
		defer stopRecheck()
	}
	api, err := mountPartnerAPI(srv, partnerapi.Config{Store: store, SecretKey: pkey, Logger: logger, FaceMatcher: fm,
		FaceMatchTurns: *fmTurns, FaceMatchShare: *fmShare, FaceMatchWait: *fmWait, FaceMatchBodyTime: *fmBodyTime,
		PublicURL: publicURL(*pubURL, *addr, srvTLS != nil), HostedFlow: true})
	if err != nil {
		return err
	}
	if err := mountConsole(srv, store, api, consoleKeyPath(*consoleKey, *data), srvTLS != nil, *verifyCooldown, central.Config{Logger: logger}); err != nil {
		return err
	}
	bcfg := backup.Config{Store: store, StageDir: *data}
	if bolt != nil {
		bcfg.Source = bolt
	}
	backup.Mount(srv, bcfg)
	if *backupDir != "" {
		stopBackups, err := startBackups(ctx, &backup.Schedule{Source: bcfg.Source, Store: store, Dir: *backupDir, StoreDir: bcfg.StageDir,
			Every: *backupEvery, Keep: *backupKeep, Log: logger.With("part", "backup")})
		if err != nil {
			return err
		}
		defer stopBackups()
	}
	stopFlow, err := startHostedFlow(ctx, srv, hostedflow.Config{Store: store, PublicURL: publicURL(*pubURL, *addr, srvTLS != nil),
		Logger: logger, ReferenceImage: api.ReferenceImage, PromptTime: *promptTime, ChallengeTime: *challengeTime}, *modelsDir)
	if err != nil {
		return err
	}
	defer stopFlow()
	stopWebhooks, err := startWebhooks(ctx, srv, store, q, pkey, api, logger)
	if err != nil {
		return err
	}
	defer stopWebhooks()
	if tok == "" {
		logger.Warn("admin API disabled: no admin token")
	}
	ready := make(chan string, 1)
	go func() {
		select {
		case a := <-ready:
			logger.Info("kyc-central listening", "addr", a, "version", version, "store", *storeKind, "tls", srvTLS != nil,
				"console_addr", *consoleAddr, "fingerprint", fingerprint(srv))
		case <-ctx.Done():
		}
	}()
	return srv.Serve(ctx, ready)
}

func fingerprint(s *central.Server) string {
	return base64.RawURLEncoding.EncodeToString(s.Fingerprint())
}

// serveTLS loads the certificate, or checks that plain HTTP was asked for
// on loopback, before anything else starts.
func serveTLS(cert, key string, insecure bool, addr string) (*tls.Config, error) {
	switch {
	case cert != "" && key != "" && insecure:
		return nil, errors.New("--insecure-http and --tls-cert/--tls-key exclude each other")
	case cert != "" && key != "":
		return pki.ServerConfig(cert, key)
	case cert != "" || key != "":
		return nil, errors.New("--tls-cert and --tls-key go together")
	case !insecure:
		return nil, errors.New("central serves HTTPS: give --tls-cert and --tls-key (kyc-central tls init --dir D --host H makes them), or --insecure-http on a loopback address for a test")
	case !central.IsLoopback(addr):
		return nil, fmt.Errorf("--insecure-http serves only a loopback address (127.0.0.1, [::1], localhost), not %s: anything else needs TLS", addr)
	}
	return nil, nil
}

func tlsInit(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tls init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "directory for ca.crt, ca.key, server.crt and server.key (an existing CA there is kept)")
	var hs hosts
	fs.Var(&hs, "host", "a name or IP address devices reach central at (repeat for more)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || len(hs) == 0 {
		return errors.New("tls init needs --dir and at least one --host")
	}
	f, err := pki.Init(*dir, hs)
	if err != nil {
		return fmt.Errorf("making the certificates: %w", err)
	}
	ca := "made a new CA"
	if f.CAReused {
		ca = "kept the existing CA"
	}
	fmt.Fprintf(stdout, "%s; server certificate for %s\n  CA certificate (give it to devices: kyc enroll --ca): %s\n  CA key (keep offline): %s\n  kyc-central serve --tls-cert %s --tls-key %s\n",
		ca, hs.String(), f.CACert, f.CAKey, f.ServerCert, f.ServerKey)
	return nil
}

func createToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("central", "https://127.0.0.1:8443", "central's base URL")
	caFile := fs.String("ca", "", "CA certificate central's certificate chains to (default: the system's roots)")
	ttl := fs.Duration("ttl", central.DefaultTokenTTL, "how long the token stays valid")
	tokenFile := fs.String("admin-token-file", "", "file holding the admin API bearer token, private to its owner (mode 0600; default $"+envAdminToken+")")
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
	u, client, err := adminClient(*base, *caFile, time.Minute)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String()+"/admin/v1/enroll-tokens?ttl="+ttl.String(), nil)
	if err != nil {
		return fmt.Errorf("creating token: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := client.Do(req)
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
	fmt.Fprintf(stderr, "central's key fingerprint: %s (the token carries it; the device checks central's keys against it)\n", tr.Fingerprint)
	return json.NewEncoder(stdout).Encode(tr)
}

// adminClient checks central's base URL for the admin API (https, or
// http on loopback: the token is never sent in clear over a network) and
// returns it with a client trusting caFile (default: the system's roots).
func adminClient(base, caFile string, timeout time.Duration) (*url.URL, *http.Client, error) {
	u, err := url.Parse(strings.TrimSuffix(base, "/"))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, nil, fmt.Errorf("--central %q is not an https:// URL", base)
	}
	if u.Scheme == "http" && !central.IsLoopback(u.Hostname()) {
		return nil, nil, fmt.Errorf("refusing to send the admin token over plain HTTP to %s: use https:// (and --ca)", u.Host)
	}
	client := &http.Client{Timeout: timeout}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, nil, fmt.Errorf("reading CA: %w", err)
		}
		cfg, err := pki.ClientConfig(pem)
		if err != nil {
			return nil, nil, fmt.Errorf("reading CA %s: %w", caFile, err)
		}
		client.Transport = &http.Transport{TLSClientConfig: cfg}
	}
	return u, client, nil
}
