package console_test

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/sync/central"
)

// riskFormOf is the risk settings form for cfg, as the page posts it.
func riskFormOf(cfg risk.Config, action, version string) url.Values {
	f := url.Values{"action": {action}, "version": {version}, "approve_min": {fmt.Sprint(cfg.Bands.ApproveMin)},
		"review_min": {fmt.Sprint(cfg.Bands.ReviewMin)}, "max_retries": {fmt.Sprint(cfg.MaxRetries)},
		"face_mismatch": {string(cfg.FaceMismatch)}, "retries_exhausted": {string(cfg.RetriesExhausted)},
		"screening_max_age_days": {fmt.Sprint(cmp.Or(cfg.ScreeningMaxAgeDays, risk.DefaultScreeningMaxAgeDays))}}
	for s, w := range cfg.Weights {
		f.Set("w_"+string(s), fmt.Sprint(w))
	}
	for _, s := range cfg.Required {
		f.Set("req_"+string(s), "1")
	}
	th := cfg.Thresholds
	for k, v := range map[string]float64{"face_liveness_min": th.FaceLivenessMin, "face_liveness_challenge_min": th.FaceLivenessChallengeMin,
		"doc_liveness_min": th.DocLivenessMin, "doc_authenticity_min": th.DocAuthenticityMin, "face_match_min": th.FaceMatchMin,
		"face_match_accept": th.FaceMatchAccept, "data_checks_min": th.DataChecksMin} {
		f.Set(k, fmt.Sprint(v))
	}
	return f
}

// TestAdminRiskStalePublish: an admin proposing from a page read before
// other admins published is refused (409) and the newer settings stay:
// else they would be undone silently, by settings whose preview compared
// with the old ones. Proposing again from the page shown then works.
func TestAdminRiskStalePublish(t *testing.T) {
	e := newAdminEnv(t)
	ada, bob, cy := e.user(t, "ada", central.RoleAdmin), e.user(t, "bob", central.RoleAdmin), e.user(t, "cy", central.RoleAdmin)
	ctx := context.Background()
	ada.get(t, "/console/risk")
	bob.get(t, "/console/risk")

	strict := risk.DefaultConfig()
	strict.Bands.ApproveMin = 95
	publishRisk(t, bob, cy, strict, "0")
	lax := risk.DefaultConfig()
	lax.Bands.ApproveMin = 60
	for _, tc := range []struct {
		name, version string
	}{
		{"read before bob's", "0"},
		{"no version", ""},
	} {
		if resp, _ := ada.post(t, "/console/risk", riskFormOf(lax, "propose", tc.version)); resp.StatusCode != http.StatusConflict {
			t.Errorf("ada's proposal from a form %s: %d, want 409", tc.name, resp.StatusCode)
		}
	}
	doc, v, err := e.store.Risk(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := risk.ParseConfig(doc); err != nil || v != 1 || cfg.Bands.ApproveMin != 95 {
		t.Fatalf("after the stale publish: version %d, approve_min %v (%v); want bob's 1, 95", v, cfg.Bands.ApproveMin, err)
	}
	if _, ok, _ := e.srv.PendingRisk(ctx); ok {
		t.Fatal("a stale form left a proposal")
	}
	publishRisk(t, ada, bob, lax, "1")
	if _, v, _ := e.store.Risk(ctx); v != 2 {
		t.Errorf("version %d after ada's proposal was confirmed, want 2", v)
	}
}
