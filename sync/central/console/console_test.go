package console

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/auth"
	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/central/partnerapi"
	"github.com/openkyc/kyc/sync/internal/pgtest"
	"github.com/openkyc/kyc/sync/protocol"
)

// clock is the test's clock: real time plus an offset tests move on
// (lockout expiry, a new TOTP step).
type clock struct{ centraltest.Clock }

func (c *clock) nextStep() { c.Advance(30 * time.Second) }
func (c *clock) code(t *testing.T, secret string) string {
	t.Helper()
	code, err := auth.Code(secret, c.Now())
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// fastParams keep password hashing quick in tests; the console reads the
// parameters from the hash.
var fastParams = auth.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

const testPassword = "mango tractor velvet quorum"

// env is a real central with the console mounted, on loopback, over a
// sealed bbolt store.
type env struct {
	t       *testing.T
	base    string
	store   central.Store
	console *Console
	clk     *clock
	// partners is the partner API the console changes partners through
	// (not mounted: tests create partners with it).
	partners *partnerapi.API
	secrets  map[string]string // user → TOTP secret, once enrolled
	// enrolCodes are the one-time enrolment codes addUser made.
	enrolCodes map[string]string
	mu         sync.Mutex
	// log is what the console logged.
	log *centraltest.LogBuffer
}

func newEnv(t *testing.T) *env { return newEnvOn(t, boltStore, nil) }

// newEnvWrapped is newEnv with the console's view of the store wrapped
// (to show it a tampered trail).
func newEnvWrapped(t *testing.T, wrap func(central.Store) central.Store) *env {
	return newEnvOn(t, boltStore, wrap)
}

// opener opens an empty raw store for a test.
type opener func(t *testing.T) central.Store

func boltStore(t *testing.T) central.Store { return centraltest.BoltStore(t) }

// pgStore opens a new database on srv.
func pgStore(srv *pgtest.Server) opener {
	return func(t *testing.T) central.Store { return centraltest.PGStore(t, srv) }
}

func newEnvOn(t *testing.T, open opener, wrap func(central.Store) central.Store) *env {
	t.Helper()
	return newEnvConfig(t, open, wrap, nil)
}

// newEnvConfig is newEnvOn with the console's Config edited first.
func newEnvConfig(t *testing.T, open opener, wrap func(central.Store) central.Store, edit func(*Config)) *env {
	t.Helper()
	return newEnvClock(t, open, wrap, edit, &clock{})
}

// newEnvClock is newEnvConfig on the clock clk (instances of one store
// share one).
func newEnvClock(t *testing.T, open opener, wrap func(central.Store) central.Store, edit func(*Config), clk *clock) *env {
	t.Helper()
	srv := centraltest.New(t, open(t), centraltest.Options{Now: clk.Now, InsecureHTTP: true})
	store := srv.Store
	key := make([]byte, auth.KeySize)
	rand.Read(key)
	var cs central.Store = store
	if wrap != nil {
		cs = wrap(store)
	}
	log := &centraltest.LogBuffer{}
	pkey := make([]byte, 32)
	rand.Read(pkey)
	partners, err := partnerapi.New(partnerapi.Config{Store: cs, SecretKey: pkey, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Store: cs, Central: srv.Server, Partners: partners, Index: store.Token, SecretKey: key, Now: clk.Now,
		Logger: slog.New(slog.NewTextHandler(log, nil))}
	if edit != nil {
		edit(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.Server.Mount(Prefix, c.Handler())
	srv.Serve(t)
	return &env{t: t, base: srv.Base, store: store, console: c, clk: clk, partners: partners, secrets: map[string]string{}, enrolCodes: map[string]string{}, log: log}
}

// addUser creates an account as `kyc-central user add` does.
func (e *env) addUser(name string, role central.Role, scopes ...string) {
	e.t.Helper()
	u := central.User{Name: name, Role: role, PasswordHash: auth.HashPassword(testPassword, fastParams), Scopes: scopes, CreatedAt: e.clk.Now()}
	code := auth.SetEnrolCode(&u, e.clk.Now())
	if err := e.store.CreateUser(context.Background(), u); err != nil {
		e.t.Fatal(err)
	}
	e.mu.Lock()
	e.enrolCodes[name] = code
	e.mu.Unlock()
}

// addDevice enrols a device of branch.
func (e *env) addDevice(id, branch string) {
	e.t.Helper()
	ctx := context.Background()
	tok := []byte("token-" + id)
	h := sha256.Sum256(tok)
	now := e.clk.Now().UTC()
	if err := e.store.CreateEnrollToken(ctx, central.EnrollToken{Hash: h, CreatedAt: now, ExpiresAt: now.Add(time.Hour), Branch: branch}); err != nil {
		e.t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	if err := e.store.Enroll(ctx, h, central.Device{ID: id, PublicKey: pub, Branch: branch, EnrolledAt: now}); err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.SetDeviceBranch(ctx, id, branch); err != nil {
		e.t.Fatal(err)
	}
}

// testJPEG is a small real JPEG.
func testJPEG(t *testing.T, w, h int) []byte { return centraltest.JPEG(t, w, h) }

// payload reads a payload captured from a real `kyc verify` (testdata),
// with the session id and, when edit is set, changes made to it.
func payload(t *testing.T, file, session string, edit func(m map[string]any)) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["session_id"] = session
	if edit != nil {
		edit(m)
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// asReview turns a captured payload into a "review" decision with score
// (the engine's routing at another threshold).
func asReview(score float64) func(map[string]any) {
	return func(m map[string]any) {
		r := m["report"].(map[string]any)
		r["decision"], r["score"] = "review", score
		r["screening"] = map[string]any{"screened": true, "hits": []any{}}
	}
}

// submit stores a complete submission with its front and selfie, as
// central's ingest does, and returns its ref.
func (e *env) submit(device, id string, pl []byte) central.SubmissionRef {
	e.t.Helper()
	return e.submitCreated(device, id, pl, e.clk.Now().UTC().Add(-time.Minute))
}

// submitCreated is submit for a capture the device dated created.
func (e *env) submitCreated(device, id string, pl []byte, created time.Time) central.SubmissionRef {
	e.t.Helper()
	ctx := context.Background()
	now := e.clk.Now().UTC()
	sum := central.Summarize(pl)
	front, selfie := testJPEG(e.t, 320, 200), testJPEG(e.t, 120, 160)
	meta := func(name string, data []byte) central.ImageProgress {
		h := sha256.Sum256(data)
		return central.ImageProgress{ImageMeta: protocol.ImageMeta{Name: name, Size: int64(len(data)), SHA256: h[:], Key: make([]byte, 32)}}
	}
	key := protocol.SubmissionKey(id)
	sub := central.Submission{DeviceID: device, Key: key, ID: id, ManifestHash: []byte(id), CreatedAt: created.UTC(),
		ReceivedAt: now, Verdict: "ok", AttestationFresh: true, Payload: pl, Summary: &sum,
		Images: []central.ImageProgress{meta("front", front), meta("selfie", selfie)}}
	if _, _, err := e.store.BeginSubmission(ctx, sub); err != nil {
		e.t.Fatal(err)
	}
	for name, data := range map[string][]byte{"front": front, "selfie": selfie} {
		if _, err := e.store.AppendChunk(ctx, central.Chunk{DeviceID: device, Key: key, Image: name, Data: data, At: now}); err != nil {
			e.t.Fatal(err)
		}
	}
	return central.SubmissionRef{DeviceID: device, Key: key}
}

// browser is one person's browser: a cookie jar, no automatic redirects
// (the tests look at each answer).
type browser struct {
	e      *env
	t      *testing.T
	c      *http.Client
	csrf   string // from the last page
	header http.Header
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, t: e.t, header: http.Header{}, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// signedIn is a browser signed in as each of names, in turn, each at a
// clock step of its own (a TOTP code is good once per step).
func (e *env) signedIn(names ...string) []*browser {
	bs := make([]*browser, len(names))
	for i, name := range names {
		bs[i] = e.browser()
		e.clk.nextStep()
		bs[i].signIn(name)
	}
	return bs
}

// browserFrom is a browser whose connections come from ip, a loopback
// address other than 127.0.0.1: the console sees another client.
func (e *env) browserFrom(ip string) *browser {
	b := e.browser()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	b.c.Transport = &http.Transport{DialContext: d.DialContext}
	return b
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

type answer struct {
	status int
	body   string
	loc    string
	header http.Header
}

func (b *browser) do(req *http.Request) answer {
	b.t.Helper()
	for k, v := range b.header {
		req.Header[k] = v
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if m := csrfRE.FindSubmatch(body); m != nil {
		b.csrf = string(m[1])
	}
	return answer{status: resp.StatusCode, body: string(body), loc: resp.Header.Get("Location"), header: resp.Header}
}

func (b *browser) get(path string) answer {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.e.base+path, nil)
	return b.do(req)
}

// post sends a form with the page's CSRF token (unless form sets "csrf").
func (b *browser) post(path string, form url.Values) answer {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.csrf)
	}
	req, _ := http.NewRequest(http.MethodPost, b.e.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var (
	secretRE = regexp.MustCompile(`id="totp-secret" class="secret">([A-Z2-7]+)<`)
	sealedRE = regexp.MustCompile(`name="sealed" value="([^"]+)"`)
)

// signIn signs name in (enrolling TOTP at the first sign-in) and checks
// it lands on the queue.
func (b *browser) signIn(name string) {
	b.t.Helper()
	b.get("/console/signin")
	a := b.post("/console/signin", url.Values{"name": {name}, "password": {testPassword}, "next": {"/console/queue"}})
	if a.status != http.StatusSeeOther {
		b.t.Fatalf("password step: %d %s", a.status, a.body)
	}
	b.e.mu.Lock()
	secret := b.e.secrets[name]
	b.e.mu.Unlock()
	if strings.HasPrefix(a.loc, "/console/enrol") {
		page := b.get(a.loc)
		m, s := secretRE.FindStringSubmatch(page.body), sealedRE.FindStringSubmatch(page.body)
		if m == nil || s == nil || !strings.Contains(page.body, "data:image/png;base64,") {
			b.t.Fatalf("enrolment page without secret, sealed secret or QR code: %s", page.body)
		}
		secret = m[1]
		b.e.mu.Lock()
		enrolCode := b.e.enrolCodes[name]
		b.e.mu.Unlock()
		a = b.post("/console/enrol", url.Values{"sealed": {s[1]}, "enrol_code": {enrolCode}, "code": {b.e.clk.code(b.t, secret)}, "next": {"/console/queue"}})
		b.e.mu.Lock()
		b.e.secrets[name] = secret
		b.e.mu.Unlock()
	} else {
		if !strings.HasPrefix(a.loc, "/console/signin/totp") {
			b.t.Fatalf("password step led to %q", a.loc)
		}
		b.get(a.loc)
		a = b.post("/console/signin/totp", url.Values{"code": {b.e.clk.code(b.t, secret)}, "next": {"/console/queue"}})
	}
	if a.status != http.StatusSeeOther || a.loc != "/console/queue" {
		b.t.Fatalf("second factor: %d to %q: %s", a.status, a.loc, a.body)
	}
	if q := b.get("/console/queue"); q.status != http.StatusOK {
		b.t.Fatalf("queue after sign-in: %d", q.status)
	}
}

func (e *env) reviewOf(ref central.SubmissionRef) central.Review {
	e.t.Helper()
	c, err := e.store.Case(context.Background(), ref)
	if err != nil {
		e.t.Fatal(err)
	}
	return c.Review
}

// act posts a case action with the case's current version.
func (b *browser) act(ref central.SubmissionRef, action string, form url.Values) answer {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["version"]; !ok {
		form.Set("version", itoa(b.e.reviewOf(ref).Version))
	}
	return b.post(caseHref(ref)+"/"+action, form)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func (e *env) auditActions(subject string) []string {
	e.t.Helper()
	evs, err := e.store.Audit(context.Background(), central.AuditFilter{Subject: subject})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Action)
	}
	return out
}
