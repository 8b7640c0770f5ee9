// Package console is central's review console: the web application the
// central admins, reviewers and auditors work in, served by kyc-central
// under /console/ (Server.MountConsole: on a listener of its own with
// kyc-central serve --console-addr). Pages are server-rendered html/template
// (no SPA; everything works without JavaScript, which only adds zoom,
// charts and small conveniences), with sources in web/ embedded in the
// binary.
//
// # Adding a page
//
// A page is a handler registered in New (or in a register function New
// calls) with c.route, and a template file in web/templates:
//
//	c.route("GET /console/devices", central.RoleAuditor, c.devicesPage)
//	c.route("POST /console/devices/{id}/revoke", central.RoleAdmin, c.revokeDevice)
//
//	func (c *Console) devicesPage(w http.ResponseWriter, r *http.Request, v *Viewer) error {
//		ds, err := c.cfg.Store.Devices(r.Context())
//		if err != nil {
//			return fmt.Errorf("listing devices: %w", err) // 500, cause logged
//		}
//		return c.render(w, r, v, http.StatusOK, "devices.html", ds)
//	}
//
// A new route also goes into the access-control table of TestRouteAccess
// (security_test.go), which fails on a route it does not know.
//
// route does the checks every page needs before the handler runs: a
// signed-in, fully authenticated (password and TOTP) user whose role is at
// least the minimum (admin > reviewer > auditor), else the sign-in page or
// 403; on every POST the session's CSRF token (hidden form field "csrf";
// for multipart forms, the query parameter "csrf" of the form's action;
// only routes in multipartRoutes take one),
// besides http.CrossOriginProtection on the whole console. Scope (the
// branches a user works on) depends on the object, so handlers check it:
// c.checkScope(ctx, v, deviceID) answers 404 for a device outside v's
// scope, c.scopedDevices lists the devices v sees.
//
// Handlers return errors: fail(status, code) for what the user should read
// (code is looked up as "err.<code>" in the message catalogues), a plain
// error for a 500 whose cause is logged and never shown. After a POST,
// redirect with c.seeOther(w, r, path, "msg.key") (post/redirect/get; the
// key is shown as a notice on the next page).
//
// A template file defines "title" and "content" (and optionally "head"
// for extra <link>/<script> tags); the layout (layout.html) gives the
// header, nav, language switch, user menu and the main landmark. Inside,
// the page data is .Data, the viewer .V (nil on public pages), the CSRF
// token .CSRF (put {{template "csrf" .}} in every POST form), and every
// visible string goes through {{T "key"}} (or {{T "key" arg...}}, a
// fmt.Sprintf format) with the key in both web/i18n/en.json and id.json
// (TestCatalogues checks that). Extra template functions are listed in
// templateFuncs.
//
// Every change writes an audit event (Actor v.Actor(), a Subject, Before
// and After): through Store.UpdateReview for cases, with c.audit after the
// change otherwise. Reads of personal data are audited too.
//
// # What reviewers work with
//
// Queue: each submission's payload stays sealed; at ingest central takes
// its non-personal Summary (engine decision, score, reason codes, document
// type, country, session, hit count: central.Summarize) and the stores
// keep it in the clear and indexed (bbolt: a queue bucket keyed by
// received time whose filters compare bytes; PostgreSQL: columns with a
// covering index). Search by NIK, document number or name goes through the
// blind index (package seal).
//
// Cases: a case view lists the same person elsewhere, the submissions
// sharing its NIK or document number found through the same blind index
// and compared with it in memory (linked.go). Its capture time is the
// device's claim, labelled so; a device clock central's own times prove
// wrong (central.ClockSkew) is flagged in words. A review is claimed before
// it is decided (two reviewers cannot hold one case); each change goes
// through Store.UpdateReview, one transaction that versions the review,
// gives it a store-wide Seq and appends its audit event. Any decision on
// an escalated case, an approval over screening hits, a reject of a
// high-score case, or any decision with a confirmed screening hit, waits
// in second_review for a different reviewer (four eyes; needsFourEyes).
// Devices fetch decisions with GET /v1/reviews?after=SEQ, and see nothing
// of one waiting (central.Review.Public).
//
// People: accounts come from `kyc-central user add` (password on stdin);
// TOTP is enrolled at first sign-in. Scopes are branches (a device's branch
// comes from its enrolment token): a case outside the scope is 404, a
// change by an auditor 403.
package console

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/auth"
	"github.com/openkyc/kyc/sync/central/httpx"
)

