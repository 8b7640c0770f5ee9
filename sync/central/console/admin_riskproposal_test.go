package console_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/auth"
	"github.com/openkyc/kyc/sync/internal/synctest"
)

// session is another live session of the existing account name: the same
// person on another browser.
func (e *adminEnv) session(t *testing.T, name string) *admUser {
	t.Helper()
	tok, sess := auth.NewSession(name, time.Now(), false)
	if err := e.store.PutSession(context.Background(), sess); err != nil {
		t.Fatal(err)
	}
	return &admUser{env: e, token: tok, csrf: sess.CSRF}
}

// pendingRisk is the pending proposal, failing the test when none is.
func (e *adminEnv) pendingRisk(t *testing.T) central.RiskProposal {
	t.Helper()
	p, ok, err := e.srv.PendingRisk(context.Background())
	if err != nil || !ok {
		t.Fatalf("no risk proposal pending: %v", err)
	}
	return p
}

// publishRisk proposes cfg as proposer from a form read at version and
// confirms it as confirmer: how risk settings are published now.
func publishRisk(t *testing.T, proposer, confirmer *admUser, cfg risk.Config, version string) {
	t.Helper()
	if resp, body := proposer.post(t, "/console/risk", riskFormOf(cfg, "propose", version)); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("proposing: %d\n%.500s", resp.StatusCode, body)
	}
	id := proposer.env.pendingRisk(t).ID
	if resp, body := confirmer.post(t, "/console/risk/proposal/confirm", url.Values{"id": {id}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("confirming: %d\n%.500s", resp.StatusCode, body)
	}
}

// laxRisk is what the red team published alone: the fleet approves
// almost everything.
func laxRisk() risk.Config {
	cfg := risk.DefaultConfig()
	cfg.Bands.ApproveMin, cfg.Bands.ReviewMin = 0.01, 0
	cfg.Required = nil
	cfg.Thresholds = risk.Thresholds{}
	return cfg
}

