package partnerapi_test

import (
	"net/http"
	"testing"

	"github.com/openkyc/kyc/sync/central/partnerapi/apitest"
)

// TestFlowPathsWithoutHostedFlow: without the hosted flow mounted, the
// partner API serves /flow/ alone (the launch page), and whatever else is
// asked there is answered as under /api/: 405 method_not_allowed with
// Allow for the launch URL under another method (as openapi.json says of
// POST), 404 not_found for a path no route serves, both in the error
// object, never the mux's plain text.
func TestFlowPathsWithoutHostedFlow(t *testing.T) {
	e := newEnv(t, boltStore)
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"POST", "/flow/tok", http.StatusMethodNotAllowed, "GET, HEAD"},
		{"DELETE", "/flow/tok", http.StatusMethodNotAllowed, "GET, HEAD"},
		{"GET", "/flow/", http.StatusNotFound, ""},
		{"GET", "/flow/tok/more", http.StatusNotFound, ""},
		{"POST", "/flow/h/tok", http.StatusNotFound, ""},
	} {
		a := e.send(tc.method, tc.path)
		if a.status != tc.status || a.header.Get("Allow") != tc.allow || a.header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: %d Allow %q %s %q, want %d Allow %q in JSON", tc.method, tc.path, a.status, a.header.Get("Allow"),
				a.header.Get("Content-Type"), a.body, tc.status, tc.allow)
			continue
		}
		if tc.status == http.StatusMethodNotAllowed {
			if a.code(t) != "method_not_allowed" {
				t.Errorf("%s %s: %s, want method_not_allowed", tc.method, tc.path, a.body)
			}
			apitest.Response(t, "MethodNotAllowed", a.header, a.body)
		} else {
			if a.code(t) != "not_found" {
				t.Errorf("%s %s: %s, want not_found", tc.method, tc.path, a.body)
			}
			apitest.Response(t, "NotFound", a.header, a.body)
		}
	}
}
