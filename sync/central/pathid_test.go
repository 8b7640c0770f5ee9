package central_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/store/pgstore"
)

// bothStores opens a fresh store of each kind: a bbolt file, and a
// database of a PostgreSQL server the test starts.
var bothStores = map[string]func(t *testing.T) central.Store{
	"bolt": func(t *testing.T) central.Store { return openBolt(t) },
	"postgres": func(t *testing.T) central.Store {
		dsn, _ := startPostgres(t)
		pg, err := pgstore.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pg.Close() })
		return pg
	},
}

// TestAdminPathIDs: an admin path id holding invalid UTF-8 or a NUL is
// answered 400 malformed on both stores, never a 5xx (PostgreSQL refuses
// such text with an error, not a miss), and an unknown but well-formed id
// is still a 404.
func TestAdminPathIDs(t *testing.T) {
	for name, open := range bothStores {
		t.Run(name, func(t *testing.T) {
			c := start(t, central.Config{Store: open(t)})
			for _, bad := range []string{"%ff", "a%00b"} {
				for _, tc := range []struct{ method, path string }{
					{http.MethodPost, "/admin/v1/devices/" + bad + "/revoke"},
					{http.MethodGet, "/admin/v1/devices/" + bad + "/submissions/s-1"},
					{http.MethodGet, "/admin/v1/devices/d-1/submissions/" + bad},
					{http.MethodGet, "/admin/v1/erasures/" + bad},
				} {
					if resp, e := c.admin(t, tc.method, tc.path, nil, nil); resp.StatusCode != http.StatusBadRequest || e.Code != "malformed" {
						t.Errorf("%s %s = %d %q, want 400 malformed", tc.method, tc.path, resp.StatusCode, e.Code)
					}
				}
			}
			for _, tc := range []struct{ method, path, code string }{
				{http.MethodPost, "/admin/v1/devices/nobody/revoke", "unknown_device"},
				{http.MethodGet, "/admin/v1/devices/nobody/submissions/s-1", "unknown_submission"},
				{http.MethodGet, "/admin/v1/erasures/nobody", "not_found"},
			} {
				if resp, e := c.admin(t, tc.method, tc.path, nil, nil); resp.StatusCode != http.StatusNotFound || e.Code != tc.code {
					t.Errorf("%s %s = %d %q, want 404 %s", tc.method, tc.path, resp.StatusCode, e.Code, tc.code)
				}
			}
		})
	}
}

// TestAdminQueryAndBodyIDs: an id or filter of the admin API given in the
// query string or a JSON body that holds invalid UTF-8 or a NUL is
// answered 400 malformed on both stores, as a path id is, never a 5xx.
func TestAdminQueryAndBodyIDs(t *testing.T) {
	for name, open := range bothStores {
		t.Run(name, func(t *testing.T) {
			c := start(t, central.Config{Store: open(t)})
			for _, tc := range []struct {
				method, path string
				body         string
			}{
				{http.MethodGet, "/admin/v1/submissions?device=%ff", ""},
				{http.MethodGet, "/admin/v1/submissions?device=a%00b", ""},
				{http.MethodGet, "/admin/v1/submissions?verdict=%ff", ""},
				{http.MethodGet, "/admin/v1/submissions?verdict=a%00b", ""},
				{http.MethodGet, "/admin/v1/audit?action=%ff", ""},
				{http.MethodGet, "/admin/v1/audit?action=a%00b", ""},
				{http.MethodPost, "/admin/v1/erasures", `{"device_id":"a\u0000b","submission_id":"s-1"}`},
				{http.MethodPost, "/admin/v1/erasures", `{"device_id":"a\u0000b","submission_id":"s-1","dry_run":true}`},
			} {
				var body []byte
				if tc.body != "" {
					body = []byte(tc.body)
				}
				if resp, e := c.admin(t, tc.method, tc.path, body, nil); resp.StatusCode != http.StatusBadRequest || e.Code != "malformed" {
					t.Errorf("%s %s %s = %d %q, want 400 malformed", tc.method, tc.path, tc.body, resp.StatusCode, e.Code)
				}
			}
		})
	}
}
