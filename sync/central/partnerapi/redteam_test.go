package partnerapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/central/partnerapi"
	"github.com/openkyc/kyc/sync/central/partnerapi/apitest"
)

// A pass key leaked and the admin rotated it with a short overlap, which
// ends the leaked key's token with it. A later rotation (the partner lost
// the new key too, or a routine one) with the default 24 h overlap must
// neither bring that token back once it ended nor, made during the short
// overlap, let it outlive it.
func TestRotationDoesNotReviveRevokedToken(t *testing.T) {
	rotate := func(e *env, id string, overlap int) {
		e.t.Helper()
		body := map[string]any{}
		if overlap > 0 {
			body["overlap_seconds"] = overlap
		}
		e.must(http.StatusOK, e.do(req{method: "POST", path: "/admin/v1/partners/" + id + "/rotate-key", admin: true, body: body}))
	}
	ended := func(e *env, tok, when string) {
		e.t.Helper()
		if a := e.do(req{method: "GET", path: "/api/v1/flows/nope", token: tok}); a.status != http.StatusUnauthorized || a.code(e.t) != "token_expired" {
			e.t.Errorf("the leaked key's token %s: %d %s", when, a.status, a.body)
		}
	}
	eachStore(t, func(t *testing.T, e *env) {
		c := e.addPartner("Acme")
		leaked := e.token(c.ClientID, c.PassKey).Token
		rotate(e, c.Partner.ID, 1)
		e.clk.Advance(2 * time.Second)
		ended(e, leaked, "after its overlap")
		e.clk.Advance(10 * time.Minute)
		rotate(e, c.Partner.ID, 0)
		ended(e, leaked, "after a second rotation")

		// The second rotation within the first one's overlap.
		g := e.addPartner("Globex")
		leaked = e.token(g.ClientID, g.PassKey).Token
		rotate(e, g.Partner.ID, 120)
		e.clk.Advance(time.Minute)
		rotate(e, g.Partner.ID, 0)
		e.clk.Advance(time.Minute + time.Second)
		ended(e, leaked, "after the first overlap, rotated again within it")
	})
}

// A partner's name is what the hosted flow's landing page shows a person
// so that they know whose verification a link is ("Continue only if you
// are dealing with Acme Bank yourself"); a bidirectional override in it
// turns the rest of that sentence around, a zero-width character makes a
// name that looks like another partner's, a C1 control or a line
// separator breaks the console's lines. Such names and branches are
// refused; letters, marks and symbols of any script are not.
func TestPartnerNamesArePlainText(t *testing.T) {
	e := newEnv(t, boltStore)
	for _, tc := range []struct {
		name, branch string
		want         int
		field        string
	}{
		{"Acme Bank\u202e", "", http.StatusUnprocessableEntity, "name"},
		{"Bank\u2067 Mandiri", "", http.StatusUnprocessableEntity, "name"},
		{"Bank\u200bMandiri", "", http.StatusUnprocessableEntity, "name"},
		{"Acme\u0085Bank", "", http.StatusUnprocessableEntity, "name"},
		{"Acme\u2028Bank", "", http.StatusUnprocessableEntity, "name"},
		{"Acme", "jkt\u202e-01", http.StatusUnprocessableEntity, "branches[0]"},
		{"Acme", "jkt\ufeff01", http.StatusUnprocessableEntity, "branches[0]"},
		{"Koperasi Sejahtera Ñusantara & Co. 🏦", "Jakarta Selatan (Ñ)", http.StatusCreated, ""},
	} {
		body := map[string]any{"name": tc.name}
		if tc.branch != "" {
			body["branches"] = []string{tc.branch}
		}
		a := e.do(req{method: "POST", path: "/admin/v1/partners", admin: true, body: body})
		if a.status != tc.want {
			t.Errorf("name %+q branch %+q: %d %s, want %d", tc.name, tc.branch, a.status, a.body, tc.want)
			continue
		}
		if tc.field != "" {
			var ve struct {
				Errors []struct {
					Field string `json:"field"`
				} `json:"errors"`
			}
			a.json(t, &ve)
			if len(ve.Errors) != 1 || ve.Errors[0].Field != tc.field {
				t.Errorf("name %+q branch %+q: %s, want the field %s", tc.name, tc.branch, a.body, tc.field)
			}
		}
	}
}

