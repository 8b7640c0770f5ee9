package central

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openkyc/kyc/sync/central/httpx"
)

// Defaults for Config's zero values.
const (
	DefaultMaxSkew     = 5 * time.Minute
	DefaultMaxInFlight = 64
	DefaultTokenTTL    = 24 * time.Hour
	// DefaultMaxPerDevice bounds one device's concurrent requests: the
	// agent sends one at a time, so 4 leaves room for a retry overlapping
	// a request central has not finished, and no device can take more
	// than a sliver of the slots.
	DefaultMaxPerDevice = 4
	// DefaultChallengeWindow is how long after central issued a challenge
	// an attestation signing it still counts as fresh. The agent refreshes
	// its configuration (and so its challenge) every few minutes when
	// online; a day covers a field laptop working offline through a
	// working day, while a challenge leaked or kept stays useful for at
	// most a day.
	DefaultChallengeWindow = 24 * time.Hour
	// DefaultMaxAttestationAge is the oldest attestation central accepts
	// at all (fresh or not): longer than the longest offline period a
	// device policy allows (device.DefaultPolicy's MaxOffline is well
	// under it), so a device that was offline that long still delivers,
	// yet an attestation kept from last year is refused.
	DefaultMaxAttestationAge = 30 * 24 * time.Hour
	// DefaultBodyFloor and DefaultMinBodyRate set how long a request body
	// may take to arrive: the floor plus its Content-Length at the rate.
	// 8 KiB/s is a sixth of the slowest field link the agent is built for
	// (50 KB/s), so a real device is never cut off, and a 1 MiB chunk
	// gets two minutes.
	DefaultBodyFloor   = 15 * time.Second
	DefaultMinBodyRate = 8 << 10
	// DefaultSubmissionBurst and DefaultSubmissionInterval bound the new
	// submissions one device opens: a kiosk verifies a person a minute at
	// most, and a field laptop back from a week offline sends its backlog
	// of a few hundred at once, then one per 20 s (4,320 a day), so a
	// stolen or runaway device cannot fill the review queue and the store
	// at the rate central takes requests.
	DefaultSubmissionBurst    = 500
	DefaultSubmissionInterval = 20 * time.Second
)

// Failure budgets per client address: after the burst, one more failure
// per interval. Failures past the budget answer 429 with Retry-After. The
// budgets are in the store (central.RateLimits), shared by instances.
const (
	adminFailBurst    = 10
	adminFailInterval = 6 * time.Second // 10 per minute
	authFailBurst     = 50
	authFailInterval  = 200 * time.Millisecond
)

