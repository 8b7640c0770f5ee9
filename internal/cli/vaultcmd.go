package cli

import (
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
	if len(args) == 0 || args[0] != "rotate" {
		return nil, Errorf(ExitUsage, "usage", "kyc vault rotate (--new-key-file F | --new-passphrase-env VAR)")
	}
	return runVaultRotate(ctx, env, args[1:])
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
