// Package central is the backend that devices sync to: it ingests their
// submissions, dedupes and stores them, and serves central admins and
// partner systems. This file holds the HTTP server's lifecycle; ingest and
// storage arrive with the sync work.
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

// Config configures a Server.
type Config struct {
	Addr    string // listen address, e.g. 127.0.0.1:8443
	Version string
}

// Server is one central instance.
type Server struct {
	cfg     Config
	mux     *http.ServeMux
	started time.Time
}

// New returns a Server with its routes registered.
func New(cfg Config) *Server {
	s := &Server{cfg: cfg, mux: http.NewServeMux(), started: time.Now()}
	s.mux.HandleFunc("GET /healthz", s.health)
	return s
}

// Handler is the server's HTTP handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.mux }

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"status":         "ok",
		"version":        s.cfg.Version,
		"uptime_seconds": int(time.Since(s.started).Seconds()),
	})
}

// Serve listens on cfg.Addr until ctx is cancelled, then drains in-flight
// requests for up to 10 seconds. ready, when not nil, receives the bound
// address once the listener is open.
func (s *Server) Serve(ctx context.Context, ready chan<- string) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.cfg.Addr, err)
	}
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	if ready != nil {
		ready <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving on %s: %w", s.cfg.Addr, err)
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
