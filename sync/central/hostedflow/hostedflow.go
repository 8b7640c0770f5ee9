package hostedflow

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/openkyc/kyc/internal/engines"
	"github.com/openkyc/kyc/internal/runtimeinfo"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
	"github.com/openkyc/kyc/sync/central/partnerapi"
	"github.com/openkyc/kyc/sync/central/shares"
)

// Limits of a session (see the wire contract in the package doc).
const (
	MaxFrameBytes   = 2 << 20  // one guidance frame
	MaxCaptureBytes = 10 << 20 // one manual capture or upload
	MaxUploadBytes  = 60 << 20 // everything a session sends, frames included
	// FrameRate and FrameBurst bound guidance frames a session: FrameRate
	// a second sustained, FrameBurst at once; beyond, 429.
	FrameRate  = 2
	FrameBurst = 4
	// CaptureBurst and CaptureInterval bound manual captures and uploads
	// a session: CaptureBurst at once (the document, its back and the
	// selfie, and retakes), then one a CaptureInterval; beyond, 429. Each
	// is decoded whole (up to captureMaxPixels from a file of a few
	// kilobytes), so unbounded parallel posts would exhaust memory.
	CaptureBurst    = 6
	CaptureInterval = 2 * time.Second
	// ActionBurst and ActionInterval bound a session's other writes, the
	// Smart QR's links (each one a short code kept codeTTL) and language
	// switches: ActionBurst at once, then one an ActionInterval; beyond,
	// 429. A person presses those buttons a few times; a script holding a
	// session would otherwise write as fast as it posts.
	ActionBurst    = 10
	ActionInterval = 3 * time.Second
	// MaxLiveSessions bounds the sessions with state in memory (one
	// partner's at most half); past it a new one answers 503 until the
	// sweeper frees some (Config.MaxLive).
	MaxLiveSessions = 500
	// frameMaxPixels bounds a decoded guidance frame (1920x1080 and a bit).
	frameMaxPixels = 2_500_000
	// captureMaxPixels bounds a decoded capture or upload of the
	// document, which the document's pipeline reads (its text, its
	// forensics) at the resolution it was taken.
	captureMaxPixels = 40_000_000
	// faceMaxPixels bounds a decoded image that goes to the face engine
	// whole, the selfie and the partner's reference image: the Face Match
	// API's bound (4096x4096), judged from the header before decoding.
	// The engine works on far fewer pixels; a 40 MP image cost seconds
	// and some 300 MB in decoding alone.
	faceMaxPixels = partnerapi.MaxFaceMatchPixels
	// DefaultWatchlistRefresh is how often central's published watchlists
	// are read again.
	DefaultWatchlistRefresh = 10 * time.Minute
	// codeTTL is how long a Smart QR short code and phone link work.
	codeTTL = 10 * time.Minute
	// cookieGrace keeps the session cookie a day past the session's
	// expiry, so a page left open then is told its session expired
	// rather than that its link is not valid.
	cookieGrace = 24 * time.Hour
	// cookieName is the session cookie. The __Host- prefix makes browsers
	// refuse it unless it is Secure, Path=/ and without Domain, so no
	// sibling subdomain, nor a network attacker answering a plain-HTTP
	// request to one, can set or overwrite it (OWASP ASVS 3.4.4).
	cookieName = "__Host-kyc_flow"
	// legacyCookieName is the session cookie before the __Host- one
	// (Path=/flow/), still read for sessions opened before the upgrade:
	// they end at most MaxSessionTTL and cookieGrace after it (two days),
	// and the flow moves each to cookieName on its next request.
	legacyCookieName = "kyc_flow"
	// legacyCookiePath is the legacy cookie's path, which expiring it names.
	legacyCookiePath = "/flow/"
	// csrfHeader carries the page's CSRF token on every POST.
	csrfHeader = "X-Flow-CSRF"
)

