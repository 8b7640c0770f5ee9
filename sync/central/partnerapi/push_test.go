package partnerapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/partnerapi"
)

// fieldNames are the fields a 422 names, in order.
func fieldNames(t *testing.T, a answer) []string {
	t.Helper()
	var ve struct {
		Errors []partnerapi.FieldError `json:"errors"`
	}
	a.json(t, &ve)
	var out []string
	for _, f := range ve.Errors {
		out = append(out, f.Field)
	}
	return out
}

// TestPushAdmin: the admin API configures a partner's enterprise push
// (each bad field named), makes the AES-256 key once and shows it once,
// keeps it on reconfiguration, rotates it, never shows the client secret,
// keeps the partner's other settings, and removes the push; every answer
// matches openapi.json.
func TestPushAdmin(t *testing.T) {
	e := newEnv(t, boltStore)
	ctx := context.Background()
	p := e.addPartner("Acme Bank")
	path := "/admin/v1/partners/" + p.Partner.ID + "/push"
	// Another setting of the partner's, which the push must leave alone.
	if _, err := e.store.UpdatePartner(ctx, p.Partner.ID, func(pt *central.Partner) error {
		pt.Config = json.RawMessage(`{"face_match_limit":{"per_second":2,"burst":3}}`)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	a := e.must(422, e.do(req{method: "PUT", path: path, admin: true, invalid: true,
		body: map[string]any{"url": "http://acme.example/kyc", "token_url": "ftp://x", "client_id": "has space", "scopes": []string{""}}}))
	if got := strings.Join(fieldNames(t, a), ","); got != "url,token_url,client_id,client_secret,scopes[0]" {
		t.Errorf("422 names %s", got)
	}
	body := map[string]any{"url": "https://acme.example/kyc", "token_url": "https://auth.acme.example/oauth/token",
		"client_id": "central", "client_secret": "very-secret-1", "scopes": []string{"kyc.write"}}
	var res partnerapi.PushConfiguredResult
	a = e.must(200, e.do(req{method: "PUT", path: path, admin: true, body: body}))
	a.json(t, &res)
	key, err := base64.StdEncoding.DecodeString(res.EncryptionKey)
	if err != nil || len(key) != 32 || res.Partner.Push == nil || res.Partner.Push.KeyID != res.KeyID ||
		res.Partner.Push.URL != "https://acme.example/kyc" || !slices.Equal(res.Partner.Push.Scopes, []string{"kyc.write"}) {
		t.Fatalf("PUT push: %s", a.body)
	}
	if strings.Contains(string(a.body), "very-secret-1") {
		t.Error("the client secret is in the answer")
	}
	// Reconfigured without a secret: the stored one and the key are kept.
	delete(body, "client_secret")
	body["url"] = "https://acme.example/kyc/v2"
	var again partnerapi.PushConfiguredResult
	e.must(200, e.do(req{method: "PUT", path: path, admin: true, body: body})).json(t, &again)
	if again.EncryptionKey != "" || again.KeyID != res.KeyID || again.Partner.Push.URL != "https://acme.example/kyc/v2" {
		t.Errorf("reconfiguring: %+v", again)
	}
	pt, err := e.store.Partner(ctx, p.Partner.ID)
	if err != nil {
		t.Fatal(err)
	}
	target, err := e.api.PushTarget(pt)
	if err != nil || target.ClientSecret != "very-secret-1" || string(target.Key) != string(key) || target.KeyID != res.KeyID {
		t.Errorf("PushTarget: %+v, %v", target, err)
	}
	if !strings.Contains(string(pt.Config), `"face_match_limit"`) || strings.Contains(string(pt.Config), "very-secret-1") {
		t.Errorf("stored settings %s: the other member lost, or the secret in the clear", pt.Config)
	}
	var view partnerapi.PartnerView
	e.must(200, e.do(req{method: "GET", path: "/admin/v1/partners/" + p.Partner.ID, admin: true})).json(t, &view)
	if view.Push == nil || view.Push.ClientID != "central" {
		t.Errorf("GET partner: push %+v", view.Push)
	}
	var rot partnerapi.PushConfiguredResult
	e.must(200, e.do(req{method: "POST", path: path + "-key", admin: true})).json(t, &rot)
	if rot.KeyID == res.KeyID || rot.EncryptionKey == "" || rot.EncryptionKey == res.EncryptionKey {
		t.Errorf("push-key: %+v", rot)
	}
	var removed partnerapi.PartnerView
	e.must(200, e.do(req{method: "DELETE", path: path, admin: true})).json(t, &removed)
	if removed.Push != nil {
		t.Errorf("after DELETE: %+v", removed.Push)
	}
	if a := e.must(409, e.do(req{method: "POST", path: path + "-key", admin: true})); a.code(t) != "push_not_configured" {
		t.Errorf("push-key without a push: %s", a.body)
	}
	e.must(404, e.do(req{method: "PUT", path: "/admin/v1/partners/ptn_nobody/push", admin: true,
		body: map[string]any{"url": "https://a.example", "token_url": "https://a.example/t", "client_id": "c", "client_secret": "s"}}))
	evs, err := e.store.Audit(ctx, central.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, ev := range evs {
		actions = append(actions, ev.Action)
	}
	for _, want := range []string{partnerapi.AuditPartnerPush, partnerapi.AuditPartnerPushKey, partnerapi.AuditPartnerPushRemove} {
		if !slices.Contains(actions, want) {
			t.Errorf("audit trail %v lacks %s", actions, want)
		}
	}
}

// TestReferenceImageAdmin: Initiate Flow refuses use_reference_image with
// a 422 naming it while the partner has no reference-image endpoint; the
// admin API configures one (each bad field named, the secret never
// shown), after which the flow is accepted; removing it refuses again.
func TestReferenceImageAdmin(t *testing.T) {
	e := newEnv(t, boltStore)
	p := e.partner("Acme Bank")
	flow := map[string]any{"partner_user_id": "user-42", "use_reference_image": true}
	a := e.must(422, e.do(req{method: "POST", path: "/api/v1/flows", token: p.tok, body: flow}))
	if got := fieldNames(t, a); !slices.Equal(got, []string{"use_reference_image"}) {
		t.Errorf("Initiate Flow without the endpoint: 422 names %v", got)
	}
	path := "/admin/v1/partners/" + p.Partner.ID + "/reference-image"
	a = e.must(422, e.do(req{method: "PUT", path: path, admin: true, invalid: true, body: map[string]any{
		"url": "https://acme.example/ref", "auth": "header", "header": "Host", "timeout_ms": 10, "max_bytes": 20 << 20}}))
	if got := strings.Join(fieldNames(t, a), ","); got != "header,secret,timeout_ms,max_bytes" {
		t.Errorf("422 names %s", got)
	}
	a = e.must(422, e.do(req{method: "PUT", path: path, admin: true, body: map[string]any{
		"url": "http://acme.example/ref", "auth": "basic", "secret": "pw"}}))
	if got := strings.Join(fieldNames(t, a), ","); got != "url,username" {
		t.Errorf("422 names %s", got)
	}
	var v partnerapi.PartnerView
	a = e.must(200, e.do(req{method: "PUT", path: path, admin: true, body: map[string]any{
		"url": "https://acme.example/ref", "auth": "header", "header": "X-Api-Key", "secret": "ref-secret-9"}}))
	a.json(t, &v)
	if r := v.ReferenceImage; r == nil || r.Header != "X-Api-Key" || r.TimeoutMS != 10000 || r.MaxBytes != 5<<20 || strings.Contains(string(a.body), "ref-secret-9") {
		t.Fatalf("PUT reference-image: %s", a.body)
	}
	var fc partnerapi.FlowCreated
	e.must(201, e.do(req{method: "POST", path: "/api/v1/flows", token: p.tok, body: flow})).json(t, &fc)
	if !fc.Config.UseReferenceImage {
		t.Errorf("flow config %+v", fc.Config)
	}
	var removed partnerapi.PartnerView
	e.must(200, e.do(req{method: "DELETE", path: path, admin: true})).json(t, &removed)
	if removed.ReferenceImage != nil {
		t.Errorf("after DELETE: %+v", removed.ReferenceImage)
	}
	e.must(422, e.do(req{method: "POST", path: "/api/v1/flows", token: p.tok, body: flow}))
	e.must(http.StatusNotFound, e.do(req{method: "DELETE", path: "/admin/v1/partners/ptn_nobody/reference-image", admin: true}))
}
