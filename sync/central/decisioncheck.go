package central

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/sync/central/httpx"
	"github.com/openkyc/kyc/sync/identity"
)

// Reason codes central puts first in a submission's Summary.Reasons when
// it does not trust the decision the device reports, and routes the case
// to review instead (Summary.DeviceDecision keeps the device's; the
// payload is kept whole). The engine approves only at a score in the
// approve band of its risk configuration (risk.Bands), so an approval
// below it comes from a device that is broken or lies.
const (
	// ReasonDecisionContradictsBands: an approval outside the approve band
	// of the risk configuration it was made under, as the device's result
	// names it (a device whose result names none: the version its last
	// status reports, when that is the current one).
	ReasonDecisionContradictsBands = "DEVICE_DECISION_CONTRADICTS_BANDS"
	// ReasonRiskVersionUnknown: an approval outside the approve band of the
	// current risk configuration, made under a version whose bands central
	// does not know (never published, ahead of central's, one it cannot
	// apply) or central never served that device, or, by a device whose
	// result names no version, while its last status reports another
	// version than the current one (or none yet).
	ReasonRiskVersionUnknown = "DEVICE_RISK_VERSION_UNKNOWN"
	// ReasonDecisionUnknown: a decision the risk engine never gives.
	ReasonDecisionUnknown = "DEVICE_DECISION_UNKNOWN"
	// ReasonConfigRolledBack: an approval made under an older risk
	// configuration than one the device's status had already reported in
	// use, after that report (doubtRollback): its configuration was put
	// back, its vault restored from a copy, or it lies.
	ReasonConfigRolledBack = "DEVICE_CONFIG_ROLLED_BACK"
)

// RollbackGrace is how long after a device's status first reports a risk
// configuration version an approval may still be made under an older one:
// a verification loads its configuration when it starts and may decide
// minutes later, and the status's time and the decision's (the device's
// clock moved by its reported offset) are each a little off.
const RollbackGrace = 15 * time.Minute

// RiskServings records which risk configuration versions central served
// each device (GET /v1/config), so that a device's result can name only a
// version it was given: a device that lies could otherwise name any version
// ever published, the defaults (0) among them, to be judged by the
// loosest bands.
type RiskServings interface {
	// ServeRisk records that central serves risk configuration version
	// (0: the built-in defaults, none published) to deviceID; recording it
	// again changes nothing.
	ServeRisk(ctx context.Context, deviceID string, version int64) error
	// RiskServed reports whether version was recorded served to deviceID.
	RiskServed(ctx context.Context, deviceID string, version int64) (bool, error)
}

// AuditDecisionDistrusted records a device's decision central routed to
// review (subject the case, After the decisionDoubt).
const AuditDecisionDistrusted = "device_decision_distrusted"

// Where a decisionDoubt's DeviceVersion comes from.
const (
	versionFromDecision = "decision" // the payload's risk_version: the one the decision was made under
	versionFromStatus   = "status"   // the device's last status: what it runs now
)

// decisionDoubt is why central does not trust a device's decision.
type decisionDoubt struct {
	Reason   string  `json:"reason"`
	Decision string  `json:"device_decision"`
	Score    float64 `json:"score"`
	// DeviceVersion is the risk version the device names (absent: none),
	// from VersionFrom; Version the one whose bands the approval was
	// judged by (absent for a decision the engine never gives, which no
	// bands judge), a screening doubt's too.
	DeviceVersion *int64  `json:"device_risk_version,omitempty"`
	VersionFrom   string  `json:"device_risk_version_from,omitempty"`
	Version       *int64  `json:"risk_version,omitempty"`
	ApproveMin    float64 `json:"approve_min,omitempty"`
	Detail        string  `json:"detail"`
	// Screening is what central compared for ReasonScreeningUnconfirmed.
	Screening *screeningDoubt `json:"screening,omitempty"`
	// Rollback is what central compared for ReasonConfigRolledBack.
	Rollback *rollbackDoubt `json:"rollback,omitempty"`
	// Clock is what central compared for ReasonClockDocExpired and
	// ReasonClockHolderUnderage.
	Clock *clockDoubt `json:"clock,omitempty"`
	// minAge is the min_age of the risk configuration the approval was
	// judged by, for doubtClock.
	minAge int
}

