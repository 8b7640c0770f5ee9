package webhook

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
)

// ServiceStore is what the whole service needs of central's store.
type ServiceStore interface {
	EmitterStore
	Partner(ctx context.Context, id string) (central.Partner, error)
	AppendAudit(ctx context.Context, ev central.AuditEvent) error
}

// Service is the emitter, the worker and the admin endpoints wired
// together: what `kyc-central serve` runs.
type Service struct {
	Worker  *Worker
	Emitter *Emitter
	Admin   *Admin
}

// New builds a service. cfg.Store must also be a ServiceStore (central's
// Store is); Worker settings come from cfg, the emitter shares its clock
// and logger.
func New(store ServiceStore, cfg Config) (*Service, error) {
	cfg.Store = store
	w, err := NewWorker(cfg)
	if err != nil {
		return nil, err
	}
	e, err := NewEmitter(EmitterConfig{Store: store, Notify: w.Notify, Now: w.cfg.Now, Logger: w.cfg.Logger})
	if err != nil {
		return nil, err
	}
	a := &Admin{Store: store, Notify: w.Notify, Now: w.cfg.Now, Audit: store.AppendAudit}
	return &Service{Worker: w, Emitter: e, Admin: a}, nil
}

// Mount registers the admin endpoints (central.Server.MountAdmin).
func (s *Service) Mount(mount func(pattern string, h httpx.HandlerFunc) bool) { s.Admin.Mount(mount) }

// Notify tells the service that something happened (a submission
// completed, a review changed, an event was written): the emitter reads
// the logs now and the worker looks for due events.
func (s *Service) Notify() {
	s.Emitter.Notify()
	s.Worker.Notify()
}

// Run runs the emitter and the worker until ctx ends, and returns once
// both have stopped (deliveries under way finish first, each bounded by
// its size, pace.go, unless the worker is interrupted).
//
// With Config.Lanes the instance's River client delivers (QueueWorker) and
// Run runs the emitter alone.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = s.Emitter.Run(ctx) }()
	if s.Worker.cfg.Lanes == nil {
		wg.Add(1)
		go func() { defer wg.Done(); _ = s.Worker.Run(ctx) }()
	}
	wg.Wait()
	return nil
}

// Start runs the service in the background; stop ends it and waits: the
// deliveries under way get the worker's Timeout to end, then are cut off
// (Worker.Interrupt), not recorded, and sent again at the next start.
func (s *Service) Start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		start := time.Now()
		_ = s.Run(ctx)
		s.Worker.cfg.Logger.LogAttrs(context.Background(), slog.LevelDebug, "webhook service stopped", slog.Duration("ran", time.Since(start)))
	}()
	return func() {
		cancel()
		grace := time.NewTimer(s.Worker.cfg.Timeout)
		defer grace.Stop()
		select {
		case <-done:
			return
		case <-grace.C:
		}
		s.Worker.Interrupt()
		<-done
	}
}

// AdminRouter registers admin routes behind the admin bearer token:
// partnerapi.Router is one.
type AdminRouter interface {
	Admin(pattern string, h httpx.HandlerFunc)
}

// Routes registers the admin endpoints on a partner API router, e.g.
//
//	partnerapi.Config{..., Routes: []func(partnerapi.Router){func(r partnerapi.Router) { svc.Routes(r) }}}
func (s *Service) Routes(r AdminRouter) {
	s.Admin.Mount(func(pattern string, h httpx.HandlerFunc) bool { r.Admin(pattern, h); return true })
}
