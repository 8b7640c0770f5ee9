package console

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// distrustCodes are central's reason codes for a device decision it did
// not trust (sync/central/decisioncheck.go): first in Summary.Reasons of
// a case it routed to review.
var distrustCodes = []string{central.ReasonDecisionContradictsBands, central.ReasonRiskVersionUnknown, central.ReasonDecisionUnknown,
	central.ReasonCentralRecheckContradicts, central.ReasonScreeningUnconfirmed, central.ReasonConfigRolledBack,
	central.ReasonClockDocExpired, central.ReasonClockHolderUnderage}

// doubt is the After of a device_decision_distrusted audit event
// (central's decisionDoubt).
type doubt struct {
	Reason        string  `json:"reason"`
	Decision      string  `json:"device_decision"`
	Score         float64 `json:"score"`
	DeviceVersion *int64  `json:"device_risk_version"`
	// From is "decision" when DeviceVersion is the version the decision
	// was made under, "status" (or absent, before it was recorded) when
	// it is the device's last status.
	From       string  `json:"device_risk_version_from"`
	Version    int64   `json:"risk_version"`
	ApproveMin float64 `json:"approve_min"`
	// Screening is what central compared for ReasonScreeningUnconfirmed:
	// when it last served the device its configuration (zero: never) and
	// the lists whose claimed confirmation that contradicts.
	Screening struct {
		ServedAt time.Time `json:"config_served_at"`
		Lists    []struct {
			Name string `json:"name"`
		} `json:"lists"`
	} `json:"screening"`
	// Rollback is what central compared for ReasonConfigRolledBack: the
	// newest version the device reported in use and since when, and when
	// the approval is known to be made after.
	Rollback struct {
		Reported struct {
			Version int64     `json:"version"`
			Since   time.Time `json:"since"`
		} `json:"reported"`
		DecidedAfter time.Time `json:"decided_after"`
	} `json:"rollback"`
	// Clock is what central compared for ReasonClockDocExpired (the
	// document's expiry date and when the capture is known to be made
	// after) and ReasonClockHolderUnderage (the minimum age and the
	// holder's age when central received the submission).
	Clock struct {
		ExpiryDate   string    `json:"expiry_date"`
		MadeAfter    time.Time `json:"made_after"`
		MinAge       int       `json:"min_age"`
		AgeAtReceipt *int      `json:"age_at_receipt"`
		ReceivedAt   time.Time `json:"received_at"`
	} `json:"clock"`
	recheck
}

// distrustLine says in v's language why central sent cs to review instead
// of taking the device's decision: from the case's audit event when there
// is one (the bands and versions compared), else from the summary alone.
// "" for a case whose decision is the device's. code is central's reason
// code, first in the summary's reasons.
func (c *Console) distrustLine(ctx context.Context, v *Viewer, cs central.Case) (line, code string, err error) {
	if cs.Summary.DeviceDecision == "" {
		return "", "", nil
	}
	if len(cs.Summary.Reasons) > 0 && slices.Contains(distrustCodes, cs.Summary.Reasons[0]) {
		code = cs.Summary.Reasons[0]
	}
	T := func(key string, args ...any) string { return c.T(v, key, args...) }
	decision := func(d string) string { return T("decision." + d) }
	num := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	evs, err := c.cfg.Store.Audit(ctx, central.AuditFilter{Subject: caseSubject(cs.Ref), Action: central.AuditDecisionDistrusted, Limit: 1})
	if err != nil {
		return "", "", fmt.Errorf("reading why central distrusted the device's decision: %w", err)
	}
	var d doubt
	if len(evs) == 0 || json.Unmarshal(evs[0].After, &d) != nil {
		d = doubt{Decision: cs.Summary.DeviceDecision, Score: cs.Summary.Score}
	}
	switch d.Reason {
	case central.ReasonDecisionUnknown:
		return T("case.distrust.unknown", d.Decision), code, nil
	case central.ReasonDecisionContradictsBands:
		if d.From == "decision" {
			return T("case.distrust.bands_decided", decision(d.Decision), num(d.Score), num(d.ApproveMin), d.Version), code, nil
		}
		return T("case.distrust.bands", decision(d.Decision), num(d.Score), num(d.ApproveMin), d.Version), code, nil
	case central.ReasonCentralRecheckContradicts:
		return d.recheck.line(T, decision(d.Decision), num(d.Score)), code, nil
	case central.ReasonScreeningUnconfirmed:
		names := make([]string, 0, len(d.Screening.Lists))
		for _, l := range d.Screening.Lists {
			names = append(names, l.Name)
		}
		if d.Screening.ServedAt.IsZero() {
			return T("case.distrust.screening_never", decision(d.Decision), num(d.Score), strings.Join(names, ", ")), code, nil
		}
		return T("case.distrust.screening", decision(d.Decision), num(d.Score), strings.Join(names, ", "),
			d.Screening.ServedAt.UTC().Format("2006-01-02 15:04 UTC")), code, nil
	case central.ReasonConfigRolledBack:
		if d.DeviceVersion != nil {
			const at = "2006-01-02 15:04 UTC"
			return T("case.distrust.rollback", decision(d.Decision), num(d.Score), *d.DeviceVersion, d.Rollback.DecidedAfter.UTC().Format(at),
				d.Rollback.Reported.Version, d.Rollback.Reported.Since.UTC().Format(at)), code, nil
		}
	case central.ReasonClockDocExpired:
		if d.Clock.ExpiryDate != "" && !d.Clock.MadeAfter.IsZero() {
			return T("case.distrust.clock_expired", decision(d.Decision), num(d.Score), d.Clock.ExpiryDate,
				d.Clock.MadeAfter.UTC().Format("2006-01-02 15:04 UTC")), code, nil
		}
	case central.ReasonClockHolderUnderage:
		if d.Clock.AgeAtReceipt != nil && d.Clock.MinAge > 0 {
			return T("case.distrust.clock_underage", decision(d.Decision), num(d.Score), *d.Clock.AgeAtReceipt,
				d.Clock.ReceivedAt.UTC().Format("2006-01-02 15:04 UTC"), d.Clock.MinAge), code, nil
		}
	case central.ReasonRiskVersionUnknown:
		if d.From == "decision" && d.DeviceVersion != nil {
			return T("case.distrust.version_decided", decision(d.Decision), num(d.Score), *d.DeviceVersion, num(d.ApproveMin), d.Version), code, nil
		}
		reported := T("case.distrust.no_version")
		if d.DeviceVersion != nil {
			reported = T("case.distrust.device_version", *d.DeviceVersion)
		}
		return T("case.distrust.version", decision(d.Decision), num(d.Score), num(d.ApproveMin), d.Version, reported), code, nil
	}
	return T("case.distrust.plain", decision(cs.Summary.DeviceDecision), num(cs.Summary.Score)), code, nil
}
