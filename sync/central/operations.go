package central

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/openkyc/kyc/sync/central/httpx"
	"github.com/openkyc/kyc/sync/protocol"
)

// The operations in this file are what the admin API and the console both
// do to central's state: each checks its input, changes the store and
// leaves an audit event naming the actor, so neither surface can skip the
// trail. Input errors are *httpx.Error with a public message (400, 404,
// 501); anything else is internal.

// Audit actions of the operations (besides privacy.go's).
const (
	AuditEnrollToken  = "enroll_token"
	AuditDeviceRevoke = "device_revoke"
	AuditDeviceBranch = "device_branch"
	// AuditRiskPublish is a publish by one person, before risk settings
	// took four eyes (AuditRiskConfirmed): older trails hold it.
	AuditRiskPublish      = "risk_publish"
	AuditWatchlistPublish = "watchlist_publish"
	// AuditErasureDryRun is an erasure counted and not carried out: it
	// still tells whether central holds data of a person, so it is a read
	// worth recording.
	AuditErasureDryRun = "erasure_dry_run"
)

// MaxTokenTTL bounds an enrolment token's life.
const MaxTokenTTL = 30 * 24 * time.Hour

// maxBranchLen bounds a branch name (it is an index column and a scope).
const maxBranchLen = 64

// maxAuditConfig is the largest risk document an audit event carries
// whole; a larger one is recorded by its digest.
const maxAuditConfig = 16 << 10

// CheckBranch reports whether b can name a branch: at most 64 printable
// characters (PlainText).
func CheckBranch(b string) error {
	if len(b) > maxBranchLen {
		return httpx.Errorf(http.StatusBadRequest, "malformed", "a branch name is at most %d characters", maxBranchLen)
	}
	if !PlainText(b) {
		return httpx.Errorf(http.StatusBadRequest, "malformed", "a branch name holds no control, format or invisible characters")
	}
	return nil
}

// PlainText reports whether s is valid UTF-8 of visible characters and
// spaces only (unicode.IsGraphic): no control codes (C0 and C1), line or
// paragraph separators, and no format characters, among them the
// bidirectional overrides and isolates (U+202E turns the rest of the line
// around: a partner's name on the hosted flow's landing page would make
// its warning say something else) and the zero-width ones (a name that
// looks like another partner's). For names people read: partners',
// branches'.
func PlainText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsGraphic(r) })
}

// audit appends a console or admin action to the trail.
func (s *Server) audit(ctx context.Context, actor, action, subject string, before, after any) error {
	ev, err := s.auditEvent(ctx, actor, action, subject, before, after)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.AppendAudit(ctx, ev); err != nil {
		return fmt.Errorf("recording %s in the audit trail: %w", action, err)
	}
	return nil
}

// auditEvent is the event of a console or admin action, for a store
// method that appends it in the transaction of the change.
func (s *Server) auditEvent(ctx context.Context, actor, action, subject string, before, after any) (AuditEvent, error) {
	ev := AuditEvent{ID: requestID(ctx), At: s.cfg.Now().UTC(), Actor: actor, Action: action, Subject: subject, Count: 1}
	var err error
	if ev.Before, err = rawJSON(before); err != nil {
		return AuditEvent{}, err
	}
	if ev.After, err = rawJSON(after); err != nil {
		return AuditEvent{}, err
	}
	return ev, nil
}

func rawJSON(v any) (json.RawMessage, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		return v, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding an audit state: %w", err)
	}
	return b, nil
}

// requestID is the request id of ctx, or a new one outside a request.
func requestID(ctx context.Context) string {
	if id := httpx.RequestID(ctx); id != "" {
		return id
	}
	return httpx.NewRequestID()
}

