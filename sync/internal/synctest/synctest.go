// Package synctest holds the parts the sync tests and benchmarks share: a
// central on loopback speaking real TLS with a private CA (sync/central/pki)
// that the test clients trust, device enrolment, deterministic submissions
// carrying a signed attestation, a simulated clock, a recording TCP proxy
// that can reset connections and shape a slow line, and the
// exactly-once-and-intact check.
package synctest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/partnerapi/apitest"
	"github.com/openkyc/kyc/sync/central/pki"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/internal/testsub"
	"github.com/openkyc/kyc/sync/protocol"
	"github.com/openkyc/kyc/sync/vault"
)

// AdminToken is the admin bearer token of test centrals: 32 random bytes'
// worth, as central.New demands.
const AdminToken = "kR3v9XwQe2LmT7bY0cHsJ4fNp8GdZu1A6iVoEq5yWxM"

// AdminTokenOwner is the console admin who holds AdminToken
// (central.Config.AdminTokenOwner): the token's proposals are hers, and
// PublishRisk and PublishWatchlist confirm them as another admin.
const AdminTokenOwner = "token-owner"

// Central is a central server on 127.0.0.1, speaking HTTPS with a
// certificate from a private CA (sync/central/pki) made for the test.
type Central struct {
	URL    string // https://127.0.0.1:port
	Addr   string
	Store  central.Store
	Server *central.Server
	Box    *central.BoxKey
	// Sign is central's Ed25519 signing key.
	Sign ed25519.PrivateKey
	// CA is the PEM of the CA that central's certificate chains to;
	// TLSDir holds it with the server certificate (pki.Init's files).
	CA     []byte
	TLSDir string
	client *http.Client
	stop   func()
}

// CentralOptions tune StartCentral.
type CentralOptions struct {
	Addr    string // "" means a free port on 127.0.0.1
	Box     *central.BoxKey
	Sign    ed25519.PrivateKey // nil: a new key
	Now     func() time.Time
	MaxSkew time.Duration
	// Wrap, when set, wraps central's handler (fault injection).
	Wrap func(http.Handler) http.Handler
	// TLSDir, when set, is a pki directory to serve with (a restart keeps
	// the CA its devices trust); "" means a new CA in a temporary folder.
	TLSDir string
}

// StartCentral serves a central over store on loopback until Stop or the
// end of the test. It does not close the store. When o.Now is set, the
// Date header of every answer follows it, as a real central's follows its
// clock, so devices measuring their offset from it see the test's time.
func StartCentral(tb testing.TB, store central.Store, o CentralOptions) *Central {
	tb.Helper()
	if o.Box == nil {
		var err error
		if o.Box, err = central.GenerateBoxKey(); err != nil {
			tb.Fatal(err)
		}
	}
	if o.Sign == nil {
		var err error
		if o.Sign, err = central.GenerateSignKey(); err != nil {
			tb.Fatal(err)
		}
	}
	// A restart on the same store finds the owner's account there.
	owner := central.User{Name: AdminTokenOwner, Role: central.RoleAdmin, CreatedAt: time.Now()}
	if err := store.CreateUser(context.Background(), owner); err != nil && !errors.Is(err, central.ErrUserExists) {
		tb.Fatal(err)
	}
	srv, err := central.New(central.Config{Store: store, BoxKey: o.Box, SignKey: o.Sign, AdminToken: AdminToken, AdminTokenOwner: AdminTokenOwner,
		Now: o.Now, MaxSkew: o.MaxSkew, MaxInFlight: 256})
	if err != nil {
		tb.Fatal(err)
	}
	if o.TLSDir == "" {
		o.TLSDir = tb.TempDir()
	}
	files, err := pki.Init(o.TLSDir, []string{"127.0.0.1", "::1", "localhost"})
	if err != nil {
		tb.Fatal(err)
	}
	tlsCfg, err := pki.ServerConfig(files.ServerCert, files.ServerKey)
	if err != nil {
		tb.Fatal(err)
	}
	caPEM, err := os.ReadFile(files.CACert)
	if err != nil {
		tb.Fatal(err)
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	var ln net.Listener
	// Re-binding the port of a central that just stopped can race with the
	// kernel releasing it.
	for i := 0; ; i++ {
		if ln, err = net.Listen("tcp", o.Addr); err == nil || i == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		tb.Fatal(err)
	}
	h := srv.Handler()
	if o.Wrap != nil {
		h = o.Wrap(h)
	}
	if o.Now != nil {
		h = dateFrom(o.Now, h)
	}
	hs := &http.Server{Handler: h, TLSConfig: tlsCfg, ErrorLog: log.New(io.Discard, "", 0)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hs.ServeTLS(ln, "", "")
	}()
	tr, err := identity.NewTransport(caPEM)
	if err != nil {
		tb.Fatal(err)
	}
	c := &Central{
		URL: "https://" + ln.Addr().String(), Addr: ln.Addr().String(), Store: store, Server: srv, Box: o.Box, Sign: o.Sign,
		CA: caPEM, TLSDir: o.TLSDir, client: &http.Client{Transport: tr, Timeout: time.Minute},
	}
	var once sync.Once
	c.stop = func() {
		once.Do(func() {
			// Close, not Shutdown: a restart test wants in-flight
			// requests cut off as by a crash.
			hs.Close()
			<-done
			tr.CloseIdleConnections()
		})
	}
	tb.Cleanup(c.stop)
	return c
}

// dateFrom sets the Date header from now before h writes its answer
// (net/http keeps a Date already set).
func dateFrom(now func() time.Time, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", now().UTC().Format(http.TimeFormat))
		h.ServeHTTP(w, r)
	})
}

