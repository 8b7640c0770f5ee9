package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/engine/device"
	"github.com/openkyc/kyc/internal/deviceconf"
	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/pki"
	"github.com/openkyc/kyc/sync/central/store/boltstore"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/identity/identitytest"
	"github.com/openkyc/kyc/sync/protocol"
	"github.com/openkyc/kyc/sync/vault"
)

// testAdminToken is 32 random bytes in base64url, as central demands.
const testAdminToken = "Vb7Qm2Xk9Tz4Rw1Lp6Hs3Nd8Jc0Yf5Ga2Ue7Io4Kq9M"

// cliCentral is a real central served over HTTPS with a pki-made
// certificate on loopback, the way `kyc-central serve` runs.
type cliCentral struct {
	URL    string
	Addr   string
	CAFile string
	TLSDir string
	Store  *boltstore.Store
	client *http.Client
}

func startCentral(t *testing.T) *cliCentral { return startCentralWith(t, nil) }

// startCentralWith is startCentral with more mounted: extra (if not nil)
// gets the server, the store and central's base URL, mounts what it
// serves and returns the loops to run beside the server (each ending when
// its ctx does).
func startCentralWith(t *testing.T, extra func(srv *central.Server, store *boltstore.Store, base string) []func(context.Context) error) *cliCentral {
	t.Helper()
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "central.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	box, err := central.GenerateBoxKey()
	if err != nil {
		t.Fatal(err)
	}
	sign, err := central.GenerateSignKey()
	if err != nil {
		t.Fatal(err)
	}
	tlsDir := t.TempDir()
	files, err := pki.Init(tlsDir, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := pki.ServerConfig(files.ServerCert, files.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := central.New(central.Config{Store: store, BoxKey: box, SignKey: sign, AdminToken: testAdminToken, TLS: tlsCfg})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "https://" + ln.Addr().String()
	runs := []func(context.Context) error{func(ctx context.Context) error { return srv.ServeListener(ctx, ln, nil) }}
	if extra != nil {
		runs = append(runs, extra(srv, store, base)...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, len(runs))
	for _, run := range runs {
		go func() { done <- run(ctx) }()
	}
	t.Cleanup(func() {
		cancel()
		for range runs {
			<-done
		}
	})
	caPEM, _ := os.ReadFile(files.CACert)
	tr, err := identity.NewTransport(caPEM)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &cliCentral{URL: base, Addr: ln.Addr().String(), CAFile: files.CACert, TLSDir: tlsDir, Store: store, client: &http.Client{Transport: tr, Timeout: time.Minute}}
}

// tokenFile creates an enrolment token through the admin API and writes
// it to a private file.
func (c *cliCentral) tokenFile(t *testing.T) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.URL+"/admin/v1/enroll-tokens", nil)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	resp, err := c.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr central.TokenResponse
	if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&tr) != nil {
		t.Fatalf("creating token: status %d", resp.StatusCode)
	}
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(tr.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runCLI runs kyc with args and decodes its JSON output.
func runCLI(t *testing.T, args ...string) (int, map[string]any) {
	t.Helper()
	var out bytes.Buffer
	code := Main(context.Background(), args, &out, &bytes.Buffer{}, "test")
	var res map[string]any
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v: output %q is not JSON", args, out.String())
	}
	return code, res
}

func errCode(res map[string]any) string {
	e, _ := res["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

// deviceEnv points the device commands at a fresh device folder, with a
// vault key file kept outside it.
func deviceEnv(t *testing.T) (dir, keyFile string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "device")
	keyDir := t.TempDir()
	keyFile = filepath.Join(keyDir, "vault.key")
	if err := vault.GenerateKeyFile(keyFile); err != nil {
		t.Fatal(err)
	}
	t.Setenv(envDeviceDir, dir)
	t.Setenv(envVaultKeyFile, keyFile)
	t.Setenv(envVaultPassphrase, "")
	return dir, keyFile
}

// queueSubmission captures a submission with a signed attestation into
// the vault of the enrolled device in dir, as the app does after a
// verification, and returns the device's identity and the payload.
func queueSubmission(t *testing.T, dir, keyFile, id string, images map[string][]byte) (*identity.Identity, []byte) {
	t.Helper()
	dev, err := identity.Load(filepath.Join(dir, deviceKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	att := device.Attestation{DeviceID: dev.DeviceID(), AppVersion: "test", Report: device.Report{Verdict: device.VerdictOK, Time: time.Now()}}
	if err := att.Sign(dev.Signer()); err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(map[string]any{"name": "Test Person", "attestation": att})
	ctx := context.Background()
	v, err := vault.Open(ctx, filepath.Join(dir, vaultFile), vault.KeyFile(keyFile), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = v.PutSubmission(ctx, vault.Submission{ID: id, Payload: payload, Images: images})
	v.Close()
	if err != nil {
		t.Fatal(err)
	}
	return dev, payload
}

// TestEnrollAndSync enrols a device with a real central over HTTPS, with
// the token from a file and central's CA pinned, captures a submission
// into the vault and runs `kyc sync --once`.
func TestEnrollAndSync(t *testing.T) {
	ctx := context.Background()
	c := startCentral(t)
	dir, keyFile := deviceEnv(t)
	tok := c.tokenFile(t)
	tokBytes, _ := os.ReadFile(tok)

	if code, _ := runCLI(t, "enroll", "--central", c.URL); code != ExitUsage {
		t.Errorf("enroll without a token: exit %d, want %d", code, ExitUsage)
	}
	// What an attacker reading the process list must not get: a token on
	// the command line is refused before anything uses it.
	code, res := runCLI(t, "enroll", "--central", c.URL, "--ca", c.CAFile, "--token", strings.TrimSpace(string(tokBytes)), "--dir", dir)
	if code != ExitUsage || errCode(res) != "token_on_command_line" || !strings.Contains(res["error"].(map[string]any)["message"].(string), "--token-file") {
		t.Errorf("enroll --token: exit %d %v; want a usage error pointing at --token-file", code, res)
	}
	if _, err := os.Stat(filepath.Join(dir, deviceKeyFile)); err == nil {
		t.Error("enroll --token created a device key")
	}
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("wrong"), 0o600)
	if code, res := runCLI(t, "enroll", "--central", c.URL, "--ca", c.CAFile, "--token-file", bad, "--dir", dir); code != ExitInput || errCode(res) != "bad_token" {
		t.Errorf("enroll with a malformed token: exit %d %v, want bad_token", code, res)
	}
	if code, _ := runCLI(t, "enroll", "--central", "http://central.example.org", "--token-file", tok, "--dir", dir); code != ExitUsage {
		t.Errorf("enroll over plain http off loopback: exit %d, want %d", code, ExitUsage)
	}
	// Without --ca, central's private certificate is not trusted.
	if code, res := runCLI(t, "enroll", "--central", c.URL, "--token-file", tok, "--dir", dir); code != ExitRejected || errCode(res) != "tls" {
		t.Errorf("enroll without central's CA: exit %d %v, want a TLS refusal", code, res)
	}
	if _, err := os.Stat(filepath.Join(dir, enrollmentFile)); err == nil {
		t.Fatal("a refused enrolment was saved")
	}
	code, res = runCLI(t, "enroll", "--central", c.URL, "--ca", c.CAFile, "--token-file", tok, "--dir", dir)
	if code != ExitOK || res["device_id"] == "" || res["ca_pinned"] != true {
		t.Fatalf("enroll: exit %d %v", code, res)
	}
	if code, _ := runCLI(t, "enroll", "--central", c.URL, "--ca", c.CAFile, "--token-file", c.tokenFile(t), "--dir", dir); code != ExitInput {
		t.Errorf("second enroll: exit %d, want %d", code, ExitInput)
	}
	enr, err := identity.LoadEnrollment(filepath.Join(dir, enrollmentFile))
	caPEM, _ := os.ReadFile(c.CAFile)
	if err != nil || enr.CentralCA != string(caPEM) || len(enr.CentralSignKey) == 0 {
		t.Fatalf("enrolment %+v, %v; want central's CA and sign key pinned", enr, err)
	}

	id, payload := queueSubmission(t, dir, keyFile, "cli-1", map[string][]byte{"selfie": bytes.Repeat([]byte{7}, 5000)})

	code, res = runCLI(t, "sync", "--once", "--dir", dir)
	if code != ExitOK || res["synced"] != float64(1) || res["online"] != true || res["queue_depth"] != float64(0) {
		t.Fatalf("sync --once: exit %d %v", code, res)
	}
	sub, err := c.Store.Upload(ctx, id.DeviceID(), protocol.SubmissionKey("cli-1"))
	if err != nil || sub.CompletedAt.IsZero() || !bytes.Equal(sub.Payload, payload) {
		t.Errorf("central holds %+v, %v", sub, err)
	}
	v, err := vault.Open(ctx, filepath.Join(dir, vaultFile), vault.KeyFile(keyFile), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.GetSubmission(ctx, "cli-1")
	v.Close()
	if err != nil || len(got.Images) != 0 || !bytes.Equal(got.Payload, payload) {
		t.Errorf("after sync the vault holds %d images (%v); want the record without its images", len(got.Images), err)
	}
	other := filepath.Join(t.TempDir(), "other.key")
	if err := vault.GenerateKeyFile(other); err != nil {
		t.Fatal(err)
	}
	if code, _ := runCLI(t, "sync", "--once", "--dir", dir, "--vault-key-file", other); code != ExitRejected {
		t.Errorf("sync with the wrong vault key: exit %d, want %d", code, ExitRejected)
	}
}

// TestEnrollAgainAfterCentralRestore: central loses the device (restored
// from a backup older than its enrolment); what the device captured since
// must stay queued, not be dropped, and reach central once the device is
// enrolled again with the same key.
func TestEnrollAgainAfterCentralRestore(t *testing.T) {
	ctx := context.Background()
	old := startCentral(t)
	dir, keyFile := deviceEnv(t)
	if code, res := runCLI(t, "enroll", "--central", old.URL, "--ca", old.CAFile, "--token-file", old.tokenFile(t), "--dir", dir); code != ExitOK {
		t.Fatalf("enroll: exit %d %v", code, res)
	}
	id, payload := queueSubmission(t, dir, keyFile, "after-restore", nil)

	// The restored central is another server that never saw the device.
	restored := startCentral(t)
	enrPath := filepath.Join(dir, enrollmentFile)
	enr, err := identity.LoadEnrollment(enrPath)
	if err != nil {
		t.Fatal(err)
	}
	enr.CentralURL = restored.URL // the old enrolment, pointed at it
	if err := identity.SaveEnrollment(enrPath, enr); err != nil {
		t.Fatal(err)
	}
	if code, res := runCLI(t, "sync", "--once", "--dir", dir); code != ExitOK || res["synced"] != float64(0) || res["queue_depth"] != float64(1) {
		t.Fatalf("sync against a central that lost the device: exit %d %v; want it queued, not refused for good", code, res)
	}
	if code, res := runCLI(t, "enroll", "--central", restored.URL, "--ca", restored.CAFile, "--token-file", restored.tokenFile(t), "--dir", dir); code != ExitInput || errCode(res) != "already_enrolled" || !strings.Contains(res["error"].(map[string]any)["message"].(string), "--again") {
		t.Errorf("enroll of an enrolled device without --again: exit %d %v; want already_enrolled naming --again", code, res)
	}
	used := restored.tokenFile(t)
	if code, _ := runCLI(t, "enroll", "--again", "--central", restored.URL, "--ca", restored.CAFile, "--token-file", used, "--dir", dir); code != ExitOK {
		t.Fatalf("enroll --again: exit %d", code)
	}
	// The same token from the same device and key (its answer lost) is
	// answered again.
	if code, _ := runCLI(t, "enroll", "--again", "--central", restored.URL, "--ca", restored.CAFile, "--token-file", used, "--dir", dir); code != ExitOK {
		t.Errorf("enroll --again with the token this device redeemed: exit %d, want %d", code, ExitOK)
	}
	// A refused --again (a token this central never issued) keeps the
	// enrolment as it was.
	before, _ := os.ReadFile(enrPath)
	if code, _ := runCLI(t, "enroll", "--again", "--central", restored.URL, "--ca", restored.CAFile, "--token-file", old.tokenFile(t), "--dir", dir); code != ExitRejected {
		t.Errorf("enroll --again with another central's token: exit %d, want %d", code, ExitRejected)
	}
	if after, _ := os.ReadFile(enrPath); !bytes.Equal(before, after) {
		t.Error("a refused enroll --again changed the enrolment")
	}
	if again, err := identity.Load(filepath.Join(dir, deviceKeyFile)); err != nil || again.DeviceID() != id.DeviceID() {
		t.Fatalf("enroll --again changed the device key: %v", err)
	}
	// The submission queued while central did not know the device arrives.
	if code, res := runCLI(t, "sync", "--once", "--dir", dir); code != ExitOK || res["synced"] != float64(1) || res["queue_depth"] != float64(0) {
		t.Fatalf("sync after enroll --again: exit %d %v", code, res)
	}
	if sub, err := restored.Store.Upload(ctx, id.DeviceID(), protocol.SubmissionKey("after-restore")); err != nil || !bytes.Equal(sub.Payload, payload) {
		t.Errorf("restored central holds %+v, %v", sub, err)
	}
	// The vault pins the new enrolment, not the one edited by hand
	// before it.
	v, err := vault.Open(ctx, filepath.Join(dir, vaultFile), vault.KeyFile(keyFile), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	now, err := identity.LoadEnrollment(enrPath)
	if err != nil {
		t.Fatal(err)
	}
	if pin, ok, err := v.Pinned(ctx); err != nil || !ok || !bytes.Equal(pin.Keys, agent.PinOf(now).Keys) || pin.Config == nil {
		t.Errorf("the vault's pin after enroll --again and a sync: %+v, %v, %v; want the new enrolment and its configuration", pin, ok, err)
	}
}

// TestEnrollTokenFromStdin reads the token from standard input.
func TestEnrollTokenFromStdin(t *testing.T) {
	c := startCentral(t)
	dir, _ := deviceEnv(t)
	tok, _ := os.ReadFile(c.tokenFile(t))
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w.Write(tok)
	w.Close()
	stdin := os.Stdin
	os.Stdin = r
	t.Cleanup(func() { os.Stdin = stdin; r.Close() })
	if code, res := runCLI(t, "enroll", "--central", c.URL, "--ca", c.CAFile, "--token-file", "-", "--dir", dir); code != ExitOK {
		t.Fatalf("enroll --token-file -: exit %d %v", code, res)
	}
}

// TestEnrollRefusesSwappedKey puts a TLS-terminating proxy between the
// device and central (with a certificate the device trusts, as an
// intercepting middlebox would have) that swaps central's box key in the
// enrolment answer for its own: enrolment must fail and nothing be saved,
// else the proxy could read every payload.
func TestEnrollRefusesSwappedKey(t *testing.T) {
	c := startCentral(t)
	dir, _ := deviceEnv(t)
	swapped := 0
	mitm := identitytest.EnrolmentProxy(t, c.URL, c.client.Transport, c.TLSDir, func(er *protocol.EnrollResponse) {
		er.CentralBoxKey = bytes.Repeat([]byte{0x42}, 32) // the attacker's key
		swapped++
	})

	code, res := runCLI(t, "enroll", "--central", mitm, "--ca", c.CAFile, "--token-file", c.tokenFile(t), "--dir", dir)
	if swapped != 1 {
		t.Fatalf("the proxy swapped %d answers; the test proves nothing", swapped)
	}
	if code != ExitRejected || errCode(res) != "key_mismatch" {
		t.Errorf("enrolment through a key-swapping proxy: exit %d %v; want key_mismatch", code, res)
	}
	if _, err := os.Stat(filepath.Join(dir, enrollmentFile)); err == nil {
		t.Error("the enrolment with the attacker's key was saved")
	}
}

// TestSyncRequeue lists and re-queues rejected submissions.
func TestSyncRequeue(t *testing.T) {
	ctx := context.Background()
	dir, keyFile := deviceEnv(t)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(ctx, filepath.Join(dir, vaultFile), vault.KeyFile(keyFile), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c"} {
		if err := v.PutSubmission(ctx, vault.Submission{ID: id, Payload: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"a", "b"} {
		if err := v.MarkState(ctx, id, vault.StateRejected, "central rejected the request: 401 stale: clock"); err != nil {
			t.Fatal(err)
		}
	}
	v.Close()

	if code, _ := runCLI(t, "sync", "requeue", "--dir", dir); code != ExitUsage {
		t.Errorf("requeue without ids or --all: exit %d, want %d", code, ExitUsage)
	}
	code, res := runCLI(t, "sync", "requeue", "--list", "--dir", dir)
	if list, _ := res["rejected"].([]any); code != ExitOK || len(list) != 2 {
		t.Fatalf("requeue --list: exit %d %v; want the 2 rejected", code, res)
	}
	if code, res := runCLI(t, "sync", "requeue", "--dir", dir, "c"); code != ExitInput || errCode(res) != "not_rejected" {
		t.Errorf("requeue of a queued submission: exit %d %v", code, res)
	}
	if code, res := runCLI(t, "sync", "requeue", "--dir", dir, "a"); code != ExitOK || res["requeued"] != float64(1) {
		t.Errorf("requeue a: exit %d %v", code, res)
	}
	if code, res := runCLI(t, "sync", "requeue", "--all", "--dir", dir); code != ExitOK || res["requeued"] != float64(1) {
		t.Errorf("requeue --all: exit %d %v; want b", code, res)
	}
	v, err = vault.Open(ctx, filepath.Join(dir, vaultFile), vault.KeyFile(keyFile), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	for _, id := range []string{"a", "b", "c"} {
		if e, err := v.OutboxStatus(ctx, id); err != nil || e.State != vault.StateQueued {
			t.Errorf("%s: %+v, %v; want queued", id, e, err)
		}
	}
	log, err := v.AuditLog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range log {
		if e.Action == "submission.requeued" && strings.HasPrefix(e.Actor, "operator") {
			n++
		}
	}
	if n != 2 {
		t.Errorf("audit log records %d operator re-queues, want 2", n)
	}
}

// TestDeviceCheckSaysWhoseConfiguration: `kyc device-check` says whether
// verifications decide with a local, unsigned configuration or central's,
// verified; an enrolled device without central's, or with one changed on
// disk after a sync, is refused by device-check and `kyc verify` alike,
// saying to sync (again), and a sync puts central's back.
func TestDeviceCheckSaysWhoseConfiguration(t *testing.T) {
	c := startCentral(t)
	dir, _ := deviceEnv(t)
	t.Setenv(deviceconf.EnvWatchlists, t.TempDir())
	source := func(when string, wantExit int) map[string]any {
		t.Helper()
		code, res := runCLI(t, "device-check", "--profile", "field")
		conf, _ := res["configuration"].(map[string]any)
		if code != wantExit || conf == nil {
			t.Fatalf("%s: exit %d, %v", when, code, res)
		}
		return conf
	}
	if conf := source("not enrolled", ExitOK); conf["source"] != string(deviceconf.SourceLocal) {
		t.Errorf("not enrolled: %v", conf)
	}
	if code, res := runCLI(t, "enroll", "--central", c.URL, "--ca", c.CAFile, "--token-file", c.tokenFile(t), "--dir", dir); code != ExitOK {
		t.Fatalf("enroll: %d %v", code, res)
	}
	if conf := source("enrolled, not synced", ExitRejected); !strings.Contains(conf["refused"].(string), "kyc sync") {
		t.Errorf("enrolled, not synced: %v", conf)
	}
	sync := func() {
		t.Helper()
		if code, res := runCLI(t, "sync", "--once", "--dir", dir); code != ExitOK {
			t.Fatalf("sync --once: %d %v", code, res)
		}
	}
	sync()
	if conf := source("synced", ExitOK); conf["source"] != string(deviceconf.SourceCentral) || conf["warning"] != nil {
		t.Errorf("synced: %v", conf)
	}
	state := filepath.Join(dir, deviceconf.ConfigDirName, "config.json")
	b, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(b, []byte(`"version": 0`), []byte(`"version": 0, "risk": {"thresholds": {"face_liveness_min": 0.1}}`), 1)
	if bytes.Equal(edited, b) {
		t.Fatalf("nothing edited in %s", b)
	}
	if err := os.WriteFile(state, edited, 0o600); err != nil {
		t.Fatal(err)
	}
	if conf := source("edited", ExitRejected); !strings.Contains(conf["refused"].(string), "sync again") {
		t.Errorf("edited: %v", conf)
	}
	code, res := runCLI(t, "verify", "--document", "front.jpg", "--selfie", "selfie.jpg", "--no-device-check")
	if code != ExitRejected || errCode(res) != "config_altered" {
		t.Errorf("kyc verify on an edited configuration: exit %d %v; want it refused", code, res)
	}
	sync()
	if conf := source("synced again", ExitOK); conf["source"] != string(deviceconf.SourceCentral) {
		t.Errorf("synced again: %v", conf)
	}
	// Deleting the enrolment makes no device standing alone of it: the
	// vault recorded it (sync pinned it).
	enrPath := filepath.Join(dir, enrollmentFile)
	enr, err := os.ReadFile(enrPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(enrPath); err != nil {
		t.Fatal(err)
	}
	if conf := source("enrolment removed", ExitRejected); !strings.Contains(conf["refused"].(string), "enrollment removed: ") {
		t.Errorf("enrolment removed: %v", conf)
	}
	code, res = runCLI(t, "verify", "--document", "front.jpg", "--selfie", "selfie.jpg", "--no-device-check")
	if code != ExitRejected || errCode(res) != "enrollment_removed" {
		t.Errorf("kyc verify with the enrolment removed: exit %d %v; want it refused", code, res)
	}
	if err := os.WriteFile(enrPath, enr, 0o600); err != nil {
		t.Fatal(err)
	}
	if conf := source("enrolment put back", ExitOK); conf["source"] != string(deviceconf.SourceCentral) {
		t.Errorf("enrolment put back: %v", conf)
	}
	// Deleting central's configuration brings no defaults back.
	if err := os.RemoveAll(filepath.Join(dir, deviceconf.ConfigDirName)); err != nil {
		t.Fatal(err)
	}
	code, res = runCLI(t, "verify", "--document", "front.jpg", "--selfie", "selfie.jpg", "--no-device-check")
	if code != ExitRejected || errCode(res) != "config_not_synced" {
		t.Errorf("kyc verify with central's configuration deleted: exit %d %v; want it refused", code, res)
	}
}

// TestEnrollmentAddressCredentials: central's address with credentials in
// it is refused by enroll, and in an enrolment file written by hand by
// sync (enrollment_invalid), and neither prints them.
func TestEnrollmentAddressCredentials(t *testing.T) {
	dir, _ := deviceEnv(t)
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("x.y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const central = "https://admin:hunter2@central.example:8443/kyc?token=hunter2"
	code, res := runCLI(t, "enroll", "--central", central, "--token-file", tok, "--dir", dir)
	if code != ExitUsage || strings.Contains(fmt.Sprint(res), "hunter2") || !strings.Contains(fmt.Sprint(res), "central.example:8443/kyc") {
		t.Errorf("enroll: exit %d %v, want a usage error without the credentials", code, res)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	id, err := identity.LoadOrCreate(filepath.Join(dir, deviceKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	enr := identity.Enrollment{CentralURL: central, DeviceID: id.DeviceID(), CentralBoxKey: [32]byte{1}, EnrolledAt: time.Now()}
	if err := identity.SaveEnrollment(filepath.Join(dir, enrollmentFile), enr); err != nil {
		t.Fatal(err)
	}
	code, res = runCLI(t, "sync", "--once", "--dir", dir)
	if errCode(res) != "enrollment_invalid" || strings.Contains(fmt.Sprint(res), "hunter2") {
		t.Errorf("sync with the address written by hand: exit %d %v, want enrollment_invalid without the credentials", code, res)
	}
}
