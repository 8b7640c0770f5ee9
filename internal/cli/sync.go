package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/openkyc/kyc/internal/atomicfile"
	"github.com/openkyc/kyc/internal/deviceconf"
	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/central/pki"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/protocol"
	"github.com/openkyc/kyc/sync/vault"
)

// The device's settings as the flags' help names them; internal/deviceconf
// resolves them for every command and for the app.
const (
	envDeviceDir       = deviceconf.EnvDeviceDir
	envVaultKeyFile    = deviceconf.EnvVaultKeyFile
	envVaultPassphrase = deviceconf.EnvVaultPassphrase
	deviceKeyFile      = deviceconf.DeviceKeyFile
	enrollmentFile     = deviceconf.EnrollmentFile
	vaultFile          = deviceconf.VaultFile
)

// deviceDir is the --dir default: the device folder deviceconf resolves.
func deviceDir() string { return deviceconf.FromEnv().Dir }

type enrollResult struct {
	DeviceID   string    `json:"device_id"`
	CentralURL string    `json:"central_url"`
	EnrolledAt time.Time `json:"enrolled_at"`
	// CAPinned says whether the enrolment trusts a CA given with --ca
	// rather than the system roots.
	CAPinned bool `json:"ca_pinned"`
}

// maxTokenFile bounds what is read as an enrolment token.
const maxTokenFile = 4 << 10

