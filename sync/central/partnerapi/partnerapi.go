package partnerapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
	"github.com/openkyc/kyc/sync/protocol"
)

// Defaults for Config's zero values.
const (
	// DefaultTokenTTL is a partner token's life.
	DefaultTokenTTL = time.Hour
	// DefaultTokenReuse: Generate Partner Token hands out the partner's
	// current token again while it has more than this left, so a partner
	// calling it before every request keeps one token, and never gets one
	// about to expire mid-request.
	DefaultTokenReuse = 5 * time.Minute
	// DefaultKeyOverlap is how long a rotated-out pass key or webhook
	// secret stays valid beside the new one.
	DefaultKeyOverlap = 24 * time.Hour
	// DefaultPartnerRate and DefaultPartnerBurst are a partner's calls a
	// second and their burst (Config.PartnerRate), Stripe's default rate:
	// far above what an integration needs (a session takes a handful of
	// calls), low enough that one partner's runaway loop cannot take
	// central from the others.
	DefaultPartnerRate  = 100
	DefaultPartnerBurst = 200
	// DefaultImageLinkTTL is how long a submission image link works.
	DefaultImageLinkTTL = 15 * time.Minute
	// MaxOverlap bounds an overlap an admin asks for.
	MaxOverlap = 30 * 24 * time.Hour
)

// Failure budget per client address for partner authentication (wrong
// client id or pass key, unknown token): after the burst, one more failure
// per interval; past it, 429 with Retry-After.
const (
	authFailBurst    = 20
	authFailInterval = 3 * time.Second
)

// maxBody bounds a JSON request body of the API (Face Match has its own).
const maxBody = 64 << 10

// Config configures the partner API.
type Config struct {
	// Store is central's store, sealed (seal.Store) so payloads and images
	// read back in the clear; required.
	Store central.Store
	// SecretKey (32 bytes at least) is the partner API's master secret:
	// the pass-key hash key, the token and launch-token derivation keys,
	// the image-link signing key and the webhook-secret sealing key are
	// derived from it (HKDF-SHA256); required. kyc-central keeps it in
	// DATA/partner.key.
	SecretKey []byte
	// PublicURL is central's base URL as partners' users reach it (launch
	// URLs and links are built on it), e.g. https://kyc.example.com.
	PublicURL string
	// FaceMatcher runs the Face Match API; nil answers 503.
	FaceMatcher FaceMatcher
	// Client sends central's own requests to partners (the
	// reference-image endpoint); nil means one on the system roots that
	// follows no redirect (a 3xx is a failure). Its Timeout, if any, is
	// kept; each partner's own timeout applies anyway.
	Client *http.Client
	// Routes add routes of other packages (webhooks): see the package doc.
	Routes []func(Router)
	// HostedFlow means the hosted capture flow (package hostedflow) serves
	// /flow/, the launch URLs included: Mount then leaves /flow/ alone.
	// Without it the launch URL answers with a minimal status page.
	HostedFlow bool
	// TokenTTL, TokenReuse, KeyOverlap and ImageLinkTTL: see their defaults.
	TokenTTL     time.Duration
	TokenReuse   time.Duration
	KeyOverlap   time.Duration
	ImageLinkTTL time.Duration
	// FaceMatchTurns bounds the Face Match requests this instance runs at
	// once; 0 means one per core (the engine's own default). The others
	// wait for a turn in memory, their bodies unread and holding no store
	// connection, for up to
	// FaceMatchWait (0: DefaultFaceMatchWait), then get 503
	// face_match_busy. One partner holds at most FaceMatchShare of the
	// turns (0: half of them, at least one; never more than all). Once a
	// request has its turn its whole body must arrive within
	// FaceMatchBodyTime (0: DefaultFaceMatchBodyTime), else 408 timeout
	// and the turn goes to the next.
	FaceMatchTurns    int
	FaceMatchShare    int
	FaceMatchWait     time.Duration
	FaceMatchBodyTime time.Duration
	// PartnerRate bounds each partner's authenticated calls, whichever
	// the endpoint, in the store (shared by instances); beyond it, 429
	// rate_limited with Retry-After. Zero means DefaultPartnerRate and
	// DefaultPartnerBurst. Face Match has its own limit besides.
	PartnerRate RateLimit
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives the API's log; nil discards it.
	Logger *slog.Logger
}

