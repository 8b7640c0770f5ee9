package deviceconf

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn"

	"github.com/openkyc/kyc/internal/atomicfile"
	"github.com/openkyc/kyc/sync/vault"
)

// Key-store errors.
var (
	// ErrWeakPassphrase means the vault passphrase is short or a
	// dictionary attack would find it quickly; the message says what to
	// choose instead.
	ErrWeakPassphrase = errors.New("the vault passphrase is too weak")
	// ErrKeyInDataDir means a vault key file, or the folder the device
	// keeps its key in, is inside the device folder: a copy of the folder
	// would carry the key with the vault it protects.
	ErrKeyInDataDir = errors.New("the vault key must be kept outside the device folder")
	// ErrInsecureKeyDir means the key folder can be read or changed by
	// another account.
	ErrInsecureKeyDir = errors.New("the vault key folder is open to other accounts")
	// ErrKeyMissing means the vault exists but the key the device
	// provisioned for it is not where it is kept: a new key would not open
	// it, so none is made.
	ErrKeyMissing = errors.New("the vault exists but its key is missing")
	// ErrKeyConflict means the old key beside the vault and the key in the
	// key folder differ; neither is removed.
	ErrKeyConflict = errors.New("two different vault keys for one device")
)

// Passphrase strength rules: at least MinPassphraseLen characters, and
// zxcvbn must estimate at least minPassphraseGuesses guesses (a hundred
// times its top score's floor, 1e10, which passes "jakarta2024!!"). Each
// guess costs an attacker one Argon2id derivation (64 MiB, three passes),
// on the order of a thousand a second on one GPU: 1e12 guesses are decades
// of it, four random common words some 1e19.
const (
	MinPassphraseLen     = 12
	minPassphraseGuesses = 1e12
	// maxEstimateLen bounds the text zxcvbn examines (its cost grows with
	// the length); a longer passphrase is judged on its first characters,
	// which only under-estimates it.
	maxEstimateLen = 100
)

// passphraseAdvice is what the operator is told to do instead.
const passphraseAdvice = "choose at least four unrelated random words or a random string of " +
	"16 characters or more, not a name, date, keyboard pattern or quote, and set it in $" + EnvVaultPassphrase +
	"; or unset it and let the device keep its own key outside the device folder"

// CheckPassphrase refuses a passphrase shorter than MinPassphraseLen
// characters or one that zxcvbn (a dictionary, keyboard-pattern, date and
// l33t attack model) expects to fall in fewer than 1e12 guesses. The words
// of the product itself count as known to the attacker.
func CheckPassphrase(p string) error {
	if n := utf8.RuneCountInString(p); n < MinPassphraseLen {
		return fmt.Errorf("%w: %d characters, at least %d needed: %s", ErrWeakPassphrase, n, MinPassphraseLen, passphraseAdvice)
	}
	est := p
	if len(est) > maxEstimateLen {
		est = est[:maxEstimateLen]
		for !utf8.ValidString(est) {
			est = est[:len(est)-1]
		}
	}
	r := zxcvbn.PasswordStrength(est, []string{"openkyc", "kyc", "vault", "passphrase", "password", "device", "kiosk"})
	if r.Guesses < minPassphraseGuesses {
		return fmt.Errorf("%w: a dictionary attack would find it in about %.0e guesses, at least 1e12 needed: %s",
			ErrWeakPassphrase, r.Guesses, passphraseAdvice)
	}
	return nil
}

// VaultKey is the resolved key of the device's vault.
type VaultKey struct {
	Source vault.KeySource
	// Path is the key file, empty for a passphrase.
	Path string
	// Provisioned is true when the device keeps the key itself (made now
	// or earlier), false for the operator's key file or passphrase.
	Provisioned bool
	// Migrated is true when the key was just moved out of the device
	// folder.
	Migrated bool
	// Weak holds why the passphrase of an existing vault is weak. Such a
	// vault still opens, since refusing it would strand submissions not
	// yet synced; the caller warns, and the operator rotates the key.
	Weak error
}

