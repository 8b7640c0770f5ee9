package main

import (
	"context"
	"log/slog"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/partnerapi"
	"github.com/openkyc/kyc/sync/central/push"
	"github.com/openkyc/kyc/sync/central/webhook"
)

// startWebhooks runs the webhook emitter and worker (package webhook) with
// serve, signing with the partners' secrets the partner API sealed under
// pkey, and delivering the enterprise pushes (package push) of partners
// that configured one through api; it mounts their admin endpoints; stop
// ends them and waits. On PostgreSQL (q.pg not nil) the deliveries, the
// retention sweep and the erasures are the job queue's (jobs.go).
func startWebhooks(ctx context.Context, srv *central.Server, store central.Store, q queueConfig, pkey []byte, api *partnerapi.API, logger *slog.Logger) (stop func(), err error) {
	sender, err := push.New(push.Config{Source: api, Logger: logger})
	if err != nil {
		return nil, err
	}
	svc, err := webhook.New(store, webhook.Config{Logger: logger, Open: func(partnerID string, sealed []byte) ([]byte, error) {
		s, err := partnerapi.OpenWebhookSecret(pkey, partnerID, sealed)
		return []byte(s), err
	}, Senders: map[string]webhook.Sender{push.SenderPrefix: sender}, Timeout: q.timeout, MinRate: q.minRate, Drain: 3 * q.timeout, Lanes: q.lanes()})
	if err != nil {
		return nil, err
	}
	svc.Mount(srv.MountAdmin)
	if q.pg == nil {
		return svc.Start(ctx), nil
	}
	stopJobs, err := startJobs(ctx, q, srv, svc.Worker, logger)
	if err != nil {
		return nil, err
	}
	stopSvc := svc.Start(ctx)
	return func() { stopSvc(); stopJobs() }, nil
}