//go:embed web/templates web/static web/i18n all:web/dist
var webFS embed.FS

// Prefix is where the console is mounted.
const Prefix = "/console/"

// Defaults for Config's zero values.
const (
	// DefaultFourEyesScore: a reject of a case whose engine score is at
	// least this needs a second reviewer (the score is confidence, 100
	// fully trustworthy: such a reject goes against the evidence).
	DefaultFourEyesScore = 70
	// DefaultMaxDecodes is how many images the console decodes at once
	// (a portrait cut, an error level analysis): each holds the image's
	// bytes (up to protocol.MaxImageSize) and its pixels (up to
	// maxDecodePixels), so a reviewer's many tabs queue instead of
	// exhausting memory.
	DefaultMaxDecodes = 2
	// DefaultDecodeWait is how long a request waits for a decode before
	// it is answered 503 "decode_busy" with a Retry-After.
	DefaultDecodeWait = 10 * time.Second
	// DefaultVerifyCooldown is how long after the start of a walk of the
	// audit chain asked for in the console the next may start on any
	// instance sharing the store (or ten times the walk's time after its
	// end, if later): one walk at a time alone would let an auditor, or a
	// stolen session, walk it back to back, each a full scan of the
	// trail. Central's own check runs on its schedule regardless.
	DefaultVerifyCooldown = time.Minute
	// deviceCacheTTL is how long the device list (for branch scopes) is
	// reused: a device moved to another branch is seen by scopes within it.
	deviceCacheTTL = 5 * time.Second
)

// Config configures a Console.
type Config struct {
	// Store is central's store (sealed: seal.Store, so payloads and
	// images read back in the clear); required.
	Store central.Store
	// Central is the running server, for the operations the admin pages
	// call (enrolment tokens, erasure, sweeps, fingerprint); nil in tests
	// of pages that need none (those pages answer 503).
	Central *central.Server
	// Partners changes partners for the partners page (the partner API,
	// which audits); nil shows the page read-only and answers its
	// changes 503.
	Partners PartnerAdmin
	// Index turns a NIK, document number or name into its blind-index
	// token (seal.Store.Token); nil disables search by person.
	Index func(kind central.IdentifierKind, value string) ([]byte, bool)
	// SecretKey (32 bytes) seals the TOTP secrets in the store; required.
	// kyc-central keeps it in DATA/console.key.
	SecretKey []byte
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives the console's log; nil discards it.
	Logger *slog.Logger
	// Secure marks cookies Secure with the __Host- prefix: set it when
	// central serves HTTPS (a browser drops Secure cookies over http).
	Secure bool
	// FourEyesScore: see DefaultFourEyesScore.
	FourEyesScore float64
	// Issuer names the TOTP account in authenticator apps.
	Issuer string
	// MaxDecodes and DecodeWait: see DefaultMaxDecodes and
	// DefaultDecodeWait.
	MaxDecodes int
	DecodeWait time.Duration
	// VerifyCooldown: see DefaultVerifyCooldown.
	VerifyCooldown time.Duration
}

// Console is the review console: New builds it, Handler serves it.
type Console struct {
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	handler http.Handler
	resp    *httpx.Responder
	sealer  *auth.Sealer
	tmpl    map[string]map[string]*template.Template // lang → file → page
	cat     catalogues
	addrs   *httpx.Budget // sign-in failures per client address (in the store: instances share it)
	// pairs are sign-in failures per account and client address, in the
	// store: auth.MaxFailures at once, then one per auth.LockDuration, so
	// the last of them locks the pair for LockDuration.
	pairs *httpx.Budget
	// standIn is an account's name, whose record a refused sign-in of a
	// name that is nobody's rewrites as it is (signInFailure): the write
	// a known name's refusal makes, so both take the same time.
	standMu sync.Mutex
	standIn string
	// nameKey keys the names in the pairs' keys (pairKey): a name as
	// typed may be a password typed into the wrong field.
	nameKey []byte
	signIns *httpx.Slots // the sign-ins checking a password now (signInSlots)
	// passed are the accepted password steps per account, in the store
	// (passedBurst): each opens a stored pending session.
	passed  *httpx.Budget
	decodes *httpx.Slots // the images being decoded now (Config.MaxDecodes)
	// verifies is the one walk of the audit chain at a time (auditVerify).
	verifies *httpx.Slots
	// bulkReads are the dashboards and exports running now (bulkRead).
	bulkReads *httpx.Slots
	// patterns are the registered route patterns, so a test can check
	// that its access-control table covers every one.
	patterns []string

	devMu   sync.Mutex
	devAt   time.Time
	devByID map[string]central.Device
}

