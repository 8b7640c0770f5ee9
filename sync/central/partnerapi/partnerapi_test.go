package partnerapi_test

import (
	"bytes"
	"context"
	"image/png"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/central/partnerapi"
	"github.com/openkyc/kyc/sync/central/partnerapi/apitest"
)

// eachStore runs f on a fresh env over bbolt and over PostgreSQL.
func eachStore(t *testing.T, f func(t *testing.T, e *env)) {
	for _, st := range []struct {
		name string
		open opener
	}{{"bolt", boltStore}, {"postgres", pgStore}} {
		t.Run(st.name, func(t *testing.T) { f(t, newEnv(t, st.open)) })
	}
}

func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t, boltStore)
	a := e.must(http.StatusOK, e.do(req{method: "GET", path: "/openapi.json"}))
	if !bytes.Equal(a.body, partnerapi.OpenAPI) {
		t.Error("/openapi.json is not the embedded document")
	}
}

// TestSecurityHeaders: every answer of the API, served over HTTPS, carries
// HSTS (ASVS 14.4.5), nosniff and no-store (no-store but for the public
// OpenAPI document), errors included.
func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t, boltStore)
	c := e.addPartner("Acme")
	tok := e.token(c.ClientID, c.PassKey).Token
	for what, a := range map[string]answer{
		"openapi":   e.do(req{method: "GET", path: "/openapi.json"}),
		"token":     e.do(req{method: "POST", path: "/api/v1/partner-token", body: map[string]string{"client_id": c.ClientID, "pass_key": c.PassKey}}),
		"bad token": e.do(req{method: "GET", path: "/api/v1/flows/nope", token: "nope"}),
		"not found": e.do(req{method: "GET", path: "/api/v1/flows/nope", token: tok}),
	} {
		if hsts := a.header.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=") {
			t.Errorf("%s (%d): Strict-Transport-Security %q", what, a.status, hsts)
		}
		if a.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s (%d): X-Content-Type-Options %q", what, a.status, a.header.Get("X-Content-Type-Options"))
		}
		if what != "openapi" && a.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s (%d): Cache-Control %q", what, a.status, a.header.Get("Cache-Control"))
		}
	}
}

// TestAdminSecretsNotStored: the admin answers that show a secret once (a
// new partner's pass key, a rotated one, a webhook secret) are never kept
// by a cache or a browser (ASVS 8.2.1), as the partner API's own answers.
func TestAdminSecretsNotStored(t *testing.T) {
	e := newEnv(t, boltStore)
	c := e.addPartner("Acme")
	id := c.Partner.ID
	for _, r := range []req{
		{method: "POST", path: "/admin/v1/partners", body: map[string]any{"name": "Other"}},
		{method: "POST", path: "/admin/v1/partners/" + id + "/rotate-key"},
		{method: "POST", path: "/admin/v1/partners/" + id + "/webhook-secret"},
		{method: "GET", path: "/admin/v1/partners/" + id},
		{method: "GET", path: "/admin/v1/partners/ptn_nobody"},
	} {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			r.admin = true
			a := e.do(r)
			if a.status >= 500 || a.header.Get("Cache-Control") != "no-store" {
				t.Errorf("%d, Cache-Control %q", a.status, a.header.Get("Cache-Control"))
			}
		})
	}
}

// TestBranchHasOneOwner: a branch another partner owns is refused (422
// naming it), on creation and on a change of branches: the kiosk sessions
// of a branch go to one partner, and a second owner would take them from
// the first (the emitter keeps one owner a branch) without anyone noticing.
func TestBranchHasOneOwner(t *testing.T) {
	e := newEnv(t, boltStore)
	first := e.addPartner("First", "jkt-01")
	second := e.addPartner("Second", "bdg-01")
	for _, tc := range []struct {
		name string
		r    req
	}{
		{"create", req{method: "POST", path: "/admin/v1/partners", body: map[string]any{"name": "Third", "branches": []string{"sby-01", "jkt-01"}}}},
		{"set branches", req{method: "PUT", path: "/admin/v1/partners/" + second.Partner.ID + "/branches", body: map[string]any{"branches": []string{"bdg-01", "jkt-01"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.r.admin = true
			a := e.do(tc.r)
			var got struct {
				Errors []partnerapi.FieldError `json:"errors"`
			}
			if a.status == http.StatusUnprocessableEntity {
				a.json(t, &got)
			}
			if a.status != http.StatusUnprocessableEntity || len(got.Errors) != 1 || got.Errors[0].Code != "branch_taken" ||
				!strings.Contains(got.Errors[0].Message, "jkt-01") {
				t.Errorf("%d %s, want 422 branch_taken naming jkt-01", a.status, a.body)
			}
		})
	}
	// A partner keeps its own branches when it changes them.
	e.must(http.StatusOK, e.do(req{method: "PUT", path: "/admin/v1/partners/" + first.Partner.ID + "/branches", admin: true,
		body: map[string]any{"branches": []string{"jkt-01", "jkt-02"}}}))
}

func TestPartnerToken(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		c := e.addPartner("Acme Bank")
		if !strings.HasPrefix(c.PassKey, "pk_") || len(c.PassKey) < 40 || c.ClientID == "" {
			t.Fatalf("created: %+v", c)
		}
		tr := e.token(c.ClientID, c.PassKey)
		if tr.TokenType != "Bearer" || tr.ExpiresIn < 3500 || tr.ExpiresIn > 3600 || tr.Token == "" {
			t.Fatalf("token: %+v", tr)
		}
		// The same token while it has more than a few minutes left.
		e.clk.Advance(50 * time.Minute)
		if again := e.token(c.ClientID, c.PassKey); again.Token != tr.Token || !again.ExpiresAt.Equal(tr.ExpiresAt) {
			t.Errorf("a second call gave another token: %+v vs %+v", again, tr)
		}
		// Both headers authenticate.
		flow := map[string]any{"partner_user_id": "u1"}
		e.must(http.StatusCreated, e.do(req{method: "POST", path: "/api/v1/flows", token: tr.Token, body: flow}))
		e.must(http.StatusCreated, e.do(req{method: "POST", path: "/api/v1/flows", header: map[string]string{"x-onekyc-token": tr.Token}, body: flow}))
		// Near expiry: a new one; the old one works until it expires.
		e.clk.Advance(6 * time.Minute)
		fresh := e.token(c.ClientID, c.PassKey)
		if fresh.Token == tr.Token {
			t.Error("a token with under 5 minutes left was handed out again")
		}
		e.clk.Advance(5 * time.Minute)
		a := e.do(req{method: "GET", path: "/api/v1/flows/nope", token: tr.Token})
		if a.status != http.StatusUnauthorized || a.code(t) != "token_expired" {
			t.Errorf("expired token: %d %s", a.status, a.body)
		}
		e.must(http.StatusNotFound, e.do(req{method: "GET", path: "/api/v1/flows/nope", token: fresh.Token}))

		for _, tc := range []struct {
			name    string
			r       req
			status  int
			code    string
			invalid bool
		}{
			{"wrong pass key", req{body: map[string]string{"client_id": c.ClientID, "pass_key": "pk_wrong"}}, 401, "invalid_credentials", false},
			{"unknown client", req{body: map[string]string{"client_id": "cli_nobody", "pass_key": c.PassKey}}, 401, "invalid_credentials", false},
			{"missing pass key", req{body: map[string]string{"client_id": c.ClientID}}, 422, "invalid_request", true},
			{"unknown field", req{body: map[string]string{"client_id": c.ClientID, "pass_key": c.PassKey, "scope": "all"}}, 422, "invalid_request", true},
			{"not JSON", req{body: []byte("client_id=x")}, 400, "malformed", true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := tc.r
				r.method, r.path, r.invalid = "POST", "/api/v1/partner-token", tc.invalid
				a := e.do(r)
				if a.status != tc.status || a.code(t) != tc.code {
					t.Errorf("%d %s, want %d %s", a.status, a.body, tc.status, tc.code)
				}
			})
		}
		for _, tc := range []struct {
			name   string
			header map[string]string
			code   string
		}{
			{"no token", nil, "unauthorized"},
			{"unknown token", map[string]string{"Authorization": "Bearer ptk_nope"}, "unauthorized"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				a := e.do(req{method: "GET", path: "/api/v1/flows/x", header: tc.header, invalid: tc.header == nil})
				if a.status != http.StatusUnauthorized || a.code(t) != tc.code || a.header.Get("WWW-Authenticate") == "" {
					t.Errorf("%d %s", a.status, a.body)
				}
			})
		}
	})
}

