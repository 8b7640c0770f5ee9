package central_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
	"github.com/openkyc/kyc/sync/central/pki"
	"github.com/openkyc/kyc/sync/central/store/boltstore"
)

func openBolt(t testing.TB) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "central.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func keys(t *testing.T) (*central.BoxKey, []byte) {
	t.Helper()
	box, err := central.GenerateBoxKey()
	if err != nil {
		t.Fatal(err)
	}
	sign, err := central.GenerateSignKey()
	if err != nil {
		t.Fatal(err)
	}
	return box, sign
}

// tlsFiles makes a CA and a certificate for 127.0.0.1 and returns the
// server configuration and a client that trusts the CA.
func tlsFiles(t *testing.T) (*tls.Config, *http.Client) {
	t.Helper()
	files, err := pki.Init(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	srvCfg, err := pki.ServerConfig(files.ServerCert, files.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(files.CACert)
	if err != nil {
		t.Fatal(err)
	}
	cliCfg, err := pki.ClientConfig(caPEM)
	if err != nil {
		t.Fatal(err)
	}
	return srvCfg, &http.Client{Transport: &http.Transport{TLSClientConfig: cliCfg}, Timeout: 10 * time.Second}
}

func TestServeHealthAndGracefulShutdown(t *testing.T) {
	box, sign := keys(t)
	srvTLS, client := tlsFiles(t)
	s, err := central.New(central.Config{Addr: "127.0.0.1:0", Version: "test", Store: openBolt(t), BoxKey: box, SignKey: sign, TLS: srvTLS})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	}
	resp, err := client.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	// Open to anyone, it says the status alone: no version, load or uptime.
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || body["status"] != "ok" || len(body) != 1 {
		t.Fatalf("health = %d %s, want 200 and the status alone", resp.StatusCode, raw)
	}
	if resp.Header.Get("Date") == "" || resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("answer lacks Date or X-Request-Id: %v", resp.Header)
	}
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP on the TLS port: %d, want 400", resp.StatusCode)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve after cancel: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return after its context was cancelled")
	}
	if _, err := client.Get("https://" + addr + "/healthz"); err == nil {
		t.Fatal("server still answering after shutdown")
	}
}