// New returns a Console with every page registered.
func New(cfg Config) (*Console, error) {
	if cfg.Store == nil {
		return nil, errors.New("console: Config needs a Store")
	}
	sealer, err := auth.NewSealer(cfg.SecretKey)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.FourEyesScore <= 0 {
		cfg.FourEyesScore = DefaultFourEyesScore
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "OpenKYC central"
	}
	if cfg.MaxDecodes <= 0 {
		cfg.MaxDecodes = DefaultMaxDecodes
	}
	if cfg.DecodeWait <= 0 {
		cfg.DecodeWait = DefaultDecodeWait
	}
	if cfg.VerifyCooldown <= 0 {
		cfg.VerifyCooldown = DefaultVerifyCooldown
	}
	c := &Console{
		cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), sealer: sealer,
		addrs:    httpx.NewBudget(cfg.Store, "console-signin", addrFailBurst, addrFailInterval, cfg.Now),
		pairs:    httpx.NewBudget(cfg.Store, "console-signin-pair", auth.MaxFailures, auth.LockDuration, cfg.Now),
		nameKey:  derivedKey(cfg.SecretKey, "console sign-in pair names"),
		signIns:  httpx.NewSlots(signInSlots),
		passed:   httpx.NewBudget(cfg.Store, "console-signin-passed", passedBurst, auth.PendingTimeout/passedBurst, cfg.Now),
		decodes:  httpx.NewSlots(cfg.MaxDecodes),
		verifies: httpx.NewSlots(1),

		bulkReads: httpx.NewSlots(bulkReadSlots),
	}
	c.resp = &httpx.Responder{Log: c.log, Rules: errorRules}
	// A stand-in from the start, if there is an account: else the first
	// refusal of an unknown name reads the accounts (standInName).
	if us, err := cfg.Store.Users(context.Background()); err == nil && len(us) > 0 {
		c.standIn = us[0].Name
	}
	if c.cat, err = loadCatalogues(); err != nil {
		return nil, err
	}
	if c.tmpl, err = c.parseTemplates(); err != nil {
		return nil, err
	}
	c.routes()
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.errorPage(w, r, nil, fail(http.StatusForbidden, "csrf"))
	}))
	// headers wraps the cross-origin check too, so its 403 page carries
	// the same security headers as every other answer.
	c.handler = c.headers(cop.Handler(c.mux))
	return c, nil
}

// Handler serves the console; mount it at Prefix.
func (c *Console) Handler() http.Handler { return c.handler }

// Sign-in failures per client address, whatever the accounts: after the
// burst, one per interval (the lockouts per account and address, and per
// account, are auth's).
const (
	addrFailBurst    = 20
	addrFailInterval = 30 * time.Second
)

// routes registers every page; pages in other files register from here.
func (c *Console) routes() {
	static, _ := fs.Sub(webFS, "web/static")
	dist, _ := fs.Sub(webFS, "web/dist")
	c.handle("GET /console/static/", http.StripPrefix("/console/static/", assets(static)))
	c.handle("GET /console/dist/", http.StripPrefix("/console/dist/", assets(dist)))
	c.handle("GET /console/{$}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/queue", http.StatusSeeOther)
	}))
	// Anything else under /console/ is the console's own 404 page.
	c.handle("/console/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, _ := c.viewer(w, r)
		c.errorPage(w, r, v, fail(http.StatusNotFound, "not_found"))
	}))
	c.routeSignIn()  // signin.go
	c.routeReview()  // queue.go, case.go
	c.routeAudit()   // audit.go
	c.routeAccount() // account.go
	c.routeAdmin()   // admin_*.go
}