func TestTokenFailureBudget(t *testing.T) {
	e := newEnv(t, boltStore)
	c := e.addPartner("Acme")
	var last answer
	for range 25 {
		last = e.do(req{method: "POST", path: "/api/v1/partner-token", body: map[string]string{"client_id": c.ClientID, "pass_key": "pk_guess"}})
		if last.status == http.StatusTooManyRequests {
			break
		}
	}
	if last.status != http.StatusTooManyRequests || last.header.Get("Retry-After") == "" {
		t.Fatalf("25 wrong pass keys: %d %s", last.status, last.body)
	}
	// Even the right key waits out the budget.
	e.must(http.StatusTooManyRequests, e.do(req{method: "POST", path: "/api/v1/partner-token", body: map[string]string{"client_id": c.ClientID, "pass_key": c.PassKey}}))
	e.clk.Advance(time.Minute)
	e.token(c.ClientID, c.PassKey)
}

// TestAuthFailureLogNamesRoute: a refused request is logged by its route,
// not its path, which for an image link is the link's secret.
func TestAuthFailureLogNamesRoute(t *testing.T) {
	var log centraltest.LogBuffer
	e := newEnvWith(t, boltStore, func(c *partnerapi.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&log, nil))
	})
	secret := "img_" + strings.Repeat("s3cr3t", 6)
	e.must(http.StatusUnauthorized, e.do(req{method: "GET", path: "/api/v1/images/" + secret, token: "wrong", invalid: true}))
	if got := log.String(); strings.Contains(got, secret) || !strings.Contains(got, "/api/v1/images/{token}") {
		t.Errorf("the refusal's log shows the link or not its route:\n%s", got)
	}
}

// TestPartnerRate: a partner's calls beyond its rate are 429 with
// Retry-After, whichever the endpoint, another partner's are not touched,
// and the budget comes back with time.
func TestPartnerRate(t *testing.T) {
	e := newEnvWith(t, boltStore, func(c *partnerapi.Config) { c.PartnerRate = partnerapi.RateLimit{PerSecond: 1, Burst: 3} })
	acme, globex := e.partner("Acme"), e.partner("Globex")
	status := func(p partner) answer {
		return e.do(req{method: "GET", path: "/api/v1/flows/nope", token: p.tok})
	}
	for range 3 {
		e.must(http.StatusNotFound, status(acme)) // within the burst
	}
	a := e.must(http.StatusTooManyRequests, status(acme))
	if a.header.Get("Retry-After") == "" || a.code(t) != "rate_limited" {
		t.Errorf("beyond the rate: %s, Retry-After %q", a.body, a.header.Get("Retry-After"))
	}
	e.must(http.StatusTooManyRequests, e.do(req{method: "POST", path: "/api/v1/flows", token: acme.tok, body: map[string]any{}, invalid: true}))
	e.must(http.StatusNotFound, status(globex))
	e.clk.Advance(time.Second)
	e.must(http.StatusNotFound, status(acme))
}

func TestRotateKey(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		c := e.addPartner("Acme")
		var rot partnerapi.Rotated
		e.must(http.StatusOK, e.do(req{method: "POST", path: "/admin/v1/partners/" + c.Partner.ID + "/rotate-key", admin: true,
			body: map[string]any{"overlap_seconds": 3600}})).json(t, &rot)
		if rot.Secret == c.PassKey || rot.PreviousValidUntil == nil || len(rot.Partner.Keys) != 2 {
			t.Fatalf("rotated: %+v", rot)
		}
		// The old key during the overlap: the partner's token, which the new
		// key is given too (a partner's tokens are shared by its keys).
		e.clk.Advance(40 * time.Minute)
		leaked := e.token(c.ClientID, c.PassKey)
		if again := e.token(c.ClientID, rot.Secret); again.Token != leaked.Token {
			t.Errorf("the new key was given another token during the overlap")
		}
		e.must(http.StatusNotFound, e.do(req{method: "GET", path: "/api/v1/flows/nope", token: leaked.Token}))
		e.clk.Advance(20*time.Minute + time.Second)
		a := e.do(req{method: "POST", path: "/api/v1/partner-token", body: map[string]string{"client_id": c.ClientID, "pass_key": c.PassKey}})
		if a.status != http.StatusUnauthorized {
			t.Errorf("old key after the overlap: %d %s", a.status, a.body)
		}
		// That token ends with the old key, 40 minutes before its own
		// expiry: a leaked key's holder keeps no token past the overlap.
		// The new key makes another.
		if a := e.do(req{method: "GET", path: "/api/v1/flows/nope", token: leaked.Token}); a.status != http.StatusUnauthorized || a.code(t) != "token_expired" {
			t.Errorf("a token of the old key after the overlap: %d %s", a.status, a.body)
		}
		fresh := e.token(c.ClientID, rot.Secret)
		if fresh.Token == leaked.Token {
			t.Error("the new key was given the old key's token after the overlap")
		}
		e.must(http.StatusNotFound, e.do(req{method: "GET", path: "/api/v1/flows/nope", token: fresh.Token}))

		// The default overlap is 24 h; a second rotation ends the oldest key.
		var rot2 partnerapi.Rotated
		e.must(http.StatusOK, e.do(req{method: "POST", path: "/admin/v1/partners/" + c.Partner.ID + "/rotate-key", admin: true})).json(t, &rot2)
		if got := rot2.PreviousValidUntil.Sub(e.clk.Now()); got < 23*time.Hour || got > 25*time.Hour || len(rot2.Partner.Keys) != 2 {
			t.Errorf("default overlap: %v, keys %d", got, len(rot2.Partner.Keys))
		}

		// Webhook secret rotation: whsec_, both valid during the overlap.
		var ws partnerapi.Rotated
		e.must(http.StatusOK, e.do(req{method: "POST", path: "/admin/v1/partners/" + c.Partner.ID + "/webhook-secret", admin: true})).json(t, &ws)
		e.must(http.StatusOK, e.do(req{method: "POST", path: "/admin/v1/partners/" + c.Partner.ID + "/webhook-secret", admin: true,
			body: map[string]any{"overlap_seconds": 60}})).json(t, &ws)
		if !strings.HasPrefix(ws.Secret, partnerapi.WebhookSecretPrefix) {
			t.Fatalf("webhook secret %q", ws.Secret)
		}
		p, err := e.store.Partner(context.Background(), c.Partner.ID)
		if err != nil {
			t.Fatal(err)
		}
		secs, err := partnerapi.WebhookSecrets(e.key, p, e.clk.Now())
		if err != nil || len(secs) != 2 || secs[0] != ws.Secret {
			t.Fatalf("secrets during the overlap: %v %v", len(secs), err)
		}
		if secs, _ = partnerapi.WebhookSecrets(e.key, p, e.clk.Now().Add(2*time.Minute)); len(secs) != 1 || secs[0] != ws.Secret {
			t.Errorf("after the overlap: %d secrets", len(secs))
		}
		if _, err := partnerapi.OpenWebhookSecret(e.key, "ptn_other", p.Webhook.Secrets[0].Sealed); err == nil {
			t.Error("a sealed secret opened for another partner")
		}

		// Branches and webhook URL; bad input named; unknown partner 404.
		var pv partnerapi.PartnerView
		e.must(http.StatusOK, e.do(req{method: "PUT", path: "/admin/v1/partners/" + c.Partner.ID + "/branches", admin: true,
			body: map[string]any{"branches": []string{"jkt-02", "jkt-01", "jkt-01"}}})).json(t, &pv)
		if strings.Join(pv.Branches, ",") != "jkt-01,jkt-02" {
			t.Errorf("branches %v", pv.Branches)
		}
		e.must(http.StatusOK, e.do(req{method: "PUT", path: "/admin/v1/partners/" + c.Partner.ID + "/webhook", admin: true,
			body: map[string]any{"url": "https://acme.example/hooks"}})).json(t, &pv)
		if pv.WebhookURL != "https://acme.example/hooks" {
			t.Errorf("webhook %q", pv.WebhookURL)
		}
		a = e.do(req{method: "PUT", path: "/admin/v1/partners/" + c.Partner.ID + "/webhook", admin: true, body: map[string]any{"url": "http://acme.example/hooks"}})
		if a.status != 422 || !strings.Contains(string(a.body), `"field":"url"`) {
			t.Errorf("plain http webhook: %d %s", a.status, a.body)
		}
		e.must(http.StatusNotFound, e.do(req{method: "POST", path: "/admin/v1/partners/ptn_nobody/rotate-key", admin: true}))
		e.must(http.StatusUnauthorized, e.do(req{method: "GET", path: "/admin/v1/partners", token: "not-the-admin-token"}))
		var list []partnerapi.PartnerView
		e.must(http.StatusOK, e.do(req{method: "GET", path: "/admin/v1/partners", admin: true})).json(t, &list)
		if len(list) != 1 || list[0].ID != c.Partner.ID {
			t.Errorf("list %+v", list)
		}

		// Every admin action is in the audit trail under partner:<id>.
		evs, err := e.store.Audit(context.Background(), central.AuditFilter{Subject: "partner:" + c.Partner.ID})
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, ev := range evs {
			actions = append(actions, ev.Action)
			if !strings.HasPrefix(ev.Actor, "admin:") {
				t.Errorf("actor %q", ev.Actor)
			}
			if bytes.Contains(ev.After, []byte(rot.Secret)) || bytes.Contains(ev.After, []byte(ws.Secret)) {
				t.Error("a secret in the audit trail")
			}
		}
		want := "partner_create,partner_rotate_key,partner_rotate_key,partner_webhook_secret,partner_webhook_secret,partner_branches,partner_webhook"
		if strings.Join(actions, ",") != want {
			t.Errorf("audit actions %v", actions)
		}
	})
}