// rollbackDoubt is what central compared when it doubted an approval made
// under an older configuration than the device had reported in use.
type rollbackDoubt struct {
	// Reported is the newest version the device's statuses reported in
	// use, and since when.
	Reported ConfigReported `json:"reported"`
	// DecidedAfter is the latest time, by central's clock, the decision is
	// known to be made after; From says how it is known: "challenge" (the
	// attestation signs a challenge central issued then) or "report" (the
	// attestation's time, moved by the offset the device's last status
	// reports).
	DecidedAfter time.Time `json:"decided_after"`
	From         string    `json:"decided_after_from"`
}

// engineDecisions are the decisions risk.Evaluate gives; "unknown" is
// Summarize's for a payload without one, already left to a person.
var engineDecisions = []string{string(risk.Approve), string(risk.Review), string(risk.Reject), string(risk.Escalate), "unknown"}

// decidedUnder is the risk configuration version payload says its
// decision was made under (internal/submission.Payload.RiskVersion); nil
// for a payload from a device too old to say.
func decidedUnder(payload []byte) *int64 {
	var p struct {
		RiskVersion *int64 `json:"risk_version"`
	}
	if json.Unmarshal(payload, &p) != nil {
		return nil
	}
	return p.RiskVersion
}

// doubtDecision checks the decision the device reports against the bands
// of the risk configuration it was made under. Central keeps every
// version it published (Store.RiskVersion) and knows the built-in
// defaults (version 0), so an approval made under an earlier version and
// synced after a newer one (a rollout, a device offline for days) is
// judged by its own bands. The version is the device's claim: it counts
// only if central served it to that device (Store.RiskServed), else a
// device could pick the loosest bands ever published. A version central
// never served the device, or one it cannot apply (which no device
// installs), has bands that are not the device's: the approval is held
// to the current bands, and one outside them is doubted as of an unknown
// version. Versions served before central recorded servings count from
// the device's next configuration sync.
//
// A payload from an older device does not name its version: the device's
// last status stands in, trusted only when it is the current version (it
// says what the device runs now, not what it ran when it decided). Only
// an approval depends on the bands: review, reject and escalate come from
// hard rules at any score.
//
// judged is how an approval was judged (the versions and the band), with
// Reason "" when doubt is nil, for doubtScreening to record beside its
// own doubt; nil for any other decision.
func (s *Server) doubtDecision(ctx context.Context, d Device, sum Summary, payload []byte) (doubt, judged *decisionDoubt, err error) {
	if !slices.Contains(engineDecisions, sum.Decision) {
		return &decisionDoubt{Reason: ReasonDecisionUnknown, Decision: sum.Decision, Score: sum.Score,
			Detail: fmt.Sprintf("the device reports decision %q, which the risk engine never gives", sum.Decision)}, nil, nil
	}
	if sum.Decision != string(risk.Approve) {
		return nil, nil, nil
	}
	doc, latest, err := s.cfg.Store.Risk(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the risk configuration to check a device's decision: %w", err)
	}
	cfg, current := risk.DefaultConfig(), int64(0)
	if latest > 0 {
		// A document the engine cannot apply is installed by no device
		// (each keeps its previous one): its bands are nobody's, and the
		// defaults are the ones central can name.
		if parsed, err := risk.ParseConfig(doc); err == nil {
			cfg, current = parsed, latest
		}
	}
	applied := current
	dd := &decisionDoubt{Decision: sum.Decision, Score: sum.Score, Version: &applied}
	known := false
	if v := decidedUnder(payload); v != nil {
		dd.DeviceVersion, dd.VersionFrom = v, versionFromDecision
		served, err := s.cfg.Store.RiskServed(ctx, d.ID, *v)
		if err != nil {
			return nil, nil, fmt.Errorf("reading whether a device was served the risk version its decision names: %w", err)
		}
		switch {
		case !served:
		case *v == current:
			known = true
		case *v == 0:
			cfg, known, applied = risk.DefaultConfig(), true, 0
		case *v > 0 && *v <= latest:
			// ErrNotFound: a version a boltstore file predating the
			// history no longer holds.
			old, err := s.cfg.Store.RiskVersion(ctx, *v)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return nil, nil, fmt.Errorf("reading the risk configuration a device's decision was made under: %w", err)
			}
			if err == nil {
				if parsed, err := risk.ParseConfig(old); err == nil {
					cfg, known, applied = parsed, true, *v
				}
			}
		}
	} else if d.Status != nil {
		dd.DeviceVersion, dd.VersionFrom = &d.Status.ConfigVersion, versionFromStatus
		known = d.Status.ConfigVersion == current
	}
	dd.ApproveMin, dd.minAge = cfg.Bands.ApproveMin, cfg.MinAge
	if sum.Score >= dd.ApproveMin && sum.Score <= 100 {
		return nil, dd, nil
	}
	switch {
	case known && dd.VersionFrom == versionFromDecision:
		dd.Reason = ReasonDecisionContradictsBands
		dd.Detail = fmt.Sprintf("the device approved at score %g, outside the approve band (%g to 100) of risk configuration version %d, under which it made the decision", sum.Score, dd.ApproveMin, applied)
	case known:
		dd.Reason = ReasonDecisionContradictsBands
		dd.Detail = fmt.Sprintf("the device approved at score %g, outside the approve band (%g to 100) of risk configuration version %d, which it reports in use", sum.Score, dd.ApproveMin, applied)
	case dd.VersionFrom == versionFromDecision:
		dd.Reason = ReasonRiskVersionUnknown
		dd.Detail = fmt.Sprintf("the device approved at score %g under risk configuration version %d, whose bands central does not know (it never served it to this device, no longer holds it, or cannot apply it); the score is outside the approve band (%g to 100) of the current version %d", sum.Score, *dd.DeviceVersion, dd.ApproveMin, applied)
	default:
		dd.Reason = ReasonRiskVersionUnknown
		dd.Detail = fmt.Sprintf("the device approved at score %g, outside the approve band (%g to 100) of the current risk configuration version %d; its result does not name the version it was made under, and it reports %s in use", sum.Score, dd.ApproveMin, applied, versionWords(dd.DeviceVersion))
	}
	return dd, dd, nil
}