// handle registers h on the console's mux and records its pattern.
func (c *Console) handle(pattern string, h http.Handler) {
	c.patterns = append(c.patterns, pattern)
	c.mux.Handle(pattern, h)
}

// assets serves embedded static files; they carry no personal data and are
// versioned by the binary, so a short cache is enough.
func assets(fsys fs.FS) http.Handler {
	fh := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Files only: no directory listings (ASVS 12.5.1).
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		if f, err := fsys.Open(path.Clean(r.URL.Path)); err == nil {
			st, err := f.Stat()
			f.Close()
			if err == nil && st.IsDir() {
				http.NotFound(w, r)
				return
			}
		}
		w.Header().Set("Cache-Control", "public, max-age=300")
		if ct := mime.TypeByExtension(path.Ext(r.URL.Path)); ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		fh.ServeHTTP(w, r)
	})
}

// headers sets what every console answer carries: no caching (pages show
// personal data), a strict content security policy (no inline script or
// style; images from the console and data: URLs for QR codes), no framing.
func (c *Console) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		// No page needs a camera, microphone, location or the like.
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if c.cfg.Secure {
			// Served over HTTPS: browsers keep to it (ASVS 14.4.5).
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// errorRules give sentinel errors their face in the console.
var errorRules = []httpx.Rule{
	{Err: central.ErrNotFound, Status: http.StatusNotFound, Code: "not_found", Message: "not found"},
	{Err: central.ErrClaimed, Status: http.StatusConflict, Code: "claimed", Message: "the case is claimed by another reviewer"},
	{Err: central.ErrStale, Status: http.StatusConflict, Code: "stale", Message: "the case changed meanwhile"},
	{Err: context.Canceled, Status: 499, Code: "canceled", Message: "the client went away"},
}

// fail is an error the user reads: status and a code whose message is
// "err.<code>" in the catalogues.
func fail(status int, code string) error {
	return &httpx.Error{Status: status, Code: code, Message: code}
}

// globalSetting refuses a change to what every branch shares (the risk
// settings, the watchlists) to an admin scoped to some branches: it would
// decide other branches' cases, and the risk preview reads their
// submissions.
func globalSetting(v *Viewer) error {
	if len(v.User.Scopes) > 0 {
		return fail(http.StatusForbidden, "global_scope")
	}
	return nil
}

// handlerFunc is a console page or action for a signed-in viewer.
type handlerFunc func(w http.ResponseWriter, r *http.Request, v *Viewer) error

// Viewer is the signed-in user of a request.
type Viewer struct {
	User    central.User
	Session central.ConsoleSession
	Lang    string
}

// Actor names the viewer in audit events.
func (v *Viewer) Actor() string { return "user:" + v.User.Name }

// Can reports whether the viewer's role is at least min.
func (v *Viewer) Can(min central.Role) bool { return auth.AtLeast(v.User.Role, min) }

// route registers h for pattern (a ServeMux pattern with its method, under
// /console/) for users whose role is at least min. See the package doc.
func (c *Console) route(pattern string, min central.Role, h handlerFunc) {
	c.handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := c.viewer(w, r)
		if err != nil {
			c.errorPage(w, r, nil, err)
			return
		}
		if v == nil { // not signed in
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, "/console/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.errorPage(w, r, nil, fail(http.StatusUnauthorized, "signin"))
			return
		}
		if !v.Can(min) {
			c.errorPage(w, r, v, fail(http.StatusForbidden, "forbidden"))
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if err := c.checkCSRF(w, r, v.Session.CSRF); err != nil {
				c.errorPage(w, r, v, err)
				return
			}
		}
		if !storable(r.URL.Path) { // its ids name nothing
			c.errorPage(w, r, v, fail(http.StatusNotFound, "not_found"))
			return
		}
		if err := h(w, r, v); err != nil {
			c.errorPage(w, r, v, err)
		}
	}))
}