// API is the partner API: New builds it, Mount serves it.
type API struct {
	cfg   Config
	log   *slog.Logger
	mux   *http.ServeMux
	resp  *httpx.Responder
	keys  keys
	fails *httpx.Budget // failed authentications per address, in the store
	// known are the credentials lately found right here (knownCreds).
	known *knownCreds
	base  *url.URL
	// client is Config.Client or the default (see Config.Client).
	client *http.Client
}

// New returns the API with its routes (the admin ones are registered on
// the server by Mount).
func New(cfg Config) (*API, error) {
	if cfg.Store == nil {
		return nil, errors.New("partnerapi: Config needs a Store")
	}
	k, err := deriveKeys(cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.TokenTTL, DefaultTokenTTL)
	def(&cfg.TokenReuse, DefaultTokenReuse)
	def(&cfg.KeyOverlap, DefaultKeyOverlap)
	def(&cfg.ImageLinkTTL, DefaultImageLinkTTL)
	def(&cfg.FaceMatchWait, DefaultFaceMatchWait)
	def(&cfg.FaceMatchBodyTime, DefaultFaceMatchBodyTime)
	if !(cfg.PartnerRate.PerSecond > 0) || cfg.PartnerRate.Burst < 1 {
		cfg.PartnerRate = RateLimit{PerSecond: DefaultPartnerRate, Burst: DefaultPartnerBurst}
	}
	if cfg.FaceMatchTurns <= 0 {
		cfg.FaceMatchTurns = runtime.NumCPU()
	}
	if cfg.FaceMatchShare <= 0 {
		cfg.FaceMatchShare = max(cfg.FaceMatchTurns/2, 1)
	}
	cfg.FaceMatchShare = min(cfg.FaceMatchShare, cfg.FaceMatchTurns)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = "https://127.0.0.1:8443"
	}
	base, err := url.Parse(strings.TrimSuffix(cfg.PublicURL, "/"))
	if err != nil || base.Host == "" || (base.Scheme != "https" && base.Scheme != "http") {
		return nil, fmt.Errorf("partnerapi: PublicURL %q is not an http(s) URL", cfg.PublicURL)
	}
	a := &API{
		cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), keys: k, base: base,
		fails: httpx.NewBudget(cfg.Store, "partner-auth", authFailBurst, authFailInterval, cfg.Now), client: cfg.Client,
		known: &knownCreds{m: map[string]time.Time{}},
	}
	if a.client == nil {
		a.client = &http.Client{
			Transport:     httpx.OutboundTransport(), // the reference-image endpoint
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	a.resp = &httpx.Responder{Log: a.log, Rules: errorRules}
	return a, nil
}

// errorRules give sentinel errors their public face.
var errorRules = []httpx.Rule{
	{Err: central.ErrNotFound, Status: http.StatusNotFound, Code: "not_found", Message: "not found"},
	{Err: central.ErrIdempotency, Status: http.StatusUnprocessableEntity, Code: "idempotency_key_reused",
		Message: "this Idempotency-Key was used with a different request"},
	{Err: context.Canceled, Status: 499, Code: "canceled", Message: "the client went away"},
}

// Router registers routes of the partner API (see the package doc).
type Router interface {
	// Partner registers h behind the partner token (PartnerFrom gives
	// the partner).
	Partner(pattern string, h httpx.HandlerFunc)
	// Admin registers h behind the admin bearer token (nothing when the
	// admin API is disabled).
	Admin(pattern string, h httpx.HandlerFunc)
	// Public registers h without authentication.
	Public(pattern string, h httpx.HandlerFunc)
}

type router struct {
	a   *API
	srv *central.Server
}

func (r router) Partner(pattern string, h httpx.HandlerFunc) {
	r.a.mux.Handle(pattern, r.a.handle(r.a.Authenticate(h)))
}

func (r router) Public(pattern string, h httpx.HandlerFunc) { r.a.mux.Handle(pattern, r.a.handle(h)) }

func (r router) Admin(pattern string, h httpx.HandlerFunc) {
	if r.srv != nil {
		r.srv.MountAdmin(pattern, r.a.adminErrors(h))
	}
}

// Mount serves the API on srv: /api/, /flow/ (unless HostedFlow) and /openapi.json, and the
// admin routes under /admin/v1/partners behind the admin token. Call it
// once, before srv.Serve.
func (a *API) Mount(srv *central.Server) {
	r := router{a: a, srv: srv}
	a.routes(r)
	a.routeFaceMatch(r) // facematch_handler.go
	for _, f := range a.cfg.Routes {
		f(r)
	}
	// Anything else under /api/ (and under /flow/ when it is this API's)
	// is the API's own 404 or 405, in its error shape.
	a.mux.Handle(catchAll, a.handle(a.noRoute))
	h := a.headers(a.mux)
	srv.Mount("/api/", h)
	if !a.cfg.HostedFlow {
		a.mux.Handle(flowCatchAll, a.handle(a.noRoute))
		srv.Mount("/flow/", h)
	}
	srv.Mount("GET /openapi.json", h)
}

// catchAll is the pattern of what no route of the API serves under /api/,
// flowCatchAll under /flow/ (without the hosted flow, which then serves
// /flow/ itself).
const (
	catchAll     = "/api/"
	flowCatchAll = "/flow/"
)

// routeMethods are the methods the API's routes may use, in the order
// Allow lists them.
var routeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// noRoute answers a request no route serves: 405 method_not_allowed with
// Allow when its path is a route's under other methods, else 404
// not_found. The mux would work out the 405 itself, but the catch-all,
// which takes every method, matches first.
func (a *API) noRoute(w http.ResponseWriter, r *http.Request) error {
	var allow []string
	for _, m := range routeMethods {
		probe := &http.Request{Method: m, Host: r.Host, URL: r.URL}
		if _, pattern := a.mux.Handler(probe); pattern != catchAll && pattern != flowCatchAll && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		return httpx.Errorf(http.StatusNotFound, "not_found", "no such endpoint")
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	return httpx.Errorf(http.StatusMethodNotAllowed, "method_not_allowed", "%s is not allowed here; use %s", r.Method, strings.Join(allow, " or "))
}

// Handler serves the API's own routes (not the admin ones), for tests.
func (a *API) Handler() http.Handler { return a.headers(a.mux) }

func (a *API) routes(r Router) {
	r.Public("GET /openapi.json", a.openAPI)
	r.Public("POST /api/v1/partner-token", a.partnerToken)
	r.Partner("POST /api/v1/flows", a.initiateFlow)
	r.Partner("GET /api/v1/flows/{id}", a.flowStatus)
	r.Partner("GET /api/v1/flows/{id}/qr.png", a.flowQRPNG)
	r.Partner("GET /api/v1/flows/{id}/qr.svg", a.flowQRSVG)
	r.Partner("GET /api/v1/submission-details", a.submissionDetails)
	r.Partner("GET /api/v1/images/{token}", a.image)
	if !a.cfg.HostedFlow {
		r.Public("GET /flow/{token}", a.launchPage)
	}

	r.Admin("POST /admin/v1/partners", a.adminCreate)
	r.Admin("GET /admin/v1/partners", a.adminList)
	r.Admin("GET /admin/v1/partners/{id}", a.adminGet)
	r.Admin("POST /admin/v1/partners/{id}/rotate-key", a.adminRotateKey)
	r.Admin("PUT /admin/v1/partners/{id}/branches", a.adminBranches)
	r.Admin("PUT /admin/v1/partners/{id}/disabled", a.adminDisabled)
	r.Admin("PUT /admin/v1/partners/{id}/webhook", a.adminWebhook)
	r.Admin("POST /admin/v1/partners/{id}/webhook-secret", a.adminWebhookSecret)
	r.Admin("PUT /admin/v1/partners/{id}/push", a.adminPush)
	r.Admin("DELETE /admin/v1/partners/{id}/push", a.adminPushRemove)
	r.Admin("POST /admin/v1/partners/{id}/push-key", a.adminPushKey)
	r.Admin("PUT /admin/v1/partners/{id}/reference-image", a.adminReferenceImage)
	r.Admin("DELETE /admin/v1/partners/{id}/reference-image", a.adminReferenceImageRemove)
}

// headers sets what every answer of the API carries: nothing cached
// (tokens, personal data), no sniffing, no referrer (launch URLs carry a
// secret), HSTS when served over HTTPS.
func (a *API) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if a.base.Scheme == "https" {
			// Tokens and personal data never over plain HTTP (ASVS 14.4.5).
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

func (a *API) now() time.Time { return a.cfg.Now().UTC() }

// handle adapts h: a ValidationError is written with its field errors,
// any other error by the Responder.
func (a *API) handle(h httpx.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			a.writeError(w, r, err)
		}
	})
}

