package console

import (
	"context"
	"net/http"

	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/sync/central"
)

// A risk proposal (central.ProposeRisk, from this page or the admin API)
// waits on the risk page for another admin, as an override waits for a
// second reviewer: the page shows what it changes against the published
// settings and its preview, and any admin but its proposer confirms
// (publishes it) or declines it; its proposer sees it and may replace it.

func (c *Console) routeRiskProposal() {
	c.route("POST /console/risk/proposal/confirm", central.RoleAdmin, c.riskConfirm)
	c.route("POST /console/risk/proposal/decline", central.RoleAdmin, c.riskDecline)
}

// riskPending is the pending proposal as the page shows it.
type riskPending struct {
	central.RiskProposal
	// Via is the admin credential its proposer sent it with (the admin
	// token, kyc-central serve --admin-token-owner); "" from the console.
	Via  string
	Mine bool // the viewer proposed it: they cannot confirm it
	// Global is false for an admin scoped to branches, who neither
	// previews (it counts every branch's cases) nor confirms.
	Global bool
	Stale  bool // another publish moved the version since: it cannot be confirmed
	// Parsed is false when the proposal is not valid risk settings (the
	// admin API takes any JSON): Diff and Preview are left out.
	Parsed  bool
	Diff    []riskDiff
	Preview *riskPreview
}

// riskDiff is one setting the proposal changes; a Key is a catalogue key
// (a choice) to translate, else the value is shown as is.
type riskDiff struct {
	Label, Sub                    string // catalogue keys; Sub may be ""
	Before, After                 string
	BeforeKey, AfterKey           string
	BeforeRequired, AfterRequired bool // for a required-signal row
	Required                      bool
}

// pendingRisk is the pending proposal compared with the published
// settings cur (version ver); nil when none is pending.
func (c *Console) pendingRisk(ctx context.Context, v *Viewer, cur risk.Config, ver int64) (*riskPending, error) {
	srv, err := c.server()
	if err != nil {
		return nil, err
	}
	p, ok, err := srv.PendingRisk(ctx)
	if err != nil || !ok {
		return nil, err
	}
	via, err := srv.RiskProposalVia(ctx, p)
	if err != nil {
		return nil, err
	}
	pd := &riskPending{RiskProposal: p, Via: via, Mine: p.Proposer == v.Actor(), Global: globalSetting(v) == nil, Stale: p.Base != ver}
	next, err := risk.ParseConfig(p.Config)
	if err != nil || next.Validate() != nil {
		return pd, nil
	}
	pd.Parsed = true
	pd.Diff = diffRisk(formFromConfig(cur), formFromConfig(next))
	if !pd.Global {
		return pd, nil
	}
	if pd.Preview, err = c.previewRisk(ctx, cur, next); err != nil {
		return nil, err
	}
	return pd, nil
}

// diffRisk lists the settings that differ between two forms, in the
// form's order.
func diffRisk(a, b *riskForm) []riskDiff {
	var out []riskDiff
	num := func(label, sub string, x, y riskField) {
		if x.Value != y.Value {
			out = append(out, riskDiff{Label: label, Sub: sub, Before: x.Value, After: y.Value})
		}
	}
	for i, s := range a.Signals {
		sub := "adm.risk.s." + s.Name
		num("adm.risk.weight", sub, s.Weight, b.Signals[i].Weight)
		if s.Required != b.Signals[i].Required {
			out = append(out, riskDiff{Label: "adm.risk.required", Sub: sub, Required: true, BeforeRequired: s.Required, AfterRequired: b.Signals[i].Required})
		}
	}
	for i, x := range a.Bands {
		num("adm.risk.f."+x.Name, "", x, b.Bands[i])
	}
	for i, x := range a.Thresholds {
		num("adm.risk.f."+x.Name, "", x, b.Thresholds[i])
	}
	num("adm.risk.f.max_retries", "", a.MaxRetries, b.MaxRetries)
	num("adm.risk.f.min_age", "", a.MinAge, b.MinAge)
	num("adm.risk.f.screening_max_age_days", "", a.ScreeningMaxAge, b.ScreeningMaxAge)
	if a.FaceMismatch != b.FaceMismatch {
		out = append(out, riskDiff{Label: "adm.risk.f.face_mismatch", BeforeKey: "adm.risk.mismatch_" + a.FaceMismatch, AfterKey: "adm.risk.mismatch_" + b.FaceMismatch})
	}
	if a.RetriesExhausted != b.RetriesExhausted {
		out = append(out, riskDiff{Label: "adm.risk.f.retries_exhausted", BeforeKey: "adm.decision." + a.RetriesExhausted, AfterKey: "adm.decision." + b.RetriesExhausted})
	}
	return out
}

// riskConfirm publishes the pending proposal named by the form's id: 403
// four_eyes for its proposer (any of their sessions: the check is on the
// account), 409 risk_stale when another publish moved the version.
func (c *Console) riskConfirm(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	if err := globalSetting(v); err != nil {
		return err
	}
	srv, err := c.server()
	if err != nil {
		return err
	}
	if _, err := srv.ConfirmRisk(r.Context(), v.Actor(), r.PostFormValue("id")); err != nil {
		return opError(err)
	}
	return c.seeOther(w, r, "/console/risk", "msg.adm.risk_published")
}

// riskDecline drops the pending proposal named by the form's id, with the
// decliner's reason (required, as a declined override's note is).
func (c *Console) riskDecline(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	if err := globalSetting(v); err != nil {
		return err
	}
	reason, err := requiredNote(r, "reason")
	if err != nil {
		return err
	}
	srv, err := c.server()
	if err != nil {
		return err
	}
	if err := srv.DeclineRisk(r.Context(), v.Actor(), r.PostFormValue("id"), reason); err != nil {
		return opError(err)
	}
	return c.seeOther(w, r, "/console/risk", "msg.adm.risk_declined")
}