// Config configures a Server.
type Config struct {
	Addr    string // listen address, e.g. 127.0.0.1:8443
	Version string
	// Store holds central's state; required.
	Store Store
	// BoxKey is central's X25519 key pair that devices seal payloads to;
	// required. Every instance sharing a Store must use the same key.
	BoxKey *BoxKey
	// SignKey is central's Ed25519 key: it signs configuration and
	// watchlists, and the attestation challenge secret is derived from
	// it; required, and shared by instances like BoxKey.
	SignKey ed25519.PrivateKey
	// TrustedProxies are the load balancers in front of central (HAProxy,
	// nginx): for a request from one of them the client's address, which
	// per-address failure budgets count by, is taken from X-Forwarded-For
	// (httpx.WithTrustedProxies). Empty: forwarding headers are ignored.
	TrustedProxies []netip.Prefix
	// AdminToken is the bootstrap bearer token of the admin API; empty
	// disables it. New refuses a weak one (see CheckAdminToken).
	AdminToken string
	// AdminTokenOwner is the console admin account of the person who
	// holds AdminToken. A risk or watchlist proposal sent with the token
	// is that person's (the console's four-eyes check then stops them
	// confirming it); empty: the token, which names no person, cannot
	// propose (403 admin_token_unowned), though it still publishes the
	// first version of a new watchlist name (riskproposal.go: proposer).
	AdminTokenOwner string
	// TLS, when set, makes Serve speak HTTPS with it (MinVersion and
	// cipher suites are raised to central's floor). Without it Serve
	// refuses to run unless InsecureHTTP is set and the address is
	// loopback.
	TLS          *tls.Config
	InsecureHTTP bool
	// MetricsAddr, when set, is where Serve also serves the Prometheus
	// metrics (/metrics, plain HTTP, no authentication: a loopback
	// address such as 127.0.0.1:9464, or a monitoring network's). The
	// main listener never serves them: it faces partners and phones, and
	// the metrics tell about traffic, refusals and the process. Empty:
	// no metrics listener.
	MetricsAddr string
	// ConsoleAddr, when set, is where Serve serves the review console
	// (MountConsole), on a listener of its own with the main listener's
	// TLS and middleware, and the main listener answers 404 under
	// /console/. The main listener's pages are opened by anyone and framed
	// by partners (the hosted flow): a script running there shares the
	// console's origin when both are on one listener, and could read the
	// console's pages and act as a signed-in reviewer. Empty: the console
	// is on the main listener.
	ConsoleAddr string
	// Logger receives central's structured log; nil discards it.
	Logger *slog.Logger
	// MaxSkew is the largest accepted difference between a request's
	// timestamp and the clock; nonces are remembered for twice as long.
	MaxSkew time.Duration
	// MaxInFlight bounds concurrent authenticated device requests; beyond
	// it central answers 503 with Retry-After rather than queueing.
	MaxInFlight int
	// MaxPerDevice bounds one device's concurrent requests (429), and
	// once half of MaxInFlight are taken, one (deviceslots.go).
	MaxPerDevice int
	// ChallengeWindow and MaxAttestationAge: see their defaults.
	ChallengeWindow   time.Duration
	MaxAttestationAge time.Duration
	// BodyFloor and MinBodyRate bound how long a body may take.
	BodyFloor   time.Duration
	MinBodyRate int64
	// SubmissionBurst and SubmissionInterval bound the new submissions of
	// one device, in the store (shared by instances): the burst at once,
	// then one per interval; beyond, 429 with Retry-After (a resend of a
	// submission central holds costs nothing). Zero: their defaults.
	SubmissionBurst    int
	SubmissionInterval time.Duration
	// RequestBurst and RequestInterval bound a device's other requests
	// (configuration, watchlists, status, reviews, hand-offs), in this
	// instance's memory: the burst at once, then one per interval; beyond,
	// 429 too_many_requests with Retry-After. Zero: their defaults.
	RequestBurst    int
	RequestInterval time.Duration
	// ResendBurst and ResendInterval bound the resends a device's uploads
	// are answered (a manifest or a chunk central holds, a chunk at
	// another offset) and its uploads refused (4xx but 429), in this
	// instance's memory like RequestBurst; once
	// spent, the device's uploads are 429 too_many_resends before their
	// nonce is recorded. Zero: their defaults.
	ResendBurst    int
	ResendInterval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// RiskProposalTTL is how long a risk or watchlist proposal waits for
	// its second admin; zero: DefaultRiskProposalTTL.
	RiskProposalTTL time.Duration
	// SweepByQueue leaves the retention sweep to the job queue (package
	// jobs, on PostgreSQL: one sweep an hour for all the instances);
	// otherwise Serve runs it hourly itself.
	SweepByQueue bool
	// ErasureByQueue leaves erasures to the job queue (jobs.Erasure, on
	// PostgreSQL): a request records one and answers at once. Otherwise
	// the request carries it out, and Serve resumes any left unfinished.
	ErasureByQueue bool
}

