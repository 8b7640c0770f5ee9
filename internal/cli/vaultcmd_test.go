package cli

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/openkyc/kyc/sync/vault"
)

// TestVaultRotate: the app and `kyc sync` tell the operator of a vault
// with a weak passphrase to rotate its key; `kyc vault rotate` does: to a
// strong passphrase read from the environment (a weak one is refused and
// changes nothing), then to a key file it makes, never one in the device
// folder. After each rotation only the new key opens the vault, which
// keeps what it held.
func TestVaultRotate(t *testing.T) {
	ctx := context.Background()
	dir, keyFile := deviceEnv(t)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, vaultFile)
	v, err := vault.Open(ctx, path, vault.KeyFile(keyFile), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.PutSubmission(ctx, vault.Submission{ID: "ses-1-1", Payload: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	v.Close()
	opens := func(key vault.KeySource) error {
		t.Helper()
		v, err := vault.Open(ctx, path, key, vault.Options{ReadOnly: true})
		if err != nil {
			return err
		}
		defer v.Close()
		_, err = v.GetSubmission(ctx, "ses-1-1")
		return err
	}

	if r := kyc(t, []string{"NEW_PASS=jakarta"}, "vault", "rotate", "--new-passphrase-env", "NEW_PASS"); r.exit != ExitRejected {
		t.Fatalf("a weak passphrase: exit %d %s", r.exit, r.stdout)
	}
	if err := opens(vault.KeyFile(keyFile)); err != nil {
		t.Fatalf("the refused rotation changed the vault: %v", err)
	}
	const strong = "anchovy trellis moonbeam quarry"
	if r := kyc(t, []string{"NEW_PASS=" + strong}, "vault", "rotate", "--new-passphrase-env", "NEW_PASS"); r.exit != ExitOK {
		t.Fatalf("to a passphrase: exit %d %s %s", r.exit, r.stdout, r.stderr)
	}
	if err := opens(vault.KeyFile(keyFile)); !errors.Is(err, vault.ErrWrongKey) {
		t.Fatalf("the old key file after the rotation: %v, want ErrWrongKey", err)
	}
	if err := opens(vault.Passphrase(strong)); err != nil {
		t.Fatalf("the new passphrase: %v", err)
	}

	env := []string{envVaultKeyFile + "=", envVaultPassphrase + "=" + strong}
	if r := kyc(t, env, "vault", "rotate", "--new-key-file", filepath.Join(dir, "in-the-folder.key")); r.exit != ExitRejected {
		t.Fatalf("a key file in the device folder: exit %d %s", r.exit, r.stdout)
	}
	newKey := filepath.Join(t.TempDir(), "kiosk.key")
	if r := kyc(t, env, "vault", "rotate", "--new-key-file", newKey); r.exit != ExitOK {
		t.Fatalf("to a key file: exit %d %s %s", r.exit, r.stdout, r.stderr)
	}
	if err := opens(vault.Passphrase(strong)); !errors.Is(err, vault.ErrWrongKey) {
		t.Fatalf("the old passphrase after the rotation: %v, want ErrWrongKey", err)
	}
	if err := opens(vault.KeyFile(newKey)); err != nil {
		t.Fatalf("the new key file: %v", err)
	}
}
