package central_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/openkyc/kyc/attest"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/central/partnerapi/apitest"
	"github.com/openkyc/kyc/sync/central/pki"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/internal/pgtest"
	"github.com/openkyc/kyc/sync/internal/synctest"
	"github.com/openkyc/kyc/sync/protocol"
)

// testAdminToken is 32 random bytes in base64url, as central demands.
const testAdminToken = "Zq8J2mV4xR7tW0nB5cY1kE9sH3uL6pD8gF2aQ4oT7iM"

// logLines decodes the JSON log lines whose msg is msg.
func logLines(t *testing.T, s *centraltest.LogBuffer, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range bytes.Split([]byte(s.String()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// tc is a central served the production way (Server.ServeListener, HTTPS
// with a pki-made certificate) on loopback.
type tc struct {
	URL    string
	Addr   string
	Server *central.Server
	Client *http.Client
	// Admins is Client with every exchange held to openapi.json
	// (apitest): admin and badAdmin send through it.
	Admins *http.Client
	CA     []byte
	Cfg    central.Config
	Log    *centraltest.LogBuffer
	stop   func()
}

// start serves cfg (Store required; keys, token, logger filled in).
func start(t *testing.T, cfg central.Config) *tc {
	t.Helper()
	if cfg.BoxKey == nil {
		var err error
		if cfg.BoxKey, err = central.GenerateBoxKey(); err != nil {
			t.Fatal(err)
		}
	}
	if cfg.SignKey == nil {
		var err error
		if cfg.SignKey, err = central.GenerateSignKey(); err != nil {
			t.Fatal(err)
		}
	}
	if cfg.AdminToken == "" {
		cfg.AdminToken = testAdminToken
	}
	logs := &centraltest.LogBuffer{}
	if cfg.Logger == nil {
		cfg.Logger = jsonLogger(logs)
	}
	dir := t.TempDir()
	files, err := pki.Init(dir, []string{"127.0.0.1", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLS, err = pki.ServerConfig(files.ServerCert, files.ServerKey); err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(files.CACert)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := central.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeListener(ctx, ln, nil) }()
	tlsCfg, err := pki.ClientConfig(caPEM)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 64}
	c := &tc{
		URL: "https://" + ln.Addr().String(), Addr: ln.Addr().String(), Server: srv, CA: caPEM, Cfg: cfg, Log: logs,
		Client: &http.Client{Transport: tr, Timeout: time.Minute}, Admins: apitest.Client(t, tr),
	}
	var once sync.Once
	c.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("ServeListener: %v", err)
			}
			tr.CloseIdleConnections()
		})
	}
	t.Cleanup(c.stop)
	return c
}

// admin sends an admin request with the token through Admins, which holds
// request and answer to openapi.json, and returns the response (body read)
// and its decoded error, if any.
func (c *tc) admin(t *testing.T, method, path string, body []byte, out any) (*http.Response, protocol.Error) {
	t.Helper()
	return c.sendWith(t, c.Admins, c.adminRequest(t, method, path, body), out)
}

// badAdmin is admin for a request sent against openapi.json on purpose (a
// bad field, query or id): only its answer is held to the document.
func (c *tc) badAdmin(t *testing.T, method, path string, body []byte, out any) (*http.Response, protocol.Error) {
	t.Helper()
	return c.sendWith(t, c.Admins, apitest.Invalid(c.adminRequest(t, method, path, body)), out)
}

// adminRequest is an admin request with the token and, for a body, its
// media type.
func (c *tc) adminRequest(t *testing.T, method, path string, body []byte) *http.Request {
	t.Helper()
	return synctest.AdminRequest(t, method, c.URL, path, c.Cfg.AdminToken, body)
}

// adminOf is the admin side of a synctest central as a tc, for its admin
// and badAdmin.
func adminOf(t *testing.T, c *synctest.Central) *tc {
	t.Helper()
	return &tc{URL: c.URL, Addr: c.Addr, Server: c.Server, Client: c.Client(), Admins: apitest.Client(t, c.Client().Transport),
		CA: c.CA, Cfg: central.Config{AdminToken: synctest.AdminToken}}
}

// statusOf is the status of an answer of admin or send.
func statusOf(resp *http.Response, _ protocol.Error) int { return resp.StatusCode }

// send does req and decodes a 2xx answer into out, or the error body.
func (c *tc) send(t *testing.T, req *http.Request, out any) (*http.Response, protocol.Error) {
	t.Helper()
	return c.sendWith(t, c.Client, req, out)
}

// sendWith is send through client.
func (c *tc) sendWith(t *testing.T, client *http.Client, req *http.Request, out any) (*http.Response, protocol.Error) {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var e protocol.Error
	if resp.StatusCode >= 300 {
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("%s %s: %d with a body that is no protocol.Error: %q", req.Method, req.URL.Path, resp.StatusCode, raw)
		}
	} else if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decoding answer %q: %v", req.Method, req.URL.Path, raw, err)
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	return resp, e
}