// Config configures the hosted flow.
type Config struct {
	// Store is central's store, sealed (seal.Store); required.
	Store central.Store
	// Engines runs guidance and verification; nil: the flow's pages and
	// API answer 503 service_unavailable (the launch URL's Start still binds).
	Engines *engines.Engines
	// PublicURL is central's base URL as people reach it (the phone link
	// and the Smart QR are built on it).
	PublicURL string
	// MaxConcurrent bounds the verifications running at once, and apart
	// from them the manual captures and uploads being decoded; 0: one per
	// core. One partner's take at most half of them (at least one).
	MaxConcurrent int
	// QueueHeartbeat is how often a verification waiting for a slot
	// renews its session's processing mark, so that while this instance
	// lives the person sees it waiting, not the selfie step again as for
	// a verification whose instance died (processingTimeout), and its
	// session's expiry waits for it; 0: DefaultQueueHeartbeat.
	QueueHeartbeat time.Duration
	// MaxLive bounds the sessions with state in this instance's memory;
	// 0: MaxLiveSessions. One partner's sessions hold at most half of them
	// (at least one), so another partner's always find room.
	MaxLive int
	// MaxFrameMemory bounds the bytes of guidance frames this instance's
	// sessions keep as received (SessionFrameBudget each); past it a frame
	// answers 503 guidance_busy with a Retry-After, and the page sends a
	// later one. 0: DefaultMaxFrameMemory.
	MaxFrameMemory int64
	// WatchlistRefresh: see DefaultWatchlistRefresh.
	WatchlistRefresh time.Duration
	// ReferenceImage fetches a session's reference image from its
	// partner (partnerapi.API.ReferenceImage), for sessions with
	// use_reference_image: the selfie is matched against it instead of
	// the document's portrait. nil: such sessions end in ERROR
	// reference_image_unavailable.
	ReferenceImage func(ctx context.Context, fs central.FlowSession) ([]byte, error)
	// ReleaseMemory gives the native memory a verification freed back to
	// the system, when the last one running ends; nil means
	// runtimeinfo.ReleaseNativeMemory.
	ReleaseMemory func()
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ChallengeOrder orders the head turns of a session being opened;
	// nil draws the order at random (capture.ShuffleChallenges). Tests
	// whose camera plays a fixed order fix it.
	ChallengeOrder func(turns []string) []string
	// PromptTime bounds the time from a turn's prompt to the frame that
	// follows it, ChallengeTime both turns from the first prompt, by this
	// clock; 0 means engine/capture's defaults (5 s and 20 s).
	PromptTime, ChallengeTime time.Duration
	// Logger receives the flow's log; nil discards it.
	Logger *slog.Logger
}

// Flow is the hosted capture flow: New builds it, Mount serves it, Run
// keeps its memory in bounds.
type Flow struct {
	cfg  Config
	log  *slog.Logger
	mux  *http.ServeMux
	resp *httpx.Responder
	base *url.URL
	// slots are the verifications running at once (Config.MaxConcurrent),
	// of which one partner holds at most half.
	slots *shares.Pool
	// decodes are the manual captures and uploads being decoded at once
	// (as many as slots, one partner's at most half): each holds up to
	// captureMaxPixels (120 MB) from a file of a few hundred kilobytes,
	// and the per-session CaptureBurst alone let sessions opened in
	// numbers (a partner's public sign-up) exhaust memory together.
	decodes *shares.Pool
	// guides are the guidance frames being decoded and analysed at once
	// (twice the slots, one partner's at most half): the per-session
	// FrameRate alone let sessions in numbers queue frames, 7.5 MB and a
	// guide's run each, beyond what the cores can analyse (frameTurn).
	guides *shares.Pool
	// codes budgets short codes typed per client address, frames the
	// guidance frames per session, captures the manual captures and
	// uploads per session, actions the hand-offs and language switches
	// per session: in the store, shared by instances.
	codes, frames, captures, actions *httpx.Budget

	hs   central.HostedStates // cfg.Store's: captures and short codes
	mu   sync.Mutex
	live map[string]*live // partner \x00 session -> guidance
	// livePartner counts each partner's sessions in live.
	livePartner map[string]int
	// framesHeld are the bytes of the guidance frames live's sessions
	// keep (Config.MaxFrameMemory).
	framesHeld atomic.Int64

	screen screenCache

	// bg is the context verifications run under: Run's.
	bgMu sync.Mutex
	bg   context.Context

	// started is cfg.Now() at New: only a session created before it can
	// hold a legacy cookie (this release sets none), so the legacy door
	// closes by itself as those sessions end (session).
	started time.Time
}

//go:embed web/app.html web/static
var webFS embed.FS