// TestTLSFloor: TLS 1.1 and a CBC suite are refused, TLS 1.2 with an
// AEAD suite accepted.
func TestTLSFloor(t *testing.T) {
	c := start(t, central.Config{Store: openBolt(t)})
	base := c.Client.Transport.(*http.Transport).TLSClientConfig
	cases := []struct {
		name string
		cfg  func(*tls.Config)
		ok   bool
	}{
		{"TLS 1.1", func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11 }, false},
		{"TLS 1.2 CBC", func(c *tls.Config) {
			c.MaxVersion = tls.VersionTLS12
			c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}
		}, false},
		{"TLS 1.2 GCM", func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 }, true},
		{"TLS 1.3", func(*tls.Config) {}, true},
	}
	for _, tc := range cases {
		cfg := base.Clone()
		tc.cfg(cfg)
		cl := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
		resp, err := cl.Get(c.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// TestServeRefusesPlainHTTP: without TLS, central serves only when asked
// to (InsecureHTTP) and only on loopback.
func TestServeRefusesPlainHTTP(t *testing.T) {
	box, sign := keys(t)
	cases := []struct {
		addr     string
		insecure bool
		refused  bool
	}{
		{"127.0.0.1:0", false, true},
		{"0.0.0.0:0", true, true},
		{":0", true, true},
		{"127.0.0.1:0", true, false},
		{"[::1]:0", true, false},
	}
	for _, tc := range cases {
		s, err := central.New(central.Config{Addr: tc.addr, Store: openBolt(t), BoxKey: box, SignKey: sign, InsecureHTTP: tc.insecure})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan string, 1)
		done := make(chan error, 1)
		go func() { done <- s.Serve(ctx, ready) }()
		select {
		case err := <-done:
			if !tc.refused {
				t.Errorf("%s insecure=%v: %v", tc.addr, tc.insecure, err)
			} else if !errors.Is(err, central.ErrInsecureHTTP) || !strings.Contains(err.Error(), "TLS") {
				t.Errorf("%s insecure=%v: %v, want ErrInsecureHTTP saying what to do", tc.addr, tc.insecure, err)
			}
		case addr := <-ready:
			if tc.refused {
				t.Errorf("%s insecure=%v: served plain HTTP on %s", tc.addr, tc.insecure, addr)
			}
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
		cancel()
	}
}

// TestNewNeedsStoreAndKeys: New refuses a configuration without a store
// or a key, and an admin token owner without a token or that no store
// could look up.
func TestNewNeedsStoreAndKeys(t *testing.T) {
	box, sign := keys(t)
	for _, cfg := range []central.Config{{}, {Store: openBolt(t), BoxKey: box}, {Store: openBolt(t), SignKey: sign},
		{Store: openBolt(t), BoxKey: box, SignKey: sign, AdminTokenOwner: "ayu"},
		{Store: openBolt(t), BoxKey: box, SignKey: sign, AdminToken: testAdminToken, AdminTokenOwner: "ayu\x00"}} {
		if _, err := central.New(cfg); err == nil {
			t.Errorf("New accepted %+v", cfg)
		}
	}
}

// TestWeakAdminTokenRefused: a token weaker than 32 random bytes stops New
// with a message that says why and how to make one.
func TestWeakAdminTokenRefused(t *testing.T) {
	box, sign := keys(t)
	cases := []struct {
		name, token string
		ok          bool
	}{
		{"short", "s3cret", false},
		{"42 random characters", testAdminToken[:42], false},
		{"repeated", strings.Repeat("a", 64), false},
		{"pattern", strings.Repeat("abc1", 12), false},
		{"words", "correct horse battery staple and then some more", false},
		{"base64url of 32 random bytes", testAdminToken, true},
		{"hex of 32 random bytes", "9f2c4e7a1b3d5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8", true},
	}
	for _, tc := range cases {
		_, err := central.New(central.Config{Store: openBolt(t), BoxKey: box, SignKey: sign, AdminToken: tc.token})
		if tc.ok != (err == nil) {
			t.Errorf("%s: %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && (!errors.Is(err, central.ErrWeakAdminToken) || !strings.Contains(err.Error(), "/dev/urandom")) {
			t.Errorf("%s: %v does not say how to make a good token", tc.name, err)
		}
	}
}

func TestServeBadAddress(t *testing.T) {
	box, sign := keys(t)
	s, err := central.New(central.Config{Addr: "256.0.0.1:99999", Store: openBolt(t), BoxKey: box, SignKey: sign, InsecureHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(context.Background(), nil); err == nil {
		t.Fatal("Serve accepted an invalid address")
	}
}

// TestMetricsOnTheirOwnListener: the main listener, which partners and
// phones reach, answers /metrics with 404; the metrics listener serves
// the registry (central's series and the process's), and ends with its
// context.
func TestMetricsOnTheirOwnListener(t *testing.T) {
	box, sign := keys(t)
	srvTLS, client := tlsFiles(t)
	s, err := central.New(central.Config{Addr: "127.0.0.1:0", Version: "v9.8.7", Store: openBolt(t), BoxKey: box, SignKey: sign, TLS: srvTLS})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	api, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	go func() { done <- s.ServeListener(ctx, api, nil) }()
	go func() { done <- s.ServeMetrics(ctx, metrics) }()
	get := func(c *http.Client, url string) (int, string) {
		t.Helper()
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get(client, "https://"+api.Addr().String()+"/healthz"); code != http.StatusOK {
		t.Fatalf("healthz: %d", code)
	}
	if code, body := get(client, "https://"+api.Addr().String()+"/metrics"); code != http.StatusNotFound || strings.Contains(body, "kyc_central_") {
		t.Errorf("/metrics on the main listener: %d %.200s, want 404", code, body)
	}
	code, body := get(http.DefaultClient, "http://"+metrics.Addr().String()+"/metrics")
	if code != http.StatusOK || !strings.Contains(body, `kyc_central_http_requests_total{code="200",route="GET /healthz"} 1`) ||
		!strings.Contains(body, "process_start_time_seconds") || !strings.Contains(body, `kyc_central_build_info{version="v9.8.7"} 1`) {
		t.Errorf("metrics listener: %d %s", code, body)
	}
	if code, _ := get(http.DefaultClient, "http://"+metrics.Addr().String()+"/healthz"); code != http.StatusNotFound {
		t.Errorf("the metrics listener serves more than /metrics: /healthz %d", code)
	}
	cancel()
	for range 2 {
		if err := <-done; err != nil {
			t.Errorf("after cancel: %v", err)
		}
	}
}

// TestConsoleOnItsOwnListener: with Config.ConsoleAddr the console is
// served only on its listener, behind the main listener's TLS and
// middleware (trusted proxies, Date, request id, metrics), and the main
// listener, whose pages anyone opens, answers 404 for it; without it the
// console is on the main listener. Every listener ends with the context.
func TestConsoleOnItsOwnListener(t *testing.T) {
	for _, tc := range []struct {
		name        string
		consoleAddr string
	}{
		{"own listener", "127.0.0.1:0"}, // Serve would listen there; the test hands ServeConsole its listener
		{"main listener", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			box, sign := keys(t)
			srvTLS, client := tlsFiles(t)
			now := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
			s, err := central.New(central.Config{Addr: "127.0.0.1:0", ConsoleAddr: tc.consoleAddr, Store: openBolt(t), BoxKey: box, SignKey: sign,
				TLS: srvTLS, Now: func() time.Time { return now }, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
			if err != nil {
				t.Fatal(err)
			}
			s.MountConsole("/console/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "console for "+httpx.ClientAddr(r))
			}))
			ctx, cancel := context.WithCancel(context.Background())
			listen := func() net.Listener {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				return ln
			}
			api, con, metrics := listen(), listen(), listen()
			done := make(chan error, 3)
			go func() { done <- s.ServeListener(ctx, api, nil) }()
			go func() { done <- s.ServeConsole(ctx, con) }()
			go func() { done <- s.ServeMetrics(ctx, metrics) }()
			get := func(c *http.Client, url string) (*http.Response, string) {
				t.Helper()
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Header.Set("X-Forwarded-For", "203.0.113.7")
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp, string(b)
			}
			consoleAt, elsewhere := "https://"+con.Addr().String(), "https://"+api.Addr().String()
			if tc.consoleAddr == "" {
				consoleAt, elsewhere = elsewhere, ""
			}
			resp, body := get(client, consoleAt+"/console/queue")
			if resp.StatusCode != http.StatusOK || body != "console for 203.0.113.7" || resp.Header.Get(httpx.HeaderRequestID) == "" ||
				resp.Header.Get("Date") != now.Format(http.TimeFormat) {
				t.Errorf("the console at %s: %d %q, headers %v", consoleAt, resp.StatusCode, body, resp.Header)
			}
			if elsewhere != "" {
				if resp, body := get(client, elsewhere+"/console/queue"); resp.StatusCode != http.StatusNotFound || strings.Contains(body, "console for") {
					t.Errorf("/console/ on the main listener: %d %q, want 404", resp.StatusCode, body)
				}
				if resp, _ := get(client, consoleAt+"/healthz"); resp.StatusCode != http.StatusNotFound {
					t.Errorf("the console listener serves more than the console: /healthz %d", resp.StatusCode)
				}
				if resp, _ := get(client, elsewhere+"/healthz"); resp.StatusCode != http.StatusOK {
					t.Errorf("healthz on the main listener: %d", resp.StatusCode)
				}
			}
			_, m := get(http.DefaultClient, "http://"+metrics.Addr().String()+"/metrics")
			if !strings.Contains(m, `kyc_central_http_requests_total{code="200",route="/console/"} 1`) {
				t.Errorf("the console's request is not in the metrics: %s", m)
			}
			cancel()
			for range 3 {
				if err := <-done; err != nil {
					t.Errorf("after cancel: %v", err)
				}
			}
		})
	}
}

// TestServeConsoleAddrRefused: Serve does not start when the console's
// address is taken, nor serves the console over plain HTTP off loopback.
func TestServeConsoleAddrRefused(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	box, sign := keys(t)
	srvTLS, _ := tlsFiles(t)
	s, err := central.New(central.Config{Addr: "127.0.0.1:0", ConsoleAddr: taken.Addr().String(), Store: openBolt(t), BoxKey: box, SignKey: sign, TLS: srvTLS})
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	if err := s.Serve(context.Background(), ready); err == nil || !strings.Contains(err.Error(), "the console") || len(ready) != 0 {
		t.Errorf("console address taken: %v (ready %d), want a failure before serving", err, len(ready))
	}
	s, err = central.New(central.Config{Addr: "127.0.0.1:0", ConsoleAddr: "0.0.0.0:0", Store: openBolt(t), BoxKey: box, SignKey: sign, InsecureHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(context.Background(), nil); !errors.Is(err, central.ErrInsecureHTTP) {
		t.Errorf("plain HTTP console off loopback: %v", err)
	}
}
