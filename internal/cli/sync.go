package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/vault"
)

// Environment variables of the device-side sync commands.
const (
	envDeviceDir       = identity.DirEnv        // device state: key, enrolment, vault
	envVaultKeyFile    = "KYC_VAULT_KEY_FILE"   // kiosk: root-only vault key file
	envVaultPassphrase = "KYC_VAULT_PASSPHRASE" // field laptop and tests
)

// Files in the device directory.
const (
	deviceKeyFile  = "device.key"
	enrollmentFile = "enrollment.json"
	vaultFile      = "vault.db"
)

// deviceDir is the --dir default (see identity.DefaultDir).
func deviceDir() string { return identity.DefaultDir() }

type enrollResult struct {
	DeviceID   string    `json:"device_id"`
	CentralURL string    `json:"central_url"`
	EnrolledAt time.Time `json:"enrolled_at"`
}

func runEnroll(ctx context.Context, env *Env, args []string) (any, error) {
	fs := newFlags(env, "enroll")
	centralURL := fs.String("central", "", "central's base URL (required)")
	token := fs.String("token", "", "one-time enrolment token from `kyc-central token create` (required)")
	dir := fs.String("dir", deviceDir(), "device state directory ($"+envDeviceDir+")")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if *centralURL == "" || *token == "" {
		return nil, Errorf(ExitUsage, "usage", "enroll needs --central and --token")
	}
	if _, err := identity.ParseCentralURL(*centralURL); err != nil {
		return nil, Errorf(ExitUsage, "usage", "%v", err)
	}
	enrPath := filepath.Join(*dir, enrollmentFile)
	if _, err := os.Stat(enrPath); err == nil {
		return nil, Errorf(ExitInput, "already_enrolled", "%s exists: this device is already enrolled", enrPath)
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return nil, Errorf(ExitInput, "device_dir", "creating %s: %v", *dir, err)
	}
	id, err := identity.LoadOrCreate(filepath.Join(*dir, deviceKeyFile))
	if err != nil {
		return nil, Errorf(ExitInput, "device_key", "%v", err)
	}
	client := &http.Client{Timeout: time.Minute}
	enr, err := identity.Enroll(ctx, client, *centralURL, *token, id, env.Version)
	if errors.Is(err, identity.ErrEnrollRefused) {
		return nil, Errorf(ExitRejected, "enroll_refused", "%v", err)
	}
	if err != nil {
		return nil, Errorf(ExitUnavailable, "central_unavailable", "%v", err)
	}
	if err := identity.SaveEnrollment(enrPath, enr); err != nil {
		return nil, Errorf(ExitInternal, "save_enrollment", "%v", err)
	}
	return enrollResult{DeviceID: enr.DeviceID, CentralURL: enr.CentralURL, EnrolledAt: enr.EnrolledAt}, nil
}

type syncResult struct {
	agent.Summary
	Config *agent.ConfigResult `json:"config,omitempty"`
	// ConfigError says why the configuration refresh failed, if it did;
	// submissions are synced regardless.
	ConfigError string `json:"config_error,omitempty"`
	Stopped     bool   `json:"stopped,omitempty"` // a continuous run ended by a signal
}

// vaultKey picks the vault key source: a key file (flag or environment)
// for kiosks, else a passphrase from the environment.
func vaultKey(keyFile string) (vault.KeySource, error) {
	if keyFile == "" {
		keyFile = os.Getenv(envVaultKeyFile)
	}
	if keyFile != "" {
		return vault.KeyFile(keyFile), nil
	}
	if p := os.Getenv(envVaultPassphrase); p != "" {
		return vault.Passphrase(p), nil
	}
	return nil, Errorf(ExitUsage, "usage", "no vault key: pass --vault-key-file or set $%s or $%s", envVaultKeyFile, envVaultPassphrase)
}

func runSync(ctx context.Context, env *Env, args []string) (any, error) {
	fs := newFlags(env, "sync")
	once := fs.Bool("once", false, "send what is due, refresh the configuration, and exit")
	dir := fs.String("dir", deviceDir(), "device state directory ($"+envDeviceDir+")")
	vaultPath := fs.String("vault", "", "vault file (default DIR/"+vaultFile+")")
	keyFile := fs.String("vault-key-file", "", "vault key file ($"+envVaultKeyFile+"); else $"+envVaultPassphrase)
	configDir := fs.String("config-dir", "", "where to keep down-synced configuration and watchlists (default DIR/config)")
	poll := fs.Duration("poll", 15*time.Second, "pause between passes when running continuously")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if *vaultPath == "" {
		*vaultPath = filepath.Join(*dir, vaultFile)
	}
	if *configDir == "" {
		*configDir = filepath.Join(*dir, "config")
	}
	key, err := vaultKey(*keyFile)
	if err != nil {
		return nil, err
	}
	id, err := identity.Load(filepath.Join(*dir, deviceKeyFile))
	if err != nil {
		return nil, Errorf(ExitInput, "not_enrolled", "%v (run kyc enroll first)", err)
	}
	enr, err := identity.LoadEnrollment(filepath.Join(*dir, enrollmentFile))
	if err != nil {
		return nil, Errorf(ExitInput, "not_enrolled", "%v (run kyc enroll first)", err)
	}
	up, err := agent.NewUploader(agent.Config{Identity: id, Enrollment: enr})
	if err != nil {
		return nil, Errorf(ExitInput, "not_enrolled", "%v", err)
	}
	v, err := vault.Open(ctx, *vaultPath, key, vault.Options{Backoff: agent.OutboxBackoff(30*time.Second, time.Hour)})
	if errors.Is(err, vault.ErrWrongKey) {
		return nil, Errorf(ExitRejected, "vault_key", "%v", err)
	}
	if err != nil {
		return nil, Errorf(ExitInput, "vault", "%v", err)
	}
	defer v.Close()
	a := agent.New(up, v, agent.Options{PollInterval: *poll, ConfigDir: *configDir})
	if !*once {
		fmt.Fprintf(env.Stderr, "syncing %s to %s until interrupted\n", *vaultPath, enr.CentralURL)
		if err := a.Run(ctx); err != nil {
			return nil, Errorf(ExitInternal, "sync", "%v", err)
		}
		return syncResult{Stopped: true}, nil
	}
	sum, err := a.SyncOnce(ctx)
	if err != nil {
		return nil, Errorf(ExitInternal, "sync", "%v", err)
	}
	res := syncResult{Summary: sum}
	if cfg, err := agent.SyncConfig(ctx, up, *configDir); err != nil {
		res.ConfigError = err.Error()
	} else {
		res.Config = &cfg
	}
	return res, nil
}