// VaultKey resolves the vault's key: the operator's key file, else the
// operator's passphrase (refused when weak for a new vault, flagged in
// VaultKey.Weak for an existing one), else the key the device keeps
// in KeyDir, made on first use. A key the app once kept beside the vault
// (Dir/vault.key) is moved into KeyDir first.
func (d Device) VaultKey() (VaultKey, error) {
	switch {
	case d.KeyFile != "":
		if err := outside(d.Dir, d.KeyFile); err != nil {
			return VaultKey{}, fmt.Errorf("vault key file %s: %w", d.KeyFile, err)
		}
		return VaultKey{Source: vault.KeyFile(d.KeyFile), Path: d.KeyFile}, nil
	case d.Passphrase != "":
		k := VaultKey{Source: vault.Passphrase(d.Passphrase)}
		if err := CheckPassphrase(d.Passphrase); err != nil {
			if _, serr := os.Stat(d.VaultPath()); serr != nil {
				return VaultKey{}, err // a new vault never gets a weak passphrase
			}
			k.Weak = err
		}
		return k, nil
	}
	path, err := d.provisionedKeyPath()
	if err != nil {
		return VaultKey{}, err
	}
	if err := ensureKeyDir(filepath.Dir(path)); err != nil {
		return VaultKey{}, err
	}
	migrated, err := migrateKey(filepath.Join(d.Dir, legacyVaultKeyFile), path)
	if err != nil {
		return VaultKey{}, err
	}
	k := VaultKey{Source: vault.KeyFile(path), Path: path, Provisioned: true, Migrated: migrated}
	if _, err := os.Lstat(path); err == nil {
		return k, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return VaultKey{}, fmt.Errorf("looking for the vault key: %w", err)
	}
	if _, err := os.Stat(d.VaultPath()); err == nil {
		return VaultKey{}, fmt.Errorf("%w: %s holds no key for %s (restore it, or set $%s or $%s to the vault's key)",
			ErrKeyMissing, path, d.VaultPath(), EnvVaultKeyFile, EnvVaultPassphrase)
	}
	if err := vault.GenerateKeyFile(path); err != nil {
		return VaultKey{}, fmt.Errorf("provisioning the vault key: %w", err)
	}
	return k, nil
}

// provisionedKeyPath is the device's key in KeyDir: one file per device
// folder, named by a hash of the folder's absolute path, so two devices
// on one machine (a test bench) never share a key.
func (d Device) provisionedKeyPath() (string, error) {
	if d.KeyDir == "" {
		return "", fmt.Errorf("no folder to keep the vault key in: set $%s", EnvKeyDir)
	}
	keyDir, err := filepath.Abs(d.KeyDir)
	if err != nil {
		return "", fmt.Errorf("vault key folder %s: %w", d.KeyDir, err)
	}
	if err := outside(d.Dir, keyDir); err != nil {
		return "", fmt.Errorf("vault key folder %s: %w (set $%s elsewhere)", keyDir, err, EnvKeyDir)
	}
	dir, err := filepath.Abs(d.Dir)
	if err != nil {
		return "", fmt.Errorf("device folder %s: %w", d.Dir, err)
	}
	sum := sha256.Sum256([]byte(dir))
	return filepath.Join(keyDir, "vault-"+hex.EncodeToString(sum[:8])+".key"), nil
}

// outside fails when path is dir or inside it.
func outside(dir, path string) error {
	a, err1 := filepath.Abs(dir)
	b, err2 := filepath.Abs(path)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	rel, err := filepath.Rel(a, b)
	if err != nil {
		return nil // on different volumes: outside
	}
	if rel == "." || (rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))) {
		return fmt.Errorf("%w (%s)", ErrKeyInDataDir, a)
	}
	return nil
}

// ensureKeyDir creates the key folder (0700) and refuses one that another
// account owns or can enter: anyone who can list or replace a key there
// could read or swap it.
func ensureKeyDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the vault key folder: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("checking the vault key folder: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s is not a folder", ErrInsecureKeyDir, dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%w: %s has mode %o (run chmod 700 %s)", ErrInsecureKeyDir, dir, fi.Mode().Perm(), dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%w: %s belongs to user %d, not %d", ErrInsecureKeyDir, dir, st.Uid, os.Geteuid())
	}
	return nil
}

// maxKeyFile bounds what migrateKey reads of a key file: a vault key is
// 32 bytes, a larger file is not one.
const maxKeyFile = 4 << 10

// migrateKey moves an old key file into the key folder: it writes the new
// file durably (failing if one is there), and only then removes the old
// one. A crash between the two leaves both, equal, which the next run
// finishes. Two different keys are refused without removing either.
func migrateKey(old, path string) (bool, error) {
	fi, err := os.Lstat(old)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("checking the old vault key %s: %w", old, err)
	}
	if !fi.Mode().IsRegular() {
		return false, fmt.Errorf("%w: the old vault key %s is not a regular file", vault.ErrInsecureKeyFile, old)
	}
	key, err := atomicfile.Read(old, maxKeyFile)
	if err != nil {
		return false, fmt.Errorf("reading the old vault key: %w", err)
	}
	defer clear(key)
	cur, err := atomicfile.Read(path, maxKeyFile)
	switch {
	case err == nil:
		same := bytes.Equal(cur, key)
		clear(cur)
		if !same {
			return false, fmt.Errorf("%w: %s and %s differ; keep the one that opens the vault and remove the other", ErrKeyConflict, old, path)
		}
	case errors.Is(err, fs.ErrNotExist):
		if err := atomicfile.Create(path, key); err != nil {
			return false, fmt.Errorf("moving the vault key out of the device folder: %w", err)
		}
	default:
		return false, fmt.Errorf("reading the vault key: %w", err)
	}
	if err := os.Remove(old); err != nil {
		return false, fmt.Errorf("removing the old vault key %s: %w", old, err)
	}
	if err := atomicfile.SyncDir(filepath.Dir(old)); err != nil {
		return false, err
	}
	return true, nil
}
