// Package deviceconf resolves the settings of this device for the desktop
// app and the `kyc` command line alike, so both open the same vault with
// the same key and verify with the same configuration: the device folder
// (key, enrolment, vault), where the vault key is kept (outside that
// folder: key.go), the configuration folder that sync fills, the
// watchlists to screen against and the risk configuration to decide with
// (config.go).
//
// Everything comes from the environment once (FromEnv) into a Device that
// tests build directly; nothing here reads a variable that only tests set.
//
// The vault key is the operator's key file (KYC_VAULT_KEY_FILE, refused
// inside the device folder), else the operator's passphrase
// (KYC_VAULT_PASSPHRASE, refused under 12 characters or below 1e12
// guesses as zxcvbn estimates them), else a key the device makes once and
// keeps outside the device folder: /var/lib/openkyc-keys (0700) as root,
// ~/.local/state/openkyc/keys for a user, or KYC_VAULT_KEY_DIR; a vault.key
// left beside the vault by earlier versions is moved there (written
// durably, then removed). A copy of the device folder therefore holds the
// vault without its key. No OS keyring: kiosks run without a D-Bus secret
// service, and a root-only file is the one store every deployment has.
//
// On an enrolled device verifications decide with exactly what central
// signed: sync keeps central's signed bundle, byte for byte, in
// <device>/config/config.json, and Load checks it with central's key
// pinned at enrolment every time it reads it: the bundle, the risk
// document in force, and each list in <device>/config/watchlists against
// its signed size and SHA-256 (agent.LoadInstalled); the lists are
// screened from the bytes checked, never read again, so a file swapped
// after the check is not what screens. A configuration
// changed on disk (a threshold relaxed, a list dropped, replaced or
// added) is refused with agent.ErrConfigAltered, which says to sync again
// or enrol again, and nothing is decided until sync reinstalls it. Nor is
// anything decided without central's configuration (ErrNotSynced: before
// the first sync, or deleted, which looks the same). Refusing is the safe
// choice: falling back to the built-in defaults would let whoever edits
// the folder pick the laxer of two configurations, and a last verified
// copy kept beside it would be an older configuration central has since
// replaced, which whoever edits the folder could choose by spoiling the
// current one.
//
// A list central names that the device does not hold (its download
// failed) is screened as of unknown age, so would-be approvals go to
// review (SCREENING_STALE); list ages count from the signed bundle's date
// at the latest. A configuration installed by a version that did not keep
// the signature is used until the next sync replaces it, with a warning,
// and its screening is of unknown age (UnverifiedLists), so nothing is
// approved on it: stripping the signature from an edited configuration
// gains nothing but reviews. The same holds for an enrolment from before
// central signed configuration. The local lists (KYC_WATCHLISTS_DIR) join
// central's; central's list wins a name clash.
//
// The vault pins the enrolment (vault.Pin: central's URL, the device id,
// the fingerprint of central's keys), written by the enrolment, or by
// the first sync of a device enrolled before it was kept, and the newest
// configuration sync installed (its date, risk version and list
// versions). Sealed in the vault, it goes only with the results and
// audit kept there, and changes only with the vault's key. Load refuses
// (agent.ErrEnrollmentRemoved) a device whose enrolment file is missing
// or is not the pinned enrolment, rather than let it stand alone with
// its own unsigned configuration, and (agent.ErrConfigRollback) a
// configuration older than the newest installed, or unsigned after a
// signed one: a copy central signed once, put back, with a laxer
// threshold or a list without a name added since. Sync refuses to
// install an older one too. A vault file emptied, or replaced by an
// empty bbolt file, is vault.ErrCorrupt, never a new vault without the
// pin (vault.Open); one deleted while the enrolment stays is
// vault.ErrMissing (the enrolment is written only once the vault holds
// its pin), until the operator acknowledges the loss (kyc vault reset
// --i-understand). What stays out of reach: the device folder
// run as a new device (another folder, or the vault deleted with the
// enrolment), which holds none of this device's results and sends
// central nothing; and an older copy of the whole vault put back with
// the configuration, which a local store cannot tell from the newest
// (central sees the versions in the device's status).
//
// A device that is not enrolled is configured by its administrator:
// <device>/config/risk.json laid over the defaults (one missing or invalid
// is reported) and the local lists, unsigned, as `kyc device-check` says
// (Source). A bad list is reported without keeping the others out.
// Attestations carry the challenge of the last configuration sync
// verified.
package deviceconf

import (
	"os"
	"path/filepath"

	"github.com/openkyc/kyc/models"
	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/identity"
)