// adminErrors makes an admin handler write its ValidationErrors itself
// (central's Responder knows only the plain error shape). Its answers are
// never stored, as the API's own (headers): some show a secret once (a
// pass key, a webhook secret, a push key).
func (a *API) adminErrors(h httpx.HandlerFunc) httpx.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Cache-Control", "no-store")
		err := h(w, r)
		if ve, ok := errors.AsType[*ValidationError](err); ok {
			a.writeValidation(w, r, ve)
			return nil
		}
		if err != nil && !errors.Is(err, central.ErrNotFound) {
			return a.resp.Public(err) // this package's rules, e.g. ErrIdempotency
		}
		return err
	}
}

func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if ve, ok := errors.AsType[*ValidationError](err); ok {
		a.writeValidation(w, r, ve)
		return
	}
	a.resp.Error(w, r, err)
}

func (a *API) writeValidation(w http.ResponseWriter, r *http.Request, ve *ValidationError) {
	httpx.WriteJSON(w, http.StatusUnprocessableEntity, validationBody{
		Error:  protocol.Error{Code: "invalid_request", Message: ve.Error(), RequestID: httpx.RequestID(r.Context())},
		Errors: ve.Fields,
	})
}

type validationBody struct {
	protocol.Error
	Errors []FieldError `json:"errors"`
}

