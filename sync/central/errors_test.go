package central_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
	"github.com/openkyc/kyc/sync/central/store/pgstore"
	"github.com/openkyc/kyc/sync/protocol"
)

// secretDSN is what a store error could carry: a DSN with a user, a
// password, a host and a port. None of it may reach a client.
const secretDSN = "postgres://kycadmin:hunter2@db-7.internal.example:6543/kyc"

var secretParts = []string{"kycadmin", "hunter2", "db-7.internal", "6543", "postgres://"}

// failingStore fails every call, after Device succeeds for enrolled ids
// while allowDevice is set, with an error that names the DSN.
type failingStore struct {
	central.Store
	fail        bool
	allowDevice bool
}

func (f *failingStore) err(op string) error {
	return fmt.Errorf("%s: failed to connect to `%s`: dial tcp 10.9.8.7:6543: connect: connection refused", op, secretDSN)
}

func (f *failingStore) Device(ctx context.Context, id string) (central.Device, error) {
	if f.fail && !f.allowDevice {
		return central.Device{}, f.err("device")
	}
	return f.Store.Device(ctx, id)
}

func (f *failingStore) UseNonce(ctx context.Context, dev, nonce string, now, exp time.Time) error {
	if f.fail && !f.allowDevice {
		return f.err("nonce")
	}
	return f.Store.UseNonce(ctx, dev, nonce, now, exp)
}

func (f *failingStore) Devices(ctx context.Context) ([]central.Device, error) {
	if f.fail {
		return nil, f.err("devices")
	}
	return f.Store.Devices(ctx)
}

func (f *failingStore) Submissions(ctx context.Context, fl central.Filter) ([]central.Submission, error) {
	if f.fail {
		return nil, f.err("submissions")
	}
	return f.Store.Submissions(ctx, fl)
}

func (f *failingStore) Upload(ctx context.Context, dev, key string) (central.Submission, error) {
	if f.fail {
		return central.Submission{}, f.err("upload")
	}
	return f.Store.Upload(ctx, dev, key)
}

func (f *failingStore) Risk(ctx context.Context) (json.RawMessage, int64, error) {
	if f.fail {
		return nil, 0, f.err("risk")
	}
	d, v, err := f.Store.Risk(ctx)
	return d, v, err
}

func (f *failingStore) ProposeRisk(ctx context.Context, p central.RiskProposal, ev central.AuditEvent) error {
	if f.fail {
		return f.err("propose risk")
	}
	return f.Store.ProposeRisk(ctx, p, ev)
}

func (f *failingStore) CreateEnrollToken(ctx context.Context, tok central.EnrollToken) error {
	if f.fail {
		return f.err("token")
	}
	return f.Store.CreateEnrollToken(ctx, tok)
}

func (f *failingStore) RevokeDevice(ctx context.Context, id string, at time.Time) error {
	if f.fail {
		return f.err("revoke")
	}
	return f.Store.RevokeDevice(ctx, id, at)
}

func (f *failingStore) SetDeviceStatus(ctx context.Context, id string, st protocol.DeviceStatus, at time.Time) error {
	if f.fail {
		return f.err("status")
	}
	return f.Store.SetDeviceStatus(ctx, id, st, at)
}

func (f *failingStore) Watchlist(ctx context.Context, name string) (protocol.Watchlist, []byte, error) {
	if f.fail {
		return protocol.Watchlist{}, nil, f.err("watchlist")
	}
	return f.Store.Watchlist(ctx, name)
}

func (f *failingStore) OpenWatchlist(ctx context.Context, name string) (protocol.Watchlist, io.ReadCloser, error) {
	if f.fail {
		return protocol.Watchlist{}, nil, f.err("watchlist")
	}
	return f.Store.OpenWatchlist(ctx, name)
}

func (f *failingStore) CreateWatchlist(ctx context.Context, name string, r io.Reader, event func(protocol.Watchlist) (central.AuditEvent, error)) (protocol.Watchlist, error) {
	if f.fail {
		return protocol.Watchlist{}, f.err("create watchlist")
	}
	return f.Store.CreateWatchlist(ctx, name, r, event)
}