// New returns the flow with its routes.
func New(cfg Config) (*Flow, error) {
	if cfg.Store == nil {
		return nil, errors.New("hostedflow: Config needs a Store")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ReleaseMemory == nil {
		cfg.ReleaseMemory = runtimeinfo.ReleaseNativeMemory
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = "https://127.0.0.1:8443"
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = runtime.NumCPU()
	}
	if cfg.MaxLive <= 0 {
		cfg.MaxLive = MaxLiveSessions
	}
	if cfg.MaxFrameMemory <= 0 {
		cfg.MaxFrameMemory = DefaultMaxFrameMemory
	}
	if cfg.QueueHeartbeat <= 0 {
		cfg.QueueHeartbeat = DefaultQueueHeartbeat
	}
	if cfg.WatchlistRefresh <= 0 {
		cfg.WatchlistRefresh = DefaultWatchlistRefresh
	}
	hs, ok := cfg.Store.(central.HostedStates)
	if !ok {
		return nil, fmt.Errorf("hostedflow: the store (%T) keeps no hosted state (central.HostedStates)", cfg.Store)
	}
	base, err := url.Parse(strings.TrimSuffix(cfg.PublicURL, "/"))
	if err != nil || base.Host == "" || (base.Scheme != "https" && base.Scheme != "http") {
		return nil, fmt.Errorf("hostedflow: PublicURL %q is not an http(s) URL", cfg.PublicURL)
	}
	f := &Flow{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), base: base, hs: hs,
		slots: shares.New(cfg.MaxConcurrent, cfg.MaxConcurrent/2), decodes: shares.New(cfg.MaxConcurrent, cfg.MaxConcurrent/2),
		guides: shares.New(2*cfg.MaxConcurrent, cfg.MaxConcurrent),
		live:   map[string]*live{}, livePartner: map[string]int{},
		codes:    httpx.NewBudget(cfg.Store, "hosted-code", 10, 30*time.Second, cfg.Now),
		frames:   httpx.NewBudget(cfg.Store, "hosted-frames", FrameBurst, time.Second/FrameRate, cfg.Now),
		captures: httpx.NewBudget(cfg.Store, "hosted-captures", CaptureBurst, CaptureInterval, cfg.Now),
		actions:  httpx.NewBudget(cfg.Store, "hosted-actions", ActionBurst, ActionInterval, cfg.Now), bg: context.Background(),
		started: cfg.Now()}
	f.resp = &httpx.Responder{Log: f.log, Rules: []httpx.Rule{
		{Err: errUnavailable, Status: http.StatusGone, Code: "link_unavailable", Message: "this verification link is no longer available"},
		{Err: central.ErrNotFound, Status: http.StatusNotFound, Code: "not_found", Message: "not found"},
		{Err: context.Canceled, Status: 499, Code: "canceled", Message: "the client went away"},
	}}
	f.routes()
	return f, nil
}

func (f *Flow) routes() {
	h := func(pattern string, fn httpx.HandlerFunc) { f.mux.Handle(pattern, f.resp.Handle(fn)) }
	post := func(pattern string, fn func(http.ResponseWriter, *http.Request, *sess) error) {
		h("POST "+pattern, f.withSession(fn, true))
	}
	h("GET /flow/{token}", f.launch)
	h("POST /flow/{token}", f.launch)
	h("GET /flow/app", f.app)
	h("GET /flow/h/{token}", f.phoneLink)
	h("POST /flow/h/{token}", f.phoneLink)
	h("GET /flow/code", f.codeForm)
	h("POST /flow/code", f.codeSubmit)
	h("GET /flow/api/state", f.withSession(f.stateHandler, false))
	post("/flow/api/frame", f.frame)
	post("/flow/api/capture", f.capture)
	post("/flow/api/submit", f.submit)
	post("/flow/api/retry", f.retry)
	post("/flow/api/handoff", f.handoff)
	post("/flow/api/finish", f.finish)
	post("/flow/api/lang", f.setLang)
	static, _ := fs.Sub(webFS, "web/static")
	files := http.StripPrefix("/flow/static/", http.FileServerFS(static))
	f.mux.Handle("GET /flow/static/", f.resp.Handle(func(w http.ResponseWriter, r *http.Request) error {
		// Files only: no directory listings (ASVS 12.5.1).
		// A file that is not there gets the flow's error object, not the
		// file server's plain text.
		p := strings.TrimPrefix(r.URL.Path, "/flow/static/")
		if st, err := fs.Stat(static, p); p == "" || strings.HasSuffix(p, "/") || err != nil || st.IsDir() {
			return httpx.Errorf(http.StatusNotFound, "not_found", "no such file")
		}
		files.ServeHTTP(w, r)
		return nil
	}))
	f.mux.Handle("/flow/", f.resp.Handle(func(http.ResponseWriter, *http.Request) error {
		return httpx.Errorf(http.StatusNotFound, "not_found", "no such page")
	}))
}

// Mount serves the flow on srv at /flow/. Give partnerapi.Config
// HostedFlow true so the partner API leaves /flow/ to it.
// It also serves the kiosk's Smart QR hand-off to enrolled devices
// (protocol.PathHandoffs, behind central's device authentication).
func (f *Flow) Mount(srv *central.Server) {
	srv.Mount("/flow/", f.Handler())
	f.mountDevice(srv)
}

