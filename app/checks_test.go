package app

import (
	"testing"

	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/engine/verify"
	"github.com/openkyc/kyc/internal/submission"
)

// TestScreeningCheck: the result screen's screening line follows what the
// screening and the policy found; lists too old to trust are not a pass.
func TestScreeningCheck(t *testing.T) {
	w := operatorWords("en")
	for _, tc := range []struct {
		name     string
		screened bool
		reasons  []risk.ReasonCode
		want     string
		text     string
	}{
		{"clear", true, nil, CheckPass, "check.screening.pass"},
		{"hit", true, []risk.ReasonCode{risk.WatchlistHit}, CheckFail, "check.screening.fail"},
		{"potential match", true, []risk.ReasonCode{risk.WatchlistPotentialMatch}, CheckWarn, "check.screening.warn"},
		{"stale lists", true, []risk.ReasonCode{risk.ScreeningStale}, CheckWarn, "check.screening.stale"},
		{"hit on stale lists", true, []risk.ReasonCode{risk.ScreeningStale, risk.WatchlistHit}, CheckFail, "check.screening.fail"},
		{"no list", false, []risk.ReasonCode{risk.ScreeningStale}, CheckWarn, "check.screening.stale"},
		{"not screened", false, nil, CheckNotRun, "check.screening.not_run"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := &verify.Report{Screening: verify.ScreeningReport{Screened: tc.screened}}
			for _, c := range tc.reasons {
				rep.Reasons = append(rep.Reasons, risk.Reason{Code: c})
			}
			for _, c := range checks(submission.Payload{Report: rep}, w) {
				if c.Key != "screening" {
					continue
				}
				if c.Outcome != tc.want || c.Text != w.get(tc.text) {
					t.Errorf("screening check %s %q, want %s %q", c.Outcome, c.Text, tc.want, w.get(tc.text))
				}
				return
			}
			t.Fatal("no screening check")
		})
	}
}
