package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/backup"
	"github.com/openkyc/kyc/sync/central/pki"
	"github.com/openkyc/kyc/sync/protocol"
)

// testToken is 32 random bytes in base64url.
const testToken = "Zq8J2mV4xR7tW0nB5cY1kE9sH3uL6pD8gF2aQ4oT7iM"

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestTLSServeAndCreateToken makes a CA and certificate with `tls init`,
// runs `serve` over HTTPS on a bbolt store, creates an enrolment token
// against it with `token create --ca`, then shuts down.
func TestTLSServeAndCreateToken(t *testing.T) {
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "admin.token")
	if err := os.WriteFile(tokFile, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tlsDir := filepath.Join(dir, "tls")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"tls", "init", "--dir", tlsDir, "--host", "127.0.0.1", "--host", "localhost"}, &out, &errOut); code != 0 {
		t.Fatalf("tls init: exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "--tls-cert") {
		t.Errorf("tls init does not say how to serve: %s", out.String())
	}
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var serveErr syncBuf
	go func() {
		done <- run(ctx, []string{"serve", "--addr", addr, "--data", filepath.Join(dir, "data"), "--admin-token-file", tokFile,
			"--tls-cert", filepath.Join(tlsDir, pki.ServerCertFile), "--tls-key", filepath.Join(tlsDir, pki.ServerKeyFile),
			"--backup-dir", filepath.Join(dir, "copies")}, &bytes.Buffer{}, &serveErr)
	}()
	caPEM, err := os.ReadFile(filepath.Join(tlsDir, pki.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pki.ClientConfig(caPEM)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 5 * time.Second}
	waitServing(t, &serveErr, func() error {
		resp, err := client.Get("https://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
	out.Reset()
	errOut.Reset()
	if code := run(context.Background(), []string{"token", "create", "--central", "https://" + addr, "--ca", filepath.Join(tlsDir, pki.CACertFile), "--ttl", "1h", "--admin-token-file", tokFile}, &out, &errOut); code != 0 {
		t.Fatalf("token create: exit %d: %s", code, errOut.String())
	}
	var tr central.TokenResponse
	if err := json.Unmarshal(out.Bytes(), &tr); err != nil || time.Until(tr.ExpiresAt) > time.Hour {
		t.Fatalf("token create printed %q (%v)", out.String(), err)
	}
	fp, err := protocol.ParseEnrollToken(tr.Token)
	if err != nil || tr.Fingerprint == "" || !strings.Contains(errOut.String(), tr.Fingerprint) {
		t.Errorf("token %q (%v) with fingerprint %q; stderr %q", tr.Token, err, tr.Fingerprint, errOut.String())
	}
	box, err := central.LoadOrCreateBoxKey(filepath.Join(dir, "data", "box.key"))
	if err != nil {
		t.Fatal(err)
	}
	sign, err := central.LoadOrCreateSignKey(filepath.Join(dir, "data", "sign.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := protocol.CheckFingerprint(fp, box.Public[:], sign.Public().(ed25519.PublicKey)); err != nil {
		t.Errorf("the token's fingerprint is not central's keys': %v", err)
	}
	if code := run(context.Background(), []string{"token", "create", "--central", "https://" + addr}, &out, &errOut); code == 0 && os.Getenv(envAdminToken) == "" {
		t.Error("token create without an admin token succeeded")
	}
	if code := run(context.Background(), []string{"token", "create", "--central", "https://" + addr, "--admin-token-file", tokFile}, &out, &errOut); code == 0 {
		t.Error("token create trusted central's private CA without --ca")
	}
	// A copy of the running central's store through the admin API; the
	// store file itself is not copied from here while central holds it.
	copyFile := filepath.Join(dir, "backup", "central-copy.db")
	if err := os.Mkdir(filepath.Dir(copyFile), 0o700); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errOut.Reset()
	if code := run(context.Background(), []string{"backup", "--central", "https://" + addr, "--ca", filepath.Join(tlsDir, pki.CACertFile), "--admin-token-file", tokFile, "--out", copyFile}, &out, &errOut); code != 0 || !strings.Contains(out.String(), `"submissions":0`) {
		t.Fatalf("backup: exit %d: %s %s", code, out.String(), errOut.String())
	}
	if code := run(context.Background(), []string{"backup", "--data", filepath.Join(dir, "data"), "--out", copyFile + "2"}, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), "in use") {
		t.Errorf("backup --data of a running central: exit %d: %s", code, errOut.String())
	}
	// --backup-dir: the scheduled copy due at start, named for its time
	// (the log says so once it has its name).
	waitServing(t, &serveErr, func() error {
		if !strings.Contains(serveErr.String(), "scheduled copy of the store taken") {
			return errors.New("no scheduled copy at start")
		}
		return nil
	})
	if copies, _ := filepath.Glob(filepath.Join(dir, "copies", "central-*.db")); len(copies) != 1 {
		t.Errorf("scheduled copies: %v, want one", copies)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d: %s", code, serveErr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop on cancel")
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"restore", "--from", copyFile, "--data", filepath.Join(dir, "data")}, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), "--replace") {
		t.Errorf("restore over a store without --replace: exit %d: %s", code, errOut.String())
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"restore", "--from", copyFile, "--data", filepath.Join(dir, "data"), "--replace"}, &out, &errOut); code != 0 || !strings.Contains(errOut.String(), "central.db.replaced-") {
		t.Errorf("restore --replace: exit %d: %s", code, errOut.String())
	}
	for _, key := range []string{"box.key", "sign.key"} {
		if fi, err := os.Stat(filepath.Join(dir, "data", key)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want a 0600 file", key, fi, err)
		}
	}
	if !strings.Contains(serveErr.String(), `"msg":"kyc-central listening"`) || !strings.Contains(serveErr.String(), `"tls":true`) {
		t.Errorf("serve's log: %s", serveErr.String())
	}
}

