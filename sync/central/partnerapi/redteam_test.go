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
