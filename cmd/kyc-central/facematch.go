package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/openkyc/kyc/engine/ort"
	"github.com/openkyc/kyc/internal/runtimeinfo"
	"github.com/openkyc/kyc/models"
	"github.com/openkyc/kyc/sync/central/facematch"
	"github.com/openkyc/kyc/sync/central/partnerapi"
)

// openFaceMatcher loads the Face Match API's engine from the verified model
// store in dir (default: KYC_MODELS_DIR, else $KYC_HOME/models, else
// ~/.cache/openkyc/models, where `kyc models install` puts them) and warms
// it, and sets the Go collector as the engine's binaries do
// (runtimeinfo.TuneServerGC). Without the models central runs on, the API answering 503
// face_match_unavailable: the reason is logged, and nil returned. close
// releases the models.
func openFaceMatcher(ctx context.Context, dir string, log *slog.Logger) (fm partnerapi.FaceMatcher, close func()) {
	close = func() {}
	store, err := models.DefaultStore()
	if err != nil {
		log.Warn("face match API disabled: no model store", "err", err)
		return nil, close
	}
	if dir != "" {
		store.Dir = dir
	}
	start := time.Now()
	m, err := facematch.Open(facematch.Config{Store: store})
	switch {
	case errors.Is(err, models.ErrNotInstalled) || errors.Is(err, ort.ErrLibraryMissing):
		log.Info("face match API disabled: models not installed (kyc models install)", "dir", store.Dir, "err", err)
		return nil, close
	case err != nil:
		log.Error("face match API disabled: the models cannot be loaded", "dir", store.Dir, "err", err)
		return nil, close
	}
	if err := m.Warm(ctx); err != nil {
		m.Close()
		log.Error("face match API disabled: warming the models failed", "dir", store.Dir, "err", err)
		return nil, close
	}
	// Central now runs an engine: the collector's setting of kyc and the
	// app (a small Go heap beside native models, many short-lived tensors).
	runtimeinfo.TuneServerGC()
	log.Info("face match API ready", "dir", store.Dir, "load_ms", time.Since(start).Milliseconds())
	return m, func() { m.Close() }
}