func TestInitiateFlow(t *testing.T) {
	e := newEnv(t, boltStore)
	p := e.partner("Acme")
	fc := e.flow(p, map[string]any{
		"partner_user_id": "cust-42", "partner_user_id_type": "customer_id", "partner_session_id": "acme-sess-1",
		"accepted_documents": []string{"passport", "driving_license", "national_id"}, "accepted_countries": []string{"IN", "usa", "GB", "SGP"},
		"liveness_type": "active", "face_match_threshold": 0.65, "require_address_proof": true, "max_retries": 3, "min_age": 17,
		"session_ttl": 1800, "smart_qr": true, "callback_url": "https://acme.example/cb", "redirect_url": "https://acme.example/done",
	})
	if fc.SessionID != "acme-sess-1" || fc.Status != central.FlowCreated || !strings.HasPrefix(fc.LaunchURL, e.base+"/flow/") {
		t.Fatalf("created %+v", fc)
	}
	if got := strings.Join(fc.Config.AcceptedDocuments, ","); got != "passport,driving_licence,id_card" {
		t.Errorf("documents %s", got)
	}
	if got := strings.Join(fc.Config.AcceptedCountries, ","); got != "IN,USA,GB,SGP" {
		t.Errorf("countries %s", got)
	}
	if d := fc.ExpiresAt.Sub(fc.CreatedAt); d != 30*time.Minute {
		t.Errorf("ttl %v", d)
	}
	if fc.Config.MinAge == nil || *fc.Config.MinAge != 17 {
		t.Errorf("min_age %v, want 17", fc.Config.MinAge)
	}
	// A used partner_session_id is a conflict; none given: generated.
	a := e.do(req{method: "POST", path: "/api/v1/flows", token: p.tok, body: map[string]any{"partner_user_id": "cust-42", "partner_session_id": "acme-sess-1"}})
	if a.status != http.StatusConflict || a.code(t) != "session_exists" {
		t.Errorf("reused session id: %d %s", a.status, a.body)
	}
	gen := e.flow(p, map[string]any{"partner_user_id": "cust-43"})
	if !strings.HasPrefix(gen.SessionID, "ses_") || gen.Config.LivenessType != "passive" || gen.Config.SessionTTL != 1800 || gen.Config.MaxRetries != 3 || gen.Config.MinAge != nil {
		t.Errorf("defaults %+v", gen)
	}

	// Status.
	var st partnerapi.FlowStatusView
	e.must(http.StatusOK, e.do(req{method: "GET", path: "/api/v1/flows/acme-sess-1", token: p.tok})).json(t, &st)
	if st.Status != central.FlowCreated || st.PartnerUserID != "cust-42" || st.PartnerUserIDType != "customer_id" {
		t.Errorf("status %+v", st)
	}

	// QR codes of the launch URL.
	qr := e.must(http.StatusOK, e.do(req{method: "GET", path: "/api/v1/flows/acme-sess-1/qr.png", token: p.tok}))
	img, err := png.Decode(bytes.NewReader(qr.body))
	if err != nil || img.Bounds().Dx() < 200 || qr.header.Get("Content-Type") != "image/png" {
		t.Errorf("qr.png: %v %v", err, qr.header.Get("Content-Type"))
	}
	svg := e.must(http.StatusOK, e.do(req{method: "GET", path: "/api/v1/flows/acme-sess-1/qr.svg", token: p.tok}))
	if !bytes.HasPrefix(svg.body, []byte("<svg")) || !bytes.Contains(svg.body, []byte(`<path fill="#000" d="M4 4h7`)) {
		t.Errorf("qr.svg: %.200s", svg.body)
	}

	// The launch URL: valid, then expired; an unknown token. Opening it
	// (twice: a link preview, then the person) changes nothing.
	path := strings.TrimPrefix(fc.LaunchURL, e.base)
	for range 2 {
		if a := e.must(http.StatusOK, e.do(req{method: "GET", path: path})); !bytes.Contains(a.body, []byte(`data-state="valid"`)) {
			t.Errorf("launch page: %s", a.body)
		}
	}
	e.must(http.StatusOK, e.do(req{method: "GET", path: "/api/v1/flows/acme-sess-1", token: e.token(p.ClientID, p.PassKey).Token})).json(t, &st)
	if st.Status != central.FlowCreated {
		t.Errorf("status after the launch page %+v, want CREATED", st)
	}
	e.must(http.StatusNotFound, e.do(req{method: "GET", path: "/flow/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}))
	e.clk.Advance(31 * time.Minute)
	if a := e.must(http.StatusGone, e.do(req{method: "GET", path: path})); !bytes.Contains(a.body, []byte(`data-state="expired"`)) {
		t.Errorf("expired launch page: %s", a.body)
	}
	e.must(http.StatusOK, e.do(req{method: "GET", path: "/api/v1/flows/acme-sess-1", token: e.token(p.ClientID, p.PassKey).Token})).json(t, &st)
	if st.Status != central.FlowExpired || st.ErrorCode != "session_expired" {
		t.Errorf("expired status %+v", st)
	}
}

func TestInitiateFlowInvalid(t *testing.T) {
	e := newEnv(t, boltStore)
	p := e.partner("Acme")
	base := func(kv ...any) map[string]any {
		m := map[string]any{"partner_user_id": "u1"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"user id missing", map[string]any{"liveness_type": "passive"}, "partner_user_id"},
		{"user id bad", base("partner_user_id", "has space"), "partner_user_id"},
		{"user id type bad", base("partner_user_id_type", strings.Repeat("x", 200)), "partner_user_id_type"},
		// Kiosk sessions' own type: the emitter records a kiosk's submission
		// only in a session of that type and device.
		{"user id type of kiosks", base("partner_user_id_type", "kiosk_device"), "partner_user_id_type"},
		{"session id bad", base("partner_session_id", "a/b"), "partner_session_id"},
		{"document unknown", base("accepted_documents", []string{"passport", "library_card"}), "accepted_documents"},
		{"documents empty", base("accepted_documents", []string{}), "accepted_documents"},
		{"documents not array", base("accepted_documents", "passport"), "accepted_documents"},
		{"country unknown", base("accepted_countries", []string{"IN", "XX"}), "accepted_countries"},
		{"country malformed", base("accepted_countries", []string{"India"}), "accepted_countries"},
		{"liveness", base("liveness_type", "sleepy"), "liveness_type"},
		{"threshold high", base("face_match_threshold", 1.5), "face_match_threshold"},
		{"threshold negative", base("face_match_threshold", -0.1), "face_match_threshold"},
		{"threshold string", base("face_match_threshold", "0.6"), "face_match_threshold"},
		{"address proof", base("require_address_proof", "yes"), "require_address_proof"},
		{"retries zero", base("max_retries", 0), "max_retries"},
		{"retries many", base("max_retries", 11), "max_retries"},
		{"retries fraction", base("max_retries", 2.5), "max_retries"},
		{"minimum age negative", base("min_age", -1), "min_age"},
		{"minimum age past any service", base("min_age", 150), "min_age"},
		{"minimum age as text", base("min_age", "18"), "min_age"},
		{"ttl short", base("session_ttl", 59), "session_ttl"},
		{"ttl long", base("session_ttl", 86401), "session_ttl"},
		{"smart qr", base("smart_qr", 1), "smart_qr"},
		{"callback http", base("callback_url", "http://acme.example/cb"), "callback_url"},
		{"callback relative", base("callback_url", "/cb"), "callback_url"},
		{"redirect javascript", base("redirect_url", "javascript:alert(1)"), "redirect_url"},
		// The origins become the hosted pages' CSP frame-ancestors: a
		// wildcard or a separator in the host would widen or break it.
		{"redirect wildcard host", base("redirect_url", "https://*/done"), "redirect_url"},
		{"redirect wildcard subdomain", base("redirect_url", "https://*.example.com/done"), "redirect_url"},
		{"callback host with semicolon", base("callback_url", "https://bank.example;sandbox/cb"), "callback_url"},
		{"callback host with comma", base("callback_url", "https://bank.example,script-src/cb"), "callback_url"},
		{"callback host with quote", base("callback_url", "https://bank'.example/cb"), "callback_url"},
		{"callback metadata service", base("callback_url", "https://169.254.169.254/latest/meta-data/"), "callback_url"},
		// An IPv6 literal's zone is any text (url.Parse unescapes %20):
		// "[2001:db8::1%x * x]" would put a bare * in frame-ancestors.
		{"callback IPv6 zone with a wildcard", base("callback_url", "https://[2001:db8::1%25x%20*%20x]/cb"), "callback_url"},
		{"redirect IPv6 zone with semicolon", base("redirect_url", "https://[::1%25;sandbox]/done"), "redirect_url"},
		{"unknown field", base("webhook", "https://x.example"), "webhook"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := e.do(req{method: "POST", path: "/api/v1/flows", token: p.tok, body: tc.body, invalid: true})
			var ve struct {
				Code   string                  `json:"code"`
				Errors []partnerapi.FieldError `json:"errors"`
			}
			a.json(t, &ve)
			if a.status != http.StatusUnprocessableEntity || ve.Code != "invalid_request" || len(ve.Errors) != 1 || ve.Errors[0].Field != tc.field {
				t.Errorf("%d %s, want 422 naming %s", a.status, a.body, tc.field)
			}
		})
	}
	// Loopback http is allowed (a receiver on this machine), as are
	// ordinary hosts, IPv6 literals and punycode.
	e.flow(p, base("callback_url", "http://127.0.0.1:9/cb"))
	e.flow(p, base("callback_url", "https://[2001:db8::1]:8443/cb", "redirect_url", "https://xn--bcher-kva.example/done?x=1"))
	// Every bad field at once, each named.
	a := e.do(req{method: "POST", path: "/api/v1/flows", token: p.tok, invalid: true, body: map[string]any{
		"liveness_type": "x", "max_retries": 0, "session_ttl": 5, "face_match_threshold": 2, "accepted_countries": []string{"ZZ"}}})
	var ve struct {
		Errors []partnerapi.FieldError `json:"errors"`
	}
	a.json(t, &ve)
	var fields []string
	for _, f := range ve.Errors {
		fields = append(fields, f.Field)
	}
	if a.status != 422 || strings.Join(fields, ",") != "partner_user_id,accepted_countries,liveness_type,face_match_threshold,max_retries,session_ttl" {
		t.Errorf("all at once: %d %v", a.status, fields)
	}
}

// TestAmbiguousJSONRefused: a body whose meaning depends on the parser (a
// member given twice: the first or the last wins, by parser) or that holds
// more than one object is refused, not read one way by central and
// another by a gateway or log in front of it.
func TestAmbiguousJSONRefused(t *testing.T) {
	e := newEnv(t, boltStore)
	p := e.partner("Acme")
	c := e.addPartner("Other")
	for _, tc := range []struct {
		name, path, token, body string
		status                  int
		code, field             string
	}{
		{"duplicate user id", "/api/v1/flows", p.tok, `{"partner_user_id":"victim","partner_user_id":"u1"}`, 422, "invalid_request", "partner_user_id"},
		{"duplicate pass key", "/api/v1/partner-token", "", `{"client_id":"` + c.ClientID + `","pass_key":"x","pass_key":"` + c.PassKey + `"}`, 422, "invalid_request", "pass_key"},
		{"second object", "/api/v1/flows", p.tok, `{"partner_user_id":"u1"} {"partner_user_id":"u2"}`, 400, "malformed", ""},
		{"trailing garbage", "/api/v1/flows", p.tok, `{"partner_user_id":"u1"}]`, 400, "malformed", ""},
		{"null", "/api/v1/flows", p.tok, `null`, 400, "malformed", ""},
		{"array", "/api/v1/flows", p.tok, `[{"partner_user_id":"u1"}]`, 400, "malformed", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := e.do(req{method: "POST", path: tc.path, token: tc.token, body: []byte(tc.body), invalid: true})
			var got struct {
				Code   string                  `json:"code"`
				Errors []partnerapi.FieldError `json:"errors"`
			}
			a.json(t, &got)
			if a.status != tc.status || got.Code != tc.code {
				t.Fatalf("%d %s, want %d %s", a.status, a.body, tc.status, tc.code)
			}
			if tc.field != "" && (len(got.Errors) != 1 || got.Errors[0].Field != tc.field || got.Errors[0].Code != "duplicate_field") {
				t.Errorf("errors %+v, want one duplicate_field naming %s", got.Errors, tc.field)
			}
		})
	}
	// A well-formed body with trailing whitespace is fine.
	e.must(http.StatusCreated, e.do(req{method: "POST", path: "/api/v1/flows", token: p.tok, body: []byte("{\"partner_user_id\":\"u1\"}\n  ")}))
}

// TestContentTypes: a JSON body is taken under its media type only
// (parameters and case aside); another type that merely begins with its
// name is another format, 415 as any other.
func TestContentTypes(t *testing.T) {
	e := newEnv(t, boltStore)
	p := e.partner("Acme")
	c := e.addPartner("Other")
	token := []byte(`{"client_id":"` + c.ClientID + `","pass_key":"` + c.PassKey + `"}`)
	for _, tc := range []struct {
		ctype  string
		status int
	}{
		{"application/json", http.StatusCreated},
		{"application/json; charset=utf-8", http.StatusCreated},
		{"Application/JSON", http.StatusCreated},
		{"application/jsonx", http.StatusUnsupportedMediaType},
		{"application/json-seq", http.StatusUnsupportedMediaType},
		{"text/plain", http.StatusUnsupportedMediaType},
		{"application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
	} {
		t.Run(tc.ctype, func(t *testing.T) {
			hdr := map[string]string{"Content-Type": tc.ctype}
			a := e.do(req{method: "POST", path: "/api/v1/flows", token: p.tok, body: []byte(`{"partner_user_id":"u1"}`), header: hdr, invalid: true})
			if a.status != tc.status || tc.status == http.StatusUnsupportedMediaType && a.code(t) != "unsupported_media_type" {
				t.Errorf("Initiate Flow: %d %.200s, want %d", a.status, a.body, tc.status)
			}
			want := http.StatusOK
			if tc.status != http.StatusCreated {
				want = tc.status
			}
			if a := e.do(req{method: "POST", path: "/api/v1/partner-token", body: token, header: hdr, invalid: true}); a.status != want {
				t.Errorf("Generate Partner Token: %d %.200s, want %d", a.status, a.body, want)
			}
		})
	}
}

// TestLaunchURLNotReused: a session id used again once retention removed
// its session gets a new launch URL; the old one, perhaps still in the
// first person's mail, does not open the new person's session.
func TestLaunchURLNotReused(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		p := e.partner("Acme")
		old := e.flow(p, map[string]any{"partner_user_id": "u1", "partner_session_id": "order-7", "session_ttl": 60})
		e.clk.Advance(2 * time.Minute)
		now := e.clk.Now().UTC()
		if n, err := e.store.Expire(context.Background(), central.ExpireFlows, now, now, 100); err != nil || n != 1 {
			t.Fatalf("retention removed %d sessions: %v", n, err)
		}
		e.must(http.StatusNotFound, e.do(req{method: "GET", path: "/api/v1/flows/order-7", token: p.tok}))
		fresh := e.flow(p, map[string]any{"partner_user_id": "u2", "partner_session_id": "order-7"})
		if fresh.LaunchURL == old.LaunchURL {
			t.Fatal("the new session has the removed one's launch URL")
		}
		e.must(http.StatusNotFound, e.do(req{method: "GET", path: strings.TrimPrefix(old.LaunchURL, e.base)}))
		e.must(http.StatusOK, e.do(req{method: "GET", path: strings.TrimPrefix(fresh.LaunchURL, e.base)}))
	})
}