// Server is one central instance.
type Server struct {
	cfg       Config
	log       *slog.Logger
	mux       *http.ServeMux
	handler   http.Handler
	started   time.Time
	metrics   *metrics
	resp      *httpx.Responder
	slots     *httpx.Slots
	perDevice *deviceSlots
	authFails *httpx.Budget // device and enrolment failures by address, in the store
	adminFail *httpx.Budget // admin token failures by address, in the store
	subRate   *httpx.Budget // new submissions by device, in the store
	challenge challenger
	// auditSealer signs the audit trail's checkpoints (CheckpointAudit).
	auditSealer *auditSealer
	auditWatch  *auditWatch // scheduled verification (auditwatch.go)
	shed        atomic.Int64
	privacy     *privacy // retention sweep, erasure, search (privacy.go)

	// A device's other requests, and the resends its uploads were
	// answered, budgeted in this instance's memory (devicerate.go): a
	// budget in the store would add a write to every request, the cost it
	// is there to bound; behind a balancer a device gets up to one budget
	// per instance, which still bounds it.
	reqRate, resends *httpx.FailureLimiter

	// consoleMux and consoleHandler are mux and handler themselves unless
	// Config.ConsoleAddr gives the console a listener of its own.
	consoleMux     *http.ServeMux
	consoleHandler http.Handler
}

// New returns a Server with its routes registered.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.BoxKey == nil || len(cfg.SignKey) != ed25519.PrivateKeySize {
		return nil, errors.New("central: Config needs a Store, a BoxKey and a SignKey")
	}
	if cfg.AdminToken != "" {
		if err := CheckAdminToken(cfg.AdminToken); err != nil {
			return nil, err
		}
	}
	if cfg.AdminTokenOwner != "" && cfg.AdminToken == "" {
		return nil, errors.New("central: Config.AdminTokenOwner names the owner of an admin token, but there is none")
	}
	if !StorableText(cfg.AdminTokenOwner) {
		return nil, errors.New("central: Config.AdminTokenOwner is not an account name (UTF-8 text without NUL)")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.MaxSkew, DefaultMaxSkew)
	def(&cfg.ChallengeWindow, DefaultChallengeWindow)
	def(&cfg.MaxAttestationAge, DefaultMaxAttestationAge)
	def(&cfg.BodyFloor, DefaultBodyFloor)
	def(&cfg.SubmissionInterval, DefaultSubmissionInterval)
	if cfg.SubmissionBurst <= 0 {
		cfg.SubmissionBurst = DefaultSubmissionBurst
	}
	def(&cfg.RequestInterval, DefaultRequestInterval)
	if cfg.RequestBurst <= 0 {
		cfg.RequestBurst = DefaultRequestBurst
	}
	def(&cfg.ResendInterval, DefaultResendInterval)
	if cfg.ResendBurst <= 0 {
		cfg.ResendBurst = DefaultResendBurst
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.MaxPerDevice <= 0 {
		cfg.MaxPerDevice = DefaultMaxPerDevice
	}
	if cfg.MinBodyRate <= 0 {
		cfg.MinBodyRate = DefaultMinBodyRate
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:         cfg,
		log:         cfg.Logger,
		mux:         http.NewServeMux(),
		metrics:     newMetrics(cfg.MaxInFlight, cfg.Version),
		slots:       httpx.NewSlots(cfg.MaxInFlight),
		perDevice:   newDeviceSlots(cfg.MaxPerDevice),
		authFails:   httpx.NewBudget(cfg.Store, "device-auth", authFailBurst, authFailInterval, cfg.Now),
		adminFail:   httpx.NewBudget(cfg.Store, "admin-auth", adminFailBurst, adminFailInterval, cfg.Now),
		subRate:     httpx.NewBudget(cfg.Store, "device-submissions", cfg.SubmissionBurst, cfg.SubmissionInterval, cfg.Now),
		reqRate:     httpx.NewFailureLimiter(cfg.RequestBurst, cfg.RequestInterval, cfg.Now),
		resends:     httpx.NewFailureLimiter(cfg.ResendBurst, cfg.ResendInterval, cfg.Now),
		challenge:   newChallenger(cfg.SignKey),
		auditSealer: &auditSealer{key: cfg.SignKey},
	}
	s.resp = &httpx.Responder{Log: s.log, Rules: errorRules}
	s.started = cfg.Now()
	s.mux.HandleFunc("GET /healthz", s.health)
	s.routeDevice()
	s.routeAdmin()
	s.privacy = s.newPrivacy()
	s.auditWatch = s.newAuditWatch()
	s.handler = s.wrap(s.apiPaths(s.mux))
	s.consoleMux, s.consoleHandler = s.mux, s.handler
	if cfg.ConsoleAddr != "" {
		s.consoleMux = http.NewServeMux()
		s.consoleHandler = s.wrap(s.consoleMux)
	}
	return s, nil
}