// readToken reads the enrolment token from a file, or from stdin for "-".
// Never from the command line: every local user sees a process's
// arguments.
func readToken(path string) (string, error) {
	var r io.Reader
	if path == "-" {
		r = os.Stdin
	} else {
		f, err := atomicfile.Open(path)
		if err != nil {
			return "", Errorf(ExitInput, "token_file", "reading the enrolment token: %v", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxTokenFile+1))
	if err != nil {
		return "", Errorf(ExitInput, "token_file", "reading the enrolment token: %v", err)
	}
	if len(data) > maxTokenFile {
		return "", Errorf(ExitInput, "token_file", "the token file holds more than %d bytes: not a token", maxTokenFile)
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return "", Errorf(ExitInput, "token_file", "the token file is empty")
	}
	return tok, nil
}

func runEnroll(ctx context.Context, env *Env, args []string) (any, error) {
	fs := newFlags(env, "enroll")
	centralURL := fs.String("central", "", "central's base URL, https:// (http:// only to this machine) (required)")
	tokenFile := fs.String("token-file", "", "file holding the one-time token from `kyc-central token create`, or - for standard input (required)")
	token := fs.String("token", "", "refused: a token on the command line is visible to every local user; use --token-file")
	caFile := fs.String("ca", "", "central's CA certificate (ca.crt from `kyc-central tls init`); trusted alone for every later request")
	dir := fs.String("dir", deviceDir(), "device state directory ($"+envDeviceDir+")")
	again := fs.Bool("again", false, "enrol an enrolled device again (central restored or moved): the device key and the vault stay; the enrolment is replaced only once central accepts the new one")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if *token != "" {
		return nil, Errorf(ExitUsage, "token_on_command_line", "--token is refused: every local user can read a command line (ps, /proc); put the token in a file readable only by you and pass --token-file FILE, or pipe it with --token-file -")
	}
	if *centralURL == "" || *tokenFile == "" {
		return nil, Errorf(ExitUsage, "usage", "enroll needs --central and --token-file")
	}
	if _, err := identity.ParseCentralURL(*centralURL); err != nil {
		return nil, Errorf(ExitUsage, "usage", "%v", err)
	}
	var caPEM []byte
	if *caFile != "" {
		var err error
		if caPEM, err = atomicfile.Read(*caFile, maxCAFile); err != nil {
			return nil, Errorf(ExitInput, "ca", "reading central's CA: %v", err)
		}
		if _, err := pki.CertPool(caPEM); err != nil {
			return nil, Errorf(ExitInput, "ca", "%s: %v", *caFile, err)
		}
	}
	dev := deviceconf.Resolve(deviceconf.Overrides{Dir: *dir})
	enrPath := dev.EnrollmentPath()
	if _, err := os.Stat(enrPath); err == nil && !*again {
		return nil, Errorf(ExitInput, "already_enrolled", "%s exists: this device is already enrolled (after central was restored or moved, enrol again with --again: the queued submissions are kept and sent)", enrPath)
	}
	tok, err := readToken(*tokenFile)
	if err != nil {
		return nil, err
	}
	if _, err := protocol.ParseEnrollToken(tok); err != nil {
		return nil, Errorf(ExitInput, "bad_token", "%v: a token from `kyc-central token create` reads <secret>.<fingerprint>", err)
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return nil, Errorf(ExitInput, "device_dir", "creating %s: %v", *dir, err)
	}
	id, err := identity.LoadOrCreate(dev.DeviceKeyPath())
	if err != nil {
		return nil, Errorf(ExitInput, "device_key", "%v", err)
	}
	v, err := pinVault(ctx, dev, *again, env.Stderr)
	if err != nil {
		return nil, err
	}
	if v != nil {
		defer v.Close()
	}
	enr, err := identity.EnrollWithCA(ctx, caPEM, *centralURL, tok, id, env.Version)
	switch {
	case errors.Is(err, protocol.ErrKeyMismatch):
		return nil, Errorf(ExitRejected, "key_mismatch", "%v: the keys central answered with are not those the token was made for (someone in between, or another central); nothing was saved", err)
	case errors.Is(err, identity.ErrEnrollRefused):
		return nil, Errorf(ExitRejected, "enroll_refused", "%v", err)
	case isCertError(err):
		return nil, Errorf(ExitRejected, "tls", "%v: central's certificate is not trusted (pass its CA with --ca)", err)
	case err != nil:
		return nil, Errorf(ExitUnavailable, "central_unavailable", "%v", err)
	}
	// Pinned before the file is written: a file without its pin would
	// be refused as a changed enrolment, a pin without its file says to
	// enrol again.
	if v != nil {
		if err := v.SetPin(ctx, agent.PinOf(enr)); err != nil {
			return nil, codedErr(ExitInternal, "vault", err)
		}
	}
	if err := identity.SaveEnrollment(enrPath, enr); err != nil {
		return nil, Errorf(ExitInternal, "save_enrollment", "%v", err)
	}
	return enrollResult{DeviceID: enr.DeviceID, CentralURL: enr.CentralURL, EnrolledAt: enr.EnrolledAt, CAPinned: len(caPEM) > 0}, nil
}

// pinVault opens the device's vault for the enrolment to be pinned in
// (agent.PinOf), before central is asked, making it when the device has
// none yet: the enrolment, written after, is then the evidence a vault
// was made (openVault), and a crash before it is written leaves a device
// not enrolled, never one enrolled without its vault. It is nil, for a
// first enrolment, when another process holds the vault (that process's
// sync loop pins it). Enrolling again replaces the pin, so it needs the
// vault.
func pinVault(ctx context.Context, dev deviceconf.Device, again bool, warn io.Writer) (*vault.Vault, error) {
	v, err := openDeviceVault(ctx, dev.Dir, "", "", warn)
	var coded *Error
	switch {
	case err == nil:
		return v, nil
	case !errors.As(err, &coded):
		return nil, err
	case !again && coded.Code == "vault_in_use":
		return nil, nil
	case again:
		coded.Message = "enrolling again replaces the enrolment the vault records: " + coded.Message + " (stop it, or enrol again from the app's settings)"
	}
	return nil, coded
}

// isCertError reports whether err is a TLS certificate verification
// failure.
func isCertError(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn)
}

type syncResult struct {
	agent.Pass
	Stopped bool `json:"stopped,omitempty"` // a continuous run ended by a signal
}

