package main

import (
	"context"
	"log/slog"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/partnerapi"
	"github.com/openkyc/kyc/sync/central/webhook"
)

// startWebhooks runs the webhook emitter and worker (package webhook) with
// serve, signing with the partners' secrets the partner API sealed under
// pkey, and mounts their admin endpoints; stop ends them and waits.
func startWebhooks(ctx context.Context, srv *central.Server, store central.Store, pkey []byte, logger *slog.Logger) (stop func(), err error) {
	svc, err := webhook.New(store, webhook.Config{Logger: logger, Open: func(partnerID string, sealed []byte) ([]byte, error) {
		s, err := partnerapi.OpenWebhookSecret(pkey, partnerID, sealed)
		return []byte(s), err
	}})
	if err != nil {
		return nil, err
	}
	svc.Mount(srv.MountAdmin)
	return svc.Start(ctx), nil
}