// wrap puts around mux what every answer of the main and the console
// listener goes through: the client's address behind trusted proxies,
// Date, a request id, the default deadlines and the metrics.
func (s *Server) wrap(mux http.Handler) http.Handler {
	return httpx.WithTrustedProxies(s.cfg.TrustedProxies, s.withDate(httpx.WithRequestID(s.defaultDeadlines(s.metrics.instrument(mux)))))
}

// errorRules give central's sentinel errors their public face when a
// handler returns one unwrapped; handlers that know better return an
// *httpx.Error.
var errorRules = []httpx.Rule{
	{Err: ErrNotFound, Status: http.StatusNotFound, Code: "not_found", Message: "not found"},
	{Err: ErrTokenInvalid, Status: http.StatusForbidden, Code: "token", Message: "enrolment token unknown, expired or already used"},
	{Err: ErrDeviceExists, Status: http.StatusConflict, Code: "enrolled", Message: "device already enrolled"},
	{Err: ErrReplay, Status: http.StatusUnauthorized, Code: "replayed", Message: "this request was seen before (its nonce is used)"},
	{Err: ErrConflict, Status: http.StatusUnprocessableEntity, Code: "conflict", Message: "submission id already used for different content"},
	{Err: context.Canceled, Status: 499, Code: "canceled", Message: "the client went away"},
}

// Mount serves h for pattern (a http.ServeMux pattern, e.g. "/console/")
// behind the server's request ids, deadlines, Date and metrics: how the
// feature packages (the console) join the server without central
// importing them. Call it before Serve.
func (s *Server) Mount(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// MountConsole is Mount for the review console (pattern "/console/"): on
// the console's own listener when Config.ConsoleAddr is set, else on the
// main one.
func (s *Server) MountConsole(pattern string, h http.Handler) { s.consoleMux.Handle(pattern, h) }

// Handler is the server's HTTP handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.handler }

// ConsoleHandler is what the console's listener serves (ServeConsole):
// Handler itself unless Config.ConsoleAddr is set.
func (s *Server) ConsoleHandler() http.Handler { return s.consoleHandler }

// Registerer is the Prometheus registry /metrics serves (ServeMetrics). Parts of central
// wired in New (the retention sweep and erasure in privacy.go) register
// their collectors here, never on prometheus.DefaultRegisterer, e.g.
//
//	erased := prometheus.NewCounter(prometheus.CounterOpts{Name: "kyc_central_erasures_total", ...})
//	s.Registerer().MustRegister(erased)
func (s *Server) Registerer() prometheus.Registerer { return s.metrics.reg }

// handle adapts a handler returning an error.
func (s *Server) handle(h httpx.HandlerFunc) http.Handler { return s.resp.Handle(h) }

// defaultDeadlines gives every request a body deadline of BodyFloor and a
// response deadline of two minutes; handlers that expect more (an upload
// in proportion to its size, a watchlist download) extend their own. The
// server itself has no ReadTimeout or WriteTimeout, which would cut off a
// large transfer on a slow link however steadily it progressed.
func (s *Server) defaultDeadlines(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		now := time.Now()
		_ = rc.SetReadDeadline(now.Add(s.cfg.BodyFloor))
		_ = rc.SetWriteDeadline(now.Add(2 * time.Minute))
		next.ServeHTTP(w, r)
	})
}

