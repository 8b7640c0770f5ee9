package cli

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openkyc/kyc/sync/vault"
)

// TestMissingVaultRefused: on an enrolled device whose vault was deleted,
// every command that opens it refuses (vault_missing, exit 4, as
// vault_corrupt) saying how to start a new one, and makes none; before,
// the next command made a new, empty vault, and the enrolment's pin (the
// rollback check's mark) and the queued results were gone without a
// word. device-check reports the configuration refused. kyc vault reset
// makes a new vault only with --i-understand, never over one that is
// there, and the new vault's audit log records the loss; sync then pins
// the enrolment again.
func TestMissingVaultRefused(t *testing.T) {
	ctx := context.Background()
	c := startCentral(t)
	dir, keyFile := deviceEnv(t)
	if code, res := runCLI(t, "enroll", "--central", c.URL, "--ca", c.CAFile, "--token-file", c.tokenFile(t), "--dir", dir); code != ExitOK {
		t.Fatalf("enroll: exit %d %v", code, res)
	}
	path := filepath.Join(dir, vaultFile)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("enroll made no vault: %v; the enrolment is the evidence there is one", err)
	}
	if code, res := runCLI(t, "sync", "--once", "--dir", dir); code != ExitOK {
		t.Fatalf("sync --once: exit %d %v", code, res)
	}
	queueSubmission(t, dir, keyFile, "queued", nil)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{
		{"sync", "--once", "--dir", dir},
		{"sync", "--list", "--dir", dir},
		{"sync", "requeue", "--all", "--dir", dir},
		{"vault", "rotate", "--dir", dir, "--new-key-file", filepath.Join(t.TempDir(), "new.key")},
		{"enroll", "--again", "--central", c.URL, "--ca", c.CAFile, "--token-file", c.tokenFile(t), "--dir", dir},
	} {
		code, res := runCLI(t, args...)
		e, _ := res["error"].(map[string]any)
		msg, _ := e["message"].(string)
		if code != ExitRejected || errCode(res) != "vault_missing" || !strings.Contains(msg, "kyc vault reset --i-understand") || !strings.Contains(msg, "backup") {
			t.Errorf("%v: exit %d %v; want vault_missing (exit 4) saying to restore a backup or run kyc vault reset", args, code, res)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%v made a vault: %v", args, err)
		}
	}
	other := filepath.Join(t.TempDir(), "other.db")
	if code, res := runCLI(t, "sync", "--list", "--dir", dir, "--vault", other); code != ExitRejected || errCode(res) != "vault_missing" || !strings.Contains(jsonField(res, "error", "message"), "--vault "+other) {
		t.Errorf("sync --list --vault with no file there: exit %d %v; want vault_missing naming the reset of that file", code, res)
	}
	if code, res := runCLI(t, "device-check"); code != ExitRejected || !strings.Contains(jsonField(res, "configuration", "refused"), "kyc vault reset") {
		t.Errorf("device-check: exit %d %v; want the configuration refused for the missing vault", code, res)
	}

	if code, res := runCLI(t, "vault", "reset", "--dir", dir); code != ExitUsage || !strings.Contains(jsonField(res, "error", "message"), "--i-understand") {
		t.Errorf("vault reset without --i-understand: exit %d %v; want a usage error naming it", code, res)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("vault reset without --i-understand made a vault: %v", err)
	}
	if code, res := runCLI(t, "vault", "reset", "--i-understand", "--dir", dir); code != ExitOK || res["audited"] != true {
		t.Fatalf("vault reset --i-understand: exit %d %v", code, res)
	}
	v, err := vault.Open(ctx, path, vault.KeyFile(keyFile), vault.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	log, err := v.AuditLog(ctx)
	v.Close()
	if err != nil || len(log) == 0 || log[0].Action != "vault.replaced_missing" {
		t.Fatalf("new vault's audit log %+v, %v; want it to start with vault.replaced_missing", log, err)
	}
	if code, res := runCLI(t, "vault", "reset", "--i-understand", "--dir", dir); code != ExitUsage || errCode(res) != "vault_present" {
		t.Errorf("vault reset over a vault: exit %d %v; want vault_present", code, res)
	}
	if code, res := runCLI(t, "sync", "--once", "--dir", dir); code != ExitOK {
		t.Fatalf("sync --once after the reset: exit %d %v", code, res)
	}
	v, err = vault.Open(ctx, path, vault.KeyFile(keyFile), vault.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, ok, err := v.Pinned(ctx); !ok || err != nil {
		t.Errorf("after the reset and a sync: pinned %v, %v; want the enrolment pinned again", ok, err)
	}
}

// TestFreshDeviceMakesVault: a device never enrolled gets a new vault
// from the first command that opens one, as before, and kyc vault reset
// on it makes one without recording a loss.
func TestFreshDeviceMakesVault(t *testing.T) {
	dir, _ := deviceEnv(t)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if code, res := runCLI(t, "sync", "--list", "--dir", dir); code != ExitOK {
		t.Fatalf("sync --list on a new device: exit %d %v; want a new vault", code, res)
	}
	if err := os.Remove(filepath.Join(dir, vaultFile)); err != nil {
		t.Fatal(err)
	}
	if code, res := runCLI(t, "vault", "reset", "--i-understand", "--dir", dir); code != ExitOK || res["audited"] != false {
		t.Fatalf("vault reset on a device never enrolled: exit %d %v", code, res)
	}
}

// jsonField is the string at res[a][b], "" when there is none.
func jsonField(res map[string]any, a, b string) string {
	m, _ := res[a].(map[string]any)
	s, _ := m[b].(string)
	return s
}
