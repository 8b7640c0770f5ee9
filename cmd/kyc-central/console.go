package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/auth"
	"github.com/openkyc/kyc/sync/central/console"
	"github.com/openkyc/kyc/sync/central/httpx"
)

// consoleKeyName is the console's secret key file in the data directory:
// it seals the TOTP secrets of console accounts.
const consoleKeyName = "console.key"

const consoleKeyMagic = "openkyc-central-console-key-v1\n"

// stdin is where `user add` reads the password (a variable for tests).
var stdin io.Reader = os.Stdin

// loadOrCreateConsoleKey reads the console's secret key, creating the file
// (mode 0600, written atomically) when missing, as the box and sign keys
// are kept. Instances sharing a store must share it.
func loadOrCreateConsoleKey(path string) ([]byte, error) {
	return central.LoadOrCreateSecret(path, "the console key", consoleKeyMagic, auth.KeySize)
}

// mountConsole serves the review console at /console/ on srv (on its
// own listener when srv has a console address); partners is the partner
// API, which the partners page changes partners through; verifyCooldown
// is console.Config.VerifyCooldown.
func mountConsole(srv *central.Server, store central.Store, partners console.PartnerAdmin, keyFile string, secure bool, verifyCooldown time.Duration, cfg central.Config) error {
	key, err := loadOrCreateConsoleKey(keyFile)
	if err != nil {
		return err
	}
	cc := console.Config{Store: store, Central: srv, Partners: partners, SecretKey: key, Logger: cfg.Logger, Secure: secure,
		VerifyCooldown: verifyCooldown}
	if idx, ok := store.(central.BlindIndex); ok {
		cc.Index = idx.Token
	}
	c, err := console.New(cc)
	if err != nil {
		return err
	}
	srv.MountConsole(console.Prefix, c.Handler())
	return nil
}

// scopes collects repeated --scope flags.
type scopes []string

func (s *scopes) String() string     { return strings.Join(*s, ",") }
func (s *scopes) Set(v string) error { *s = append(*s, strings.TrimSpace(v)); return nil }

const userUsage = `usage:
  kyc-central user add --name NAME --role admin|reviewer|auditor [--scope BRANCH]... [--data dir] [--store bolt|postgres] [--dsn dsn]
  kyc-central user reset-totp --name NAME [--data dir] [--store bolt|postgres] [--dsn dsn]
  kyc-central user passwd --name NAME [--data dir] [--store bolt|postgres] [--dsn dsn]
  kyc-central user disable|enable --name NAME [--data dir] [--store bolt|postgres] [--dsn dsn]

The password is read from standard input (one line), never from the command
line; a weak one is refused. The second factor (TOTP) is enrolled at the
account's first sign-in to the console. A bbolt store is locked by a running
central: stop it first.

reset-totp removes an account's second factor (a lost phone) and ends its
sessions: the next sign-in enrols a new one. passwd sets a new password
(standard input, checked as for add), clears a lockout and ends the
account's sessions. disable refuses every sign-in and ends its sessions;
enable lets it sign in again.`

// user runs `kyc-central user add`.
func user(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "reset-totp":
			return resetTOTP(ctx, args[1:], stdout, stderr)
		case "passwd", "disable", "enable":
			return userChange(ctx, args[0], args[1:], stdout, stderr)
		}
	}
	if len(args) == 0 || args[0] != "add" {
		fmt.Fprintln(stderr, userUsage)
		return errors.New("user: add, passwd, disable, enable or reset-totp?")
	}
	fs := flag.NewFlagSet("user add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "account name (letters, digits, '.', '_', '-')")
	role := fs.String("role", "", "admin, reviewer or auditor")
	var sc scopes
	fs.Var(&sc, "scope", "a branch (or region) the account works on (repeat for more; none: every branch)")
	data := fs.String("data", "kyc-central-data", "data directory (bbolt store)")
	storeKind := fs.String("store", "bolt", "store: bolt or postgres")
	dsn := fs.String("dsn", os.Getenv(envDSN), "PostgreSQL connection string (--store postgres)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	r := central.Role(*role)
	switch {
	case !validUserName(*name):
		return errors.New("user add: --name must be 1-64 letters, digits, '.', '_' or '-'")
	case !r.Valid():
		return errors.New("user add: --role must be admin, reviewer or auditor")
	}
	for _, s := range sc {
		if s == "" {
			return errors.New("user add: --scope must not be empty")
		}
	}
	pw, err := readPassword(stderr, "password", *name)
	if err != nil {
		return fmt.Errorf("user add: %w", err)
	}
	if *storeKind == "bolt" {
		// The first admin is usually added before central ever ran.
		if err := os.MkdirAll(*data, 0o700); err != nil {
			return fmt.Errorf("user add: creating the data directory: %w", err)
		}
	}
	store, err := openStore(ctx, *storeKind, *data, *dsn)
	if err != nil {
		return err
	}
	defer store.Close()
	now := time.Now().UTC()
	u := central.User{Name: *name, Role: r, PasswordHash: auth.HashPassword(pw, auth.DefaultParams), Scopes: sc, CreatedAt: now}
	code := auth.SetEnrolCode(&u, now)
	if err := store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, central.ErrUserExists) {
			return fmt.Errorf("user add: an account named %q already exists", *name)
		}
		return fmt.Errorf("user add: %w", err)
	}
	ev := central.AuditEvent{ID: httpx.NewRequestID(), At: now, Actor: "kyc-central user add", Action: "user_add", Count: 1,
		Subject: "user:" + *name, After: mustJSON(map[string]any{"role": r, "scopes": sc})}
	if err := store.AppendAudit(ctx, ev); err != nil {
		return fmt.Errorf("user add: recording the audit event (the account exists): %w", err)
	}
	scope := "every branch"
	if len(sc) > 0 {
		scope = "branches " + sc.String()
	}
	fmt.Fprintf(stdout, "created %s %q for %s.\nenrolment code: %s\n", r, *name, scope, code)
	fmt.Fprintf(stdout, "The second factor (TOTP) is enrolled at the first sign-in, within %s: open https://HOST:PORT/console/, sign in with this name and password and give the enrolment code (hand it over apart from the password).\n", enrolCodeValidity)
	return nil
}