func (f *failingStore) ClaimAttestation(ctx context.Context, dev string, h [sha256.Size]byte, key string, exp time.Time) error {
	if f.fail {
		return f.err("claim")
	}
	return f.Store.ClaimAttestation(ctx, dev, h, key, exp)
}

// checkPrivateError asserts a 5xx answer that tells nothing of the cause
// and carries a request id, which is also in the X-Request-Id header and
// in the log beside the cause.
func checkPrivateError(t *testing.T, c *tc, what string, resp *http.Response, e protocol.Error, body string) {
	t.Helper()
	if resp.StatusCode < 500 {
		t.Errorf("%s: %d %+v, want a 5xx", what, resp.StatusCode, e)
		return
	}
	for _, p := range secretParts {
		if strings.Contains(body, p) {
			t.Errorf("%s: the answer leaks %q: %s", what, p, body)
		}
	}
	if e.RequestID == "" || resp.Header.Get(httpx.HeaderRequestID) != e.RequestID {
		t.Errorf("%s: request id %q in the body, %q in the header", what, e.RequestID, resp.Header.Get(httpx.HeaderRequestID))
	}
	if resp.Header.Get("Date") == "" {
		t.Errorf("%s: no Date header", what)
	}
	found := false
	for _, l := range logLines(t, c.Log, "request failed") {
		if l["request_id"] == e.RequestID {
			found = true
			if cause, _ := l["cause"].(string); cause == "" {
				t.Errorf("%s: the log line of %s has no cause: %v", what, e.RequestID, l)
			}
		}
	}
	if !found {
		t.Errorf("%s: no log line with request id %q", what, e.RequestID)
	}
}

// TestStoreErrorsStayPrivate makes every store call fail with an error
// naming a DSN: no answer may carry any of it, each carries a request id
// the log has with the cause.
func TestStoreErrorsStayPrivate(t *testing.T) {
	fs := &failingStore{Store: openBolt(t)}
	c := start(t, central.Config{Store: fs, AdminTokenOwner: addTokenOwner(t, fs)})
	d := c.enrol(t)
	fs.fail = true

	cases := []struct {
		name        string
		allowDevice bool
		send        func() (*http.Response, protocol.Error)
	}{
		{"device lookup", false, func() (*http.Response, protocol.Error) { return d.do(t, http.MethodGet, protocol.PathConfig, nil, nil) }},
		{"config", true, func() (*http.Response, protocol.Error) { return d.do(t, http.MethodGet, protocol.PathConfig, nil, nil) }},
		{"watchlist", true, func() (*http.Response, protocol.Error) {
			return d.do(t, http.MethodGet, protocol.WatchlistPath("ofac"), nil, nil)
		}},
		{"status", true, func() (*http.Response, protocol.Error) {
			return d.do(t, http.MethodPut, protocol.PathStatus, []byte(`{"config_version":1}`), nil)
		}},
		{"manifest", true, func() (*http.Response, protocol.Error) {
			return d.submit(t, "s-1", d.attestation(t, time.Now(), ""), "")
		}},
		{"chunk", true, func() (*http.Response, protocol.Error) {
			return d.do(t, http.MethodPut, protocol.ImagePath(protocol.SubmissionKey("s-1"), "selfie", 0), []byte("x"), nil)
		}},
		{"admin devices", false, func() (*http.Response, protocol.Error) {
			return c.admin(t, http.MethodGet, "/admin/v1/devices", nil, nil)
		}},
		{"admin submissions", false, func() (*http.Response, protocol.Error) {
			return c.admin(t, http.MethodGet, "/admin/v1/submissions", nil, nil)
		}},
		{"admin submission", false, func() (*http.Response, protocol.Error) {
			return c.admin(t, http.MethodGet, "/admin/v1/devices/"+d.id.DeviceID()+"/submissions/s-1", nil, nil)
		}},
		{"admin token", false, func() (*http.Response, protocol.Error) {
			return c.admin(t, http.MethodPost, "/admin/v1/enroll-tokens", nil, nil)
		}},
		{"admin revoke", false, func() (*http.Response, protocol.Error) {
			return c.admin(t, http.MethodPost, "/admin/v1/devices/"+d.id.DeviceID()+"/revoke", nil, nil)
		}},
		{"admin risk", false, func() (*http.Response, protocol.Error) {
			return c.admin(t, http.MethodPut, "/admin/v1/config/risk", []byte(`{}`), nil)
		}},
		{"admin watchlist", false, func() (*http.Response, protocol.Error) {
			return c.admin(t, http.MethodPut, "/admin/v1/watchlists/ofac", []byte("x\n"), nil)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs.allowDevice = tc.allowDevice
			resp, e := tc.send()
			body := fmt.Sprintf("%+v %v", e, resp.Header)
			raw := make([]byte, 4096)
			n, _ := resp.Body.Read(raw)
			checkPrivateError(t, c, tc.name, resp, e, body+string(raw[:n]))
		})
	}
}

