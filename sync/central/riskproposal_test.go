package central_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/central/httpx"
)

// publishRisk publishes doc as it is done now: the admin API proposes it
// (202), and a console admin ("user:second") confirms it.
func (c *tc) publishRisk(t *testing.T, doc string) int64 {
	t.Helper()
	var p central.RiskProposal
	if resp, e := c.admin(t, http.MethodPut, "/admin/v1/config/risk", []byte(doc), &p); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("proposing the risk configuration: %d %+v", resp.StatusCode, e)
	}
	v, err := c.Server.ConfirmRisk(context.Background(), "user:second", p.ID)
	if err != nil {
		t.Fatalf("confirming the risk configuration: %v", err)
	}
	return v
}

// TestAdminRiskProposes: the admin token, a shared machine credential,
// cannot publish risk settings alone: PUT /admin/v1/config/risk answers
// 202 with a proposal, devices' configuration keeps the version before,
// and a console admin's confirm publishes it. The token's holder cannot
// confirm (it is no console user), and proposing again replaces its own.
func TestAdminRiskProposes(t *testing.T) {
	ctx := context.Background()
	store := openBolt(t)
	c := start(t, central.Config{Store: store})
	d := c.enrol(t)

	lax := `{"bands":{"approve_min":0.01,"review_min":0},"required":[]}`
	var p central.RiskProposal
	resp, e := c.admin(t, http.MethodPut, "/admin/v1/config/risk?reason=tuning", []byte(lax), &p)
	if resp.StatusCode != http.StatusAccepted || p.ID == "" || p.Base != 0 || string(p.Config) != lax || p.Reason != "tuning" ||
		!strings.HasPrefix(p.Proposer, "admin:") || p.ExpiresAt.Sub(p.At) != central.DefaultRiskProposalTTL {
		t.Fatalf("PUT risk: %d %+v %+v", resp.StatusCode, e, p)
	}
	if _, v, _ := store.Risk(ctx); v != 0 {
		t.Fatalf("the admin token alone published version %d", v)
	}
	if cfg := d.config(t); cfg.Version != 0 || strings.Contains(string(cfg.Risk), "0.01") {
		t.Fatalf("a device got the proposal: %+v", cfg)
	}
	if _, err := c.Server.ConfirmRisk(ctx, p.Proposer, p.ID); status(err) != http.StatusForbidden {
		t.Errorf("the proposer's confirm: %v, want 403", err)
	}
	if evs, _ := store.Audit(ctx, central.AuditFilter{Action: central.AuditRiskProposed}); len(evs) != 1 || evs[0].Actor != p.Proposer {
		t.Errorf("risk_proposed audit: %+v", evs)
	}
	var again central.RiskProposal
	if resp, e := c.admin(t, http.MethodPut, "/admin/v1/config/risk", []byte(`{"max_retries":2}`), &again); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("the token replacing its proposal: %d %+v", resp.StatusCode, e)
	}
	if _, err := c.Server.ConfirmRisk(ctx, "user:bob", p.ID); status(err) != http.StatusNotFound {
		t.Errorf("confirming the replaced proposal: %v, want 404", err)
	}
	v, err := c.Server.ConfirmRisk(ctx, "user:bob", again.ID)
	if err != nil || v != 1 {
		t.Fatalf("bob's confirm: %d, %v", v, err)
	}
	if cfg := d.config(t); cfg.Version != 1 || string(cfg.Risk) != `{"max_retries":2}` {
		t.Errorf("the device's configuration after the confirm: %+v", cfg)
	}
	if _, err := c.Server.ProposeRisk(ctx, "user:ada", []byte("{"), ""); status(err) != http.StatusBadRequest {
		t.Errorf("a proposal that is not JSON: %v, want 400", err)
	}
	if _, err := c.Server.ProposeRisk(ctx, "user:ada", []byte("{}"), strings.Repeat("é", 2001)); status(err) != http.StatusBadRequest {
		t.Errorf("a reason too long: %v, want 400", err)
	}
}

// TestRiskProposalExpires: a proposal not confirmed within
// Config.RiskProposalTTL is no longer pending: its confirm is 404, and
// anyone may propose in its place.
func TestRiskProposalExpires(t *testing.T) {
	ctx := context.Background()
	clk := &centraltest.Clock{}
	store := openBolt(t)
	c := start(t, central.Config{Store: store, Now: clk.Now, RiskProposalTTL: time.Hour})
	srv := c.Server
	p, err := srv.ProposeRisk(ctx, "user:ada", []byte(`{"max_retries":4}`), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.ProposeRisk(ctx, "user:cy", []byte(`{"max_retries":5}`), ""); status(err) != http.StatusConflict {
		t.Errorf("another's proposal over a pending one: %v, want 409", err)
	}
	clk.Advance(time.Hour)
	if _, ok, err := srv.PendingRisk(ctx); ok || err != nil {
		t.Errorf("PendingRisk after the TTL: %v, %v; want none", ok, err)
	}
	if _, err := srv.ConfirmRisk(ctx, "user:bob", p.ID); status(err) != http.StatusNotFound {
		t.Errorf("confirming an expired proposal: %v, want 404", err)
	}
	if _, v, _ := store.Risk(ctx); v != 0 {
		t.Errorf("an expired proposal was published (version %d)", v)
	}
	if _, err := srv.ProposeRisk(ctx, "user:cy", []byte(`{"max_retries":5}`), ""); err != nil {
		t.Errorf("a proposal in place of an expired one: %v", err)
	}
}

// status is the HTTP status of an operation's public error; 0 otherwise.
func status(err error) int {
	var he *httpx.Error
	if errors.As(err, &he) {
		return he.Status
	}
	return 0
}