// FieldError names one bad field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ValidationError is a 422 naming each bad field.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	names := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		names[i] = f.Field
	}
	return "invalid fields: " + strings.Join(names, ", ")
}

// add records a bad field.
func (e *ValidationError) add(field, code, format string, args ...any) {
	e.Fields = append(e.Fields, FieldError{Field: field, Code: code, Message: fmt.Sprintf(format, args...)})
}

// err returns e, or nil when no field is bad.
func (e *ValidationError) err() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}

// idempotencyKey is the request's Idempotency-Key ("" without one): at
// most 255 characters of printable ASCII (a UUID, an order id), as the
// stores keep keys as text; anything else is a validation error (422),
// never a store's failure.
func idempotencyKey(r *http.Request) (string, error) {
	key := r.Header.Get("Idempotency-Key")
	var ve ValidationError
	if len(key) > 255 {
		ve.add("Idempotency-Key", "too_long", "an Idempotency-Key is at most 255 characters")
	} else if strings.ContainsFunc(key, func(c rune) bool { return c < 0x20 || c > 0x7e }) {
		ve.add("Idempotency-Key", "invalid", "an Idempotency-Key is printable ASCII")
	}
	return key, ve.err()
}

// malformedJSON is the answer to a JSON body that does not parse: 400,
// or the body's size error as it is (413), or 408 timeout for a body that
// did not arrive by the connection's read deadline (central's BodyFloor):
// that body may be fine, and its client should send it again, not be
// told it is not JSON.
func malformedJSON(err error) error {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return err
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return httpx.Wrap(err, http.StatusRequestTimeout, "timeout", "request body arrived too slowly")
	}
	return httpx.Wrap(err, http.StatusBadRequest, "malformed", "the body is not a JSON object")
}

// decodeObject reads a JSON object body (at most maxBody bytes) into its
// members, for validation field by field. A member named twice is refused
// (422), as is anything after the object (400): parsers disagree on which
// duplicate wins, and a proxy or log that reads the other one would see a
// different request than central acts on.
func decodeObject(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		// The media type itself, not a prefix: application/jsonx or
		// application/json-seq is another format.
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return nil, httpx.Errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "send application/json")
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(r.Body)
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, malformedJSON(err)
	}
	m := map[string]json.RawMessage{}
	var ve ValidationError
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, malformedJSON(err)
		}
		name, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, malformedJSON(err)
		}
		if _, dup := m[name]; dup {
			ve.add(name, "duplicate_field", "%s is given more than once", name)
			continue
		}
		m[name] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, malformedJSON(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, malformedJSON(err)
	}
	if err := ve.err(); err != nil {
		return nil, err
	}
	return m, nil
}

// audit appends an admin action on a partner to the trail.
func (a *API) audit(ctx context.Context, actor, action, partnerID string, before, after any) error {
	ev := central.AuditEvent{ID: httpx.RequestID(ctx), At: a.now(), Actor: actor, Action: action, Count: 1,
		Subject: "partner:" + partnerID}
	if ev.ID == "" {
		ev.ID = httpx.NewRequestID()
	}
	var err error
	if before != nil {
		if ev.Before, err = json.Marshal(before); err != nil {
			return err
		}
	}
	if after != nil {
		if ev.After, err = json.Marshal(after); err != nil {
			return err
		}
	}
	if err := a.cfg.Store.AppendAudit(ctx, ev); err != nil {
		return fmt.Errorf("recording %s in the audit trail: %w", action, err)
	}
	return nil
}
