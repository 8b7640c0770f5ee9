package central

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/sync/central/httpx"
)

// Reason codes central puts first in a submission's Summary.Reasons when
// it does not trust the decision the device reports, and routes the case
// to review instead (Summary.DeviceDecision keeps the device's; the
// payload is kept whole). The engine approves only at a score in the
// approve band of its risk configuration (risk.Bands), so an approval
// below it comes from a device that is broken or lies.
const (
	// ReasonDecisionContradictsBands: an approval below the approve band
	// of the risk configuration the device reports in use.
	ReasonDecisionContradictsBands = "DEVICE_DECISION_CONTRADICTS_BANDS"
	// ReasonRiskVersionUnknown: an approval below the approve band of the
	// current risk configuration, from a device that reports another
	// version (or none yet), whose bands central does not keep.
	ReasonRiskVersionUnknown = "DEVICE_RISK_VERSION_UNKNOWN"
	// ReasonDecisionUnknown: a decision the risk engine never gives.
	ReasonDecisionUnknown = "DEVICE_DECISION_UNKNOWN"
)

// AuditDecisionDistrusted records a device's decision central routed to
// review (subject the case, After the decisionDoubt).
const AuditDecisionDistrusted = "device_decision_distrusted"

// decisionDoubt is why central does not trust a device's decision.
type decisionDoubt struct {
	Reason   string  `json:"reason"`
	Decision string  `json:"device_decision"`
	Score    float64 `json:"score"`
	// DeviceVersion is the risk version in the device's last status
	// (absent: it sent none yet); Version the one whose bands were applied.
	DeviceVersion *int64  `json:"device_risk_version,omitempty"`
	Version       int64   `json:"risk_version"`
	ApproveMin    float64 `json:"approve_min,omitempty"`
	Detail        string  `json:"detail"`
}

// engineDecisions are the decisions risk.Evaluate gives; "unknown" is
// Summarize's for a payload without one, already left to a person.
var engineDecisions = []string{string(risk.Approve), string(risk.Review), string(risk.Reject), string(risk.Escalate), "unknown"}

// doubtDecision checks the decision the device reports against the bands
// of the risk configuration it reports in use. The payload does not name
// the version it was decided under, so that is the version in the
// device's last status (a kiosk decides under the configuration it last
// installed). Central keeps the bands of the current version only (and
// knows the built-in defaults, version 0): for another version an
// approval is held to the current bands, and one below them is doubted as
// of an unknown version. Only an approval depends on the bands: review,
// reject and escalate come from hard rules at any score.
func (s *Server) doubtDecision(ctx context.Context, d Device, sum Summary) (*decisionDoubt, error) {
	if !slices.Contains(engineDecisions, sum.Decision) {
		return &decisionDoubt{Reason: ReasonDecisionUnknown, Decision: sum.Decision, Score: sum.Score,
			Detail: fmt.Sprintf("the device reports decision %q, which the risk engine never gives", sum.Decision)}, nil
	}
	if sum.Decision != string(risk.Approve) {
		return nil, nil
	}
	doc, current, err := s.cfg.Store.Risk(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the risk configuration to check a device's decision: %w", err)
	}
	cfg := risk.DefaultConfig()
	if current > 0 {
		// A document the engine cannot apply is installed by no device
		// (each keeps its previous one): its bands are nobody's, and the
		// defaults are the ones central can name.
		if parsed, err := risk.ParseConfig(doc); err == nil {
			cfg = parsed
		} else {
			current = 0
		}
	}
	var reported *int64
	if d.Status != nil {
		reported = &d.Status.ConfigVersion
	}
	known := reported != nil && *reported == current
	approveMin := cfg.Bands.ApproveMin
	if sum.Score >= approveMin && sum.Score <= 100 {
		return nil, nil
	}
	dd := &decisionDoubt{Decision: sum.Decision, Score: sum.Score, DeviceVersion: reported, Version: current, ApproveMin: approveMin}
	if known {
		dd.Reason = ReasonDecisionContradictsBands
		dd.Detail = fmt.Sprintf("the device approved at score %g, outside the approve band (%g to 100) of risk configuration version %d, which it reports in use", sum.Score, approveMin, current)
	} else {
		dd.Reason = ReasonRiskVersionUnknown
		dd.Detail = fmt.Sprintf("the device approved at score %g, outside the approve band (%g to 100) of the current risk configuration version %d; it reports %s, whose bands central does not keep", sum.Score, approveMin, current, versionWords(reported))
	}
	return dd, nil
}

func versionWords(v *int64) string {
	if v == nil {
		return "no version yet"
	}
	return fmt.Sprintf("version %d", *v)
}

// distrust routes a submission whose decision is doubted to review: the
// reason first, the device's decision kept beside it.
func (dd *decisionDoubt) distrust(sum *Summary) {
	sum.DeviceDecision = sum.Decision
	sum.Decision = string(risk.Review)
	sum.Reasons = slices.Insert(sum.Reasons, 0, dd.Reason)
	if len(sum.Reasons) > maxSummaryReasons {
		sum.Reasons = sum.Reasons[:maxSummaryReasons]
	}
}

// auditDoubt records dd against the case. The case is stored and routed
// already; a failure to record is logged, not answered, so the device
// does not resend what central holds.
func (s *Server) auditDoubt(ctx context.Context, deviceID, key string, dd *decisionDoubt) {
	if err := s.audit(ctx, "central", AuditDecisionDistrusted, "case:"+deviceID+"/"+key, nil, dd); err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "device decision not audited",
			slog.String("request_id", httpx.RequestID(ctx)), slog.String("device_id", deviceID), slog.String("cause", err.Error()))
	}
	s.log.LogAttrs(ctx, slog.LevelWarn, "device decision distrusted",
		slog.String("request_id", httpx.RequestID(ctx)), slog.String("device_id", deviceID), slog.String("key", key),
		slog.String("reason", dd.Reason), slog.String("detail", dd.Detail))
}