// withDate sets every answer's Date header from central's clock (net/http
// keeps a Date already set). Devices measure their clock offset from it
// and sign with the corrected time, so it must be the clock central judges
// timestamps by, including an injected one.
func (s *Server) withDate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", s.cfg.Now().UTC().Format(http.TimeFormat))
		next.ServeHTTP(w, r)
	})
}

// Health is the body of GET /admin/v1/health; /healthz, open to anyone,
// answers its Status alone.
type Health struct {
	// Status is "ok", or "degraded" (with 503) while every device request
	// slot is taken.
	Status string `json:"status"`
	// No version: a build's version tells an attacker which flaws to try;
	// the metrics listener tells it (kyc_central_build_info).
	UptimeSeconds int `json:"uptime_seconds"`
	InFlight      int `json:"in_flight"`
	MaxInFlight   int `json:"max_in_flight"`
	// Shed counts device requests refused for saturation since start.
	Shed int64 `json:"shed"`
}

// healthNow is central's health and the status code that goes with it.
func (s *Server) healthNow() (Health, int) {
	h := Health{
		Status: "ok", UptimeSeconds: int(s.cfg.Now().Sub(s.started).Seconds()),
		InFlight: s.slots.InUse(), MaxInFlight: s.slots.Cap(), Shed: s.shed.Load(),
	}
	if h.InFlight >= h.MaxInFlight {
		h.Status = "degraded"
		return h, http.StatusServiceUnavailable
	}
	return h, http.StatusOK
}

// health answers /healthz: the status only, for load balancers. The load
// and uptime are an admin's (healthDetail): anyone's, they would time a
// flood to the slots left and date the last restart, thus the last patch.
func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	h, code := s.healthNow()
	httpx.WriteJSON(w, code, struct {
		Status string `json:"status"`
	}{h.Status})
}

// healthDetail answers GET /admin/v1/health: Health whole.
func (s *Server) healthDetail(w http.ResponseWriter, _ *http.Request) error {
	h, code := s.healthNow()
	httpx.WriteJSON(w, code, h)
	return nil
}

// ErrInsecureHTTP means Serve was asked to speak plain HTTP where it must
// not: without Config.InsecureHTTP, or on an address other than loopback.
var ErrInsecureHTTP = errors.New("central: plain HTTP is refused")