// Handler serves the flow's routes. Cross-site POSTs are refused: a
// launch or phone link's Start, or a short code, posted from another
// site's page would bind a session its author opened to the visitor's
// browser, who would then verify under the author's account. The flow's
// own pages, framed by a partner or not, post from central's origin.
func (f *Flow) Handler() http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(f.resp.Handle(func(http.ResponseWriter, *http.Request) error {
		return httpx.Errorf(http.StatusForbidden, "csrf", "cross-site form")
	}))
	// headers wraps the check too, so its 403 carries the same headers.
	return f.headers(cop.Handler(f.mux))
}

// headers: nothing cached, no sniffing, no referrer (links carry secrets),
// the console's content security policy (no inline script), framing by
// central's own pages only, HSTS when served over HTTPS; the pages of a
// session the partner may embed widen frame-ancestors to its origins
// (allowFraming).
func (f *Flow) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", basePolicy+"; frame-ancestors 'self'")
		h.Set("Permissions-Policy", "camera=(self), microphone=()")
		if f.base.Scheme == "https" {
			// The launch link is a bearer secret and the pages carry
			// captures: a browser must never fall back to plain HTTP,
			// where a network attacker could take them (ASVS 14.4.5).
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// Run sweeps idle sessions' memory and the store's expired hosted state
// and refreshes the watchlists until ctx ends; verifications started
// meanwhile run under ctx.
func (f *Flow) Run(ctx context.Context) error {
	f.bgMu.Lock()
	f.bg = ctx
	f.bgMu.Unlock()
	f.refreshScreening(ctx)
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	lastLists := f.cfg.Now()
	for {
		select {
		case <-ctx.Done():
			f.dropAll()
			return nil
		case <-t.C:
		}
		f.sweep(ctx)
		if now := f.cfg.Now(); now.Sub(lastLists) >= f.cfg.WatchlistRefresh {
			lastLists = now
			f.refreshScreening(ctx)
		}
	}
}

func (f *Flow) background() context.Context {
	f.bgMu.Lock()
	defer f.bgMu.Unlock()
	return f.bg
}

func (f *Flow) now() time.Time { return f.cfg.Now().UTC() }

// secrets and hashes.

func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashOf(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func sameHash(a, b []byte) bool { return len(a) > 0 && subtle.ConstantTimeCompare(a, b) == 1 }

// csrfToken is the page's CSRF token: derived one-way from the cookie's
// secret, which script cannot read.
func csrfToken(secret string) string {
	h := sha256.Sum256([]byte("openkyc hosted flow csrf\x00" + secret))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// sessionCookie is the value of r's session cookie, "" without one or
// with more than one, and whether it is the legacy one. A second is
// planted: a page of a sibling subdomain, or a network attacker answering
// a plain-HTTP request to one, can set a cookie for the parent domain,
// which the browser sends beside (and, as the older, before) the one
// central set, and nothing tells which is the person's. Taking either
// could run the person's captures into a session of the attacker's.
// Nobody but central can set a __Host- cookie, so one is the person's
// whatever legacy ones come beside it (planted under the legacy name);
// only without it is the legacy cookie read, under the same rule.
func sessionCookie(r *http.Request) (value string, legacy bool) {
	if cs := r.CookiesNamed(cookieName); len(cs) > 0 {
		if len(cs) > 1 {
			return "", false
		}
		return cs[0].Value, false
	}
	if cs := r.CookiesNamed(legacyCookieName); len(cs) == 1 {
		return cs[0].Value, true
	}
	return "", false
}

// cookieValue names the session and carries the browser's secret.
func cookieValue(partnerID, sessionID, secret string) string {
	e := base64.RawURLEncoding.EncodeToString
	return e([]byte(partnerID)) + "." + e([]byte(sessionID)) + "." + secret
}

// parseRef reads a cookie or phone link made by cookieValue. Its ids come
// from whoever sends it: ones no store can hold (NUL, not UTF-8) name no
// session, and must not reach PostgreSQL, which fails on them (a 500
// anyone could cause) rather than find nothing.
func parseRef(v string) (partnerID, sessionID, secret string, ok bool) {
	if len(v) > 600 {
		return "", "", "", false
	}
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return "", "", "", false
	}
	p, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	s, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	if err1 != nil || err2 != nil || !storable(p) || !storable(s) || len(parts[2]) < 32 {
		return "", "", "", false
	}
	return string(p), string(s), parts[2], true
}

// storable reports whether id can be an id the stores hold as text.
func storable(id []byte) bool {
	return len(id) > 0 && utf8.Valid(id) && bytes.IndexByte(id, 0) < 0
}
