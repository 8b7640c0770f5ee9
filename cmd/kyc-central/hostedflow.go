package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/openkyc/kyc/engine/ort"
	"github.com/openkyc/kyc/internal/engines"
	"github.com/openkyc/kyc/internal/runtimeinfo"
	"github.com/openkyc/kyc/models"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/hostedflow"
)

// startHostedFlow mounts the hosted capture flow (package hostedflow) at
// /flow/ and runs its sweeper until ctx ends. The verification engine is
// loaded from the verified model store in dir (as openFaceMatcher's) and
// warmed; without the models the flow still binds launch links but its
// pages answer 503 (logged here). stop waits for the sweeper and releases
// the models. cfg is the flow's configuration but for its Engines.
func startHostedFlow(ctx context.Context, srv *central.Server, cfg hostedflow.Config, dir string) (stop func(), err error) {
	eng := openFlowEngines(ctx, dir, cfg.Logger)
	cfg.Engines = eng
	flow, err := hostedflow.New(cfg)
	if err != nil {
		if eng != nil {
			eng.Close()
		}
		return nil, err
	}
	flow.Mount(srv)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = flow.Run(ctx) })
	return func() {
		cancel()
		wg.Wait()
		if eng != nil {
			eng.Close()
		}
	}, nil
}

func openFlowEngines(ctx context.Context, dir string, log *slog.Logger) *engines.Engines {
	store, err := models.DefaultStore()
	if err != nil {
		log.Warn("hosted flow unavailable: no model store", "err", err)
		return nil
	}
	if dir != "" {
		store.Dir = dir
	}
	start := time.Now()
	eng, err := engines.Open(ctx, store, "")
	switch {
	case errors.Is(err, models.ErrNotInstalled) || errors.Is(err, ort.ErrLibraryMissing):
		log.Info("hosted flow unavailable: models not installed (kyc models install)", "dir", store.Dir, "err", err)
		return nil
	case err != nil:
		log.Error("hosted flow unavailable: the models cannot be loaded", "dir", store.Dir, "err", err)
		return nil
	}
	if err := eng.Warm(ctx); err != nil {
		eng.Close()
		log.Error("hosted flow unavailable: warming the models failed", "dir", store.Dir, "err", err)
		return nil
	}
	runtimeinfo.TuneServerGC()
	log.Info("hosted flow ready", "dir", store.Dir, "load_ms", time.Since(start).Milliseconds())
	return eng
}
