package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/openkyc/kyc/engine/device"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/store/boltstore"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/protocol"
	"github.com/openkyc/kyc/sync/vault"
)

// TestEnrollAndSync enrols a device with a real central on loopback,
// captures a submission into the vault and runs `kyc sync --once`.
func TestEnrollAndSync(t *testing.T) {
	ctx := context.Background()
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "central.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	box, err := central.GenerateBoxKey()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := central.New(central.Config{Store: store, BoxKey: box})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler()) // listens on 127.0.0.1
	defer ts.Close()
	const token = "one-time-token"
	if err := store.CreateEnrollToken(ctx, central.EnrollToken{Hash: sha256.Sum256([]byte(token)), CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	t.Setenv(envVaultPassphrase, "correct horse battery staple")

	run := func(args ...string) (int, map[string]any) {
		t.Helper()
		var out bytes.Buffer
		code := Main(ctx, args, &out, &bytes.Buffer{}, "test")
		var res map[string]any
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatalf("%v: output %q is not JSON", args, out.String())
		}
		return code, res
	}

	if code, _ := run("enroll", "--central", ts.URL); code != ExitUsage {
		t.Errorf("enroll without a token: exit %d, want %d", code, ExitUsage)
	}
	if code, _ := run("enroll", "--central", ts.URL, "--token", "wrong", "--dir", dir); code != ExitRejected {
		t.Errorf("enroll with a bad token: exit %d, want %d", code, ExitRejected)
	}
	code, res := run("enroll", "--central", ts.URL, "--token", token, "--dir", dir)
	if code != ExitOK || res["device_id"] == "" {
		t.Fatalf("enroll: exit %d %v", code, res)
	}
	if code, _ := run("enroll", "--central", ts.URL, "--token", token, "--dir", dir); code != ExitInput {
		t.Errorf("second enroll: exit %d, want %d", code, ExitInput)
	}

	id, err := identity.Load(filepath.Join(dir, deviceKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	att := device.Attestation{DeviceID: id.DeviceID(), AppVersion: "test", Report: device.Report{Verdict: device.VerdictOK, Time: time.Now()}}
	if err := att.Sign(id.Signer()); err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(map[string]any{"name": "Test Person", "attestation": att})
	v, err := vault.Open(ctx, filepath.Join(dir, vaultFile), vault.Passphrase("correct horse battery staple"), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = v.PutSubmission(ctx, vault.Submission{ID: "cli-1", Payload: payload, Images: map[string][]byte{"selfie": bytes.Repeat([]byte{7}, 5000)}})
	v.Close()
	if err != nil {
		t.Fatal(err)
	}

	code, res = run("sync", "--once", "--dir", dir)
	if code != ExitOK || res["synced"] != float64(1) {
		t.Fatalf("sync --once: exit %d %v", code, res)
	}
	sub, err := store.Upload(ctx, id.DeviceID(), protocol.SubmissionKey("cli-1"))
	if err != nil || sub.CompletedAt.IsZero() || !bytes.Equal(sub.Payload, payload) {
		t.Errorf("central holds %+v, %v", sub, err)
	}
	t.Setenv(envVaultPassphrase, "wrong")
	if code, _ := run("sync", "--once", "--dir", dir); code != ExitRejected {
		t.Errorf("sync with a wrong passphrase: exit %d, want %d", code, ExitRejected)
	}
}
