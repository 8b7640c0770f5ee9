package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/partnerapi"
	"github.com/openkyc/kyc/sync/central/recheck"
)

// errRecheckNoEngine refuses --recheck-approvals without the face engine:
// an operator who asked for central's second opinion must not run without
// it unawares.
var errRecheckNoEngine = errors.New("--recheck-approvals needs the face models (kyc models install, or --models): central's engine rechecks the approvals")

// startRecheck runs central's recheck of device approvals (package
// recheck) with fm, the Face Match API's engine. The sweep works from a
// stored cursor, so an approval a stop interrupted is rechecked at the
// next start. On PostgreSQL (q.pg) it only gives the rechecker to the job
// queue (q.recheck), which runs it on one instance at a time (startJobs):
// two would judge the same approvals from one cursor. On bbolt it runs in
// a goroutine that ends with ctx; stop cancels it and waits.
func startRecheck(ctx context.Context, store central.Store, fm partnerapi.FaceMatcher, q *queueConfig, logger *slog.Logger) (stop func(), err error) {
	if fm == nil {
		return nil, errRecheckNoEngine
	}
	r := recheck.New(recheck.Config{Store: store, Matcher: fm, Log: logger.With("part", "recheck")})
	if q.pg != nil {
		q.recheck = r
		logger.Info("rechecking device approvals with central's face engine, through the job queue", "every", recheck.DefaultEvery.String())
		return func() {}, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	logger.Info("rechecking device approvals with central's face engine", "every", recheck.DefaultEvery.String())
	return func() { cancel(); <-done }, nil
}
