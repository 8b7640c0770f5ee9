package partnerapi

import (
	_ "embed"
	"net/http"
)

// OpenAPI is the OpenAPI 3.1 document of the partner API, its admin
// routes and central's own admin API (devices, submissions, risk settings,
// watchlists, retention, erasure, the audit trail, the backup; everything
// under /admin/v1 but the console), served at /openapi.json. Only the
// devices' signed API (/v1) is not in it. Tests validate every request and
// response against it (package apitest).
//
//go:embed openapi.json
var OpenAPI []byte

func (a *API) openAPI(w http.ResponseWriter, _ *http.Request) error {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=300") // no secret in it
	h.Set("Access-Control-Allow-Origin", "*")
	_, _ = w.Write(OpenAPI)
	return nil
}
