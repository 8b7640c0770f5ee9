package partnerapi_test

import (
	"net/http"
	"testing"
	"time"
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
