package partnerapi_test

import (
	"net/http"
	"testing"
	"time"
)

// A pass key leaked, the admin rotated it with a 1 s overlap, and the
// leaked key's token ended with it. A later rotation (the partner lost the
// new key too, or a routine one) must not bring that token back: its
// revocation had taken effect, and a new overlap is about the keys in use
// then.
func TestRotationDoesNotReviveRevokedToken(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		c := e.addPartner("Acme")
		leaked := e.token(c.ClientID, c.PassKey).Token
		var rot struct {
			Secret string `json:"secret"`
		}
		e.must(http.StatusOK, e.do(req{method: "POST", path: "/admin/v1/partners/" + c.Partner.ID + "/rotate-key", admin: true,
			body: map[string]any{"overlap_seconds": 1}})).json(t, &rot)
		e.clk.Advance(2 * time.Second)
		if a := e.do(req{method: "GET", path: "/api/v1/flows/nope", token: leaked}); a.status != http.StatusUnauthorized {
			t.Fatalf("the leaked key's token after its overlap: %d %s", a.status, a.body)
		}
		e.clk.Advance(10 * time.Minute)
		e.must(http.StatusOK, e.do(req{method: "POST", path: "/admin/v1/partners/" + c.Partner.ID + "/rotate-key", admin: true}))
		if a := e.do(req{method: "GET", path: "/api/v1/flows/nope", token: leaked}); a.status != http.StatusUnauthorized || a.code(t) != "token_expired" {
			t.Errorf("the leaked key's token after a second rotation: %d %s", a.status, a.body)
		}
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