// TestServeRefusals: plain HTTP without the flag or off loopback, a weak
// admin token, an unknown store, --recheck-approvals without the face
// models: each stops serve with words that say why.
func TestServeRefusals(t *testing.T) {
	dir := t.TempDir()
	weak := filepath.Join(dir, "weak.token")
	if err := os.WriteFile(weak, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	shared := filepath.Join(dir, "shared.token")
	if err := os.WriteFile(shared, []byte(testToken+"\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no TLS", []string{"--addr", "127.0.0.1:0"}, "--tls-cert"},
		// An unknown store after it: serve stops however the token is taken.
		{"admin token readable by others", []string{"--addr", "127.0.0.1:0", "--insecure-http", "--admin-token-file", shared, "--store", "mongo"}, "readable by others"},
		{"insecure off loopback", []string{"--addr", "0.0.0.0:0", "--insecure-http"}, "loopback"},
		{"cert without key", []string{"--tls-cert", "x.crt"}, "go together"},
		{"weak admin token", []string{"--addr", "127.0.0.1:0", "--insecure-http", "--admin-token-file", weak}, "too weak"},
		{"unknown store", []string{"--addr", "127.0.0.1:0", "--insecure-http", "--store", "mongo"}, "unknown store"},
		{"insecure console off loopback", []string{"--addr", "127.0.0.1:0", "--insecure-http", "--console-addr", "0.0.0.0:0"}, "console: central: plain HTTP is refused on 0.0.0.0:0"},
		{"negative prompt time", []string{"--addr", "127.0.0.1:0", "--insecure-http", "--challenge-prompt-time", "-1s"}, "must not be negative"},
		{"negative face match turns", []string{"--addr", "127.0.0.1:0", "--insecure-http", "--face-match-turns", "-2"}, "--face-match-turns, --face-match-share, --face-match-wait and --face-match-body-time must not be negative"},
		{"negative face match share", []string{"--addr", "127.0.0.1:0", "--insecure-http", "--face-match-share", "-1"}, "must not be negative"},
		{"webhook timeout not positive", []string{"--addr", "127.0.0.1:0", "--insecure-http", "--webhook-timeout", "-5s"}, "--webhook-timeout must be positive"},
		{"webhook timeout zero", []string{"--addr", "127.0.0.1:0", "--insecure-http", "--webhook-timeout", "0s"}, "--webhook-timeout must be positive"},
		{"webhook min rate zero", []string{"--addr", "127.0.0.1:0", "--insecure-http", "--webhook-min-rate", "0"}, "--webhook-min-rate must be at least 1024"},
		{"webhook min rate too low", []string{"--addr", "127.0.0.1:0", "--insecure-http", "--webhook-min-rate", "1023"}, "--webhook-min-rate must be at least 1024"},
		{"webhook min rate not a number", []string{"--addr", "127.0.0.1:0", "--insecure-http", "--webhook-min-rate", "64k"}, "invalid value"},
		{"negative face match wait", []string{"--addr", "127.0.0.1:0", "--insecure-http", "--face-match-wait", "-1s"}, "must not be negative"},
		{"negative face match body time", []string{"--addr", "127.0.0.1:0", "--insecure-http", "--face-match-body-time", "-5s"}, "must not be negative"},
		{"face match share above the turns", []string{"--addr", "127.0.0.1:0", "--insecure-http", "--face-match-turns", "2", "--face-match-share", "3"}, "--face-match-share 3 exceeds --face-match-turns 2"},
		{"backup interval under a minute", []string{"--addr", "127.0.0.1:0", "--insecure-http", "--backup-dir", dir, "--backup-every", "30s"}, "--backup-every must be at least a minute"},
		{"no backup kept", []string{"--addr", "127.0.0.1:0", "--insecure-http", "--backup-dir", dir, "--backup-keep", "0"}, "--backup-keep at least 1"},
		{"admin token owner without a token", []string{"--addr", "127.0.0.1:0", "--insecure-http", "--admin-token-owner", "ayu"}, "--admin-token-owner names the holder of the admin token, but there is none"},
		{"risk proposal ttl not positive", []string{"--addr", "127.0.0.1:0", "--insecure-http", "--risk-proposal-ttl", "0s"}, "--risk-proposal-ttl must be positive"},
		{"trusted proxy not an address", []string{"--addr", "127.0.0.1:0", "--insecure-http", "--trusted-proxies", "10.0.0.0/8,haproxy"}, `"haproxy" is neither an address nor a CIDR prefix`},
		{"face match wait not a duration", []string{"--addr", "127.0.0.1:0", "--insecure-http", "--face-match-wait", "30"}, `invalid value "30" for flag -face-match-wait`},
		// An empty model folder: central's second opinion asked for and
		// no engine to give it.
		{"recheck without the face models", []string{"--addr", "127.0.0.1:0", "--insecure-http", "--recheck-approvals", "--models", filepath.Join(dir, "no-models")}, errRecheckNoEngine.Error()},
	}
	for _, tc := range cases {
		// A refusal gone missing serves until this ends, and fails.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		var errOut bytes.Buffer
		args := append([]string{"serve", "--data", filepath.Join(dir, "data")}, tc.args...)
		code := run(ctx, args, &bytes.Buffer{}, &errOut)
		cancel()
		if code != 1 || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%s: exit %d: %q, want 1 saying %q", tc.name, code, errOut.String(), tc.want)
		}
	}
	var errOut bytes.Buffer
	if code := run(context.Background(), []string{"token", "create", "--central", "http://192.0.2.1:8443"}, &bytes.Buffer{}, &errOut); code != 1 {
		t.Errorf("token create over plain HTTP off loopback: exit %d", code)
	}
}

