package central

import (
	"net/http"

	"github.com/openkyc/kyc/sync/central/httpx"
)

// noStore marks h's answers not to be stored by any cache (ASVS V8.2.1):
// the admin API answers with submissions, images, search results and the
// audit trail, and a proxy or a browser opening a link must keep no copy.
// Set before h runs, so error answers carry it too.
func noStore(h httpx.HandlerFunc) httpx.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Cache-Control", "no-store")
		return h(w, r)
	}
}