// public registers a page that needs no session (sign-in); it gets a nil
// Viewer. POSTs are checked against the pre-session CSRF cookie.
func (c *Console) public(pattern string, h handlerFunc) {
	c.handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			if ck, err := r.Cookie(c.cookieName(preCookie)); err != nil || ck.Value == "" {
				tok := randomToken()
				c.setCookie(w, preCookie, tok, 0)
				r.AddCookie(&http.Cookie{Name: c.cookieName(preCookie), Value: tok})
			}
		} else {
			ck, err := r.Cookie(c.cookieName(preCookie))
			if err != nil || ck.Value == "" {
				c.errorPage(w, r, nil, fail(http.StatusForbidden, "csrf"))
				return
			}
			if err := c.checkCSRF(w, r, ck.Value); err != nil {
				c.errorPage(w, r, nil, err)
				return
			}
		}
		if err := h(w, r, nil); err != nil {
			c.errorPage(w, r, nil, err)
		}
	}))
}

// storable reports whether each of ss is text the stores keep: UTF-8
// without NUL. No id, name or filter the console looks up is anything
// else, and PostgreSQL answers a query holding it with an error, not a
// miss: a 500 logged as central's own failure.
func storable(ss ...string) bool {
	for _, s := range ss {
		if !central.StorableText(s) {
			return false
		}
	}
	return true
}

// maxForm bounds a urlencoded form body.
const maxForm = 256 << 10

// multipartRoutes are the only routes that take a multipart form: the
// watchlist upload, which bounds and streams its own body. Anywhere else
// reading a form field would make net/http parse a multipart body, keeping
// up to 32 MB in memory and spooling its files to disk without limit, so
// any signed-in user (or, on the sign-in form, anyone) could fill the
// server's disk.
var multipartRoutes = map[string]bool{"POST /console/lists": true}

// checkCSRF compares the request's "csrf" field (the query parameter for a
// multipart form, whose body the handler streams) with want.
func (c *Console) checkCSRF(w http.ResponseWriter, r *http.Request, want string) error {
	var got string
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "multipart/form-data" {
		if !multipartRoutes[r.Pattern] {
			return fail(http.StatusUnsupportedMediaType, "bad_request")
		}
		got = r.URL.Query().Get("csrf")
	} else {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				return fail(http.StatusRequestEntityTooLarge, "too_large")
			}
			return fail(http.StatusBadRequest, "bad_request")
		}
		got = r.PostFormValue("csrf")
	}
	if want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return fail(http.StatusForbidden, "csrf")
	}
	return nil
}

// Cookie names; with Config.Secure they take the __Host- prefix, which
// pins them to this origin, path / and HTTPS.
const (
	sessionCookie = "kyc_session"
	preCookie     = "kyc_presession" // the CSRF token of the sign-in forms
	langCookie    = "kyc_lang"
)

func (c *Console) cookieName(name string) string {
	if c.cfg.Secure {
		return "__Host-" + name
	}
	return name
}

// setCookie sets a console cookie; maxAge 0 makes a session cookie, a
// negative one deletes it.
func (c *Console) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: c.cookieName(name), Value: value, Path: "/", MaxAge: maxAge,
		Secure: c.cfg.Secure, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
}

// pollHeader marks a request a page's script makes by itself (the
// privacy page's poll while an erasure is under way), not the user: it
// does not renew the session's idle time, so a browser left on such a
// page still signs out at auth.IdleTimeout.
const pollHeader = "X-Console-Poll"

// viewer returns the signed-in user of r, nil when there is none (no
// cookie, unknown, expired or pending session, disabled account). It
// renews the session's idle time, writing at most once a minute, unless r
// is a script's poll (pollHeader).
func (c *Console) viewer(w http.ResponseWriter, r *http.Request) (*Viewer, error) {
	sess, ok, err := c.session(r)
	if err != nil || !ok || sess.Pending {
		return nil, err
	}
	ctx := r.Context()
	u, err := c.cfg.Store.User(ctx, sess.User)
	if errors.Is(err, central.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the session's user: %w", err)
	}
	if u.Disabled {
		_ = c.cfg.Store.DeleteSession(ctx, sess.Hash)
		return nil, nil
	}
	now := c.cfg.Now()
	if now.Sub(sess.SeenAt) > time.Minute && r.Header.Get(pollHeader) == "" {
		sess.SeenAt = now.UTC()
		err := c.cfg.Store.TouchSession(ctx, sess.Hash, sess.SeenAt)
		if errors.Is(err, central.ErrNotFound) { // signed out meanwhile
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("renewing the session: %w", err)
		}
	}
	return &Viewer{User: u, Session: sess, Lang: c.lang(r, u.Lang)}, nil
}