// readPassword reads one line of stdin (without echo on a terminal) and
// refuses a password too weak for account name.
func readPassword(stderr io.Writer, what, name string) (string, error) {
	pw, err := readSecretLine(stderr, what, auth.MaxPasswordLen)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	if err := auth.CheckStrength(pw, name); err != nil {
		return "", err
	}
	return pw, nil
}

// readSecretLine asks for what and reads one line of at most max bytes
// from stdin, not echoed on a terminal.
func readSecretLine(stderr io.Writer, what string, max int) (string, error) {
	fmt.Fprintf(stderr, "%s (one line on standard input):\n", what)
	if f, ok := stdin.(*os.File); ok {
		defer noEcho(f)()
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, int64(max)+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// enrolCodeValidity is auth.EnrolCodeTTL in words.
const enrolCodeValidity = "7 days"

// resetTOTP runs `kyc-central user reset-totp`.
func resetTOTP(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("user reset-totp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "account name")
	data := fs.String("data", "kyc-central-data", "data directory (bbolt store)")
	storeKind := fs.String("store", "bolt", "store: bolt or postgres")
	dsn := fs.String("dsn", os.Getenv(envDSN), "PostgreSQL connection string (--store postgres)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !validUserName(*name) {
		return errors.New("user reset-totp: --name is required")
	}
	store, err := openStore(ctx, *storeKind, *data, *dsn)
	if err != nil {
		return err
	}
	defer store.Close()
	var code string
	_, err = store.UpdateUser(ctx, *name, func(u *central.User) error {
		u.TOTPSecret, u.LastTOTPStep = nil, 0
		code = auth.SetEnrolCode(u, time.Now())
		return nil
	})
	if errors.Is(err, central.ErrNotFound) {
		return fmt.Errorf("user reset-totp: no account named %q", *name)
	}
	if err != nil {
		return fmt.Errorf("user reset-totp: %w", err)
	}
	if err := store.DeleteSessions(ctx, *name); err != nil {
		return fmt.Errorf("user reset-totp: ending the sessions: %w", err)
	}
	ev := central.AuditEvent{ID: httpx.NewRequestID(), At: time.Now().UTC(), Actor: "kyc-central user reset-totp", Action: "totp_reset",
		Count: 1, Subject: "user:" + *name}
	if err := store.AppendAudit(ctx, ev); err != nil {
		return fmt.Errorf("user reset-totp: recording the audit event (the reset is done): %w", err)
	}
	fmt.Fprintf(stdout, "removed the second factor of %q and ended its sessions; the next sign-in enrols a new one with\nenrolment code: %s\n(valid %s)\n", *name, code, enrolCodeValidity)
	return nil
}

// userChange runs `kyc-central user passwd|disable|enable`: a change of
// an account that ends every session it has (ASVS 3.3.3: a password
// change or a disabled account leaves no session signed in), audited.
func userChange(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("user "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "account name")
	data := fs.String("data", "kyc-central-data", "data directory (bbolt store)")
	storeKind := fs.String("store", "bolt", "store: bolt or postgres")
	dsn := fs.String("dsn", os.Getenv(envDSN), "PostgreSQL connection string (--store postgres)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !validUserName(*name) {
		return fmt.Errorf("user %s: --name is required", cmd)
	}
	var hash string
	if cmd == "passwd" {
		pw, err := readPassword(stderr, "new password", *name)
		if err != nil {
			return fmt.Errorf("user passwd: %w", err)
		}
		hash = auth.HashPassword(pw, auth.DefaultParams)
	}
	store, err := openStore(ctx, *storeKind, *data, *dsn)
	if err != nil {
		return err
	}
	defer store.Close()
	action := map[string]string{"passwd": "user_password", "disable": "user_disable", "enable": "user_enable"}[cmd]
	_, err = store.UpdateUser(ctx, *name, func(u *central.User) error {
		switch cmd {
		case "passwd":
			u.PasswordHash = hash
			auth.Unlock(u) // a new password ends a lockout
		case "disable":
			u.Disabled = true
		case "enable":
			u.Disabled = false
		}
		return nil
	})
	if errors.Is(err, central.ErrNotFound) {
		return fmt.Errorf("user %s: no account named %q", cmd, *name)
	}
	if err != nil {
		return fmt.Errorf("user %s: %w", cmd, err)
	}
	if err := store.DeleteSessions(ctx, *name); err != nil {
		return fmt.Errorf("user %s: ending the sessions: %w", cmd, err)
	}
	ev := central.AuditEvent{ID: httpx.NewRequestID(), At: time.Now().UTC(), Actor: "kyc-central user " + cmd, Action: action,
		Count: 1, Subject: "user:" + *name}
	if err := store.AppendAudit(ctx, ev); err != nil {
		return fmt.Errorf("user %s: recording the audit event (the change is done): %w", cmd, err)
	}
	fmt.Fprintf(stdout, "%s: done for %q; its sessions are ended.\n", action, *name)
	return nil
}

func validUserName(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// consoleKeyPath is the console key's file: the flag, else DATA/console.key.
func consoleKeyPath(flagValue, data string) string {
	if flagValue != "" {
		return flagValue
	}
	return filepath.Join(data, consoleKeyName)
}
