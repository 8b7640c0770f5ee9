package partnerapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/openkyc/kyc/sync/central/httpx"
	"github.com/openkyc/kyc/sync/central/partnerapi"
	"github.com/openkyc/kyc/sync/central/webhook"
)

// TestAdminPathIDs: an id in the path of an admin operation of
// openapi.json that holds a NUL or bytes that are not UTF-8 is 400
// malformed on both stores, as the document says, never a store's
// failure (PostgreSQL refuses such text with an error, not a miss).
func TestAdminPathIDs(t *testing.T) {
	var ops []operation
	for _, op := range documentedOperations(t) {
		if strings.HasPrefix(op.path, "/admin/") && strings.Contains(op.path, "{") {
			ops = append(ops, op)
		}
	}
	if len(ops) == 0 {
		t.Fatal("no admin operation with a path id in openapi.json")
	}
	for _, st := range []struct {
		name string
		open opener
	}{{"bolt", boltStore}, {"postgres", pgStore}} {
		t.Run(st.name, func(t *testing.T) {
			// The webhook admin routes too, as kyc-central mounts them.
			e := newEnvWith(t, st.open, func(c *partnerapi.Config) {
				adm := &webhook.Admin{Store: c.Store}
				c.Routes = append(c.Routes, func(r partnerapi.Router) {
					adm.Mount(func(pattern string, h httpx.HandlerFunc) bool { r.Admin(pattern, h); return true })
				})
			})
			for _, op := range ops {
				for _, bad := range []string{"%FF", "a%00b"} {
					path := pathParam.ReplaceAllLiteralString(op.path, bad)
					// The answer is held to the document (the request, whose
					// id the document cannot read, is not).
					a := e.do(req{method: op.method, path: path, admin: true, body: []byte(`{}`), invalid: true})
					if a.status != http.StatusBadRequest || a.code(t) != "malformed" {
						t.Errorf("%s %s: %d %s, want 400 malformed", op.method, path, a.status, a.body)
					}
				}
			}
		})
	}
}