// session returns the session of r's cookie, pending or not, if it is
// live at now (auth.Live: idle and absolute timeouts).
func (c *Console) session(r *http.Request) (central.ConsoleSession, bool, error) {
	ck, err := r.Cookie(c.cookieName(sessionCookie))
	if err != nil || ck.Value == "" {
		return central.ConsoleSession{}, false, nil
	}
	now := c.cfg.Now()
	sess, err := c.cfg.Store.Session(r.Context(), auth.HashToken(ck.Value), now)
	if errors.Is(err, central.ErrNotFound) {
		return sess, false, nil
	}
	if err != nil {
		return sess, false, fmt.Errorf("reading the session: %w", err)
	}
	if !auth.Live(sess, now) {
		_ = c.cfg.Store.DeleteSession(r.Context(), sess.Hash)
		return sess, false, nil
	}
	return sess, true, nil
}

// audit appends an audit event for a console action by v (for changes not
// made through UpdateReview, which appends its own). before and after are
// marshalled to JSON (nil leaves them out).
func (c *Console) audit(ctx context.Context, v *Viewer, action, subject string, before, after any) error {
	e := central.AuditEvent{ID: httpx.NewRequestID(), At: c.cfg.Now().UTC(), Action: action, Subject: subject, Count: 1}
	if v != nil {
		e.Actor = v.Actor()
	}
	var err error
	if e.Before, err = rawJSON(before); err != nil {
		return err
	}
	if e.After, err = rawJSON(after); err != nil {
		return err
	}
	if err := c.cfg.Store.AppendAudit(ctx, e); err != nil {
		return fmt.Errorf("recording audit event %s: %w", action, err)
	}
	return nil
}

func rawJSON(v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	if raw, ok := v.(json.RawMessage); ok {
		return raw, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding audit state: %w", err)
	}
	return b, nil
}

// devices returns the enrolled devices by id, and the hosted flow's
// pseudo-device of each branch, from a cache of at most deviceCacheTTL:
// the queue needs branches on every page view.
func (c *Console) devices(ctx context.Context) (map[string]central.Device, error) {
	c.devMu.Lock()
	defer c.devMu.Unlock()
	now := time.Now()
	if c.devByID != nil && now.Sub(c.devAt) < deviceCacheTTL {
		return c.devByID, nil
	}
	ds, err := c.cfg.Store.Devices(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing devices: %w", err)
	}
	ps, err := c.cfg.Store.PartnersList(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing partners: %w", err)
	}
	m := make(map[string]central.Device, len(ds))
	// The hosted flow's pseudo-device of each branch (central.HostedDevice)
	// scopes its cases like a device of that branch.
	hosted := func(branch string) {
		if branch != "" {
			id := central.HostedDevice(branch)
			m[id] = central.Device{ID: id, Branch: branch}
		}
	}
	for _, d := range ds {
		hosted(d.Branch)
	}
	for _, p := range ps {
		for _, b := range p.Branches {
			hosted(b)
		}
	}
	for _, d := range ds {
		m[d.ID] = d
	}
	c.devByID, c.devAt = m, now
	return m, nil
}

// forgetDevices drops the device cache (after a change to a device).
func (c *Console) forgetDevices() {
	c.devMu.Lock()
	c.devByID = nil
	c.devMu.Unlock()
}

// checkScope answers 404 (as for a case that does not exist, so a scope
// reveals nothing) when deviceID's branch is outside v's scope.
func (c *Console) checkScope(ctx context.Context, v *Viewer, deviceID string) error {
	if len(v.User.Scopes) == 0 {
		return nil
	}
	ds, err := c.devices(ctx)
	if err != nil {
		return err
	}
	d, ok := ds[deviceID]
	if !ok || !v.User.InScope(d.Branch) {
		return fail(http.StatusNotFound, "not_found")
	}
	return nil
}