// Stop stops serving, cutting off requests in flight.
func (c *Central) Stop() { c.stop() }

// Client returns an HTTP client that trusts central's CA (and no other).
func (c *Central) Client() *http.Client { return c.client }

// Admin sends an admin API request and decodes a JSON answer into out
// (when not nil). It returns the status code. The request and its answer
// are checked against openapi.json (apitest), failing tb on a mismatch.
func (c *Central) Admin(tb testing.TB, method, path string, body []byte, out any) int {
	tb.Helper()
	resp, err := apitest.Client(tb, c.client.Transport).Do(AdminRequest(tb, method, c.URL, path, AdminToken, body))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode < 300 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			tb.Fatalf("%s %s: decoding answer: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

// AdminRequest is an admin API request to central at base with token
// and, for a body, the media type openapi.json gives it: a watchlist's
// bytes, else JSON.
func AdminRequest(tb testing.TB, method, base, path, token string, body []byte) *http.Request {
	tb.Helper()
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if len(body) > 0 {
		ct := "application/json"
		if strings.HasPrefix(path, "/admin/v1/watchlists/") {
			ct = "application/octet-stream"
		}
		req.Header.Set("Content-Type", ct)
	}
	return req
}

// PublishRisk publishes a risk configuration as central takes one: the
// admin API proposes it (202) for the token's owner and another console
// admin, a second person, confirms it. It returns the published version.
func (c *Central) PublishRisk(tb testing.TB, doc []byte) int64 {
	tb.Helper()
	var p central.RiskProposal
	if code := c.Admin(tb, http.MethodPut, "/admin/v1/config/risk", doc, &p); code != http.StatusAccepted {
		tb.Fatalf("proposing the risk configuration: status %d", code)
	}
	v, err := c.Server.ConfirmRisk(context.Background(), "user:second-admin", p.ID)
	if err != nil {
		tb.Fatalf("confirming the risk configuration: %v", err)
	}
	return v
}

// PublishWatchlist publishes data as watchlist name as central takes
// one: a new name at once (200); a new version of a published one is
// proposed (202) and a console admin, a second person, confirms it.
func (c *Central) PublishWatchlist(tb testing.TB, name string, data []byte) {
	tb.Helper()
	var p central.WatchlistProposal
	switch code := c.Admin(tb, http.MethodPut, "/admin/v1/watchlists/"+name, data, &p); code {
	case http.StatusOK:
	case http.StatusAccepted:
		if _, err := c.Server.ConfirmWatchlist(context.Background(), "user:second-admin", name, p.ID); err != nil {
			tb.Fatalf("confirming watchlist %s: %v", name, err)
		}
	default:
		tb.Fatalf("publishing watchlist %s: status %d", name, code)
	}
}

// PublishRiskUnchecked publishes doc as the store's next risk version
// without the engine's check central makes of a proposal: a document
// this version of the engine refuses, as a newer central (whose engine
// knows more settings) or one from before the check may have published.
func (c *Central) PublishRiskUnchecked(tb testing.TB, doc []byte) int64 {
	tb.Helper()
	v, err := c.Store.PutRisk(context.Background(), doc)
	if err != nil {
		tb.Fatalf("publishing the risk configuration: %v", err)
	}
	return v
}

// Token creates an enrolment token through the admin API.
func (c *Central) Token(tb testing.TB) string {
	tb.Helper()
	var tr central.TokenResponse
	if code := c.Admin(tb, http.MethodPost, "/admin/v1/enroll-tokens", nil, &tr); code != http.StatusCreated {
		tb.Fatalf("creating token: status %d", code)
	}
	return tr.Token
}

// Enroll enrols a new device identity.
func (c *Central) Enroll(tb testing.TB) (*identity.Identity, identity.Enrollment) {
	tb.Helper()
	id := identity.Generate()
	return id, c.EnrollIdentity(tb, id)
}

// EnrollIdentity enrols the given identity, trusting central's CA; the
// enrolment records the CA, so uploaders made from it trust it too.
func (c *Central) EnrollIdentity(tb testing.TB, id *identity.Identity) identity.Enrollment {
	tb.Helper()
	e, err := identity.EnrollWithCA(context.Background(), c.CA, c.URL, c.Token(tb), id, "test")
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// Submission is testsub.New, failing tb on an error.
func Submission(tb testing.TB, id *identity.Identity, n, imageSize int) vault.Submission {
	tb.Helper()
	s, err := testsub.New(id, n, imageSize)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// CheckDelivered asserts that central holds exactly the submissions want
// for the device, each once, complete, with identical content.
func CheckDelivered(tb testing.TB, store central.Store, deviceID string, want []vault.Submission) {
	tb.Helper()
	ctx := context.Background()
	got, err := store.Submissions(ctx, central.Filter{DeviceID: deviceID})
	if err != nil {
		tb.Fatal(err)
	}
	seen := map[string]int{}
	for _, s := range got {
		seen[s.ID]++
	}
	for id, n := range seen {
		if n != 1 {
			tb.Errorf("submission %s stored %d times", id, n)
		}
	}
	if len(got) != len(want) {
		tb.Errorf("central holds %d submissions of the device, want %d", len(got), len(want))
	}
	for _, w := range want {
		sub, err := store.Upload(ctx, deviceID, protocol.SubmissionKey(w.ID))
		if err != nil {
			tb.Errorf("submission %s: %v", w.ID, err)
			continue
		}
		if sub.CompletedAt.IsZero() {
			tb.Errorf("submission %s is incomplete at central", w.ID)
			continue
		}
		images := map[string][]byte{}
		for _, im := range sub.Images {
			if images[im.Name], err = store.ImageData(ctx, deviceID, sub.Key, im.Name); err != nil {
				tb.Fatal(err)
			}
		}
		if len(images) == 0 {
			images = nil
		}
		if testsub.Hash(sub.ID, sub.Payload, images) != testsub.Hash(w.ID, w.Payload, w.Images) {
			tb.Errorf("submission %s differs at central from what the device captured", w.ID)
		}
	}
}

// Clock is a simulated clock: Sleep advances it at once.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts a simulated clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the simulated time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Set puts the clock at t, either way: a device's clock put right.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Sleep advances the clock by d, unless ctx has ended.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	return nil
}

// Contains reports whether haystack holds needle, for wire checks.
func Contains(haystack []byte, needle string) bool {
	return bytes.Contains(haystack, []byte(needle)) || strings.Contains(strings.ToLower(string(haystack)), strings.ToLower(needle))
}