// recordingStore keeps the answers the API stores under idempotency keys.
type recordingStore struct {
	central.Store
	mu     sync.Mutex
	stored [][]byte
}

func (s *recordingStore) Idempotent(ctx context.Context, partnerID, key string, requestHash []byte, now time.Time,
	fn func() (int, []byte, error)) (int, []byte, bool, error) {
	return s.Store.Idempotent(ctx, partnerID, key, requestHash, now, func() (int, []byte, error) {
		status, body, err := fn()
		s.mu.Lock()
		s.stored = append(s.stored, bytes.Clone(body))
		s.mu.Unlock()
		return status, body, err
	})
}

// TestIdempotentFlowKeepsNoLaunchSecret: the answer Initiate Flow stores
// under an Idempotency-Key (in the clear, for 24 h) holds no launch URL,
// whose token opens the session (the store keeps only its hash): the
// first answer and every replay get it derived again.
func TestIdempotentFlowKeepsNoLaunchSecret(t *testing.T) {
	rs := &recordingStore{}
	e := newEnvWith(t, boltStore, func(c *partnerapi.Config) { rs.Store = c.Store; c.Store = rs })
	p := e.partner("Acme")
	body := map[string]any{"partner_user_id": "u1"}
	key := map[string]string{"Idempotency-Key": "order-9"}
	var first, again partnerapi.FlowCreated
	e.must(http.StatusCreated, e.do(req{method: "POST", path: "/api/v1/flows", token: p.tok, body: body, header: key})).json(t, &first)
	a := e.must(http.StatusCreated, e.do(req{method: "POST", path: "/api/v1/flows", token: p.tok, body: body, header: key}))
	a.json(t, &again)
	if again.SessionID != first.SessionID || again.LaunchURL != first.LaunchURL || a.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay %+v, want %+v replayed", again, first)
	}
	launch := strings.TrimPrefix(first.LaunchURL, e.base+"/flow/")
	if launch == "" || launch == first.LaunchURL {
		t.Fatalf("launch URL %q", first.LaunchURL)
	}
	if len(rs.stored) != 1 || bytes.Contains(rs.stored[0], []byte(launch)) {
		t.Errorf("stored under the key: %s", bytes.Join(rs.stored, []byte("; ")))
	}
	e.must(http.StatusOK, e.do(req{method: "GET", path: "/flow/" + launch}))
}

