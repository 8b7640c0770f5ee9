package central

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/openkyc/kyc/sync/central/httpx"
	"github.com/prometheus/client_golang/prometheus"
)

// AuditVerifyEvery is how often Serve verifies the audit chain, after
// once at start, so a trail altered while central was stopped, or since
// the last look, is reported without anyone opening the console.
const AuditVerifyEvery = 24 * time.Hour

// AuditChainBroken is the action of the event central appends (itself
// chained) when its own verification finds the chain broken or missing
// checkpoints; After holds the first bad entry and why.
const AuditChainBroken = "audit_chain_broken"

// auditWatch is the scheduled verification's metrics, and the break last
// reported, so a break is logged and audited once per process.
type auditWatch struct {
	ok, verifiedAt, seconds prometheus.Gauge
	// checked is closed once the first verification of Serve ended
	// (checkedOnce): CheckpointAudit waits for it.
	checked     chan struct{}
	checkedOnce sync.Once

	mu       sync.Mutex
	reported AuditBreak
}

func (s *Server) newAuditWatch() *auditWatch {
	a := &auditWatch{
		checked: make(chan struct{}),
		ok: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kyc_central_audit_chain_ok",
			Help: "1 when central's last verification of the audit chain found it intact and sealed by checkpoints, 0 when not (see the error log and the audit_chain_broken event).",
		}),
		verifiedAt: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kyc_central_audit_chain_verified_timestamp_seconds",
			Help: "When central last finished verifying the audit chain (0: not yet).",
		}),
		seconds: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kyc_central_audit_chain_verify_duration_seconds",
			Help: "How long central's last verification of the audit chain took.",
		}),
	}
	s.Registerer().MustRegister(a.ok, a.verifiedAt, a.seconds)
	return a
}

// VerifyAudit verifies the whole audit trail (VerifyAuditChain, with
// central's key) and sets kyc_central_audit_chain_ok and its timestamp. A
// break not reported before by this process is logged at Error and
// appended to the trail as AuditChainBroken. It returns the check and
// the *AuditBreak found, or the error that kept it from verifying.
func (s *Server) VerifyAudit(ctx context.Context) (AuditCheck, error) {
	return s.VerifyAuditOf(ctx, s.cfg.Store)
}

// VerifyAuditOf is VerifyAudit of log, central's trail as a part of
// central reads it (the console's view of the store): a verification
// asked for there is recorded and reported as the scheduled one is.
func (s *Server) VerifyAuditOf(ctx context.Context, log AuditLog) (AuditCheck, error) {
	a := s.auditWatch
	start := time.Now()
	chk, err := VerifyAuditChain(ctx, log, s.AuditKey())
	var brk *AuditBreak
	if err != nil && !errors.As(err, &brk) {
		return chk, fmt.Errorf("verifying the audit chain: %w", err)
	}
	took := time.Since(start)
	// The timestamp goes last: once it moves, the result is reported.
	defer func() {
		a.seconds.Set(took.Seconds())
		a.verifiedAt.Set(float64(s.cfg.Now().UnixMicro()) / 1e6)
	}()
	if brk == nil {
		a.ok.Set(1)
		return chk, nil
	}
	a.ok.Set(0)
	a.mu.Lock()
	fresh := a.reported != *brk
	a.reported = *brk
	a.mu.Unlock()
	if !fresh {
		return chk, err
	}
	s.log.LogAttrs(ctx, slog.LevelError, "audit chain does not verify",
		slog.Int64("seq", brk.Seq), slog.String("reason", brk.Reason), slog.Bool("missing_checkpoints", chk.MissingCheckpoints),
		slog.Int("events", chk.Events), slog.Int("checkpoints", chk.Checkpoints), slog.Int64("last_checkpoint", chk.LastCheckpoint))
	after, _ := json.Marshal(map[string]any{"broken_at": brk.Seq, "reason": brk.Reason, "missing_checkpoints": chk.MissingCheckpoints}) // strings and numbers encode
	if aerr := s.cfg.Store.AppendAudit(ctx, AuditEvent{ID: httpx.NewRequestID(), At: s.cfg.Now(), Actor: "central", Action: AuditChainBroken,
		Subject: "audit", After: after}); aerr != nil {
		return chk, errors.Join(err, fmt.Errorf("recording the broken audit chain: %w", aerr))
	}
	return chk, err
}

// startAuditChecks verifies the audit chain at once and then every
// interval until ctx ends or stop is called; stop waits for the goroutine
// to end. The first verification's end closes auditWatch.checked.
func (s *Server) startAuditChecks(ctx context.Context, interval time.Duration) (stop func()) {
	a := s.auditWatch
	return every(ctx, interval, nil, func(ctx context.Context) {
		defer a.checkedOnce.Do(func() { close(a.checked) })
		_, err := s.VerifyAudit(ctx)
		var brk *AuditBreak
		errors.As(err, &brk)
		// A break alone was logged by VerifyAudit; anything else is a
		// verification (or its report) that failed.
		if err != nil && (brk == nil || err != error(brk)) && ctx.Err() == nil {
			s.log.LogAttrs(ctx, slog.LevelError, "audit chain verification failed", slog.String("cause", err.Error()))
		}
	})
}
