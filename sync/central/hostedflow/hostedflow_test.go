package hostedflow_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"image"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/engine/screening"
	"github.com/openkyc/kyc/internal/engines"
	"github.com/openkyc/kyc/internal/runtimeinfo"
	"github.com/openkyc/kyc/internal/synth"
	"github.com/openkyc/kyc/internal/testenv"
	"github.com/openkyc/kyc/models"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/central/hostedflow"
	"github.com/openkyc/kyc/sync/central/partnerapi"
	"github.com/openkyc/kyc/sync/central/seal"
	"github.com/openkyc/kyc/sync/central/storetest"
	"github.com/openkyc/kyc/sync/central/webhook"
)

// The engines are loaded once for every test of the package.
var (
	engOnce sync.Once
	eng     *engines.Engines
	engErr  error
)

func loadEngines(t testing.TB) *engines.Engines {
	t.Helper()
	testenv.ORT(t)
	engOnce.Do(func() {
		store, err := models.DefaultStore()
		if err != nil {
			engErr = err
			return
		}
		eng, engErr = engines.Open(context.Background(), store, "")
	})
	if engErr != nil {
		t.Fatal(engErr)
	}
	return eng
}

// clock is real time plus an offset tests move on.
type clock = centraltest.Clock

// env is a real central over TLS on loopback with the partner API and the
// hosted flow mounted, on a sealed bolt store.
type env struct {
	t     testing.TB
	base  string
	store central.Store
	clk   *clock
	tls   *http.Transport
	admin string
	flow  *hostedflow.Flow
	token string // the partner token of the last initiate
	// partnerName names the partners initiate creates; "": "Acme <test>".
	partnerName string
	c           *centraltest.Central
	// released receives once per native memory release (non-blocking:
	// tests that do not count releases leave it full).
	released chan struct{}
}

func newEnv(t testing.TB, withEngines bool, opts ...func(*hostedflow.Config)) *env {
	t.Helper()
	key := make([]byte, partnerapi.SecretKeySize)
	rand.Read(key)
	return newEnvOn(t, withEngines, centraltest.BoltStore(t), nil, key, &clock{}, opts...)
}

// instanceSecrets are what two instances of one central share: the
// at-rest keyring and the partner API's key.
func instanceSecrets(t *testing.T) (*seal.FileKeyring, []byte) {
	t.Helper()
	kr, err := seal.LoadOrCreateKeyring(filepath.Join(t.TempDir(), "central.keys"))
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, partnerapi.SecretKeySize)
	rand.Read(key)
	return kr, key
}

// newEnvOn is newEnv on a raw store sealed with kr (nil: a new keyring),
// with the partner API's key and a clock: two envs on one store with the
// same kr and key are two instances of one central. opts edit the hosted
// flow's configuration.
func newEnvOn(t testing.TB, withEngines bool, raw central.Store, kr *seal.FileKeyring, key []byte, clk *clock, opts ...func(*hostedflow.Config)) *env {
	t.Helper()
	var e *engines.Engines
	if withEngines {
		e = loadEngines(t)
	}
	c := centraltest.New(t, raw, centraltest.Options{Now: clk.Now, Keyring: kr})
	store, base := c.Store, c.Base
	api, err := partnerapi.New(partnerapi.Config{Store: store, SecretKey: key, PublicURL: base, Now: clk.Now, HostedFlow: true})
	if err != nil {
		t.Fatal(err)
	}
	api.Mount(c.Server)
	publishOFAC(t, store)
	released := make(chan struct{}, 8)
	release := func() {
		runtimeinfo.ReleaseNativeMemory()
		select {
		case released <- struct{}{}:
		default:
		}
	}
	cfg := hostedflow.Config{Store: store, Engines: e, PublicURL: base, Now: clk.Now, ReferenceImage: api.ReferenceImage,
		ReleaseMemory: release}
	for _, o := range opts {
		o(&cfg)
	}
	flow, err := hostedflow.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	flow.Mount(c.Server)
	c.Serve(t, flow.Run)
	return &env{t: t, base: base, store: store, clk: clk, tls: c.Transport(), admin: c.Admin, flow: flow, c: c, released: released}
}

// waitReleased waits for the one release of native memory that ends a
// verification.
func (e *env) waitReleased() {
	e.t.Helper()
	select {
	case <-e.released:
	case <-time.After(10 * time.Second):
		e.t.Fatal("the verification's native memory was not released")
	}
	if n := len(e.released); n > 0 {
		e.t.Errorf("native memory released %d more times", n)
	}
}