func TestIdempotency(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		p := e.partner("Acme")
		body := map[string]any{"partner_user_id": "u1", "session_ttl": 600}
		key := map[string]string{"Idempotency-Key": "order-7"}
		var first, second partnerapi.FlowCreated
		a := e.must(http.StatusCreated, e.do(req{method: "POST", path: "/api/v1/flows", token: p.tok, body: body, header: key}))
		a.json(t, &first)
		if a.header.Get("Idempotent-Replayed") != "" {
			t.Error("the first answer says replayed")
		}
		b := e.must(http.StatusCreated, e.do(req{method: "POST", path: "/api/v1/flows", token: p.tok, body: body, header: key}))
		b.json(t, &second)
		if second.SessionID != first.SessionID || b.header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("replay: %s vs %s (%q)", second.SessionID, first.SessionID, b.header.Get("Idempotent-Replayed"))
		}
		c := e.do(req{method: "POST", path: "/api/v1/flows", token: p.tok, body: map[string]any{"partner_user_id": "u2"}, header: key})
		if c.status != http.StatusUnprocessableEntity || c.code(t) != "idempotency_key_reused" {
			t.Errorf("conflict: %d %s", c.status, c.body)
		}
		// An invalid request is not stored: the key stays free for the corrected one.
		e.do(req{method: "POST", path: "/api/v1/flows", token: p.tok, body: map[string]any{"session_ttl": 1}, header: map[string]string{"Idempotency-Key": "k2"}, invalid: true})
		e.must(http.StatusCreated, e.do(req{method: "POST", path: "/api/v1/flows", token: p.tok, body: map[string]any{"partner_user_id": "u3"}, header: map[string]string{"Idempotency-Key": "k2"}}))
		// A key too long or not printable ASCII is a validation error, not
		// a store's failure (the stores keep keys as text).
		for _, k := range []string{strings.Repeat("k", 256), "caf\u00e9", "\xff"} {
			a := e.do(req{method: "POST", path: "/api/v1/flows", token: p.tok, body: map[string]any{"partner_user_id": "u4"}, header: map[string]string{"Idempotency-Key": k}, invalid: true})
			if a.status != http.StatusUnprocessableEntity || !strings.Contains(string(a.body), "Idempotency-Key") {
				t.Errorf("key %.20q: %d %s", k, a.status, a.body)
			}
		}
	})
}