// TestPostgresOutageStaysPrivate stops a real PostgreSQL under central:
// devices and the admin get a generic error with a request id, never the
// server's address, port, user or database name.
func TestPostgresOutageStaysPrivate(t *testing.T) {
	ctx := context.Background()
	dsn, stopPostgres := startPostgres(t)
	store, err := pgstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	c := start(t, central.Config{Store: store})
	d := c.enrol(t)
	if err := stopPostgres(); err != nil {
		t.Fatal(err)
	}
	port := dsn[strings.LastIndex(dsn, ":")+1 : strings.LastIndex(dsn, "/")]
	db := dsn[strings.LastIndex(dsn, "/")+1 : strings.Index(dsn, "?")]
	leaks := []string{port, db, "postgres", "127.0.0.1", "dial", "connect"}
	// Twice each: first the pool's connections are cut, then connecting
	// fails, and pgx's error names host, port, user and database.
	causes := ""
	for round := range 2 {
		for _, tcase := range []struct {
			name string
			send func() (*http.Response, protocol.Error)
		}{
			{"device", func() (*http.Response, protocol.Error) { return d.do(t, http.MethodGet, protocol.PathConfig, nil, nil) }},
			{"admin", func() (*http.Response, protocol.Error) {
				return c.admin(t, http.MethodGet, "/admin/v1/submissions", nil, nil)
			}},
		} {
			name := fmt.Sprintf("%s, round %d", tcase.name, round)
			resp, e := tcase.send()
			if resp.StatusCode != http.StatusInternalServerError || e.Code != "internal" {
				t.Errorf("%s: %d %+v, want 500 internal", name, resp.StatusCode, e)
			}
			text := e.Code + " " + e.Message
			for _, l := range leaks {
				if strings.Contains(text, l) {
					t.Errorf("%s: the answer %q leaks %q", name, text, l)
				}
			}
			checkPrivateError(t, c, name, resp, e, text)
		}
	}
	for _, l := range logLines(t, c.Log, "request failed") {
		causes += fmt.Sprint(l["cause"]) + "\n"
	}
	if !strings.Contains(causes, port) {
		t.Errorf("the log never names the server that failed:\n%s", causes)
	}
}

// TestPublicErrorMapping: sentinel errors get their public face, anything
// else is a 500 that says nothing.
func TestPublicErrorMapping(t *testing.T) {
	x := &httpx.Responder{Rules: []httpx.Rule{{Err: central.ErrNotFound, Status: 404, Code: "not_found", Message: "not found"}}}
	cases := []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("reading: %w", central.ErrNotFound), 404, "not_found"},
		{httpx.Errorf(422, "attestation", "old"), 422, "attestation"},
		{fmt.Errorf("wrapped: %w", httpx.Wrap(errors.New(secretDSN), 401, "stale", "late")), 401, "stale"},
		{errors.New(secretDSN), 500, "internal"},
		{&http.MaxBytesError{Limit: 1}, 413, "too_large"},
	}
	for _, tc := range cases {
		e := x.Public(tc.err)
		if e.Status != tc.status || e.Code != tc.code || strings.Contains(e.Message, "hunter2") {
			t.Errorf("%v: %d %s %q, want %d %s", tc.err, e.Status, e.Code, e.Message, tc.status, tc.code)
		}
	}
}
