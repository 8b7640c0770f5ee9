package app

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/openkyc/kyc/engine/device"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/protocol"
)

func TestAttestationVerifiesWithTheDeviceKey(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(identity.DirEnv, dir)
	a := New(Config{Version: "v-test"})
	rep := device.Report{Verdict: device.VerdictWarn, Profile: device.ProfileField,
		Checks: []device.Result{{Name: device.CheckRootUser, Status: device.StatusWarn, Severity: device.SeverityMedium, Evidence: map[string]string{"euid": "0"}}}}
	att, err := a.attest(&rep)
	if err != nil {
		t.Fatal(err)
	}
	id, err := identity.Load(filepath.Join(dir, deviceKeyFile))
	if err != nil {
		t.Fatalf("the device key was not kept: %v", err)
	}
	if att.DeviceID != id.DeviceID() || att.AppVersion != "v-test" || att.Nonce != "" {
		t.Fatalf("attestation before any sync %+v", att)
	}
	if err := device.Verify(id.Public(), *att); err != nil {
		t.Fatalf("attestation does not verify: %v", err)
	}
	att.Report.Verdict = device.VerdictOK
	if err := device.Verify(id.Public(), *att); err == nil {
		t.Fatal("an edited attestation still verifies")
	}
	if _, err := a.attest(nil); err == nil {
		t.Fatal("attested without a report")
	}

	// After a sync the attestation carries central's challenge, signed.
	writeSyncedConfig(t, filepath.Join(dir, "config"), protocol.Config{Version: 2, Challenge: "challenge-from-central"})
	att, err = a.attest(&rep)
	if err != nil {
		t.Fatal(err)
	}
	if att.Nonce != "challenge-from-central" {
		t.Fatalf("nonce %q, want central's challenge", att.Nonce)
	}
	att.Nonce = "another"
	if err := device.Verify(id.Public(), *att); err == nil {
		t.Fatal("the challenge is not covered by the signature")
	}
}

// writeSyncedConfig writes the configuration state sync keeps.
func writeSyncedConfig(t *testing.T, dir string, c protocol.Config) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(c)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}