func TestSubmissionDetails(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		p := e.partner("Acme")
		other := e.partner("Other")
		fc := e.flow(p, map[string]any{"partner_user_id": "cust-1", "partner_user_id_type": "customer_id", "partner_session_id": "s-1"})
		hdr := map[string]string{"x-partner-session-id": fc.SessionID, "x-partner-user-id": "cust-1", "x-partner-user-id-type": "customer_id"}

		// Before any submission: the status, no result.
		var d partnerapi.Details
		e.must(http.StatusOK, e.do(req{method: "GET", path: "/api/v1/submission-details", token: p.tok, header: hdr})).json(t, &d)
		if d.Result != nil || d.Status != central.FlowCreated {
			t.Fatalf("details before: %+v", d)
		}

		ref, imgs := e.submit("dev-1", "s-1", payload(t, "payload_escalate.json", "s-1"))
		e.complete(p.Partner.ID, fc.SessionID, ref)
		e.must(http.StatusOK, e.do(req{method: "GET", path: "/api/v1/submission-details", token: p.tok, header: hdr})).json(t, &d)
		r := d.Result
		if r == nil || d.Status != central.FlowCompleted || d.NextAction != "STATUS" {
			t.Fatalf("details: %+v", d)
		}
		if r.Decision != "escalate" || r.EngineDecision != "escalate" || r.Score < 64 || r.Score > 65 || len(r.ReasonCodes) == 0 || r.ReasonCodes[0] != "WATCHLIST_HIT" {
			t.Errorf("decision %s score %v reasons %v", r.Decision, r.Score, r.ReasonCodes)
		}
		if r.Document == nil || r.Document.Type != "passport" || r.Document.Fields["document_number"].Value != "L898902C3" ||
			r.Document.Fields["document_number"].Source != "mrz" || r.Document.Checks.MRZ == nil || r.Document.Checks.Forensics == nil {
			t.Errorf("document %+v", r.Document)
		}
		if r.Face == nil || r.Face.Match == nil || r.Face.Match.Threshold == 0 || r.Face.Liveness == nil || !r.Face.Liveness.Live {
			t.Errorf("face %+v", r.Face)
		}
		if r.Screening == nil || r.Screening.Outcome != "hit" || len(r.Screening.Hits) != 1 || r.Screening.Hits[0].List != "pep" {
			t.Errorf("screening %+v", r.Screening)
		}
		if r.Review != nil || r.Attestation.Verdict != "ok" || len(r.Images) != 2 {
			t.Errorf("review %+v attestation %+v images %d", r.Review, r.Attestation, len(r.Images))
		}

		// A proposed override (console, four eyes) is not shown until confirmed.
		if _, err := e.store.UpdateReview(context.Background(), ref, func(c central.Case) (central.Review, central.AuditEvent, error) {
			now := e.clk.Now().UTC()
			return central.Review{State: central.ReviewOverride, Assignee: "rev1", Outcome: central.OutcomeApprove, DecidedBy: "rev1", DecidedAt: now},
				central.AuditEvent{ID: "ovr-1", At: now, Actor: "user:rev1", Action: "case_override_propose", Count: 1, Subject: "case:dev-1/" + ref.Key}, nil
		}); err != nil {
			t.Fatal(err)
		}
		e.must(http.StatusOK, e.do(req{method: "GET", path: "/api/v1/submission-details", token: p.tok, header: hdr})).json(t, &d)
		if d.Result.Decision != "escalate" || d.Result.Review != nil {
			t.Errorf("with an override pending: decision %s, review %+v", d.Result.Decision, d.Result.Review)
		}

		// An approval waiting for its second reviewer: its state, not its
		// outcome nor the hit its reviewer cleared.
		if _, err := e.store.UpdateReview(context.Background(), ref, func(c central.Case) (central.Review, central.AuditEvent, error) {
			now := e.clk.Now().UTC()
			return central.Review{State: central.ReviewSecond, Assignee: "rev1", Outcome: central.OutcomeApprove, DecidedBy: "rev1", DecidedAt: now,
					Hits: []central.HitResolution{{Index: 0, Status: central.HitFalsePositive, By: "rev1", At: now}}},
				central.AuditEvent{ID: "sec-1", At: now, Actor: "user:rev1", Action: "case_second_review", Count: 1, Subject: "case:dev-1/" + ref.Key}, nil
		}); err != nil {
			t.Fatal(err)
		}
		e.must(http.StatusOK, e.do(req{method: "GET", path: "/api/v1/submission-details", token: p.tok, header: hdr})).json(t, &d)
		if d.Result.Decision != "escalate" || d.Result.Review == nil || d.Result.Review.State != string(central.ReviewSecond) ||
			d.Result.Review.Outcome != "" || d.Result.Screening.Hits[0].Resolution != "" {
			t.Errorf("with an approval in second review: decision %s, review %+v, hit %+v", d.Result.Decision, d.Result.Review, d.Result.Screening.Hits[0])
		}

		// A reviewer's decision is the final one.
		_, err := e.store.UpdateReview(context.Background(), ref, func(c central.Case) (central.Review, central.AuditEvent, error) {
			now := e.clk.Now().UTC()
			return central.Review{State: central.ReviewDecided, Outcome: central.OutcomeReject, Reason: "fraud_suspected", DecidedBy: "rev1", DecidedAt: now,
					Hits: []central.HitResolution{{Index: 0, Status: central.HitConfirmed, By: "rev1", At: now}}},
				central.AuditEvent{ID: "rev-1", At: now, Actor: "user:rev1", Action: "decide", Count: 1, Subject: "case:dev-1/" + ref.Key}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		e.must(http.StatusOK, e.do(req{method: "GET", path: "/api/v1/submission-details", token: p.tok, header: hdr})).json(t, &d)
		if d.Result.Decision != "reject" || d.Result.EngineDecision != "escalate" || d.Result.Review == nil || d.Result.Review.Outcome != "reject" ||
			d.Result.Screening.Hits[0].Resolution != "confirmed" {
			t.Errorf("after review: %+v %+v", d.Result.Review, d.Result.Screening)
		}

		// Image links: the image, to this partner, until they expire.
		for _, im := range d.Result.Images {
			path := strings.TrimPrefix(im.URL, e.base)
			a := e.must(http.StatusOK, e.do(req{method: "GET", path: path, token: p.tok}))
			if !bytes.Equal(a.body, imgs[im.Name]) || a.header.Get("Cache-Control") != "no-store" || a.header.Get("Content-Type") != "image/jpeg" {
				t.Errorf("image %s: %d bytes, %v", im.Name, len(a.body), a.header)
			}
			e.must(http.StatusNotFound, e.do(req{method: "GET", path: path, token: other.tok}))
			e.must(http.StatusNotFound, e.do(req{method: "GET", path: path[:len(path)-2] + "AA", token: p.tok}))
		}
		e.clk.Advance(15*time.Minute + time.Second)
		tok := e.token(p.ClientID, p.PassKey).Token
		a := e.do(req{method: "GET", path: strings.TrimPrefix(d.Result.Images[0].URL, e.base), token: tok})
		if a.status != http.StatusGone || a.code(t) != "link_expired" {
			t.Errorf("expired link: %d %s", a.status, a.body)
		}

		// The user must be the session's; headers are required.
		for _, tc := range []struct {
			name   string
			header map[string]string
			status int
		}{
			{"other user", map[string]string{"x-partner-session-id": fc.SessionID, "x-partner-user-id": "cust-2", "x-partner-user-id-type": "customer_id"}, 404},
			{"other user type", map[string]string{"x-partner-session-id": fc.SessionID, "x-partner-user-id": "cust-1", "x-partner-user-id-type": "email"}, 404},
			{"unknown session", map[string]string{"x-partner-session-id": "nope", "x-partner-user-id": "cust-1", "x-partner-user-id-type": "customer_id"}, 404},
			{"no headers", nil, 422},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if a := e.do(req{method: "GET", path: "/api/v1/submission-details", token: tok, header: tc.header, invalid: tc.header == nil}); a.status != tc.status {
					t.Errorf("%d %s", a.status, a.body)
				}
			})
		}
	})
}