// CreateEnrollToken makes a one-time enrolment token for a device of
// branch, valid for ttl (DefaultTokenTTL when 0, at most MaxTokenTTL). The
// token is in the answer only: central keeps its hash, and the audit event
// records the branch and expiry.
func (s *Server) CreateEnrollToken(ctx context.Context, actor, branch string, ttl time.Duration) (TokenResponse, error) {
	if ttl == 0 {
		ttl = DefaultTokenTTL
	}
	if ttl < 0 || ttl > MaxTokenTTL {
		return TokenResponse{}, httpx.Errorf(http.StatusBadRequest, "malformed", "ttl must be a duration up to 720h")
	}
	if err := CheckBranch(branch); err != nil {
		return TokenResponse{}, err
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	fp := s.Fingerprint()
	tok := protocol.FormatEnrollToken(secret, fp)
	now := s.cfg.Now().UTC()
	t := EnrollToken{Hash: sha256.Sum256([]byte(tok)), CreatedAt: now, ExpiresAt: now.Add(ttl), Branch: branch}
	if err := s.cfg.Store.CreateEnrollToken(ctx, t); err != nil {
		return TokenResponse{}, fmt.Errorf("recording enrolment token: %w", err)
	}
	after := map[string]any{"branch": branch, "expires_at": t.ExpiresAt}
	if err := s.audit(ctx, actor, AuditEnrollToken, "branch:"+branch, nil, after); err != nil {
		return TokenResponse{}, err
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "enrolment token created",
		slog.String("request_id", httpx.RequestID(ctx)), slog.String("actor", actor),
		slog.String("branch", branch), slog.Time("expires_at", t.ExpiresAt))
	return TokenResponse{Token: tok, ExpiresAt: t.ExpiresAt, Fingerprint: base64.RawURLEncoding.EncodeToString(fp)}, nil
}

// deviceState is what the audit trail keeps of a device around a change.
type deviceState struct {
	Branch    string    `json:"branch"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// RevokeDevice revokes a device (its next request is refused) and records
// who did it. Revoking a revoked device keeps the first time and records
// nothing new.
func (s *Server) RevokeDevice(ctx context.Context, actor, id string) (Device, error) {
	before, err := s.cfg.Store.Device(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Device{}, httpx.Errorf(http.StatusNotFound, "unknown_device", "no such device")
	}
	if err != nil {
		return Device{}, fmt.Errorf("reading device: %w", err)
	}
	if before.Revoked() {
		return before, nil
	}
	if err := s.cfg.Store.RevokeDevice(ctx, id, s.cfg.Now().UTC()); err != nil {
		return Device{}, fmt.Errorf("revoking device: %w", err)
	}
	d, err := s.cfg.Store.Device(ctx, id)
	if err != nil {
		return Device{}, fmt.Errorf("reading revoked device: %w", err)
	}
	if err := s.audit(ctx, actor, AuditDeviceRevoke, "device:"+id,
		deviceState{Branch: before.Branch}, deviceState{Branch: d.Branch, RevokedAt: d.RevokedAt}); err != nil {
		return Device{}, err
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "device revoked",
		slog.String("request_id", httpx.RequestID(ctx)), slog.String("actor", actor),
		slog.String("device_id", id), slog.Time("revoked_at", d.RevokedAt))
	return d, nil
}

// SetDeviceBranch moves a device to another branch, which changes which
// reviewers see its submissions.
func (s *Server) SetDeviceBranch(ctx context.Context, actor, id, branch string) (Device, error) {
	if err := CheckBranch(branch); err != nil {
		return Device{}, err
	}
	before, err := s.cfg.Store.Device(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Device{}, httpx.Errorf(http.StatusNotFound, "unknown_device", "no such device")
	}
	if err != nil {
		return Device{}, fmt.Errorf("reading device: %w", err)
	}
	if before.Branch == branch {
		return before, nil
	}
	if err := s.cfg.Store.SetDeviceBranch(ctx, id, branch); err != nil {
		return Device{}, fmt.Errorf("setting the device's branch: %w", err)
	}
	d := before
	d.Branch = branch
	if err := s.audit(ctx, actor, AuditDeviceBranch, "device:"+id,
		deviceState{Branch: before.Branch, RevokedAt: before.RevokedAt}, deviceState{Branch: branch, RevokedAt: before.RevokedAt}); err != nil {
		return Device{}, err
	}
	return d, nil
}

// riskState is what the audit trail keeps of the risk configuration: its
// version and the document (or its digest when large).
type riskState struct {
	Version int64           `json:"version"`
	Config  json.RawMessage `json:"config,omitempty"`
	SHA256  string          `json:"sha256,omitempty"`
}

func newRiskState(v int64, doc json.RawMessage) riskState {
	st := riskState{Version: v}
	switch {
	case len(doc) == 0:
	case len(doc) <= maxAuditConfig && json.Valid(doc):
		st.Config = doc
	default:
		sum := sha256.Sum256(doc)
		st.SHA256 = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return st
}

// watchlistState is what the audit trail keeps of a watchlist.
type watchlistState struct {
	Version int64  `json:"version"`
	Size    int64  `json:"size"`
	SHA256  []byte `json:"sha256,omitempty"`
}

// HasIndex reports whether central can find a person's submissions (its
// store seals them with a blind index).
func (s *Server) HasIndex() bool { return s.privacy.index != nil }