// scopedDevices returns the ids of the devices in v's scope; all is true
// when v's scope is every branch (ids is then nil).
func (c *Console) scopedDevices(ctx context.Context, v *Viewer) (ids []string, all bool, err error) {
	if len(v.User.Scopes) == 0 {
		return nil, true, nil
	}
	ds, err := c.devices(ctx)
	if err != nil {
		return nil, false, err
	}
	for id, d := range ds {
		if v.User.InScope(d.Branch) {
			ids = append(ids, id)
		}
	}
	return ids, false, nil
}

// seeOther redirects after a POST to target (a /console/ path), with the
// notice msg (a catalogue key, or "") shown there.
func (c *Console) seeOther(w http.ResponseWriter, r *http.Request, target, msg string) error {
	if msg != "" {
		sep := "?"
		if strings.Contains(target, "?") {
			sep = "&"
		}
		target += sep + "msg=" + url.QueryEscape(msg)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
	return nil
}

// localTarget keeps a redirect target on the console (a "next" parameter
// from the client must not send the browser elsewhere). A prefix check is
// not enough: http.Redirect cleans the path, so "/console/../\evil" or
// "/console/../<TAB>/evil" become "/\evil" and "/<TAB>/evil", which a
// browser (reading a backslash as a slash and dropping tabs and newlines)
// follows to //evil, another host. So: no control characters or
// backslashes at all, a plain path (no scheme, host or user) that starts
// with the prefix, and still does after cleaning.
func localTarget(next string) string {
	const fallback = "/console/queue"
	for _, r := range next {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return fallback
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		!strings.HasPrefix(next, Prefix) || strings.HasPrefix(next, "//") {
		return fallback
	}
	if p := path.Clean(u.Path); !strings.HasPrefix(p+"/", Prefix) {
		return fallback
	}
	return next
}

// randomToken is 32 random bytes, base64url.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// page is what every template gets.
type page struct {
	V    *Viewer // nil on public pages
	Lang string
	CSRF string
	Path string
	Nav  []navEntry
	Msg  string // a catalogue key from ?msg= (only "msg." keys)
	Data any
}

// navEntry is one link of the header's navigation.
type navEntry struct {
	Href, Key string
	Min       central.Role
	Current   bool
}

// nav is the header's navigation, each entry shown to roles of at least
// Min.
var nav = []navEntry{
	{Href: "/console/queue", Key: "nav.queue", Min: central.RoleAuditor},
	{Href: "/console/dashboard", Key: "nav.dashboard", Min: central.RoleAuditor},
	{Href: "/console/devices", Key: "nav.devices", Min: central.RoleAuditor},
	{Href: "/console/partners", Key: "nav.partners", Min: central.RoleAdmin},
	{Href: "/console/lists", Key: "nav.lists", Min: central.RoleAdmin},
	{Href: "/console/risk", Key: "nav.risk", Min: central.RoleAdmin},
	{Href: "/console/privacy", Key: "nav.privacy", Min: central.RoleAdmin},
	{Href: "/console/audit", Key: "nav.audit", Min: central.RoleAuditor},
}

// render writes the template file tmpl (in web/templates) inside the
// layout, with data as .Data, in v's language.
func (c *Console) render(w http.ResponseWriter, r *http.Request, v *Viewer, status int, tmpl string, data any) error {
	lang := c.lang(r, "")
	p := page{Lang: lang, Path: r.URL.Path, Data: data}
	if v != nil && v.Session.Pending { // a sign-in step: no menus yet
		p.Lang, p.CSRF = v.Lang, v.Session.CSRF
	} else if v != nil {
		p.V, p.Lang, p.CSRF = v, v.Lang, v.Session.CSRF
		for _, e := range nav {
			if v.Can(e.Min) {
				e.Current = strings.HasPrefix(r.URL.Path, e.Href)
				p.Nav = append(p.Nav, e)
			}
		}
	} else if ck, err := r.Cookie(c.cookieName(preCookie)); err == nil {
		p.CSRF = ck.Value
	}
	if m := r.URL.Query().Get("msg"); strings.HasPrefix(m, "msg.") && c.cat.has(m) {
		p.Msg = m
	}
	t := c.tmpl[p.Lang][tmpl]
	if t == nil {
		return fmt.Errorf("console: no template %q", tmpl)
	}
	// Render to a buffer so that a template error is a clean 500, not
	// half a page.
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		return fmt.Errorf("rendering %s: %w", tmpl, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// errorPage renders err: its public status and message (the catalogue's
// "err.<code>"), with the request id; the cause goes to the log only.
func (c *Console) errorPage(w http.ResponseWriter, r *http.Request, v *Viewer, err error) {
	e := c.resp.Public(err)
	id := httpx.RequestID(r.Context())
	lvl := slog.LevelDebug
	attrs := []slog.Attr{slog.String("request_id", id), slog.String("method", r.Method), slog.String("route", r.Pattern),
		slog.Int("status", e.Status), slog.String("code", e.Code)}
	if e.Cause != nil {
		attrs = append(attrs, slog.String("cause", e.Cause.Error()))
		lvl = slog.LevelInfo
	}
	if e.Status >= 500 {
		lvl = slog.LevelError
	}
	c.log.LogAttrs(r.Context(), lvl, "console request failed", attrs...)
	if errors.Is(err, httpx.ErrCut) {
		panic(http.ErrAbortHandler) // the answer has begun: cut it off
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int(max(1, e.RetryAfter/time.Second))))
	}
	key := "err." + e.Code
	if !c.cat.has(key) {
		key = "err.internal"
		if e.Status < 500 {
			key = "err.generic"
		}
	}
	data := struct {
		Status    int
		Key       string
		RequestID string
	}{e.Status, key, id}
	if rerr := c.render(w, r, v, e.Status, "error.html", data); rerr != nil {
		c.log.LogAttrs(r.Context(), slog.LevelError, "rendering the error page", slog.String("request_id", id), slog.String("cause", rerr.Error()))
		http.Error(w, http.StatusText(e.Status), e.Status)
	}
}

// templateFuncs are the functions every template has, besides T (bound
// per language), the page files' included.
var templateFuncs = template.FuncMap{
	"fmtTime": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"fmtDate": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02")
	},
	"pct":   func(f float64) string { return fmt.Sprintf("%.0f%%", f*100) },
	"add":   func(a, b int) int { return a + b },
	"join":  strings.Join,
	"short": shortID,
	// the case page's (case.go)
	"evidence": evidenceText,
	"mul100":   func(f float64) float64 { return f * 100 },
	"caseHref": caseHref,
	// the admin pages' (admin_*.go)
	"admAge":        admAge,
	"admMS":         admMS,
	"admNum":        admTrim,
	"exportHref":    exportHref,
	"retentionDays": retentionDays,
	"sweepCounts":   sweepCounts,
}

// parseTemplates builds, for each language, every page file in
// web/templates on its own copy of the layout (so pages can each define
// "title" and "content").
func (c *Console) parseTemplates() (map[string]map[string]*template.Template, error) {
	files, err := fs.Glob(webFS, "web/templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]*template.Template{}
	for _, lang := range languages {
		funcs := template.FuncMap{"T": c.cat.translator(lang)}
		for k, f := range templateFuncs {
			funcs[k] = f
		}
		base, err := template.New("layout.html").Funcs(funcs).ParseFS(webFS, "web/templates/layout.html")
		if err != nil {
			return nil, fmt.Errorf("console: parsing the layout: %w", err)
		}
		out[lang] = map[string]*template.Template{}
		for _, f := range files {
			name := path.Base(f)
			if name == "layout.html" {
				continue
			}
			t, err := base.Clone()
			if err == nil {
				t, err = t.ParseFS(webFS, f)
			}
			if err != nil {
				return nil, fmt.Errorf("console: parsing %s: %w", name, err)
			}
			out[lang][name] = t
		}
	}
	return out, nil
}

// derivedKey is a key for one purpose derived from the console's secret
// key: HMAC-SHA256 of the purpose.
func derivedKey(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}
