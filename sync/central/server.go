// Package central is the backend that devices sync to: it enrols devices,
// authenticates their signed requests, opens their end-to-end encrypted
// submissions, verifies the device attestation each carries, dedupes and
// stores them (through a Store: boltstore embedded, pgstore to scale out),
// takes large images in resumable chunks, serves configuration and
// watchlists to devices, and offers an authenticated admin API, /healthz and
// Prometheus /metrics.
package central

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Defaults for Config's zero values.
const (
	DefaultMaxSkew     = 5 * time.Minute
	DefaultMaxInFlight = 64
	DefaultTokenTTL    = 24 * time.Hour
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
	// AdminToken is the bearer token of the admin API; empty disables it.
	AdminToken string
	// MaxSkew is the largest accepted difference between a request's
	// timestamp and the clock; nonces are remembered for twice as long.
	MaxSkew time.Duration
	// MaxInFlight bounds concurrent device requests; beyond it central
	// answers 503 with Retry-After rather than queueing without limit.
	MaxInFlight int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server is one central instance.
type Server struct {
	cfg      Config
	mux      *http.ServeMux
	handler  http.Handler
	started  time.Time
	metrics  *metrics
	inFlight chan struct{}
}

// New returns a Server with its routes registered.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.BoxKey == nil {
		return nil, errors.New("central: Config needs a Store and a BoxKey")
	}
	if cfg.MaxSkew <= 0 {
		cfg.MaxSkew = DefaultMaxSkew
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), metrics: newMetrics(), inFlight: make(chan struct{}, cfg.MaxInFlight)}
	s.started = cfg.Now()
	s.mux.HandleFunc("GET /healthz", s.health)
	s.mux.HandleFunc("GET /metrics", s.metrics.serve)
	s.routeDevice()
	s.routeAdmin()
	s.handler = s.metrics.instrument(s.mux)
	return s, nil
}

// Handler is the server's HTTP handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"status":         "ok",
		"version":        s.cfg.Version,
		"uptime_seconds": int(s.cfg.Now().Sub(s.started).Seconds()),
	})
}

// Serve listens on cfg.Addr until ctx is cancelled, then stops accepting
// and drains in-flight requests for up to 10 seconds. ready, when not nil,
// receives the bound address once the listener is open.
func (s *Server) Serve(ctx context.Context, ready chan<- string) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.cfg.Addr, err)
	}
	return s.ServeListener(ctx, ln, ready)
}

// ServeListener is Serve on an open listener, which it closes.
func (s *Server) ServeListener(ctx context.Context, ln net.Listener, ready chan<- string) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
	}
	if ready != nil {
		ready <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
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

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