// TestIsolation: partner B tries every read and write endpoint on partner
// A's sessions, image links and idempotency keys, on PostgreSQL: all 404
// (never 403), and nothing of A's changes.
func TestIsolation(t *testing.T) {
	e := newEnv(t, pgStore)
	pa, pb := e.partner("A"), e.partner("B")
	fa := e.flow(pa, map[string]any{"partner_user_id": "ua", "partner_session_id": "shared-id"})
	e.must(http.StatusCreated, e.do(req{method: "POST", path: "/api/v1/flows", token: pa.tok, body: map[string]any{"partner_user_id": "ua", "session_ttl": 600},
		header: map[string]string{"Idempotency-Key": "idem-a"}}))
	ref, _ := e.submit("dev-a", "sub-a", payload(t, "payload_device.json", "sub-a"))
	e.complete(pa.Partner.ID, fa.SessionID, ref)
	var d partnerapi.Details
	ha := map[string]string{"x-partner-session-id": fa.SessionID, "x-partner-user-id": "ua", "x-partner-user-id-type": "user_id"}
	e.must(http.StatusOK, e.do(req{method: "GET", path: "/api/v1/submission-details", token: pa.tok, header: ha})).json(t, &d)
	if d.Result == nil || len(d.Result.Images) == 0 {
		t.Fatalf("A's details: %+v", d)
	}
	imgPath := strings.TrimPrefix(d.Result.Images[0].URL, e.base)

	for _, r := range []req{
		{method: "GET", path: "/api/v1/flows/" + fa.SessionID},
		{method: "GET", path: "/api/v1/flows/" + fa.SessionID + "/qr.png"},
		{method: "GET", path: "/api/v1/flows/" + fa.SessionID + "/qr.svg"},
		{method: "GET", path: "/api/v1/submission-details", header: ha},
		{method: "GET", path: imgPath},
	} {
		r.token = pb.tok
		if a := e.do(r); a.status != http.StatusNotFound {
			t.Errorf("B: %s %s: %d %s", r.method, r.path, a.status, a.body)
		}
	}
	// Writes: B's session ids and idempotency keys are B's own; A's
	// session and its answer stay A's.
	var fb partnerapi.FlowCreated
	e.must(http.StatusCreated, e.do(req{method: "POST", path: "/api/v1/flows", token: pb.tok,
		body: map[string]any{"partner_user_id": "ub", "partner_session_id": "shared-id"}})).json(t, &fb)
	e.must(http.StatusCreated, e.do(req{method: "POST", path: "/api/v1/flows", token: pb.tok, body: map[string]any{"partner_user_id": "ub"},
		header: map[string]string{"Idempotency-Key": "idem-a"}}))
	if fb.LaunchURL == fa.LaunchURL {
		t.Error("B's session shares A's launch URL")
	}
	var st partnerapi.FlowStatusView
	e.must(http.StatusOK, e.do(req{method: "GET", path: "/api/v1/flows/shared-id", token: pa.tok})).json(t, &st)
	if st.PartnerUserID != "ua" || st.Status != central.FlowCompleted {
		t.Errorf("A's session after B's writes: %+v", st)
	}
	e.must(http.StatusOK, e.do(req{method: "GET", path: "/api/v1/flows/shared-id", token: pb.tok})).json(t, &st)
	if st.PartnerUserID != "ub" || st.Status != central.FlowCreated {
		t.Errorf("B's own session: %+v", st)
	}
	hb := map[string]string{"x-partner-session-id": "shared-id", "x-partner-user-id": "ub", "x-partner-user-id-type": "user_id"}
	e.must(http.StatusOK, e.do(req{method: "GET", path: "/api/v1/submission-details", token: pb.tok, header: hb})).json(t, &d)
	if d.Result != nil {
		t.Error("B's session shows A's result")
	}
}

// TestKioskSession: a session synced from a kiosk of a branch the partner
// owns (a flow session the webhook emitter creates, with the device's
// session id, the device as the user, type kiosk_device) is visible to
// that partner through status and details, and to no other.
func TestKioskSession(t *testing.T) {
	e := newEnv(t, boltStore)
	owner, other := e.partner("Owner", "jkt-01"), e.partner("Other")
	ref, imgs := e.submit("kiosk-7", "kiosk-sess-1", payload(t, "payload_device.json", "kiosk-sess-1"))
	now := e.clk.Now().UTC()
	err := e.store.CreateFlow(context.Background(), central.FlowSession{ID: "kiosk-sess-1", PartnerID: owner.Partner.ID, UserID: "kiosk-7",
		UserIDType: "kiosk_device", Config: []byte(`{}`), Status: central.FlowCompleted, NextAction: "EXIT", Attempts: 1,
		Submissions: []central.SubmissionRef{ref}, CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	var st partnerapi.FlowStatusView
	e.must(http.StatusOK, e.do(req{method: "GET", path: "/api/v1/flows/kiosk-sess-1", token: owner.tok})).json(t, &st)
	if st.Status != central.FlowCompleted || st.NextAction != "EXIT" {
		t.Errorf("status %+v", st)
	}
	hdr := map[string]string{"x-partner-session-id": "kiosk-sess-1", "x-partner-user-id": "kiosk-7", "x-partner-user-id-type": "kiosk_device"}
	var d partnerapi.Details
	e.must(http.StatusOK, e.do(req{method: "GET", path: "/api/v1/submission-details", token: owner.tok, header: hdr})).json(t, &d)
	if d.Result == nil || d.Result.SubmissionID != "kiosk-sess-1" || len(d.Result.Images) != len(imgs) {
		t.Fatalf("details %+v", d.Result)
	}
	e.must(http.StatusNotFound, e.do(req{method: "GET", path: "/api/v1/flows/kiosk-sess-1", token: other.tok}))
	e.must(http.StatusNotFound, e.do(req{method: "GET", path: "/api/v1/submission-details", token: other.tok, header: hdr}))
}

// TestUnstorableIDs: a session id or client id that no store can hold (a
// NUL byte, bytes that are not UTF-8) names nothing: the answer is the one
// for an unknown id, never a store's failure (500), and an unauthenticated
// caller cannot make central fail at will outside the failure budget.
func TestUnstorableIDs(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		p := e.partner("Acme")
		fc := e.flow(p, map[string]any{"partner_user_id": "u1"})
		details := func(sid string) map[string]string {
			return map[string]string{"x-partner-session-id": sid, "x-partner-user-id": "u1", "x-partner-user-id-type": "user_id"}
		}
		for _, tc := range []struct {
			name   string
			r      req
			status int
			code   string
		}{
			{"status, NUL", req{method: "GET", path: "/api/v1/flows/%00", token: p.tok}, 404, "unknown_session"},
			{"status, not UTF-8", req{method: "GET", path: "/api/v1/flows/%FF", token: p.tok}, 404, "unknown_session"},
			{"QR, not UTF-8", req{method: "GET", path: "/api/v1/flows/%FF/qr.png", token: p.tok}, 404, "unknown_session"},
			{"details, not UTF-8", req{method: "GET", path: "/api/v1/submission-details", token: p.tok, header: details("\xff")}, 404, "unknown_session"},
			{"token, NUL in client_id", req{method: "POST", path: "/api/v1/partner-token", body: []byte(`{"client_id":"cli_\u0000","pass_key":"pk_x"}`)}, 422, "invalid_request"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tc.r.invalid = true
				if a := e.do(tc.r); a.status != tc.status || a.code(t) != tc.code {
					t.Errorf("%d %s, want %d %s", a.status, a.body, tc.status, tc.code)
				}
			})
		}
		// The session itself is still found.
		e.must(http.StatusOK, e.do(req{method: "GET", path: "/api/v1/flows/" + fc.SessionID, token: p.tok}))
	})
}

