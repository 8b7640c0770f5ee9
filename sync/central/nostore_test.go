package central_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/partnerapi/apitest"
)

// TestAdminAnswersNotCached: every admin answer, a list of submissions, a
// search by NIK, the audit trail or an error, tells caches to keep no copy.
func TestAdminAnswersNotCached(t *testing.T) {
	c := start(t, central.Config{Store: sealedBolt(t)})
	for _, tc := range []struct {
		name, path, body string
		auth             bool
		status           int
	}{
		{"submissions", "/admin/v1/submissions", "", true, http.StatusOK},
		{"search", "/admin/v1/submissions/search", `{"nik":"3171234567890001"}`, true, http.StatusOK},
		{"audit", "/admin/v1/audit", "", true, http.StatusOK},
		{"malformed", "/admin/v1/audit?limit=x", "", true, http.StatusBadRequest},
		{"unauthenticated", "/admin/v1/submissions", "", false, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method, body := http.MethodGet, io.Reader(nil)
			if tc.body != "" {
				method, body = http.MethodPost, strings.NewReader(tc.body)
			}
			req, err := http.NewRequest(method, c.URL+tc.path, body)
			if err != nil {
				t.Fatal(err)
			}
			if tc.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			if tc.auth {
				req.Header.Set("Authorization", "Bearer "+c.Cfg.AdminToken)
			}
			if tc.status != http.StatusOK {
				req = apitest.Invalid(req)
			}
			resp, _ := c.sendWith(t, c.Admins, req, nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", got)
			}
		})
	}
}