// The authentication scheme's name is case-insensitive (RFC 9110 11.1):
// a partner whose HTTP library writes "bearer" is authenticated, not told
// to send a token it sent. A token in the query string is no credential.
func TestBearerSchemeAnyCase(t *testing.T) {
	e := newEnv(t, boltStore)
	p := e.partner("Acme")
	for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
		a := e.do(req{method: "GET", path: "/api/v1/flows/nope", header: map[string]string{"Authorization": scheme + " " + p.tok}})
		if a.status != http.StatusNotFound || a.code(t) != "unknown_session" {
			t.Errorf("%s: %d %s, want 404 unknown_session", scheme, a.status, a.body)
		}
	}
	for _, q := range []string{"?access_token=", "?token=", "?x-onekyc-token="} {
		a := e.do(req{method: "GET", path: "/api/v1/flows/nope" + q + p.tok, invalid: true})
		if a.status != http.StatusUnauthorized || a.code(t) != "unauthorized" {
			t.Errorf("token in %s: %d %s, want 401 unauthorized", q, a.status, a.body)
		}
	}
}

// bodyOps are the operations that read a JSON body through decodeObject
// or readOverlap, with a body each accepts.
var bodyOps = []struct{ method, path, doc, body string }{
	{"POST", "/api/v1/partner-token", "/api/v1/partner-token", `{"client_id":"cli_x","pass_key":"pk_x"}`},
	{"POST", "/api/v1/flows", "/api/v1/flows", `{"partner_user_id":"u1"}`},
	{"POST", "/admin/v1/partners", "/admin/v1/partners", `{"name":"Initech"}`},
	{"POST", "/admin/v1/partners/ID/rotate-key", "/admin/v1/partners/{id}/rotate-key", `{"overlap_seconds":60}`},
	{"PUT", "/admin/v1/partners/ID/branches", "/admin/v1/partners/{id}/branches", `{"branches":[]}`},
	{"PUT", "/admin/v1/partners/ID/disabled", "/admin/v1/partners/{id}/disabled", `{"disabled":false}`},
	{"PUT", "/admin/v1/partners/ID/webhook", "/admin/v1/partners/{id}/webhook", `{"url":""}`},
	{"POST", "/admin/v1/partners/ID/webhook-secret", "/admin/v1/partners/{id}/webhook-secret", `{"overlap_seconds":60}`},
	{"PUT", "/admin/v1/partners/ID/push", "/admin/v1/partners/{id}/push", `{"url":"https://acme.example/push"}`},
	{"PUT", "/admin/v1/partners/ID/reference-image", "/admin/v1/partners/{id}/reference-image", `{"url":"https://acme.example/ref"}`},
}

