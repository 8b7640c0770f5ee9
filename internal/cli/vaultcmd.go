package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/openkyc/kyc/internal/deviceconf"
	"github.com/openkyc/kyc/sync/vault"
)

// rotateResult is what `kyc vault rotate` prints.
type rotateResult struct {
	Rotated bool   `json:"rotated"`
	To      string `json:"to"` // key_file or passphrase
	KeyFile string `json:"key_file,omitempty"`
	// Next says what the app and every `kyc` command need from now on.
	Next string `json:"next"`
}

func runVault(ctx context.Context, env *Env, args []string) (any, error) {
	switch {
	case len(args) > 0 && args[0] == "rotate":
		return runVaultRotate(ctx, env, args[1:])
	case len(args) > 0 && args[0] == "reset":
		return runVaultReset(ctx, env, args[1:])
	}
	return nil, Errorf(ExitUsage, "usage", "kyc vault rotate (--new-key-file F | --new-passphrase-env VAR) | kyc vault reset --i-understand")
}

// resetResult is what `kyc vault reset` prints.
type resetResult struct {
	Reset bool   `json:"reset"`
	Vault string `json:"vault"`
	// Audited says the new vault's audit log starts with the loss
	// (vault.replaced_missing): the device is enrolled, so it had a vault.
	Audited bool   `json:"audited"`
	Next    string `json:"next"`
}

// runVaultReset is `kyc vault reset --i-understand`: the operator's
// acknowledgement that the vault of an enrolled device is lost (deleted,
// with no backup to put back), after which a new, empty vault is made in
// its place, its audit log starting with the loss. Without it every
// command and the app refuse the device (vault_missing): a new vault
// made silently would drop the enrolment's pin, so the rollback check,
// and the results not yet synced, without a word. It never replaces a
// vault that is there.
func runVaultReset(ctx context.Context, env *Env, args []string) (any, error) {
	fs := newFlags(env, "vault reset")
	dir := fs.String("dir", deviceDir(), "device state directory ($"+envDeviceDir+")")
	vaultPath := fs.String("vault", "", "vault file (default DIR/"+vaultFile+")")
	keyFile := fs.String("vault-key-file", "", "the new vault's key file ($"+envVaultKeyFile+"); else $"+envVaultPassphrase+", else the key the device keeps")
	understand := fs.Bool("i-understand", false, "acknowledge that what the missing vault held is lost: the results not yet synced, the audit log, the enrolment's record of the newest configuration installed")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, Errorf(ExitUsage, "usage", "kyc vault reset --i-understand [--dir DIR]")
	}
	dev := deviceconf.Resolve(deviceconf.Overrides{Dir: *dir})
	path := cmp.Or(*vaultPath, dev.VaultPath())
	if _, err := os.Lstat(path); err == nil {
		return nil, Errorf(ExitUsage, "vault_present", "%s is there: kyc vault reset only starts a new vault in place of a missing one, and never replaces one (a damaged one: move it aside first)", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, Errorf(ExitInput, "vault", "looking for the vault: %v", err)
	}
	if !*understand {
		return nil, Errorf(ExitUsage, "usage", "kyc vault reset starts a new, empty vault in place of the missing %s: what the missing one held (the results not yet synced, the audit log, the enrolment's record of the newest configuration installed) is lost; if a backup holds it, put that back instead; to go on, pass --i-understand", path)
	}
	_, enrolled := os.Lstat(dev.EnrollmentPath())
	v, err := openVault(ctx, *dir, *vaultPath, *keyFile, true, env.Stderr)
	if err != nil {
		return nil, err
	}
	defer v.Close()
	res := resetResult{Reset: true, Vault: path, Audited: enrolled == nil,
		Next: "the next sync (kyc sync --once, or the app) pins the enrolment in the new vault and installs central's configuration"}
	if res.Audited {
		fmt.Fprintf(env.Stderr, "warning: a new, empty vault replaces the missing %s; its audit log records it (vault.replaced_missing)\n", path)
	}
	return res, nil
}

// runVaultRotate is `kyc vault rotate`: it re-wraps the vault under a new
// key (a key file, or a passphrase read from an environment variable, never
// from the command line), then compacts it so that no key wrapped under the
// old one lingers in a free page. The app and `kyc sync` tell an operator
// whose passphrase is weak, or known to someone who left, to rotate it:
// this is how.
func runVaultRotate(ctx context.Context, env *Env, args []string) (any, error) {
	fs := newFlags(env, "vault rotate")
	dir := fs.String("dir", deviceDir(), "device state directory ($"+envDeviceDir+")")
	keyFile := fs.String("vault-key-file", "", "the vault's key file now ($"+envVaultKeyFile+"); else $"+envVaultPassphrase+", else the key the device keeps")
	newKeyFile := fs.String("new-key-file", "", "the new key: this file, outside the device folder, made when it does not exist")
	newPassEnv := fs.String("new-passphrase-env", "", "the new key: the passphrase in this environment variable")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if (*newKeyFile == "") == (*newPassEnv == "") || fs.NArg() > 0 {
		return nil, Errorf(ExitUsage, "usage", "kyc vault rotate needs one of --new-key-file F and --new-passphrase-env VAR")
	}
	res := rotateResult{Rotated: true}
	var newKey vault.KeySource
	if *newKeyFile != "" {
		k, err := deviceconf.Resolve(deviceconf.Overrides{Dir: *dir, KeyFile: *newKeyFile}).VaultKey()
		if err != nil {
			return nil, Errorf(ExitRejected, "vault_key", "%v", err)
		}
		if _, err := os.Lstat(*newKeyFile); errors.Is(err, os.ErrNotExist) {
			if err := vault.GenerateKeyFile(*newKeyFile); err != nil {
				return nil, Errorf(ExitInput, "vault_key", "making the new key file: %v", err)
			}
		}
		newKey, res.To, res.KeyFile = k.Source, "key_file", *newKeyFile
		res.Next = fmt.Sprintf("set $%s=%s for the app and every kyc command", envVaultKeyFile, *newKeyFile)
	} else {
		pass := os.Getenv(*newPassEnv)
		if err := deviceconf.CheckPassphrase(pass); err != nil {
			return nil, Errorf(ExitRejected, "weak_passphrase", "$%s: %v", *newPassEnv, err)
		}
		newKey, res.To = vault.Passphrase(pass), "passphrase"
		res.Next = fmt.Sprintf("set $%s to the new passphrase (and no $%s) for the app and every kyc command", envVaultPassphrase, envVaultKeyFile)
	}
	v, err := openDeviceVault(ctx, *dir, "", *keyFile, env.Stderr)
	if err != nil {
		return nil, err
	}
	defer v.Close()
	if err := v.Rotate(ctx, newKey); err != nil {
		return nil, codedErr(ExitInternal, "vault", err)
	}
	// The keys wrapped under the old key stay in the pages Rotate freed:
	// whoever knows the old passphrase could unwrap them from the file.
	if err := v.Compact(ctx); err != nil {
		return nil, Errorf(ExitInternal, "vault", "the key is rotated, but the old one's wrapped keys are still in the file: %v (run it again with the new key)", err)
	}
	return res, nil
}