// Serve listens on cfg.Addr (and cfg.MetricsAddr and cfg.ConsoleAddr,
// when set, for ServeMetrics and ServeConsole) until ctx is cancelled,
// then stops accepting and drains in-flight requests for up to 10
// seconds. ready, when not nil, receives the bound address once every
// listener is open. Should a listener of its own fail, the main one stops
// too and Serve returns that failure.
func (s *Server) Serve(ctx context.Context, ready chan<- string) error {
	if err := s.checkTransport(s.cfg.Addr); err != nil {
		return err
	}
	type own struct {
		what, addr string
		serve      func(context.Context, net.Listener) error
	}
	var owns []own
	if s.cfg.MetricsAddr != "" {
		owns = append(owns, own{"metrics", s.cfg.MetricsAddr, s.ServeMetrics})
	}
	if s.cfg.ConsoleAddr != "" {
		if err := s.checkTransport(s.cfg.ConsoleAddr); err != nil {
			return fmt.Errorf("console: %w", err)
		}
		owns = append(owns, own{"the console", s.cfg.ConsoleAddr, s.ServeConsole})
	}
	// Every listener is open before the main one answers, so a taken
	// address stops serve before anything is served.
	lns := make([]net.Listener, 0, len(owns))
	closeAll := func() {
		for _, l := range lns {
			l.Close()
		}
	}
	for _, o := range owns {
		ln, err := net.Listen("tcp", o.addr)
		if err != nil {
			closeAll()
			return fmt.Errorf("listening for %s on %s: %w", o.what, o.addr, err)
		}
		lns = append(lns, ln)
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		closeAll()
		return fmt.Errorf("listening on %s: %w", s.cfg.Addr, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, len(owns))
	for i, o := range owns {
		go func() {
			defer cancel()
			done <- o.serve(ctx, lns[i])
		}()
	}
	errs := []error{s.ServeListener(ctx, ln, ready)}
	cancel()
	for range owns {
		errs = append(errs, <-done)
	}
	return errors.Join(errs...)
}

// ServeMetrics serves the Prometheus registry (Registerer) at /metrics,
// plain HTTP and nothing else, on ln until ctx is cancelled (see
// Config.MetricsAddr).
func (s *Server) ServeMetrics(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metrics.handler())
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	if err := serveUntil(ctx, srv, ln); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// ServeConsole serves the review console (MountConsole) on ln, which it
// closes, until ctx is cancelled: with the main listener's TLS and
// middleware, and nothing but what MountConsole mounted (see
// Config.ConsoleAddr).
func (s *Server) ServeConsole(ctx context.Context, ln net.Listener) error {
	if err := s.checkTransport(ln.Addr().String()); err != nil {
		ln.Close()
		return fmt.Errorf("console: %w", err)
	}
	if err := serveUntil(ctx, s.webServer(s.consoleHandler), ln); err != nil {
		return fmt.Errorf("console: %w", err)
	}
	return nil
}

// checkTransport refuses plain HTTP unless asked for on loopback.
func (s *Server) checkTransport(addr string) error {
	if s.cfg.TLS != nil {
		return nil
	}
	if !s.cfg.InsecureHTTP {
		return fmt.Errorf("%w: give central a TLS certificate (kyc-central serve --tls-cert/--tls-key; kyc-central tls init makes one), or for a test on this machine only, --insecure-http with a loopback address", ErrInsecureHTTP)
	}
	if !IsLoopback(addr) {
		return fmt.Errorf("%w on %s: --insecure-http serves only a loopback address (127.0.0.1, [::1], localhost); anything else needs TLS", ErrInsecureHTTP, addr)
	}
	return nil
}

// IsLoopback reports whether a host:port (or a bare host) names a loopback
// address: 127.0.0.0/8, ::1 or localhost. An empty host (all interfaces)
// is not loopback.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serverTLS is cfg with central's floor: TLS 1.2 at least, and for 1.2
// only forward-secret AEAD suites (1.3's are all of that kind).
func serverTLS(cfg *tls.Config) *tls.Config {
	c := cfg.Clone()
	c.MinVersion = max(c.MinVersion, tls.VersionTLS12)
	c.CipherSuites = []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
	return c
}

// ServeListener is Serve on an open listener, which it closes.
func (s *Server) ServeListener(ctx context.Context, ln net.Listener, ready chan<- string) error {
	if err := s.checkTransport(ln.Addr().String()); err != nil {
		ln.Close()
		return err
	}
	srv := s.webServer(s.handler)
	if ready != nil {
		ready <- ln.Addr().String()
	}
	defer s.startAuditChecks(ctx, AuditVerifyEvery)()
	if !s.cfg.SweepByQueue {
		defer s.privacy.startSweeps(ctx, DefaultSweepEvery, s.auditWatch.checked)()
	}
	if !s.cfg.ErasureByQueue {
		defer s.privacy.resumeErasures(ctx)()
	}
	return serveUntil(ctx, srv, ln)
}

// webServer is the http.Server of the main and the console listener.
func (s *Server) webServer(h http.Handler) *http.Server {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	if s.cfg.TLS != nil {
		srv.TLSConfig = serverTLS(s.cfg.TLS)
	}
	return srv
}

// serveUntil serves srv on ln (TLS when srv.TLSConfig is set) until ctx
// is cancelled, then shuts it down, draining for up to 10 seconds.
func serveUntil(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serving on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