// browser is one browser: its own cookie jar, not following redirects.
type browser struct {
	e    *env
	c    *http.Client
	csrf string
	fed  uint64 // guidance frames feed sent, each with noise of its own
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, c: &http.Client{Transport: e.tls, Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type answer struct {
	status int
	body   []byte
	header http.Header
}

func (b *browser) do(method, path, ctype string, body []byte, hdr map[string]string) answer {
	b.e.t.Helper()
	req, err := http.NewRequest(method, b.e.base+path, bytes.NewReader(body))
	if err != nil {
		b.e.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if method == "POST" && b.csrf != "" {
		req.Header.Set("X-Flow-CSRF", b.csrf)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, body: out, header: resp.Header}
}

func (b *browser) get(path string) answer { return b.do("GET", path, "", nil, nil) }

func (b *browser) post(path, ctype string, body []byte) answer {
	return b.do("POST", path, ctype, body, nil)
}

func must(t testing.TB, want int, a answer) answer {
	t.Helper()
	if a.status != want {
		t.Fatalf("status %d, want %d: %.300s", a.status, want, a.body)
	}
	return a
}

var csrfRE = regexp.MustCompile(`data-csrf="([^"]+)"`)

var startFormRE = regexp.MustCompile(`<form method="post" action="([^"]+)" class="actions"><button id="begin" class="btn primary" type="submit">`)

// start opens a launch (or phone) link as a person does: the landing page
// (200, its Start form posting back to the link), then Start. hdr goes
// with both requests. It returns both answers.
func (b *browser) start(link string, hdr map[string]string) (landing, started answer) {
	t := b.e.t
	t.Helper()
	u, _ := url.Parse(link)
	landing = must(t, http.StatusOK, b.do("GET", u.Path, "", nil, hdr))
	if m := startFormRE.FindSubmatch(landing.body); m == nil || string(m[1]) != u.Path {
		t.Fatalf("landing page of %s without its Start form: %.500s", u.Path, landing.body)
	}
	return landing, b.do("POST", u.Path, "application/x-www-form-urlencoded", nil, hdr)
}

// open starts a launch (or phone) link and loads the page, keeping its
// CSRF token.
func (b *browser) open(link string) {
	t := b.e.t
	t.Helper()
	_, a := b.start(link, nil)
	must(t, http.StatusSeeOther, a)
	if a.header.Get("Location") != "/flow/app" {
		t.Fatalf("launch redirects to %q", a.header.Get("Location"))
	}
	page := must(t, http.StatusOK, b.get("/flow/app"))
	m := csrfRE.FindSubmatch(page.body)
	if m == nil {
		t.Fatalf("no CSRF token in the page: %.300s", page.body)
	}
	b.csrf = string(m[1])
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || page.header.Get("Cache-Control") != "no-store" {
		t.Errorf("page headers %v", page.header)
	}
}

func (b *browser) state() hostedflow.State {
	b.e.t.Helper()
	var st hostedflow.State
	a := must(b.e.t, http.StatusOK, b.get("/flow/api/state"))
	if err := json.Unmarshal(a.body, &st); err != nil {
		b.e.t.Fatal(err)
	}
	return st
}

// capture takes step's capture with the manual button: a selfie after the
// camera's frames (feed), as the page sends them before it shows the
// button.
func (b *browser) capture(step string, img []byte) hostedflow.State {
	b.e.t.Helper()
	if step == "selfie" {
		b.feed(img, 3)
	}
	return b.captureOnly(step, img)
}

// captureOnly posts step's capture with no frames before it.
func (b *browser) captureOnly(step string, img []byte) hostedflow.State {
	b.e.t.Helper()
	var out struct{ State hostedflow.State }
	a := must(b.e.t, http.StatusOK, b.post("/flow/api/capture?step="+step, "image/jpeg", img))
	json.Unmarshal(a.body, &out)
	return out.State
}

// submitOne submits the session's first attempt, waits for its result and
// returns it with the attempt's case.
func (b *browser) submitOne(pid, sid string) (hostedflow.State, central.Case) {
	t := b.e.t
	t.Helper()
	must(t, http.StatusOK, b.post("/flow/api/submit", "", nil))
	st := b.waitResult()
	f, err := b.e.store.Flow(context.Background(), pid, sid)
	if err != nil || len(f.Submissions) != 1 {
		t.Fatalf("session %+v %v, want one attempt", f, err)
	}
	c, err := b.e.store.Case(context.Background(), f.Submissions[0])
	if err != nil {
		t.Fatal(err)
	}
	return st, c
}

// feed sends n guidance frames of img for the selfie, as a camera filming
// a still scene: each with sensor noise of its own (synth.AddSensorNoise),
// half a second apart by the clock (the frame budget).
func (b *browser) feed(img []byte, n int) {
	t := b.e.t
	t.Helper()
	m, err := imageio.Decode(img, 0)
	defer m.Close()
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		b.fed++
		noisy := m.Clone()
		synth.AddSensorNoise(&noisy, cameraNoise, b.fed)
		frame := encode(t, noisy)
		noisy.Close()
		b.e.clk.Advance(time.Second / hostedflow.FrameRate)
		must(t, http.StatusOK, b.post("/flow/api/frame?step=selfie", "image/jpeg", frame))
	}
}

// waitResult submits and polls the state until the result, as the page.
func (b *browser) waitResult() hostedflow.State {
	t := b.e.t
	t.Helper()
	deadline := time.After(60 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		st := b.state()
		if st.Stage != "processing" {
			return st
		}
		select {
		case <-deadline:
			t.Fatal("no result within 60 s")
		case <-tick.C:
		}
	}
}

// partner creates a partner and initiates a flow; it returns the partner
// id and the flow.
func (e *env) initiate(cfg map[string]any) (string, partnerapi.FlowCreated) {
	return e.initiateWith(cfg, nil)
}

// initiateWith is initiate with setup(partner id) run on the new partner
// before the flow is initiated.
func (e *env) initiateWith(cfg map[string]any, setup func(partnerID string)) (string, partnerapi.FlowCreated) {
	t := e.t
	t.Helper()
	api := e.browser()
	var c partnerapi.Created
	name := e.partnerName
	if name == "" {
		name = "Acme " + t.Name()
	}
	body, _ := json.Marshal(map[string]any{"name": name})
	a := must(t, http.StatusCreated, api.do("POST", "/admin/v1/partners", "application/json", body, map[string]string{"Authorization": "Bearer " + e.admin}))
	json.Unmarshal(a.body, &c)
	if setup != nil {
		setup(c.Partner.ID)
	}
	body, _ = json.Marshal(map[string]string{"client_id": c.ClientID, "pass_key": c.PassKey})
	var tr partnerapi.TokenResponse
	json.Unmarshal(must(t, http.StatusOK, api.do("POST", "/api/v1/partner-token", "application/json", body, nil)).body, &tr)
	if cfg == nil {
		cfg = map[string]any{}
	}
	cfg["partner_user_id"] = "cust-1"
	e.token = tr.Token
	body, _ = json.Marshal(cfg)
	var fc partnerapi.FlowCreated
	json.Unmarshal(must(t, http.StatusCreated, api.do("POST", "/api/v1/flows", "application/json", body, map[string]string{"Authorization": "Bearer " + tr.Token})).body, &fc)
	return c.Partner.ID, fc
}

// Images: the live minivision capture as the selfie, and a KTP printing
// the same face on a desk (as engine/verify's tests build them).
var (
	imgOnce                     sync.Once
	docJPEG, selfieJPEG, bgJPEG []byte
)

func encode(t testing.TB, m gocv.Mat) []byte {
	t.Helper()
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, m, []int{gocv.IMWriteJpegQuality, 90})
	if err != nil {
		t.Fatal(err)
	}
	defer buf.Close()
	return append([]byte(nil), buf.GetBytes()...)
}

// imageFiles writes images' card and selfie to files for a page's upload
// form and returns their paths.
func imageFiles(t *testing.T) (docFile, selfieFile string) {
	t.Helper()
	doc, selfie, _ := images(t)
	dir := t.TempDir()
	docFile, selfieFile = filepath.Join(dir, "card.jpg"), filepath.Join(dir, "selfie.jpg")
	if err := os.WriteFile(docFile, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(selfieFile, selfie, 0o600); err != nil {
		t.Fatal(err)
	}
	return docFile, selfieFile
}

func images(t *testing.T) (doc, selfie, noFace []byte) {
	t.Helper()
	e := loadEngines(t)
	imgOnce.Do(func() {
		path := testenv.Data(t, "liveness", "minivision_samples", "image_T1.jpg")
		var err error
		if selfieJPEG, err = os.ReadFile(path); err != nil {
			t.Fatal(err)
		}
		live, err := imageio.ReadFile(path, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer live.Close()
		a, err := e.Face.Analyze(context.Background(), live, face.Largest, face.Timings{}, "")
		if err != nil {
			t.Fatal(err)
		}
		b := a.Face.Box
		r := image.Rect(int(b.X-b.W*0.4), int(b.Y-b.H*0.5), int(b.X+b.W*1.4), int(b.Y+b.H*1.5)).Intersect(image.Rect(0, 0, live.Cols(), live.Rows()))
		roi := live.Region(r)
		portrait := roi.Clone()
		roi.Close()
		defer portrait.Close()
		card := synth.Card(synth.CardOptions{Width: 1000, Portrait: &portrait, Seed: 4, Lines: synth.KTPLines("SEUMUR HIDUP")})
		defer card.Close()
		bg := synth.Background(1600, 1000, 77)
		defer bg.Close()
		scene, _ := synth.Place(bg, card, synth.Placement{CenterX: 0.5, CenterY: 0.5, WidthFrac: 0.7, Rotate: 4, Tilt: 8})
		defer scene.Close()
		docJPEG = encode(t, scene)
		empty := synth.Background(1280, 720, 5)
		defer empty.Close()
		bgJPEG = encode(t, empty)
	})
	return docJPEG, selfieJPEG, bgJPEG
}

func TestLaunchSingleUse(t *testing.T) {
	e := newEnv(t, true)
	_, fc := e.initiate(nil)
	a := e.browser()
	a.open(fc.LaunchURL)
	if st := a.state(); st.Stage != "document" || st.DocSides != 1 || st.MaxRetries != 3 || st.Attempt != 1 || st.Lang != "en" {
		t.Errorf("first state %+v", st)
	}
	// Another browser: the link was used, to open and to start.
	b := e.browser()
	u, _ := url.Parse(fc.LaunchURL)
	if r := must(t, http.StatusGone, b.get(u.Path)); !bytes.Contains(r.body, []byte(`data-state="used"`)) {
		t.Errorf("second browser: %s", r.body)
	}
	must(t, http.StatusGone, b.post(u.Path, "application/x-www-form-urlencoded", nil))
	must(t, http.StatusUnauthorized, b.get("/flow/api/state"))
	// The first browser opening it again (a reload) goes on to the page.
	if r := must(t, http.StatusSeeOther, a.get(u.Path)); r.header.Get("Location") != "/flow/app" {
		t.Errorf("reload by the bound browser: Location %q", r.header.Get("Location"))
	}
	must(t, http.StatusNotFound, b.get("/flow/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
	// The session is IN_PROGRESS for the partner.
	f, err := e.store.FlowByLaunch(context.Background(), hashOfPath(u.Path))
	if err != nil || f.Status != central.FlowInProgress || f.Hosted == nil || f.Hosted.LaunchUsedAt.IsZero() {
		t.Errorf("stored session %+v %v", f, err)
	}
	// Indonesian from the browser's Accept-Language: the landing page, then
	// the session.
	_, fc2 := e.initiate(nil)
	c := e.browser()
	landing, started := c.start(fc2.LaunchURL, map[string]string{"Accept-Language": "id-ID,id;q=0.9,en;q=0.5"})
	if !bytes.Contains(landing.body, []byte("Verifikasi identitas Anda")) || !bytes.Contains(landing.body, []byte(">Mulai</button>")) {
		t.Errorf("Indonesian landing page: %s", landing.body)
	}
	must(t, http.StatusSeeOther, started)
	if st := c.state(); st.Lang != "id" {
		t.Errorf("lang %q, want id", st.Lang)
	}
}

// TestLinkPreview: opening a launch or phone link changes nothing, so a
// link preview or mail scanner fetching it first (GET, no cookie) leaves
// it to the person: the landing page with its Start form, then Start
// binds the person's browser. A cross-site Start is refused and binds
// nothing; a Start after another browser's is 410.
func TestLinkPreview(t *testing.T) {
	e := newEnv(t, true)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// link opens a session and returns its link and a check that
		// nobody started it yet.
		link func() (string, func() bool)
	}{
		{"launch", func() (string, func() bool) {
			pid, fc := e.initiate(nil)
			return fc.LaunchURL, func() bool {
				f, err := e.store.Flow(ctx, pid, fc.SessionID)
				return err == nil && f.Hosted == nil && f.Status == central.FlowCreated
			}
		}},
		{"phone", func() (string, func() bool) {
			pid, fc := e.initiate(map[string]any{"smart_qr": true})
			desk := e.browser()
			desk.open(fc.LaunchURL)
			var h hostedflow.HandoffLink
			json.Unmarshal(must(t, http.StatusOK, desk.post("/flow/api/handoff", "", nil)).body, &h)
			return h.URL, func() bool {
				f, err := e.store.Flow(ctx, pid, fc.SessionID)
				return err == nil && f.Hosted != nil && len(f.Hosted.PhoneHash) == 0 && len(f.Hosted.HandoffHash) > 0
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			link, unbound := tc.link()
			u, _ := url.Parse(link)
			// The preview bot: twice, no cookie set, nothing bound.
			bot := e.browser()
			for range 2 {
				a := must(t, http.StatusOK, bot.get(u.Path))
				if !startFormRE.Match(a.body) || !bytes.Contains(a.body, []byte(`<meta name="robots" content="noindex">`)) ||
					!bytes.Contains(a.body, []byte("Verify your identity")) || !bytes.Contains(a.body, []byte(">Start</button>")) ||
					!bytes.Contains(a.body, []byte(`<p id="requester">Acme TestLinkPreview asks you to verify your identity.`)) {
					t.Errorf("landing page: %s", a.body)
				}
				if c := a.header.Get("Set-Cookie"); c != "" {
					t.Errorf("the landing page sets a cookie: %q", c)
				}
				if a.header.Get("Referrer-Policy") != "no-referrer" || a.header.Get("Cache-Control") != "no-store" ||
					!strings.Contains(a.header.Get("Content-Security-Policy"), "frame-ancestors 'self'") {
					t.Errorf("landing page headers %v", a.header)
				}
			}
			// A scanner that checks the link with HEAD (mail security
			// gateways, link checkers): the same as a GET, nothing bound.
			for range 2 {
				a := must(t, http.StatusOK, bot.do("HEAD", u.Path, "", nil, nil))
				if c := a.header.Get("Set-Cookie"); c != "" || a.header.Get("Location") != "" {
					t.Errorf("HEAD on the link sets a cookie %q or redirects to %q", c, a.header.Get("Location"))
				}
			}
			if !unbound() {
				t.Fatal("opening the link bound the session")
			}
			// Another site's page posting the Start form: refused, nothing bound.
			victim := e.browser()
			for _, hdr := range []map[string]string{{"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://attacker.example"}} {
				a := must(t, http.StatusForbidden, victim.do("POST", u.Path, "application/x-www-form-urlencoded", nil, hdr))
				if c := a.header.Get("Set-Cookie"); c != "" {
					t.Errorf("cross-site Start %v sets a cookie: %q", hdr, c)
				}
			}
			if !unbound() {
				t.Fatal("a cross-site Start bound the session")
			}
			// The person: the landing page, Start (same-origin), the flow.
			person := e.browser()
			_, started := person.start(link, map[string]string{"Sec-Fetch-Site": "same-origin"})
			if must(t, http.StatusSeeOther, started).header.Get("Location") != "/flow/app" {
				t.Errorf("Start redirects to %q", started.header.Get("Location"))
			}
			if st := person.state(); st.Stage != "document" {
				t.Errorf("the person's state %+v", st)
			}
			// The link is the person's now: the bot is refused, the person's
			// reload goes on to the page.
			must(t, http.StatusGone, bot.post(u.Path, "application/x-www-form-urlencoded", nil))
			must(t, http.StatusGone, bot.get(u.Path))
			if a := must(t, http.StatusSeeOther, person.get(u.Path)); a.header.Get("Location") != "/flow/app" {
				t.Errorf("the person's reload: Location %q", a.header.Get("Location"))
			}
		})
	}
}

func hashOfPath(p string) []byte {
	tok := strings.TrimPrefix(p, "/flow/")
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

func TestGuidanceAndApproval(t *testing.T) {
	e := newEnv(t, true)
	doc, selfie, _ := images(t)
	pid, fc := e.initiate(map[string]any{"redirect_url": "https://acme.example/done?x=1"})
	b := e.browser()
	b.open(fc.LaunchURL)

	// A frame: the document guide's overlay with its messages in English.
	var fa hostedflow.FrameAnswer
	a := must(t, http.StatusOK, b.post("/flow/api/frame?step=document", "image/jpeg", doc))
	if err := json.Unmarshal(a.body, &fa); err != nil {
		t.Fatal(err)
	}
	if len(fa.Overlay.Messages) == 0 || fa.Overlay.Messages[0].Text == "" || fa.Overlay.FrameW != 1600 {
		t.Errorf("frame answer %s", a.body)
	}
	t.Logf("document frame: %+v quad %v", fa.Overlay.Messages, fa.Overlay.Quad)
	a = must(t, http.StatusOK, b.post("/flow/api/frame?step=selfie", "image/jpeg", selfie))
	json.Unmarshal(a.body, &fa)
	if len(fa.Overlay.Messages) == 0 || fa.Overlay.Face == nil {
		t.Errorf("selfie frame answer %s", a.body)
	}

	// Manual captures and submit.
	if st := b.capture("document", doc); st.Stage != "selfie" || !st.Captures.Document {
		t.Errorf("after the document %+v", st)
	}
	b.capture("selfie", selfie)
	must(t, http.StatusOK, b.post("/flow/api/submit", "", nil))
	start := time.Now()
	st := b.waitResult()
	t.Logf("result after %v: %+v", time.Since(start), st)
	if st.Stage != "result" || st.NextAction == "RETRY" || st.Status != "COMPLETED" || st.Callback.SessionID != fc.SessionID || st.Message == "" {
		t.Fatalf("result %+v", st)
	}

	// The submission is stored, with the session and one webhook event.
	ctx := context.Background()
	f, err := e.store.Flow(ctx, pid, fc.SessionID)
	if err != nil || len(f.Submissions) != 1 || f.Submissions[0].DeviceID != hostedflow.DeviceID || f.Attempts != 1 {
		t.Fatalf("session %+v %v", f, err)
	}
	c, err := e.store.Case(ctx, f.Submissions[0])
	if err != nil || c.CompletedAt.IsZero() || c.Summary.SessionID != fc.SessionID || c.Summary.Decision == "" {
		t.Errorf("case %+v %v", c, err)
	}
	t.Logf("engine decision %s score %.1f reasons %v", c.Summary.Decision, c.Summary.Score, c.Summary.Reasons)
	if c.Summary.Decision != "approve" {
		t.Errorf("genuine person: %s %v", c.Summary.Decision, c.Summary.Reasons)
	}
	evs, err := e.store.Events(ctx, pid, 0, 10)
	if err != nil || len(evs) != 1 || evs[0].Type != central.EventSubmissionCompleted {
		t.Fatalf("events %+v %v", evs, err)
	}
	var body webhook.Body
	json.Unmarshal(evs[0].Payload, &body)
	if body.Data.SessionID != fc.SessionID || body.Data.Status != central.FlowCompleted || body.Data.Decision != c.Summary.Decision || body.Data.Attempt != 1 {
		t.Errorf("event %s", evs[0].Payload)
	}
	// The emitter does not emit it again.
	em, err := webhook.NewEmitter(webhook.EmitterConfig{Store: e.store, Now: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := em.RunOnce(ctx); err != nil || n != 0 {
		t.Errorf("emitter wrote %d events (%v)", n, err)
	}
	// Get Submission Details sees it through the partner API.
	var det partnerapi.Details
	da := must(t, http.StatusOK, e.browser().do("GET", "/api/v1/submission-details", "", nil, map[string]string{"Authorization": "Bearer " + e.token,
		"x-partner-session-id": fc.SessionID, "x-partner-user-id": "cust-1", "x-partner-user-id-type": "user_id"}))
	json.Unmarshal(da.body, &det)
	if det.Result == nil || det.Result.EngineDecision != "approve" || det.Result.Attempt != 1 || len(det.Result.Images) < 2 {
		t.Errorf("submission details %.600s", da.body)
	}

	// Finish: the redirect with the callback's parameters.
	var fin struct {
		Redirect string `json:"redirect"`
	}
	json.Unmarshal(must(t, http.StatusOK, b.post("/flow/api/finish", "", nil)).body, &fin)
	ru, err := url.Parse(fin.Redirect)
	if err != nil || ru.Host != "acme.example" || ru.Query().Get("status") != "COMPLETED" || ru.Query().Get("session_id") != fc.SessionID || ru.Query().Get("x") != "1" {
		t.Errorf("redirect %q", fin.Redirect)
	}
	// A finished session refuses everything but the state.
	if a := b.post("/flow/api/submit", "", nil); a.status != http.StatusConflict {
		t.Errorf("submit after finish: %d %s", a.status, a.body)
	}
	if a := b.post("/flow/api/capture?step=selfie", "image/jpeg", selfie); a.status != http.StatusConflict {
		t.Errorf("capture after finish: %d %s", a.status, a.body)
	}
	if st := b.state(); st.Stage != "done" {
		t.Errorf("state after finish %+v", st)
	}
}

// TestRetryThenApproved: a retry, then an approval; the partner owns one
// branch, so both attempts are cases of that branch (the console scopes
// them to its reviewers).
func TestRetryThenApproved(t *testing.T) {
	e := newEnv(t, true)
	doc, selfie, noFace := images(t)
	pid, fc := e.initiateWith(map[string]any{"max_retries": 2}, func(id string) {
		if _, err := e.store.UpdatePartner(context.Background(), id, func(p *central.Partner) error {
			p.Branches = []string{"sby-02"}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	})
	b := e.browser()
	b.open(fc.LaunchURL)
	b.capture("document", doc)
	b.capture("selfie", noFace)
	if n := len(e.released); n > 0 {
		t.Errorf("native memory released %d times before a verification", n)
	}
	must(t, http.StatusOK, b.post("/flow/api/submit", "", nil))
	st := b.waitResult()
	if st.Stage != "result" || st.NextAction != "RETRY" || st.Status != "" || st.Message == "" {
		t.Fatalf("no-face result %+v", st)
	}
	// Each verification, the last running, gives its memory back.
	e.waitReleased()
	t.Logf("retry: step %s message %q", st.RetryStep, st.Message)
	// Nothing but the retry is taken now.
	if a := b.post("/flow/api/submit", "", nil); a.status != http.StatusConflict {
		t.Errorf("submit before retry: %d", a.status)
	}
	var out struct{ State hostedflow.State }
	json.Unmarshal(must(t, http.StatusOK, b.post("/flow/api/retry", "", nil)).body, &out)
	want := "selfie"
	if st.RetryStep != "selfie" {
		want = "document"
	}
	if out.State.Stage != want || out.State.Attempt != 2 {
		t.Fatalf("after retry %+v", out.State)
	}
	if want == "document" {
		b.capture("document", doc)
	}
	b.capture("selfie", selfie)
	must(t, http.StatusOK, b.post("/flow/api/submit", "", nil))
	st = b.waitResult()
	if st.Stage != "result" || st.NextAction == "RETRY" || st.Status != "COMPLETED" {
		t.Fatalf("second attempt %+v", st)
	}
	e.waitReleased()
	f, _ := e.store.Flow(context.Background(), pid, fc.SessionID)
	evs, _ := e.store.Events(context.Background(), pid, 0, 10)
	if f.Attempts != 2 || len(f.Submissions) != 2 || len(evs) != 2 {
		t.Errorf("attempts %d submissions %d events %d", f.Attempts, len(f.Submissions), len(evs))
	}
	for _, ref := range f.Submissions {
		if ref.DeviceID != central.HostedDevice("sby-02") {
			t.Errorf("submission %+v, want it under the pseudo-device of the partner's branch", ref)
		}
	}
}

// TestExitAtRetry: the person chooses Exit on the retry screen (seed 000)
// instead of trying again: the session ends in ERROR user_exit, the
// redirect carries it, and nothing more is taken.
func TestExitAtRetry(t *testing.T) {
	e := newEnv(t, true)
	doc, _, noFace := images(t)
	pid, fc := e.initiate(map[string]any{"max_retries": 2, "redirect_url": "https://acme.example/done"})
	b := e.browser()
	b.open(fc.LaunchURL)
	b.capture("document", doc)
	b.capture("selfie", noFace)
	must(t, http.StatusOK, b.post("/flow/api/submit", "", nil))
	if st := b.waitResult(); st.NextAction != "RETRY" {
		t.Fatalf("no-face result %+v", st)
	}
	var fin struct {
		Redirect string              `json:"redirect"`
		Callback hostedflow.Callback `json:"callback"`
	}
	json.Unmarshal(must(t, http.StatusOK, b.post("/flow/api/finish", "", nil)).body, &fin)
	ru, err := url.Parse(fin.Redirect)
	if err != nil || ru.Query().Get("status") != "ERROR" || ru.Query().Get("error_code") != "user_exit" ||
		fin.Callback.Status != "ERROR" || fin.Callback.ErrorCode != "user_exit" {
		t.Errorf("exit at retry: redirect %q callback %+v", fin.Redirect, fin.Callback)
	}
	if a := b.post("/flow/api/retry", "", nil); a.status != http.StatusConflict {
		t.Errorf("retry after exit: %d %s", a.status, a.body)
	}
	if f, _ := e.store.Flow(context.Background(), pid, fc.SessionID); f.Status != central.FlowError || f.ErrorCode != "user_exit" {
		t.Errorf("flow after exit: status %s error %q", f.Status, f.ErrorCode)
	}
	e.wantEnded(t, pid, fc.SessionID, "user_exit")
}

// wantEnded checks that the partner was told of the session's end in
// ERROR with code: one session.ended, the last of its events.
func (e *env) wantEnded(t *testing.T, pid, sid, code string) {
	t.Helper()
	evs, err := e.store.Events(context.Background(), pid, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var ended []webhook.Body
	for _, ev := range evs {
		var b webhook.Body
		if err := json.Unmarshal(ev.Payload, &b); err != nil {
			t.Fatal(err)
		}
		if ev.SessionID == sid && ev.Type == central.EventSessionEnded {
			ended = append(ended, b)
		}
	}
	if len(ended) != 1 || ended[0].Data.Status != central.FlowError || ended[0].Data.ErrorCode != code || ended[0].Data.NextAction != "EXIT" {
		t.Errorf("session %s: session.ended events %+v, want one, ERROR %s", sid, ended, code)
	}
}

func TestHandoff(t *testing.T) {
	e := newEnv(t, true)
	doc, selfie, _ := images(t)
	_, fc := e.initiate(map[string]any{"smart_qr": true})
	desk := e.browser()
	desk.open(fc.LaunchURL)
	var h hostedflow.HandoffLink
	json.Unmarshal(must(t, http.StatusOK, desk.post("/flow/api/handoff", "", nil)).body, &h)
	if !strings.HasPrefix(h.URL, e.base+"/flow/h/") || len(h.ShortCode) != 8 || !strings.HasPrefix(h.QRSVG, "<svg") {
		t.Fatalf("handoff %+v", h)
	}
	if st := desk.state(); st.Stage != "document" || !st.Handoff.Active {
		t.Errorf("desk before the phone %+v", st)
	}
	phone := e.browser()
	phone.open(h.URL)
	// The link is single use.
	u, _ := url.Parse(h.URL)
	must(t, http.StatusGone, e.browser().get(u.Path))
	if st := desk.state(); st.Stage != "handoff" || st.Handoff.Device != "phone" {
		t.Errorf("desk after the phone %+v", st)
	}
	if a := desk.post("/flow/api/capture?step=document", "image/jpeg", doc); a.status != http.StatusConflict {
		t.Errorf("desk capturing after the hand-off: %d", a.status)
	}
	phone.capture("document", doc)
	phone.capture("selfie", selfie)
	must(t, http.StatusOK, phone.post("/flow/api/submit", "", nil))
	st := phone.waitResult()
	if st.Stage != "result" {
		t.Fatalf("phone result %+v", st)
	}
	// The first screen follows to the result.
	if ds := desk.state(); ds.Stage != "result" || ds.NextAction != st.NextAction || ds.Status != st.Status {
		t.Errorf("desk %+v, phone %+v", ds, st)
	}

	// The short code: a new session, typed on another phone.
	_, fc2 := e.initiate(map[string]any{"smart_qr": true})
	desk2 := e.browser()
	desk2.open(fc2.LaunchURL)
	json.Unmarshal(must(t, http.StatusOK, desk2.post("/flow/api/handoff", "", nil)).body, &h)
	phone2 := e.browser()
	must(t, http.StatusOK, phone2.get("/flow/code"))
	for range 3 {
		must(t, http.StatusNotFound, phone2.post("/flow/code", "application/x-www-form-urlencoded", []byte("code=ZZZZZZZZ")))
	}
	// Typed in lower case and in two groups, as a person may.
	typed := strings.ToLower(h.ShortCode[:4] + "-" + h.ShortCode[4:])
	a := must(t, http.StatusSeeOther, phone2.post("/flow/code", "application/x-www-form-urlencoded", []byte("code="+url.QueryEscape(typed))))
	if a.header.Get("Location") != "/flow/app" {
		t.Errorf("code redirect %q", a.header.Get("Location"))
	}
	if st := phone2.state(); st.Stage != "document" {
		t.Errorf("phone2 %+v", st)
	}
	// Used: the code is gone; wrong codes run out of budget (429).
	last := 0
	for range 12 {
		last = phone2.post("/flow/code", "application/x-www-form-urlencoded", []byte("code="+h.ShortCode)).status
	}
	if last != http.StatusTooManyRequests {
		t.Errorf("after many wrong codes: %d", last)
	}
	// No hand-off without smart_qr.
	_, fc3 := e.initiate(nil)
	d3 := e.browser()
	d3.open(fc3.LaunchURL)
	must(t, http.StatusForbidden, d3.post("/flow/api/handoff", "", nil))
}

// stillClock is a clock that moves only when told: budgets' tests whose
// requests take longer than the budget's interval on a loaded machine.
type stillClock struct {
	mu  sync.Mutex
	now time.Time
}

func newStillClock() *stillClock { return &stillClock{now: time.Now()} }

func (c *stillClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stillClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestLimits(t *testing.T) {
	// Six frames take longer than a frame's interval on a loaded machine.
	e := newEnv(t, true, func(c *hostedflow.Config) { c.Now = newStillClock().Now })
	doc, _, _ := images(t)
	_, fc := e.initiate(nil)
	b := e.browser()
	b.open(fc.LaunchURL)
	// CSRF header required.
	if a := b.do("POST", "/flow/api/submit", "", nil, map[string]string{"X-Flow-CSRF": "wrong"}); a.status != http.StatusForbidden {
		t.Errorf("wrong CSRF: %d", a.status)
	}
	// Oversize frame.
	big := make([]byte, hostedflow.MaxFrameBytes+1)
	if a := b.post("/flow/api/frame?step=document", "image/jpeg", big); a.status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversize frame: %d %s", a.status, a.body)
	}
	// Not an image.
	if a := b.post("/flow/api/capture?step=document", "image/jpeg", []byte("not a jpeg at all")); a.status != http.StatusUnprocessableEntity {
		t.Errorf("garbage capture: %d", a.status)
	}
	// Frame rate: the burst, then 429.
	codes := map[int]int{}
	for range hostedflow.FrameBurst + 2 {
		codes[b.post("/flow/api/frame?step=document", "image/jpeg", doc).status]++
	}
	if codes[http.StatusTooManyRequests] == 0 {
		t.Errorf("no 429 over the frame rate: %v", codes)
	}
	// A bad step.
	if a := b.post("/flow/api/capture?step=back", "image/jpeg", doc); a.status != http.StatusBadRequest {
		t.Errorf("back on a one-sided document: %d", a.status)
	}
}

// TestCaptureRate: manual captures and uploads, each decoded (up to 40
// megapixels from a small file), are budgeted per session like the
// guidance frames: the burst, then 429 with Retry-After, and one more once
// the clock moved on. Without it one session's parallel posts of tiny
// large-dimension JPEGs held gigabytes of decoded pixels.
func TestCaptureRate(t *testing.T) {
	// Eight captures (each decoded, each a few store writes) take longer
	// than an interval on a loaded machine, which would refill the budget
	// on the way: the flow's clock stands still.
	still := newStillClock()
	e := newEnv(t, true, func(c *hostedflow.Config) { c.Now = still.Now })
	doc, _, _ := images(t)
	_, fc := e.initiate(nil)
	b := e.browser()
	b.open(fc.LaunchURL)
	codes := map[int]int{}
	var retryAfter string
	for range hostedflow.CaptureBurst + 2 {
		a := b.post("/flow/api/capture?step=document&source=upload", "image/jpeg", doc)
		codes[a.status]++
		if a.status == http.StatusTooManyRequests {
			retryAfter = a.header.Get("Retry-After")
		}
	}
	if codes[http.StatusOK] != hostedflow.CaptureBurst || codes[http.StatusTooManyRequests] != 2 || retryAfter == "" {
		t.Errorf("%d captures at once: %v (Retry-After %q), want %d accepted and 429s with Retry-After", hostedflow.CaptureBurst+2, codes, retryAfter, hostedflow.CaptureBurst)
	}
	still.Advance(hostedflow.CaptureInterval)
	must(t, http.StatusOK, b.post("/flow/api/capture?step=document&source=upload", "image/jpeg", doc))
}

func TestExpiry(t *testing.T) {
	e := newEnv(t, true)
	doc, _, _ := images(t)
	_, fc := e.initiate(map[string]any{"session_ttl": 120})
	b := e.browser()
	b.open(fc.LaunchURL)
	e.clk.Advance(3 * time.Minute)
	if st := b.state(); st.Stage != "expired" || st.Status != "ERROR" || st.ErrorCode != "session_expired" {
		t.Errorf("expired state %+v", st)
	}
	if a := b.post("/flow/api/capture?step=document", "image/jpeg", doc); a.status != http.StatusGone {
		t.Errorf("capture after expiry: %d", a.status)
	}
	_, fc2 := e.initiate(map[string]any{"session_ttl": 120})
	e.clk.Advance(3 * time.Minute)
	u, _ := url.Parse(fc2.LaunchURL)
	must(t, http.StatusGone, e.browser().get(u.Path))
}

func TestUnavailableWithoutEngines(t *testing.T) {
	e := newEnv(t, false)
	_, fc := e.initiate(nil)
	b := e.browser()
	_, a := b.start(fc.LaunchURL, nil)
	must(t, http.StatusSeeOther, a)
	must(t, http.StatusServiceUnavailable, b.get("/flow/app"))
}

// publishOFAC publishes the OFAC sample as central publishes a watchlist
// (an engine/screening store file), so the flow screens against it.
func publishOFAC(t testing.TB, store central.Store) {
	t.Helper()
	list, err := screening.ImportOFAC(context.Background(), testenv.Data(t, "sanctions", "ofac_sdn_sample"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	st, err := screening.OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(context.Background(), list); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.list.json.gz"))
	if len(files) != 1 {
		t.Fatalf("store files %v", files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	storetest.PublishWatchlist(t, store, filepath.Base(files[0]), b)
}

func TestAutoCapture(t *testing.T) {
	e := newEnv(t, true)
	doc, _, _ := images(t)
	_, fc := e.initiate(nil)
	b := e.browser()
	b.open(fc.LaunchURL)
	// The same steady frame at 2 a second: the guide's stable window fills
	// and it captures by itself.
	var fa hostedflow.FrameAnswer
	for i := 0; !fa.Captured; i++ {
		if i == 10 {
			t.Fatalf("no auto-capture after %d frames: %+v", i, fa.Overlay)
		}
		e.clk.Advance(500 * time.Millisecond)
		json.Unmarshal(must(t, http.StatusOK, b.post("/flow/api/frame?step=document", "image/jpeg", doc)).body, &fa)
	}
	if fa.State.Stage != "selfie" || !fa.State.Captures.Document {
		t.Errorf("after the auto-capture %+v", fa.State)
	}
}

func TestSessionConfigApplies(t *testing.T) {
	e := newEnv(t, true)
	doc, selfie, _ := images(t)
	for _, tc := range []struct {
		cfg    map[string]any
		reason string
		next   string
	}{
		{map[string]any{"accepted_documents": []string{"passport"}}, hostedflow.ReasonDocTypeNotAccepted, "RETRY"},
		{map[string]any{"face_match_threshold": 1}, hostedflow.ReasonBelowThreshold, "RETRY"},
		// The card's birth date is confirmed by its NIK: no new capture
		// makes its holder older.
		{map[string]any{"min_age": 100}, string(risk.HolderUnderage), "EXIT"},
	} {
		pid, fc := e.initiate(tc.cfg)
		b := e.browser()
		b.open(fc.LaunchURL)
		b.capture("document", doc)
		b.capture("selfie", selfie)
		must(t, http.StatusOK, b.post("/flow/api/submit", "", nil))
		st := b.waitResult()
		f, _ := e.store.Flow(context.Background(), pid, fc.SessionID)
		c, err := e.store.Case(context.Background(), f.Submissions[0])
		if err != nil {
			t.Fatal(err)
		}
		if st.NextAction != tc.next || c.Summary.Decision != "reject" || !slices.Contains(c.Summary.Reasons, tc.reason) {
			t.Errorf("%v: %+v, case %+v", tc.cfg, st, c.Summary)
		}
		if strings.Contains(st.Message, "threshold") || strings.Contains(st.Message, "passport") {
			t.Errorf("the message names the check: %q", st.Message)
		}
	}
}

// TestUploadedSelfieGoesToReview: the genuine person's photos from the
// upload form. An uploaded document is verified as a camera's capture is
// (approved with the camera's selfie); an uploaded selfie, which may be any
// photo of the person, caps the attempt at review with SELFIE_UPLOADED;
// an uploaded selfie the engine turns away (no face in it) stays turned
// away.
func TestUploadedSelfieGoesToReview(t *testing.T) {
	e := newEnv(t, true)
	doc, selfie, noFace := images(t)
	upload := func(b *browser, step string, img []byte) {
		t.Helper()
		must(t, http.StatusOK, b.post("/flow/api/capture?step="+step+"&source=upload", "image/jpeg", img))
	}
	for _, tc := range []struct {
		name         string
		uploadSelfie bool
		selfie       []byte
		decision     string
		uploadedCode bool
	}{
		{"document uploaded, selfie from the camera", false, selfie, "approve", false},
		{"both uploaded", true, selfie, "review", true},
		{"a selfie without a face uploaded", true, noFace, "reject", false},
	} {
		pid, fc := e.initiate(map[string]any{"max_retries": 1})
		b := e.browser()
		b.open(fc.LaunchURL)
		upload(b, "document", doc)
		if tc.uploadSelfie {
			upload(b, "selfie", tc.selfie)
		} else {
			b.capture("selfie", tc.selfie)
		}
		st, c := b.submitOne(pid, fc.SessionID)
		t.Logf("%s: %s %v, next %s", tc.name, c.Summary.Decision, c.Summary.Reasons, st.NextAction)
		if c.Summary.Decision != tc.decision || slices.Contains(c.Summary.Reasons, hostedflow.ReasonSelfieUploaded) != tc.uploadedCode {
			t.Errorf("%s: decision %s reasons %v, want %s (SELFIE_UPLOADED %v)", tc.name, c.Summary.Decision, c.Summary.Reasons, tc.decision, tc.uploadedCode)
		}
		if tc.decision == "review" && (st.Status != "COMPLETED" || st.NextAction != "STATUS" || strings.Contains(strings.ToLower(st.Message), "upload")) {
			t.Errorf("%s: the person sees %+v; want COMPLETED, STATUS and the generic in-review message", tc.name, st)
		}
	}
}

// TestSelfieFeed: a selfie taken with the manual button is judged by the
// camera frames the page sent before it. A camera's frames each carry
// sensor noise of their own; a still image fed through a virtual camera
// repeats itself, and a script posting a photo sends no frames at all.
// Either takes the active challenge (FACE_FEED_SUSPECT) however live the
// photo looks, and the challenge's turns are asked for from then on.
func TestSelfieFeed(t *testing.T) {
	e := newEnv(t, true)
	doc, selfie, _ := images(t)
	for _, tc := range []struct {
		name    string
		send    func(b *browser)
		suspect bool
	}{
		{"a camera's frames", func(b *browser) { b.feed(selfie, 3) }, false},
		{"no frames", func(*browser) {}, true},
		{"two frames", func(b *browser) { b.feed(selfie, 2) }, true},
		{"one photo sent as every frame", func(b *browser) {
			for range 3 {
				e.clk.Advance(time.Second)
				must(t, http.StatusOK, b.post("/flow/api/frame?step=selfie", "image/jpeg", selfie))
			}
		}, true},
		{"a repeat among a camera's frames", func(b *browser) {
			b.feed(selfie, 3)
			b.fed -= 2 // the next frame repeats the second
			b.feed(selfie, 1)
		}, true},
	} {
		pid, fc := e.initiate(map[string]any{"max_retries": 2})
		b := e.browser()
		b.open(fc.LaunchURL)
		b.capture("document", doc)
		tc.send(b)
		b.captureOnly("selfie", selfie)
		st, c := b.submitOne(pid, fc.SessionID)
		t.Logf("%s: %s %v, next %s %s", tc.name, c.Summary.Decision, c.Summary.Reasons, st.NextAction, st.RetryStep)
		flagged := slices.Contains(c.Summary.Reasons, string(risk.FaceFeedSuspect))
		switch {
		case flagged != tc.suspect:
			t.Errorf("%s: reasons %v, want FACE_FEED_SUSPECT %v", tc.name, c.Summary.Reasons, tc.suspect)
		case !tc.suspect && (c.Summary.Decision != "approve" || st.NextAction != "EXIT"):
			t.Errorf("%s: %s, next %s; want approve, EXIT", tc.name, c.Summary.Decision, st.NextAction)
		case tc.suspect && (st.NextAction != "RETRY" || st.RetryStep != "selfie" || st.MessageKey != string(risk.MsgLivenessChallenge)):
			t.Errorf("%s: the person sees %+v; want a RETRY of the selfie with the challenge", tc.name, st)
		case tc.suspect:
			must(t, http.StatusOK, b.post("/flow/api/retry", "", nil))
			if st := b.state(); len(st.Challenges) == 0 {
				t.Errorf("%s: after the retry no challenge is asked for: %+v", tc.name, st)
			}
		}
	}
}

// TestActiveSessionNeedsTurns: a session whose partner asked for active
// liveness approves only with the head turns done. A selfie taken with
// the manual button (after a camera's live frames) skips the guide and so
// the turns: the attempt is the challenge's RETRY of the selfie ("one more
// step"), or at the last attempt a reject with EXIT, never an approve on
// the passive liveness alone.
func TestActiveSessionNeedsTurns(t *testing.T) {
	e := newEnv(t, true)
	doc, selfie, _ := images(t)
	for _, tc := range []struct {
		name       string
		maxRetries int
		next, step string
		upload     bool
	}{
		{"attempts left", 2, "RETRY", "selfie", false},
		{"the last attempt", 1, "EXIT", "", false},
		// No usable camera: no turns to ask for; a reviewer decides.
		{"an upload", 2, "STATUS", "", true},
	} {
		pid, fc := e.initiate(map[string]any{"liveness_type": "active", "max_retries": tc.maxRetries})
		b := e.browser()
		b.open(fc.LaunchURL)
		if st := b.state(); len(st.Challenges) != 2 {
			t.Fatalf("%s: an active session lists challenges %v", tc.name, st.Challenges)
		}
		b.capture("document", doc)
		if tc.upload {
			must(t, http.StatusOK, b.post("/flow/api/capture?step=selfie&source=upload", "image/jpeg", selfie))
		} else {
			b.capture("selfie", selfie)
		}
		st, c := b.submitOne(pid, fc.SessionID)
		t.Logf("%s: %s %v, next %s %s", tc.name, c.Summary.Decision, c.Summary.Reasons, st.NextAction, st.RetryStep)
		if c.Summary.Decision == "approve" || tc.upload && c.Summary.Decision != "review" || st.NextAction != tc.next || st.RetryStep != tc.step ||
			!slices.Contains(c.Summary.Reasons, hostedflow.ReasonChallengeNotDone) {
			t.Errorf("%s: %s %v, the person sees %+v; want %s %s with %s", tc.name, c.Summary.Decision, c.Summary.Reasons, st,
				tc.next, tc.step, hostedflow.ReasonChallengeNotDone)
		}
	}
}

// TestConfigFlags: the partner's hide_cta and allow_upload reach the
// page's state, and an upload is refused where allow_upload is off (the
// manual camera capture is not).
func TestConfigFlags(t *testing.T) {
	e := newEnv(t, true)
	doc, _, _ := images(t)
	_, fc := e.initiate(nil)
	b := e.browser()
	b.open(fc.LaunchURL)
	if st := b.state(); st.HideCTA || !st.AllowUpload {
		t.Errorf("defaults: hide_cta %v allow_upload %v, want false and true", st.HideCTA, st.AllowUpload)
	}
	must(t, http.StatusOK, b.post("/flow/api/capture?step=document&source=upload", "image/jpeg", doc))

	_, fc = e.initiate(map[string]any{"hide_cta": true, "allow_upload": false})
	b = e.browser()
	b.open(fc.LaunchURL)
	if st := b.state(); !st.HideCTA || st.AllowUpload {
		t.Errorf("set: hide_cta %v allow_upload %v, want true and false", st.HideCTA, st.AllowUpload)
	}
	if a := b.post("/flow/api/capture?step=document&source=upload", "image/jpeg", doc); a.status != http.StatusForbidden || !strings.Contains(string(a.body), "upload_not_allowed") {
		t.Errorf("upload with allow_upload false: %d %s", a.status, a.body)
	}
	if st := b.capture("document", doc); !st.Captures.Document {
		t.Errorf("the camera's capture with allow_upload false: %+v", st)
	}
}

// TestLanguageSwitch: the page's language switch makes the server answer
// in the language chosen: the next frame's guidance, and the message of
// a result already shown.
func TestLanguageSwitch(t *testing.T) {
	e := newEnv(t, true)
	doc, _, noFace := images(t)
	_, fc := e.initiate(map[string]any{"max_retries": 2})
	b := e.browser()
	b.open(fc.LaunchURL)
	frameText := func() string {
		t.Helper()
		e.clk.Advance(time.Second) // within the frame budget
		var fa hostedflow.FrameAnswer
		json.Unmarshal(must(t, http.StatusOK, b.post("/flow/api/frame?step=document", "image/jpeg", noFace)).body, &fa)
		if len(fa.Overlay.Messages) == 0 {
			t.Fatalf("no guidance: %+v", fa.Overlay)
		}
		return fa.Overlay.Messages[0].Code + "|" + fa.Overlay.Messages[0].Text
	}
	en := frameText()
	var out struct{ State hostedflow.State }
	json.Unmarshal(must(t, http.StatusOK, b.post("/flow/api/lang", "application/json", []byte(`{"lang":"id"}`))).body, &out)
	if out.State.Lang != "id" {
		t.Fatalf("after the switch: lang %q", out.State.Lang)
	}
	id := frameText()
	codeEN, textEN, _ := strings.Cut(en, "|")
	codeID, textID, _ := strings.Cut(id, "|")
	if codeEN != codeID || textEN == textID {
		t.Errorf("guidance before %q and after %q the switch: want the same code in another language", en, id)
	}
	must(t, http.StatusBadRequest, b.post("/flow/api/lang", "application/json", []byte(`{"lang":"fr"}`)))

	// A result in Indonesian, switched back to English.
	b.capture("document", doc)
	b.capture("selfie", noFace)
	must(t, http.StatusOK, b.post("/flow/api/submit", "", nil))
	st := b.waitResult()
	if st.NextAction != "RETRY" || st.Message == "" {
		t.Fatalf("result %+v", st)
	}
	json.Unmarshal(must(t, http.StatusOK, b.post("/flow/api/lang", "application/json", []byte(`{"lang":"en"}`))).body, &out)
	if out.State.Message == "" || out.State.Message == st.Message || out.State.Lang != "en" {
		t.Errorf("result message %q in id, %q after switching to en", st.Message, out.State.Message)
	}
	t.Logf("guidance %q / %q; result %q / %q", textEN, textID, st.Message, out.State.Message)
}

// TestLandingNamesRequester: the landing page names the partner asking
// for the verification, escaped and cut to a length, in the
// page's language, so that a person sent someone else's link sees whose
// verification it is before starting.
func TestLandingNamesRequester(t *testing.T) {
	e := newEnv(t, false)
	for _, tc := range []struct {
		name, lang, want string
	}{
		{"Bank <b>Merdeka</b> & Co", "en", "Bank &lt;b&gt;Merdeka&lt;/b&gt; &amp; Co asks you to verify your identity. Continue only if you are dealing with Bank &lt;b&gt;Merdeka&lt;/b&gt; &amp; Co yourself."},
		{"Koperasi Sejahtera", "id", "Koperasi Sejahtera meminta Anda memverifikasi identitas."},
		{strings.Repeat("x", 100), "en", strings.Repeat("x", 79) + "… asks you"},
	} {
		e.partnerName = tc.name
		_, fc := e.initiate(nil)
		u, _ := url.Parse(fc.LaunchURL)
		a := must(t, http.StatusOK, e.browser().do("GET", u.Path, "", nil, map[string]string{"Accept-Language": tc.lang}))
		if !bytes.Contains(a.body, []byte(`<p id="requester">`+tc.want)) {
			t.Errorf("partner %q: landing page %s", tc.name, a.body)
		}
	}
}