// TestMethodNotAllowed: a route asked with a method it does not serve is
// 405 method_not_allowed with Allow naming the ones it does, in the API's
// error shape, whoever asks (no token needed to learn what the public
// document says); a path no route serves stays 404 not_found.
func TestMethodNotAllowed(t *testing.T) {
	e := newEnv(t, boltStore)
	for _, tc := range []struct {
		method, path, allow string
	}{
		{"GET", "/api/v1/partner-token", "POST"},
		{"DELETE", "/api/v1/flows", "POST"},
		{"POST", "/api/v1/flows/ses_1", "GET, HEAD"},
		{"PUT", "/api/v1/flows/ses_1/qr.png", "GET, HEAD"},
		{"DELETE", "/api/v1/flows/ses_1/qr.svg", "GET, HEAD"},
		{"POST", "/api/v1/submission-details", "GET, HEAD"},
		{"PATCH", "/api/v1/images/tok", "GET, HEAD"},
		{"GET", "/api/v1/face-match", "POST"},
	} {
		a := e.send(tc.method, tc.path)
		if a.status != http.StatusMethodNotAllowed || a.header.Get("Allow") != tc.allow || a.code(t) != "method_not_allowed" {
			t.Errorf("%s %s: %d Allow %q %s, want 405 Allow %q method_not_allowed", tc.method, tc.path, a.status, a.header.Get("Allow"), a.body, tc.allow)
		}
		apitest.Response(t, "MethodNotAllowed", a.header, a.body)
	}
	a := e.send("GET", "/api/v1/nope")
	if a.status != http.StatusNotFound || a.code(t) != "not_found" || a.header.Get("Allow") != "" {
		t.Errorf("GET /api/v1/nope: %d Allow %q %s, want 404 not_found", a.status, a.header.Get("Allow"), a.body)
	}
	apitest.Response(t, "NotFound", a.header, a.body)
}

// TestDisablePartner: an admin disables a partner (PUT .../disabled) and
// its pass key and the tokens it already holds are refused at once;
// enabling it again lets the same ones in, as nothing was deleted. Both
// are audited; a body without the flag, or with another type, is 422.
func TestDisablePartner(t *testing.T) {
	e := newEnv(t, boltStore)
	c := e.addPartner("Acme")
	other := e.addPartner("Other")
	tok := e.token(c.ClientID, c.PassKey).Token
	otherTok := e.token(other.ClientID, other.PassKey).Token
	path := "/admin/v1/partners/" + c.Partner.ID + "/disabled"
	set := func(disabled bool) {
		t.Helper()
		var v partnerapi.PartnerView
		e.must(http.StatusOK, e.do(req{method: "PUT", path: path, admin: true, body: map[string]bool{"disabled": disabled}})).json(t, &v)
		if v.Disabled != disabled || v.ID != c.Partner.ID {
			t.Fatalf("PUT disabled %v answered %+v", disabled, v)
		}
	}
	flows := func(tok string) int {
		t.Helper()
		return e.do(req{method: "GET", path: "/api/v1/flows/nope", token: tok}).status
	}
	if got := flows(tok); got != http.StatusNotFound {
		t.Fatalf("before: %d, want 404 (the token works)", got)
	}
	set(true)
	if got := flows(tok); got != http.StatusUnauthorized {
		t.Errorf("disabled: a token it holds gets %d, want 401", got)
	}
	if a := e.do(req{method: "POST", path: "/api/v1/partner-token", body: map[string]string{"client_id": c.ClientID, "pass_key": c.PassKey}}); a.status != http.StatusUnauthorized {
		t.Errorf("disabled: its pass key gets %d, want 401", a.status)
	}
	if got := flows(otherTok); got != http.StatusNotFound {
		t.Errorf("another partner's token gets %d while the first is disabled, want 404", got)
	}
	set(false)
	if got := flows(tok); got != http.StatusNotFound {
		t.Errorf("enabled again: %d, want 404 (the token works again)", got)
	}
	e.token(c.ClientID, c.PassKey)

	for _, tc := range []struct {
		name string
		body any
		code int
	}{
		{"no flag", map[string]any{}, http.StatusUnprocessableEntity},
		{"a string", map[string]any{"disabled": "yes"}, http.StatusUnprocessableEntity},
		{"unknown member", map[string]any{"disabled": true, "why": "x"}, http.StatusUnprocessableEntity},
	} {
		if a := e.do(req{method: "PUT", path: path, admin: true, body: tc.body, invalid: true}); a.status != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.name, a.status, a.body, tc.code)
		}
	}
	e.must(http.StatusNotFound, e.do(req{method: "PUT", path: "/admin/v1/partners/ptn_nobody/disabled", admin: true, body: map[string]bool{"disabled": true}}))
	if flows(tok) != http.StatusNotFound {
		t.Error("a refused change disabled the partner")
	}
	evs, err := e.store.Audit(context.Background(), central.AuditFilter{Subject: "partner:" + c.Partner.ID})
	var actions []string
	for _, ev := range evs {
		actions = append(actions, ev.Action)
	}
	if err != nil || strings.Join(actions, ",") != "partner_create,partner_disable,partner_enable" {
		t.Errorf("audit %v, %v", actions, err)
	}
	// The time disabled is kept, so that it does not count towards the
	// held events' retries (package webhook).
	set(true)
	e.clk.Advance(100 * time.Hour)
	set(false)
	if p, err := e.store.Partner(context.Background(), c.Partner.ID); err != nil || p.HeldFor < 100*time.Hour || p.HeldFor > 101*time.Hour {
		t.Errorf("held for %v after 100 h disabled (%v)", p.HeldFor, err)
	}
}

// TestTokenMadeWhileTheClockRanAhead: a token made while central's clock
// read five years (or an hour) ahead, then corrected, would last as long
// as the clock was off, past the hour a token lives. It is expired
// (token_expired, so the partner's client makes a new one) and not handed
// out again; the new one lives an hour by the corrected clock.
func TestTokenMadeWhileTheClockRanAhead(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		for _, ahead := range []time.Duration{time.Hour, 5 * 365 * 24 * time.Hour} {
			c := e.addPartner("Acme " + ahead.String())
			e.clk.Advance(ahead)
			early := e.token(c.ClientID, c.PassKey)
			e.clk.Advance(-ahead)
			if a := e.do(req{method: "GET", path: "/api/v1/flows/nope", token: early.Token}); a.status != http.StatusUnauthorized || a.code(t) != "token_expired" {
				t.Errorf("a token made with the clock %v ahead, after it was put back: %d %s; want 401 token_expired", ahead, a.status, a.body)
			}
			fresh := e.token(c.ClientID, c.PassKey)
			if fresh.Token == early.Token || fresh.ExpiresIn > 3600 || fresh.ExpiresAt.After(e.clk.Now().Add(time.Hour)) {
				t.Errorf("token asked for after the clock was put back %v: %+v; want a new one living an hour (the early one %+v)", ahead, fresh, early)
			}
			e.must(http.StatusNotFound, e.do(req{method: "GET", path: "/api/v1/flows/nope", token: fresh.Token}))
		}
	})
}