// A JSON body that stops arriving is 408 timeout when central's body
// deadline passes, as central's own admin API answers it: the client
// should send it again. It was 400 malformed, "the body is not a JSON
// object", of a body that may have been fine. One over the size limit is
// 413. Both are in openapi.json for every operation that reads a body.
func TestSlowOrLargeBodyAnswers(t *testing.T) {
	e := newEnvOptions(t, boltStore, centraltest.Options{BodyFloor: 300 * time.Millisecond}, nil)
	p := e.partner("Acme")
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]json.RawMessage `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(partnerapi.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	send := func(method, path string, body io.Reader, length int64) (int, []byte) {
		t.Helper()
		hr, err := http.NewRequest(method, e.base+path, body)
		if err != nil {
			t.Fatal(err)
		}
		hr.ContentLength = length
		hr.Header.Set("Content-Type", "application/json")
		if strings.HasPrefix(path, "/admin/") {
			hr.Header.Set("Authorization", "Bearer "+e.admin)
		} else {
			hr.Header.Set("Authorization", "Bearer "+p.tok)
		}
		resp, err := (&http.Client{Transport: e.transport}).Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, b
	}
	for _, op := range bodyOps {
		path := strings.Replace(op.path, "ID", p.Partner.ID, 1)
		responses := doc.Paths[op.doc][strings.ToLower(op.method)].Responses
		// Half the body, then nothing until the answer.
		held := &heldBody{first: []byte(op.body[:len(op.body)/2]), rest: []byte(op.body[len(op.body)/2:]), release: make(chan struct{})}
		status, b := send(op.method, path, held, int64(len(op.body)))
		close(held.release)
		var pe struct{ Code string }
		if json.Unmarshal(b, &pe); status != http.StatusRequestTimeout || pe.Code != "timeout" {
			t.Errorf("%s %s, its body held back: %d %s, want 408 timeout", op.method, op.path, status, b)
		}
		if _, ok := responses["408"]; !ok {
			t.Errorf("openapi.json: %s %s has no 408", op.method, op.doc)
		}
		apitest.Schema(t, "Error", b)
		big := op.body[:len(op.body)-1] + `,"x":"` + strings.Repeat("x", 70<<10) + `"}`
		status, b = send(op.method, path, strings.NewReader(big), int64(len(big)))
		if json.Unmarshal(b, &pe); status != http.StatusRequestEntityTooLarge || pe.Code != "too_large" {
			t.Errorf("%s %s, a body over 64 KiB: %d %.200s, want 413 too_large", op.method, op.path, status, b)
		}
		if _, ok := responses["413"]; !ok {
			t.Errorf("openapi.json: %s %s has no 413", op.method, op.doc)
		}
		apitest.Schema(t, "Error", b)
	}
}

// A burst of Initiate Flow requests with Idempotency-Keys, within a
// partner's rate: on PostgreSQL each runs inside the transaction of its
// key, holding a connection while creating the session takes another.
// With the pool's every connection held so, every request waited for a
// connection none would release, and every store call of the instance
// with them, until clients gave up (2 of 64 answered in 20 s). Each must
// be answered, and promptly.
func TestIdempotentFlowBurst(t *testing.T) {
	e := newEnv(t, pgStore)
	p := e.partner("Acme")
	tr := e.transport.Clone()
	tr.MaxIdleConnsPerHost = 64
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: 15 * time.Second}
	const n = 64
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			hr, err := http.NewRequest("POST", e.base+"/api/v1/flows", strings.NewReader(`{"partner_user_id":"u1"}`))
			if err != nil {
				errs <- err
				return
			}
			hr.Header.Set("Content-Type", "application/json")
			hr.Header.Set("Authorization", "Bearer "+p.tok)
			hr.Header.Set("Idempotency-Key", fmt.Sprintf("order-%d", i))
			resp, err := c.Do(hr)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusCreated {
				errs <- fmt.Errorf("%d %s", resp.StatusCode, b)
			}
		})
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if failed++; failed <= 3 {
			t.Error(err)
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d requests failed", failed, n)
	}
	// Central still answers.
	e.must(http.StatusNotFound, e.do(req{method: "GET", path: "/api/v1/flows/nope", token: p.tok}))
}

// Generate Partner Token is bounded by the partner's rate as its other
// calls are (a budget of its own): a client asking for its token in a
// loop was never refused, however fast, while every other call of the
// partner was. Another partner's token, and the partner's calls with the
// token it has, are not touched; the budget comes back with time.
func TestTokenEndpointRate(t *testing.T) {
	e := newEnvWith(t, boltStore, func(c *partnerapi.Config) { c.PartnerRate = partnerapi.RateLimit{PerSecond: 1, Burst: 3} })
	acme, globex := e.addPartner("Acme"), e.addPartner("Globex")
	ask := func(c partnerapi.Created) answer {
		return e.do(req{method: "POST", path: "/api/v1/partner-token", body: map[string]string{"client_id": c.ClientID, "pass_key": c.PassKey}})
	}
	var tok partnerapi.TokenResponse
	e.must(http.StatusOK, ask(acme)).json(t, &tok)
	for range 2 {
		e.must(http.StatusOK, ask(acme)) // within the burst
	}
	a := e.must(http.StatusTooManyRequests, ask(acme))
	if a.header.Get("Retry-After") == "" || a.code(t) != "rate_limited" {
		t.Errorf("beyond the rate: %s, Retry-After %q", a.body, a.header.Get("Retry-After"))
	}
	e.must(http.StatusOK, ask(globex))
	e.must(http.StatusNotFound, e.do(req{method: "GET", path: "/api/v1/flows/nope", token: tok.Token}))
	e.clk.Advance(time.Second)
	e.must(http.StatusOK, ask(acme))
}