// vaultKey resolves the vault key as the app does (internal/deviceconf):
// a key file (flag or $KYC_VAULT_KEY_FILE, outside the device folder),
// else $KYC_VAULT_PASSPHRASE (refused when weak), else the key the device
// keeps outside its folder, made on first use.
func vaultKey(dir, keyFile string, warn io.Writer) (vault.KeySource, error) {
	k, err := deviceconf.Resolve(deviceconf.Overrides{Dir: dir, KeyFile: keyFile}).VaultKey()
	switch {
	case errors.Is(err, deviceconf.ErrWeakPassphrase):
		return nil, Errorf(ExitRejected, "weak_passphrase", "%v", err)
	case errors.Is(err, deviceconf.ErrKeyInDataDir), errors.Is(err, deviceconf.ErrInsecureKeyDir), errors.Is(err, deviceconf.ErrKeyConflict):
		return nil, Errorf(ExitRejected, "vault_key", "%v", err)
	case err != nil:
		return nil, Errorf(ExitInput, "vault_key", "%v", err)
	}
	if k.Weak != nil {
		fmt.Fprintf(warn, "warning: %v\nThe vault opens so nothing waiting to sync is stranded; rotate its key to a strong passphrase or a key file: kyc vault rotate.\n", k.Weak)
	}
	return k.Source, nil
}

func runSync(ctx context.Context, env *Env, args []string) (any, error) {
	if len(args) > 0 && args[0] == "requeue" {
		return runSyncRequeue(ctx, env, args[1:])
	}
	fs := newFlags(env, "sync")
	once := fs.Bool("once", false, "one pass now: send what waits (backoffs cut short), refresh the configuration, report status, and exit")
	dir := fs.String("dir", deviceDir(), "device state directory ($"+envDeviceDir+")")
	vaultPath := fs.String("vault", "", "vault file (default DIR/"+vaultFile+")")
	keyFile := fs.String("vault-key-file", "", "vault key file ($"+envVaultKeyFile+"); else $"+envVaultPassphrase)
	configDir := fs.String("config-dir", "", "where to keep down-synced configuration and watchlists (default DIR/"+deviceconf.ConfigDirName+")")
	poll := fs.Duration("poll", agent.DefaultPollInterval, "pause between passes when running continuously")
	keepImages := fs.Bool("keep-images", false, "keep images in the vault after central acknowledged a submission (default: shred them)")
	retention := fs.Duration("retention", agent.DefaultRetention, "how long delivered and rejected submissions stay in the vault (0 or less: forever)")
	list := fs.Bool("list", false, "list the vault's submissions, newest first, with their sync state and central's review, without syncing")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if *list {
		if *once {
			return nil, Errorf(ExitUsage, "usage", "sync: --list does not sync; drop --once")
		}
		v, err := openDeviceVault(ctx, *dir, *vaultPath, *keyFile, env.Stderr)
		if err != nil {
			return nil, err
		}
		defer v.Close()
		return listQueue(ctx, v)
	}
	if *configDir == "" {
		*configDir = deviceconf.Resolve(deviceconf.Overrides{Dir: *dir}).ConfigDir()
	}
	if *retention <= 0 {
		*retention = -1 // agent.Options: negative turns the sweep off
	}
	up, enr, err := deviceUploader(*dir)
	if err != nil {
		return nil, err
	}
	v, err := openDeviceVault(ctx, *dir, *vaultPath, *keyFile, env.Stderr)
	if err != nil {
		return nil, err
	}
	defer v.Close()
	opts := agent.Options{PollInterval: *poll, ConfigDir: *configDir, KeepImages: *keepImages, Retention: *retention, AppVersion: env.Version}
	if !*once {
		opts.OnPass = func(p agent.Pass) {
			state := "offline"
			if p.Online {
				state = "online"
			}
			line := fmt.Sprintf("%s %s: %d synced, %d queued, %d rejected", p.At.Format(time.TimeOnly), state, p.Synced, p.QueueDepth, p.RejectedTotal)
			if p.Reviews > 0 {
				line += fmt.Sprintf(", %d reviews from central", p.Reviews)
			}
			if p.LastError != "" {
				line += ": " + p.LastError
			}
			fmt.Fprintln(env.Stderr, line)
		}
		a := agent.New(up, v, opts)
		fmt.Fprintf(env.Stderr, "syncing %s to %s until interrupted\n", v.Path(), enr.CentralURL)
		if err := a.Run(ctx); err != nil {
			return nil, Errorf(ExitInternal, "sync", "%v", err)
		}
		return syncResult{Pass: a.Status(), Stopped: true}, nil
	}
	// A one-off pass is someone asking for a sync now, as the app's "Sync
	// now" is: what waits out a backoff (after central was away, or
	// before an `enroll --again`) is tried in this pass too.
	if _, err := v.RetryNow(ctx); err != nil {
		return nil, Errorf(ExitInternal, "sync", "%v", err)
	}
	p, err := agent.New(up, v, opts).RunOnce(ctx)
	if err != nil {
		return nil, Errorf(ExitInternal, "sync", "%v", err)
	}
	return syncResult{Pass: p}, nil
}