// TestRiskProposalFourEyes: one admin alone cannot change the risk
// settings: their publish is a proposal, which changes nothing devices
// get, and which neither they nor another session of theirs can confirm
// or decline (403 four_eyes). Another admin sees what it changes and
// confirms it: then, and only then, it is published, audited with its
// proposer.
func TestRiskProposalFourEyes(t *testing.T) {
	e := newAdminEnv(t)
	ctx := context.Background()
	ada, bob := e.user(t, "ada", central.RoleAdmin), e.user(t, "bob", central.RoleAdmin)
	ada2 := e.session(t, "ada")

	f := riskFormOf(laxRisk(), "propose", "0")
	f.Set("reason", "fewer manual reviews")
	if resp, body := ada.post(t, "/console/risk", f); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("ada's proposal: %d\n%.500s", resp.StatusCode, body)
	}
	if _, v, err := e.store.Risk(ctx); err != nil || v != 0 {
		t.Fatalf("a proposal alone published version %d (%v)", v, err)
	}
	// What devices get: the configuration signed from the published
	// settings, still the defaults.
	if doc, _, _ := e.store.Risk(ctx); len(doc) != 0 {
		t.Fatalf("the published settings changed: %s", doc)
	}
	p := e.pendingRisk(t)
	if p.Proposer != "user:ada" || p.Base != 0 || p.Reason != "fewer manual reviews" {
		t.Errorf("proposal %+v", p)
	}
	if evs := e.auditOf(t, central.AuditRiskProposed); len(evs) != 1 || evs[0].Actor != "user:ada" ||
		!strings.Contains(string(evs[0].Before), `"version":0`) || !strings.Contains(string(evs[0].After), `"approve_min":0.01`) {
		t.Errorf("risk_proposed audit: %+v", evs)
	}

	for _, u := range []struct {
		name string
		u    *admUser
	}{{"ada", ada}, {"ada's second session", ada2}} {
		for _, step := range []string{"confirm", "decline"} {
			resp, body := u.u.post(t, "/console/risk/proposal/"+step, url.Values{"id": {p.ID}, "reason": {"mine"}})
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(html.UnescapeString(body), "Four eyes") {
				t.Errorf("%s %s: %d, want 403 four_eyes\n%.300s", u.name, step, resp.StatusCode, body)
			}
		}
		_, body := u.u.get(t, "/console/risk")
		if !strings.Contains(body, `id="risk-proposal"`) || strings.Contains(body, "/console/risk/proposal/confirm") {
			t.Errorf("%s's page should show the proposal without a confirm form", u.name)
		}
	}
	if _, v, _ := e.store.Risk(ctx); v != 0 {
		t.Fatalf("the proposer's confirm published version %d", v)
	}

	// An admin scoped to a branch sees the proposal, neither the preview
	// (it counts every branch's cases) nor a confirm.
	north := e.user(t, "north", central.RoleAdmin, "JKT")
	if _, body := north.get(t, "/console/risk"); !strings.Contains(body, `id="risk-proposal"`) ||
		strings.Contains(body, "Of the latest") || strings.Contains(body, "/console/risk/proposal/confirm") {
		t.Error("a scoped admin's page shows the proposal's preview or a confirm form")
	}
	if resp, _ := north.post(t, "/console/risk/proposal/confirm", url.Values{"id": {p.ID}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a scoped admin's confirm: %d, want 403", resp.StatusCode)
	}

	// Bob sees what changes, before → after, and the preview.
	_, body := bob.get(t, "/console/risk")
	body = html.UnescapeString(body)
	for _, want := range []string{"Proposed by user:ada", "fewer manual reviews", "Approve from score</th>", "<td>85</td><td>0.01</td>",
		"<td>50</td><td>0</td>", "Required: Face liveness</th>", "<td>yes</td><td>no</td>", "Face match: reject below</th>", "Of the latest 0 submissions",
		`action="/console/risk/proposal/confirm"`, `<label for="decline-reason">`} {
		if !strings.Contains(body, want) {
			t.Errorf("bob's page lacks %q", want)
		}
	}
	if resp, body := bob.post(t, "/console/risk/proposal/confirm", url.Values{"id": {p.ID}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("bob's confirm: %d\n%.500s", resp.StatusCode, body)
	}
	doc, v, err := e.store.Risk(ctx)
	if err != nil || v != 1 {
		t.Fatalf("after the confirm: version %d, %v", v, err)
	}
	if cfg, err := risk.ParseConfig(doc); err != nil || cfg.Bands.ApproveMin != 0.01 || len(cfg.Required) != 0 {
		t.Errorf("published %s (%v)", doc, err)
	}
	evs := e.auditOf(t, central.AuditRiskConfirmed)
	if len(evs) != 1 || evs[0].Actor != "user:bob" || !strings.Contains(string(evs[0].Before), `"version":0`) ||
		!strings.Contains(string(evs[0].After), `"version":1`) || !strings.Contains(string(evs[0].After), `"proposer":"user:ada"`) {
		t.Errorf("risk_confirmed audit: %+v", evs)
	}
	if _, ok, _ := e.srv.PendingRisk(ctx); ok {
		t.Error("the confirmed proposal is still pending")
	}
	if resp, _ := bob.post(t, "/console/risk/proposal/confirm", url.Values{"id": {p.ID}}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("confirming again: %d, want 404", resp.StatusCode)
	}
}

// TestRiskProposalSteps: one proposal at a time (another admin's is
// refused until declined; the proposer's replaces their own); a decline
// needs a reason and publishes nothing; a confirm after another publish
// moved the version is 409 and the proposal stays to be declined.
func TestRiskProposalSteps(t *testing.T) {
	e := newAdminEnv(t)
	ctx := context.Background()
	ada, bob := e.user(t, "ada", central.RoleAdmin), e.user(t, "bob", central.RoleAdmin)
	strict := risk.DefaultConfig()
	strict.Bands.ApproveMin = 95

	if resp, _ := ada.post(t, "/console/risk", riskFormOf(laxRisk(), "propose", "0")); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("ada's proposal: %d", resp.StatusCode)
	}
	first := e.pendingRisk(t)
	if resp, body := bob.post(t, "/console/risk", riskFormOf(strict, "propose", "0")); resp.StatusCode != http.StatusConflict ||
		!strings.Contains(html.UnescapeString(body), "confirm or decline them first") {
		t.Errorf("bob proposing over ada's: %d, want 409\n%.300s", resp.StatusCode, body)
	}
	if resp, _ := ada.post(t, "/console/risk", riskFormOf(strict, "propose", "0")); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("ada replacing her proposal: %d", resp.StatusCode)
	}
	second := e.pendingRisk(t)
	if second.ID == first.ID || !strings.Contains(string(second.Config), `"approve_min":95`) {
		t.Fatalf("the replacement: %+v", second)
	}
	if resp, _ := bob.post(t, "/console/risk/proposal/confirm", url.Values{"id": {first.ID}}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("confirming the replaced proposal: %d, want 404", resp.StatusCode)
	}

	// Another publish moves the version (an instance still on the old
	// release, or a restore): the proposal was compared with settings no
	// longer published.
	if _, err := e.store.PutRisk(ctx, json.RawMessage(`{"max_retries":2}`)); err != nil {
		t.Fatal(err)
	}
	resp, body := bob.post(t, "/console/risk/proposal/confirm", url.Values{"id": {second.ID}})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(html.UnescapeString(body), "published again since this proposal") {
		t.Errorf("a stale confirm: %d, want 409\n%.300s", resp.StatusCode, body)
	}
	if doc, v, _ := e.store.Risk(ctx); v != 1 || string(doc) != `{"max_retries":2}` {
		t.Errorf("after a stale confirm: version %d %s, want 1 unchanged", v, doc)
	}
	if p := e.pendingRisk(t); p.ID != second.ID {
		t.Errorf("the stale proposal was not kept")
	}
	if _, body := bob.get(t, "/console/risk"); !strings.Contains(html.UnescapeString(body), "it was based on version 0") {
		t.Error("the page does not say the proposal is stale")
	}

	if resp, _ := bob.post(t, "/console/risk/proposal/decline", url.Values{"id": {second.ID}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a decline without a reason: %d, want 400", resp.StatusCode)
	}
	if resp, body := bob.post(t, "/console/risk/proposal/decline", url.Values{"id": {second.ID}, "reason": {"stale, and too strict"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("bob's decline: %d\n%.300s", resp.StatusCode, body)
	}
	if _, ok, _ := e.srv.PendingRisk(ctx); ok {
		t.Error("the declined proposal is still pending")
	}
	if _, v, _ := e.store.Risk(ctx); v != 1 {
		t.Errorf("a decline published version %d", v)
	}
	if evs := e.auditOf(t, central.AuditRiskDeclined); len(evs) != 1 || evs[0].Actor != "user:bob" ||
		!strings.Contains(string(evs[0].After), "stale, and too strict") || !strings.Contains(string(evs[0].Before), second.ID) {
		t.Errorf("risk_declined audit: %+v", evs)
	}
	// After the decline, bob proposes over the current version; ada confirms.
	publishRisk(t, bob, ada, strict, "1")
	if _, v, _ := e.store.Risk(ctx); v != 2 {
		t.Errorf("version %d after bob's proposal was confirmed, want 2", v)
	}
}

// TestRiskProposalNamingNoPerson: a proposal the admin token made before
// its proposals named its owner ("admin:<credential>") is confirmed by
// no one, since whoever holds the token may be the admin confirming:
// 403 saying to decline it, nothing published. It is declined as any.
func TestRiskProposalNamingNoPerson(t *testing.T) {
	e := newAdminEnv(t)
	ctx := context.Background()
	bob := e.user(t, "bob", central.RoleAdmin)
	now := time.Now()
	p := central.RiskProposal{Proposal: central.Proposal{ID: "legacy", Proposer: "admin:bootstrap-token:0123456789ab", At: now, ExpiresAt: now.Add(time.Hour)},
		Config: json.RawMessage(`{"max_retries":2}`)}
	if err := e.store.ProposeRisk(ctx, p, central.AuditEvent{ID: "legacy", At: now, Actor: p.Proposer, Action: central.AuditRiskProposed, Subject: "risk", Count: 1}); err != nil {
		t.Fatal(err)
	}
	resp, body := bob.post(t, "/console/risk/proposal/confirm", url.Values{"id": {p.ID}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(html.UnescapeString(body), "This proposal names no person") {
		t.Errorf("confirming a proposal naming no person: %d, want 403 saying so\n%.300s", resp.StatusCode, body)
	}
	if _, v, _ := e.store.Risk(ctx); v != 0 {
		t.Fatalf("it was published (version %d)", v)
	}
	if resp, body := bob.post(t, "/console/risk/proposal/decline", url.Values{"id": {p.ID}, "reason": {"whose?"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("declining it: %d\n%.300s", resp.StatusCode, body)
	}
}

// TestProposalViaAdminToken: a proposal the admin token sent for its
// owner (kyc-central serve --admin-token-owner) says so where the console
// shows it, risk settings and a watchlist's new version alike, in English
// and in Indonesian; one made in the console does not.
func TestProposalViaAdminToken(t *testing.T) {
	e := newAdminEnvWith(t, func(cfg *central.Config) {
		cfg.AdminToken, cfg.AdminTokenOwner = synctest.AdminToken, "ada"
	})
	ada, bob := e.user(t, "ada", central.RoleAdmin), e.user(t, "bob", central.RoleAdmin)
	admin := func(method, path string, body []byte, want int) {
		t.Helper()
		resp, err := e.http.Do(synctest.AdminRequest(t, method, e.url, path, synctest.AdminToken, body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d, want %d\n%.300s", method, path, resp.StatusCode, want, b)
		}
	}
	doc, err := json.Marshal(laxRisk())
	if err != nil {
		t.Fatal(err)
	}
	admin(http.MethodPut, "/admin/v1/config/risk", doc, http.StatusAccepted)
	admin(http.MethodPut, "/admin/v1/watchlists/pep.list.json.gz", []byte("first"), http.StatusOK)
	admin(http.MethodPut, "/admin/v1/watchlists/pep.list.json.gz", []byte("second"), http.StatusAccepted)

	page := func(path, lang string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, e.url+path, nil)
		req.Header.Set("Accept-Language", lang)
		resp, body := bob.do(t, req)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s (%s): %d", path, lang, resp.StatusCode)
		}
		return html.UnescapeString(body)
	}
	for _, tc := range []struct{ path, lang, want string }{
		{"/console/risk", "en", "Proposed by user:ada via the admin token at "},
		{"/console/risk", "id", "Diusulkan oleh user:ada melalui token admin pada "},
		{"/console/lists", "en", "pep.list.json.gz: a new version proposed by user:ada via the admin token at "},
		{"/console/lists", "id", "pep.list.json.gz: versi baru diusulkan oleh user:ada melalui token admin pada "},
	} {
		if body := page(tc.path, tc.lang); !strings.Contains(body, tc.want) {
			t.Errorf("%s (%s) lacks %q", tc.path, tc.lang, tc.want)
		}
	}

	// Ada replaces the token's proposals with her own, from the console:
	// they name her alone.
	if resp, body := ada.post(t, "/console/risk", riskFormOf(laxRisk(), "propose", "0")); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("ada's proposal: %d\n%.500s", resp.StatusCode, body)
	}
	if resp, body := ada.upload(t, "/console/lists", map[string]string{"format": "pep-csv"}, map[string][]byte{"file": []byte(admPEP)}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("ada's upload: %d\n%.500s", resp.StatusCode, body)
	}
	for _, path := range []string{"/console/risk", "/console/lists"} {
		if body := page(path, "en"); !strings.Contains(body, "by user:ada at ") || strings.Contains(body, "admin token") {
			t.Errorf("%s: a proposal made in the console should name its proposer alone", path)
		}
	}
}