func TestUsage(t *testing.T) {
	cases := [][]string{nil, {"bogus"}, {"token"}, {"tls"}}
	for _, args := range cases {
		if code := run(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{}); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// syncBuf is a buffer serve writes its log to while the test reads it.
// waitServing waits until get reaches serve (no error), for up to 20 s,
// else fails with serve's log.
func waitServing(t *testing.T, logs *syncBuf, get func() error) {
	t.Helper()
	// A bound on a hang, not a speed target: on a loaded machine (two
	// cores at a load of 12) serve has taken over 10 s to come up.
	deadline := time.Now().Add(time.Minute)
	for {
		err := get()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not come up: %v\n%s", err, logs.String())
		}
		// Paces a poll of the condition above, bounded by the deadline: the
		// outcome never depends on how long the sleep lasts.
		time.Sleep(50 * time.Millisecond)
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeMetricsAddr: serve answers /metrics only on --metrics-addr
// (404 on --addr, which partners and phones reach), and the metrics
// listener ends with serve.
func TestServeMetricsAddr(t *testing.T) {
	addr, metricsAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var logs syncBuf
	go func() {
		done <- run(ctx, []string{"serve", "--addr", addr, "--data", t.TempDir(), "--insecure-http", "--metrics-addr", metricsAddr}, &bytes.Buffer{}, &logs)
	}()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(url string) (int, string, error) {
		resp, err := client.Get(url)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	waitServing(t, &logs, func() error {
		_, _, err := get("http://" + addr + "/healthz")
		return err
	})
	if code, _, err := get("http://" + addr + "/metrics"); err != nil || code != http.StatusNotFound {
		t.Errorf("/metrics on --addr: %d %v, want 404", code, err)
	}
	code, body, err := get("http://" + metricsAddr + "/metrics")
	if err != nil || code != http.StatusOK || !strings.Contains(body, `kyc_central_http_requests_total{code="404",route="unmatched"} 1`) {
		t.Errorf("/metrics on --metrics-addr: %d %v %.300s", code, err, body)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("serve exit %d: %s", code, logs.String())
	}
	if _, _, err := get("http://" + metricsAddr + "/metrics"); err == nil {
		t.Error("the metrics listener still answers after serve ended")
	}
}

// TestBackupsRefusedOnPostgres: --backup-dir has nothing to copy on a
// store without a file (PostgreSQL), and says so rather than start.
func TestBackupsRefusedOnPostgres(t *testing.T) {
	if _, err := startBackups(context.Background(), &backup.Schedule{Dir: t.TempDir()}); !errors.Is(err, errBackupsPostgres) {
		t.Fatalf("startBackups without a file store: %v, want errBackupsPostgres", err)
	}
}

// TestTrustedProxiesSetting: --trusted-proxies takes a comma-separated
// list, --trusted-proxy adds one, and $KYC_CENTRAL_TRUSTED_PROXIES counts
// only when neither flag is given (a bad one refuses to start).
func TestTrustedProxiesSetting(t *testing.T) {
	parse := func(t *testing.T, env string, args ...string) ([]string, error) {
		t.Helper()
		t.Setenv(envTrustedProxies, env)
		var p prefixes
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.Var(&p, "trusted-proxies", "")
		fs.Var(&p, "trusted-proxy", "")
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		err := proxiesFromEnv(fs, &p)
		return strings.Split(p.String(), ","), err
	}
	for _, tc := range []struct {
		name, env string
		args      []string
		want      string
	}{
		{"none", "", nil, ""},
		{"a list", "", []string{"--trusted-proxies", "10.0.0.7, 10.1.0.0/16,2001:db8::/48"}, "10.0.0.7/32,10.1.0.0/16,2001:db8::/48"},
		{"repeated", "", []string{"--trusted-proxy", "10.0.0.7", "--trusted-proxy", "10.0.0.8"}, "10.0.0.7/32,10.0.0.8/32"},
		{"IPv4-mapped read as IPv4", "", []string{"--trusted-proxies", "::ffff:10.0.0.7,::ffff:10.0.0.0/104"}, "10.0.0.7/32,10.0.0.0/8"},
		{"host bits masked", "", []string{"--trusted-proxies", "10.1.2.3/16"}, "10.1.0.0/16"},
		{"from the environment", "127.0.0.1,10.0.0.0/8", nil, "127.0.0.1/32,10.0.0.0/8"},
		{"a flag wins over the environment", "10.0.0.0/8", []string{"--trusted-proxies", "127.0.0.1"}, "127.0.0.1/32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parse(t, tc.env, tc.args...)
			if err != nil || strings.Join(got, ",") != tc.want {
				t.Errorf("%v %v, want %s", got, err, tc.want)
			}
		})
	}
	if _, err := parse(t, "10.0.0.0/8,balancer"); err == nil || !strings.Contains(err.Error(), "$"+envTrustedProxies) {
		t.Errorf("a bad $%s: %v, want an error naming it", envTrustedProxies, err)
	}
	if _, err := parse(t, "", "--trusted-proxies", "::ffff:0:0/80"); err == nil {
		t.Error("a prefix mixing IPv4-mapped and other IPv6 addresses was taken")
	}
}