// doubtRollback checks an approval's risk version against the newest the
// device's statuses reported in use. An agent installs a configuration and
// then reports it, and never goes back to an older one (sync/agent refuses
// an older answer, the vault's pin an older copy on disk), so an approval
// made under an older version more than RollbackGrace after that report
// comes from a device whose configuration was put back: a whole vault
// restored from a copy, which the device cannot tell itself, or a device
// that lies. When it was made is known by central's clock from the
// challenge its attestation signs (issued at a configuration sync, no
// earlier than the newer version's serving when it is later than the
// report), and from the attestation's time moved onto central's clock by
// the offset the device's last status reports (an offset beyond
// identity.MaxClockCorrection, which no agent reports, counting as
// unknown). An approval queued while the device was offline, before it
// installed the newer version, was made before the report and stands.
// judged is how doubtDecision judged it.
func doubtRollback(d Device, att checkedAttestation, judged *decisionDoubt) *decisionDoubt {
	if judged == nil || d.NewestConfig == nil || judged.VersionFrom != versionFromDecision {
		return nil
	}
	v := *judged.DeviceVersion
	if v >= d.NewestConfig.Version {
		return nil
	}
	rd := &rollbackDoubt{Reported: *d.NewestConfig, DecidedAfter: att.issued, From: "challenge"}
	if d.Status != nil {
		if off := time.Duration(d.Status.ClockOffsetMS) * time.Millisecond; off.Abs() <= identity.MaxClockCorrection {
			if t := att.att.Report.Time.Add(off); t.After(rd.DecidedAfter) {
				rd.DecidedAfter, rd.From = t, "report"
			}
		}
	}
	if !rd.DecidedAfter.After(rd.Reported.Since.Add(RollbackGrace)) {
		return nil
	}
	dd := *judged
	dd.Reason, dd.Rollback = ReasonConfigRolledBack, rd
	how := "the challenge its attestation signs"
	if rd.From == "report" {
		how = "its attestation's time and clock offset"
	}
	dd.Detail = fmt.Sprintf("the device approved under risk configuration version %d, after %s by central's clock (from %s), though its status had reported version %d in use since %s: a device goes back to an older configuration only when it is put back",
		v, rd.DecidedAfter.UTC().Format(time.RFC3339), how, rd.Reported.Version, rd.Reported.Since.UTC().Format(time.RFC3339))
	return &dd
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