// token creates an enrolment token.
func (c *tc) token(t *testing.T) central.TokenResponse {
	t.Helper()
	var tr central.TokenResponse
	if resp, e := c.admin(t, http.MethodPost, "/admin/v1/enroll-tokens", nil, &tr); resp.StatusCode != http.StatusCreated {
		t.Fatalf("creating token: %d %+v", resp.StatusCode, e)
	}
	return tr
}

// dev is an enrolled device speaking to a tc.
type dev struct {
	c   *tc
	id  *identity.Identity
	enr identity.Enrollment
}

func (c *tc) enrol(t *testing.T) *dev {
	t.Helper()
	id := identity.Generate()
	enr, err := identity.Enroll(context.Background(), c.Client, c.URL, c.token(t).Token, id, "test")
	if err != nil {
		t.Fatal(err)
	}
	return &dev{c: c, id: id, enr: enr}
}

// request signs a device request at ts.
func (d *dev) request(t *testing.T, method, path string, body []byte, ts time.Time) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, d.c.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	protocol.Sign(req, sha256.Sum256(body), d.id.DeviceID(), d.key(t), ts)
	return req
}

func (d *dev) key(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	k, ok := d.id.Signer().(ed25519.PrivateKey)
	if !ok {
		t.Fatalf("identity signer is %T", d.id.Signer())
	}
	return k
}

// do sends a signed device request now.
func (d *dev) do(t *testing.T, method, path string, body []byte, out any) (*http.Response, protocol.Error) {
	t.Helper()
	return d.c.send(t, d.request(t, method, path, body, time.Now()), out)
}

// attestedManifest is the manifest of submission id whose payload is att
// alone, dated at att's report, sealed to c's box key.
func (c *tc) attestedManifest(t *testing.T, id string, att attest.Attestation) []byte {
	t.Helper()
	payload, err := json.Marshal(map[string]any{"attestation": att})
	if err != nil {
		t.Fatal(err)
	}
	pt, err := json.Marshal(protocol.Manifest{ID: id, CreatedAt: att.Report.Time, Payload: payload})
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := protocol.SealManifest(&c.Cfg.BoxKey.Public, pt)
	if err != nil {
		t.Fatal(err)
	}
	return sealed
}

// attestation makes a signed attestation dated at with nonce.
func (d *dev) attestation(t *testing.T, at time.Time, nonce string) attest.Attestation {
	t.Helper()
	a := attest.Attestation{
		DeviceID: d.id.DeviceID(), AppVersion: "test", Nonce: nonce,
		Report: attest.Report{Verdict: attest.VerdictOK, Profile: attest.ProfileKiosk, Time: at, OS: "linux", Arch: "amd64"},
	}
	if err := a.Sign(d.id.Signer()); err != nil {
		t.Fatal(err)
	}
	return a
}

// submit sends a submission without images carrying att and extra
// payload fields; it returns the answer.
func (d *dev) submit(t *testing.T, id string, att attest.Attestation, extra string) (*http.Response, protocol.Error) {
	t.Helper()
	payload, err := json.Marshal(map[string]any{"attestation": att, "note": extra})
	if err != nil {
		t.Fatal(err)
	}
	m := protocol.Manifest{ID: id, CreatedAt: att.Report.Time, Payload: payload}
	pt, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := protocol.SealManifest(&d.c.Cfg.BoxKey.Public, pt)
	if err != nil {
		t.Fatal(err)
	}
	return d.do(t, http.MethodPut, protocol.SubmissionPath(protocol.SubmissionKey(id)), sealed, nil)
}

// config fetches and opens the signed configuration.
func (d *dev) config(t *testing.T) protocol.Config {
	t.Helper()
	var sc protocol.SignedConfig
	if resp, e := d.do(t, http.MethodGet, protocol.PathConfig, nil, &sc); resp.StatusCode != http.StatusOK {
		t.Fatalf("config: %d %+v", resp.StatusCode, e)
	}
	cfg, err := sc.Open(d.enr.CentralSignKey)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func jsonLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func timeNow() time.Time { return time.Now() }

// startPostgres starts a private PostgreSQL for one test (skipped with
// -short) and returns a fresh database's DSN and a stop that the test may
// call to take the server down early; it is stopped at the end otherwise.
func startPostgres(t *testing.T) (dsn string, stop func() error) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	ctx := context.Background()
	pg, err := pgtest.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		return pg.Stop()
	}
	t.Cleanup(func() { stop() })
	if dsn, err = pg.NewDatabase(ctx); err != nil {
		t.Fatal(err)
	}
	return dsn, stop
}
