package central_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/openkyc/kyc/sync/central"
)

// TestAdminBodyTooLarge: an admin JSON body over its bound is 413
// too_large, as a watchlist over its bound and every other body of
// central's, not 400 malformed as if it had been read and found wrong.
func TestAdminBodyTooLarge(t *testing.T) {
	c := start(t, central.Config{Store: sealedBolt(t)})
	// A JSON object of n bytes or more: one long member.
	object := func(member string, n int) []byte {
		return []byte(`{"` + member + `":"` + strings.Repeat("x", n) + `"}`)
	}
	for _, tc := range []struct {
		method, path string
		body         []byte
	}{
		{http.MethodPut, "/admin/v1/config/risk", object("note", 4<<20)},
		{http.MethodPost, "/admin/v1/erasures", object("nik", 16<<10)},
		{http.MethodPost, "/admin/v1/submissions/search", object("nik", 16<<10)},
		{http.MethodPut, "/admin/v1/retention", object("images_days", 16<<10)},
	} {
		resp, e := c.badAdmin(t, tc.method, tc.path, tc.body, nil)
		if resp.StatusCode != http.StatusRequestEntityTooLarge || e.Code != "too_large" {
			t.Errorf("%s %s with %d bytes: %d %q, want 413 too_large", tc.method, tc.path, len(tc.body), resp.StatusCode, e.Code)
		}
	}
}