// Environment variables the device's settings come from.
const (
	// EnvDeviceDir is the device folder (default <user config>/openkyc/device).
	EnvDeviceDir = identity.DirEnv
	// EnvVaultKeyFile names a vault key file provisioned by the operator
	// (a kiosk's root-only file); it must be outside the device folder.
	EnvVaultKeyFile = "KYC_VAULT_KEY_FILE"
	// EnvVaultPassphrase is an operator's passphrase (the field-laptop
	// mode); weak ones are refused (CheckPassphrase).
	EnvVaultPassphrase = "KYC_VAULT_PASSPHRASE"
	// EnvKeyDir overrides the folder the device keeps the vault key it
	// provisions itself in (default DefaultKeyDir).
	EnvKeyDir = "KYC_VAULT_KEY_DIR"
	// EnvWatchlists is the folder `kyc watchlist import` keeps the lists
	// imported on this device in (default $KYC_HOME/watchlists).
	EnvWatchlists = "KYC_WATCHLISTS_DIR"
)

// Files and folders in the device folder.
const (
	DeviceKeyFile  = "device.key"
	EnrollmentFile = identity.EnrollmentFile
	VaultFile      = "vault.db"
	// ConfigDirName is the folder sync keeps central's signed
	// configuration in: config.json and watchlists/ (risk.json on a device
	// not enrolled).
	ConfigDirName = "config"
	// legacyVaultKeyFile is where the app used to provision the vault key,
	// beside the vault; VaultKey moves it out.
	legacyVaultKeyFile = "vault.key"
)

// Device is where one device's state lives and how its vault is keyed.
type Device struct {
	// Dir holds the device key, the enrolment, the vault and the synced
	// configuration.
	Dir string
	// KeyFile, when set, is the operator's vault key file.
	KeyFile string
	// Passphrase, when set (and KeyFile is not), keys the vault.
	Passphrase string
	// KeyDir is where the device keeps the vault key it provisions when
	// neither KeyFile nor Passphrase is set; never inside Dir.
	KeyDir string
	// LocalWatchlists is the folder of lists imported on this device.
	LocalWatchlists string
}

// FromEnv resolves the device's settings from the environment.
func FromEnv() Device {
	d := Device{
		Dir:             identity.DefaultDir(),
		KeyFile:         os.Getenv(EnvVaultKeyFile),
		Passphrase:      os.Getenv(EnvVaultPassphrase),
		KeyDir:          os.Getenv(EnvKeyDir),
		LocalWatchlists: os.Getenv(EnvWatchlists),
	}
	if d.KeyDir == "" {
		d.KeyDir = DefaultKeyDir()
	}
	if d.LocalWatchlists == "" {
		if home, err := models.Home(); err == nil {
			d.LocalWatchlists = filepath.Join(home, "watchlists")
		}
	}
	return d
}

// DefaultKeyDir is where a device keeps the vault key it provisions: a
// root-only /var/lib/openkyc-keys for a kiosk running as root, else
// $XDG_STATE_HOME/openkyc/keys (~/.local/state/openkyc/keys), which is
// apart from the device folder under ~/.config, so a copy of the data
// folder (a backup, a stolen disk image of the user's config) carries the
// vault but not its key.
func DefaultKeyDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/openkyc-keys"
	}
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "openkyc", "keys")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "openkyc", "keys")
	}
	return ""
}

// Overrides are the settings given explicitly, by a command-line flag or
// the desktop app's configuration; an empty field keeps what FromEnv
// resolves. The app and every `kyc` command resolve a device through
// Resolve, so a flag means the same thing everywhere.
type Overrides struct {
	Dir             string // the device folder (--dir)
	KeyFile         string // the operator's vault key file (--vault-key-file)
	KeyDir          string // where the device keeps the key it provisions
	LocalWatchlists string // the folder of lists imported on this device
}

// Resolve is the device FromEnv resolves with o laid over it.
func Resolve(o Overrides) Device {
	d := FromEnv()
	for _, f := range []struct {
		dst *string
		v   string
	}{
		{&d.Dir, o.Dir}, {&d.KeyFile, o.KeyFile}, {&d.KeyDir, o.KeyDir}, {&d.LocalWatchlists, o.LocalWatchlists},
	} {
		if f.v != "" {
			*f.dst = f.v
		}
	}
	return d
}

// VaultPath is the vault file.
func (d Device) VaultPath() string { return filepath.Join(d.Dir, VaultFile) }

// DeviceKeyPath is the device's signing key.
func (d Device) DeviceKeyPath() string { return filepath.Join(d.Dir, DeviceKeyFile) }

// EnrollmentPath is the device's enrolment with central.
func (d Device) EnrollmentPath() string { return filepath.Join(d.Dir, EnrollmentFile) }

// ConfigDir is the folder sync writes the verified configuration into.
func (d Device) ConfigDir() string { return filepath.Join(d.Dir, ConfigDirName) }

// SyncedWatchlists is the folder of the lists central sent.
func (d Device) SyncedWatchlists() string { return filepath.Join(d.ConfigDir(), agent.WatchlistDir) }
