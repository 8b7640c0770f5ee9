package app

import (
	"path/filepath"
	"testing"

	"github.com/openkyc/kyc/engine/device"
	"github.com/openkyc/kyc/sync/identity"
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
	if att.DeviceID != id.DeviceID() || att.AppVersion != "v-test" {
		t.Fatalf("attestation %+v", att)
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
}
