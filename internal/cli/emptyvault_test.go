package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEmptyVaultRefused: an enrolled device's vault cut to 0 bytes is
// refused by the commands that open it to write (vault_corrupt, exit 4,
// saying to restore a backup) and left as it is; before, they started a
// new vault in its place, without the enrolment's pin. A device with no
// vault file still gets a new one.
func TestEmptyVaultRefused(t *testing.T) {
	c := startCentral(t)
	dir, _ := deviceEnv(t)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if code, res := runCLI(t, "sync", "--list", "--dir", dir); code != ExitOK {
		t.Fatalf("sync --list on a new device: exit %d %v; want a new vault", code, res)
	}
	if code, res := runCLI(t, "enroll", "--central", c.URL, "--ca", c.CAFile, "--token-file", c.tokenFile(t), "--dir", dir); code != ExitOK {
		t.Fatalf("enroll: exit %d %v", code, res)
	}
	if code, res := runCLI(t, "sync", "--once", "--dir", dir); code != ExitOK {
		t.Fatalf("sync --once: exit %d %v", code, res)
	}
	path := filepath.Join(dir, vaultFile)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"sync", "--once", "--dir", dir}, {"sync", "--list", "--dir", dir}, {"vault", "rotate", "--dir", dir, "--new-key-file", filepath.Join(t.TempDir(), "new.key")}} {
		code, res := runCLI(t, args...)
		e, _ := res["error"].(map[string]any)
		msg, _ := e["message"].(string)
		if code != ExitRejected || errCode(res) != "vault_corrupt" || !strings.Contains(msg, "backup") || strings.Count(msg, path) > 1 {
			t.Errorf("%v: exit %d %v; want vault_corrupt saying to restore a backup", args, code, res)
		}
		if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
			t.Fatalf("%v: the empty vault became %v (%v)", args, fi.Size(), err)
		}
	}
}
