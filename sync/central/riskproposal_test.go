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

// tokenOwner is the console admin who holds the test admin token
// (Config.AdminTokenOwner), whose proposals the token's are.
const tokenOwner = "owner"

// addTokenOwner creates tokenOwner's account in store, an enabled admin,
// and returns its name for Config.AdminTokenOwner.
func addTokenOwner(t *testing.T, store central.Users) string {
	t.Helper()
	if err := store.CreateUser(context.Background(), central.User{Name: tokenOwner, Role: central.RoleAdmin, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return tokenOwner
}

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

// TestAdminRiskProposes: the admin token cannot publish risk settings
// alone: PUT /admin/v1/config/risk answers 202 with a proposal of the
// token's owner, devices' configuration keeps the version before, and
// another console admin's confirm publishes it. The owner cannot confirm,
// and proposing again replaces their own.
func TestAdminRiskProposes(t *testing.T) {
	ctx := context.Background()
	store := openBolt(t)
	c := start(t, central.Config{Store: store, AdminTokenOwner: addTokenOwner(t, store)})
	d := c.enrol(t)

	lax := `{"bands":{"approve_min":0.01,"review_min":0},"required":[]}`
	// A reason the stores cannot keep as text is refused before anything.
	if resp, e := c.admin(t, http.MethodPut, "/admin/v1/config/risk?reason=a%00b", []byte(lax), nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("PUT risk with a NUL in its reason: %d %+v, want 400", resp.StatusCode, e)
	}
	var p central.RiskProposal
	resp, e := c.admin(t, http.MethodPut, "/admin/v1/config/risk?reason=tuning", []byte(lax), &p)
	if resp.StatusCode != http.StatusAccepted || p.ID == "" || p.Base != 0 || string(p.Config) != lax || p.Reason != "tuning" ||
		p.Proposer != "user:"+tokenOwner || p.ExpiresAt.Sub(p.At) != central.DefaultRiskProposalTTL {
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
	if evs, _ := store.Audit(ctx, central.AuditFilter{Action: central.AuditRiskProposed}); len(evs) != 1 || evs[0].Actor != p.Proposer ||
		!strings.Contains(string(evs[0].After), `"via":"admin:bootstrap-token:`) {
		t.Errorf("risk_proposed audit: %+v, want the owner's naming the token", evs)
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

// TestRiskProposalRefusesWhatDevicesRefuse: a risk document the engine
// cannot apply is refused when proposed, through the admin API or the
// console, with 422 invalid_risk_config naming the field and why; nothing
// is proposed or audited. Before, any JSON was proposed, could be
// confirmed, and left every device on its old configuration while central
// named the new version.
func TestRiskProposalRefusesWhatDevicesRefuse(t *testing.T) {
	ctx := context.Background()
	store := openBolt(t)
	c := start(t, central.Config{Store: store, AdminTokenOwner: addTokenOwner(t, store)})
	for _, tc := range []struct {
		name, doc string
		want      []string // in the message
	}{
		{"an unknown field", `{"max_retries":4,"face_match_strictness":"high"}`, []string{`unknown field "face_match_strictness"`}},
		{"an unknown field in bands", `{"bands":{"approve_min":90,"approve_max":99}}`, []string{`unknown field "approve_max"`}},
		{"a threshold above 1", `{"thresholds":{"face_liveness_min":1.5}}`, []string{"thresholds: face_liveness_min is 1.5, want 0-1"}},
		{"approve_min 0", `{"bands":{"approve_min":0,"review_min":0}}`, []string{"bands: approve_min 0 would approve every score"}},
		{"bands out of order", `{"bands":{"approve_min":20,"review_min":60}}`, []string{"bands: review_min 60 is above approve_min 20"}},
		{"two problems", `{"max_retries":0,"min_age":101}`, []string{"max_retries: 0", "min_age: 101, want 0-100"}},
		{"a string for a number", `{"bands":{"approve_min":"90"}}`, []string{"bands.approve_min: a string, want a number"}},
		{"an array", `[1,2,3]`, []string{"the document: an array, want an object"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// badAdmin: an array is not even the object openapi.json asks for.
			resp, e := c.badAdmin(t, http.MethodPut, "/admin/v1/config/risk", []byte(tc.doc), nil)
			if resp.StatusCode != http.StatusUnprocessableEntity || e.Code != "invalid_risk_config" {
				t.Fatalf("PUT risk %s: %d %+v, want 422 invalid_risk_config", tc.doc, resp.StatusCode, e)
			}
			_, err := c.Server.ProposeRisk(ctx, "user:ada", []byte(tc.doc), "")
			var he *httpx.Error
			if !errors.As(err, &he) || he.Status != http.StatusUnprocessableEntity || he.Message != e.Message {
				t.Fatalf("the console's proposal: %v, want the API's 422", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(e.Message, w) {
					t.Errorf("message %q does not say %q", e.Message, w)
				}
			}
			if strings.Contains(e.Message, "Go struct") || strings.Contains(e.Message, "json:") {
				t.Errorf("message %q speaks Go", e.Message)
			}
		})
	}
	if _, err := store.RiskProposal(ctx); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("a refused document is pending: %v", err)
	}
	if evs, _ := store.Audit(ctx, central.AuditFilter{Action: central.AuditRiskProposed}); len(evs) != 0 {
		t.Errorf("a refused document was audited as proposed: %+v", evs)
	}
}

// TestFourEyesNamesTwoPersons: the admin token's proposal is its owner's
// (Config.AdminTokenOwner), so one person holding the token and a console
// admin account cannot propose with the one and confirm with the other.
// Without an owner, or with one who is not an enabled admin, the token
// cannot propose: 403 admin_token_unowned, nothing pending or audited;
// it still publishes a new watchlist name. A proposal that names no
// person (the token's before this) cannot be confirmed, only declined.
// Before, the token's proposal named "admin:<credential>", which no
// console account is, and its holder confirmed it as themselves.
func TestFourEyesNamesTwoPersons(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		owner string
		user  *central.User // the owner's account, if any
	}{
		{"no owner", "", nil},
		{"an owner without an account", tokenOwner, nil},
		{"a disabled owner", tokenOwner, &central.User{Name: tokenOwner, Role: central.RoleAdmin, Disabled: true}},
		{"an owner who is no admin", tokenOwner, &central.User{Name: tokenOwner, Role: central.RoleReviewer}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := openBolt(t)
			if tc.user != nil {
				if err := store.CreateUser(ctx, *tc.user); err != nil {
					t.Fatal(err)
				}
			}
			c := start(t, central.Config{Store: store, AdminTokenOwner: tc.owner})
			if resp, e := c.admin(t, http.MethodPut, "/admin/v1/watchlists/ofac", []byte("A\n"), nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("the token publishing a new list: %d %+v, want 200", resp.StatusCode, e)
			}
			for _, path := range []string{"/admin/v1/config/risk", "/admin/v1/watchlists/ofac"} {
				resp, e := c.admin(t, http.MethodPut, path, []byte(`{"max_retries":2}`), nil)
				if resp.StatusCode != http.StatusForbidden || e.Code != "admin_token_unowned" || !strings.Contains(e.Message, "console") {
					t.Errorf("PUT %s: %d %+v, want 403 admin_token_unowned saying what to do", path, resp.StatusCode, e)
				}
			}
			if _, ok, _ := c.Server.PendingRisk(ctx); ok {
				t.Error("a refused risk proposal is pending")
			}
			if ps, _ := c.Server.PendingWatchlists(ctx); len(ps) != 0 {
				t.Errorf("a refused watchlist proposal is pending: %+v", ps)
			}
			for _, action := range []string{central.AuditRiskProposed, central.AuditWatchlistProposed} {
				if evs, _ := store.Audit(ctx, central.AuditFilter{Action: action}); len(evs) != 0 {
					t.Errorf("a refused proposal was audited: %+v", evs)
				}
			}
		})
	}

	t.Run("an owner", func(t *testing.T) {
		store := openBolt(t)
		c := start(t, central.Config{Store: store, AdminTokenOwner: addTokenOwner(t, store)})
		owner := "user:" + tokenOwner // as the console names the owner's session
		var p central.RiskProposal
		if resp, e := c.admin(t, http.MethodPut, "/admin/v1/config/risk", []byte(`{"max_retries":2}`), &p); resp.StatusCode != http.StatusAccepted || p.Proposer != owner {
			t.Fatalf("the token's risk proposal: %d %+v %+v, want the owner's", resp.StatusCode, e, p)
		}
		if _, err := c.Server.ConfirmRisk(ctx, owner, p.ID); status(err) != http.StatusForbidden {
			t.Errorf("the owner confirming the token's proposal in the console: %v, want 403", err)
		}
		if _, err := c.Server.ConfirmRisk(ctx, "admin:bootstrap-token:x", p.ID); status(err) != http.StatusForbidden {
			t.Errorf("a credential that is no person confirming: %v, want 403", err)
		}
		if _, err := c.Server.ConfirmRisk(ctx, "user:bob", p.ID); err != nil {
			t.Errorf("another admin's confirm: %v", err)
		}
		if resp, e := c.admin(t, http.MethodPut, "/admin/v1/watchlists/un", []byte("A\n"), nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("a new list: %d %+v", resp.StatusCode, e)
		}
		var w central.WatchlistProposal
		if resp, e := c.admin(t, http.MethodPut, "/admin/v1/watchlists/un", []byte("B\n"), &w); resp.StatusCode != http.StatusAccepted || w.Proposer != owner {
			t.Fatalf("the token's watchlist proposal: %d %+v %+v, want the owner's", resp.StatusCode, e, w)
		}
		if _, err := c.Server.ConfirmWatchlist(ctx, owner, "un", w.ID); status(err) != http.StatusForbidden {
			t.Errorf("the owner confirming the token's list in the console: %v, want 403", err)
		}
		if _, err := c.Server.ConfirmWatchlist(ctx, "user:bob", "un", w.ID); err != nil {
			t.Errorf("another admin's confirm: %v", err)
		}
	})

	t.Run("a proposal naming no person", func(t *testing.T) {
		store := openBolt(t)
		c := start(t, central.Config{Store: store})
		now := time.Now()
		p := central.RiskProposal{Proposal: central.Proposal{ID: "old", Proposer: "admin:bootstrap-token:0123456789ab", At: now, ExpiresAt: now.Add(time.Hour)},
			Config: []byte(`{"max_retries":2}`)}
		if err := store.ProposeRisk(ctx, p, central.AuditEvent{ID: "old", At: now, Actor: p.Proposer, Action: central.AuditRiskProposed, Count: 1}); err != nil {
			t.Fatal(err)
		}
		var he *httpx.Error
		if _, err := c.Server.ConfirmRisk(ctx, "user:bob", p.ID); !errors.As(err, &he) || he.Status != http.StatusForbidden || he.Code != "unattributed_proposal" {
			t.Errorf("confirming a proposal that names no person: %v, want 403 unattributed_proposal", err)
		}
		if _, v, _ := store.Risk(ctx); v != 0 {
			t.Errorf("it was published (version %d)", v)
		}
		if err := c.Server.DeclineRisk(ctx, "user:bob", p.ID, "whose?"); err != nil {
			t.Errorf("declining it: %v", err)
		}
	})
}

// noAppendStore is a store whose stand-alone AppendAudit fails.
type noAppendStore struct{ central.Store }

func (noAppendStore) AppendAudit(context.Context, central.AuditEvent) error {
	return errors.New("the audit trail is unavailable")
}

// TestRiskProposalChangesCarryTheirAudit: proposing, confirming and
// declining risk settings write their audit event with the change, not
// after it. Before, each changed the store and then appended the event on
// its own: when that append failed the caller saw an error, yet the
// proposal stood, or the settings were published to every device, with no
// trace of who did it.
func TestRiskProposalChangesCarryTheirAudit(t *testing.T) {
	ctx := context.Background()
	store := openBolt(t)
	c := start(t, central.Config{Store: noAppendStore{store}})
	srv := c.Server
	trail := func(action string) []central.AuditEvent {
		t.Helper()
		evs, err := store.Audit(ctx, central.AuditFilter{Action: action})
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}
	p, err := srv.ProposeRisk(ctx, "user:ada", []byte(`{"max_retries":4}`), "tuning")
	if err != nil {
		t.Fatalf("propose: %v", err)
	}
	if evs := trail(central.AuditRiskProposed); len(evs) != 1 || evs[0].Actor != "user:ada" {
		t.Fatalf("a pending proposal with risk_proposed events %+v, want its own", evs)
	}
	v, err := srv.ConfirmRisk(ctx, "user:bob", p.ID)
	if err != nil || v != 1 {
		t.Fatalf("confirm: %d, %v", v, err)
	}
	if evs := trail(central.AuditRiskConfirmed); len(evs) != 1 || evs[0].Actor != "user:bob" || !strings.Contains(string(evs[0].After), `"version":1`) {
		t.Fatalf("version 1 published with risk_confirmed events %+v, want bob's naming version 1", evs)
	}
	p, err = srv.ProposeRisk(ctx, "user:ada", []byte(`{"max_retries":5}`), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.DeclineRisk(ctx, "user:bob", p.ID, "too many"); err != nil {
		t.Fatalf("decline: %v", err)
	}
	if evs := trail(central.AuditRiskDeclined); len(evs) != 1 || evs[0].Actor != "user:bob" {
		t.Fatalf("a declined proposal with risk_declined events %+v, want bob's", evs)
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