// deviceUploader loads the device's key and enrolment from dir.
func deviceUploader(dir string) (*agent.Uploader, identity.Enrollment, error) {
	dev := deviceconf.Resolve(deviceconf.Overrides{Dir: dir})
	id, err := identity.Load(dev.DeviceKeyPath())
	if err != nil {
		return nil, identity.Enrollment{}, Errorf(ExitInput, "not_enrolled", "%v (run kyc enroll first)", err)
	}
	enr, err := identity.LoadEnrollment(dev.EnrollmentPath())
	if e := enrollmentInvalid(err); e != nil {
		return nil, identity.Enrollment{}, e
	}
	if err != nil {
		return nil, identity.Enrollment{}, Errorf(ExitInput, "not_enrolled", "%v (run kyc enroll first)", err)
	}
	up, err := agent.NewUploader(agent.Config{Identity: id, Enrollment: enr})
	if errors.Is(err, identity.ErrInsecureURL) {
		return nil, enr, Errorf(ExitRejected, "insecure_url", "%v", err)
	}
	if err != nil {
		return nil, enr, Errorf(ExitInput, "not_enrolled", "%v", err)
	}
	return up, enr, nil
}

// openDeviceVault opens the device's vault (path "" means DIR/vault.db).
// On an enrolled device a missing vault is vault_missing, not a new one
// (openVault).
func openDeviceVault(ctx context.Context, dir, path, keyFile string, warn io.Writer) (*vault.Vault, error) {
	return openVault(ctx, dir, path, keyFile, false, warn)
}

// openVault opens the device's vault as openDeviceVault does; replace
// is the operator's word (kyc vault reset --i-understand) that a vault
// missing on an enrolled device is lost, so a new one is made (its audit
// log saying so). The enrolment is the evidence there was a vault: it is
// written only once the vault holds its pin (runEnroll), and deleting
// it un-enrols the device.
func openVault(ctx context.Context, dir, path, keyFile string, replace bool, warn io.Writer) (*vault.Vault, error) {
	dev := deviceconf.Resolve(deviceconf.Overrides{Dir: dir})
	reset := "kyc vault reset --i-understand --dir " + dev.Dir
	if path == "" {
		path = dev.VaultPath()
	} else {
		reset += " --vault " + path
	}
	key, err := vaultKey(dir, keyFile, warn)
	if err != nil {
		return nil, err
	}
	v, err := vault.Open(ctx, path, key, vault.Options{Backoff: agent.OutboxBackoff(30*time.Second, time.Hour),
		Evidence: []string{dev.EnrollmentPath()}, ReplaceMissing: replace})
	switch {
	case errors.Is(err, vault.ErrMissing):
		return nil, Errorf(ExitRejected, "vault_missing", "%v; to acknowledge the loss: %s", err, reset)
	case errors.Is(err, vault.ErrWrongKey):
		return nil, Errorf(ExitRejected, "vault_key", "%v", err)
	case errors.Is(err, vault.ErrLocked):
		return nil, Errorf(ExitUnavailable, "vault_in_use", "%v: a running `kyc sync` or the app holds it; stop it, or use the app's re-queue action", err)
	case err != nil:
		return nil, codedErr(ExitInput, "vault", err)
	}
	return v, nil
}
