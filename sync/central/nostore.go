package central

import (
	"net/http"

	"github.com/openkyc/kyc/sync/central/httpx"
)

// noStore marks h's answers not to be stored by any cache (ASVS V8.2.1):
// the admin API answers with submissions, images, search results and the
// audit trail, and a proxy or a browser opening a link must keep no copy.
// Set before h runs, so error answers carry it too, with privateHeaders.
func noStore(h httpx.HandlerFunc) httpx.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		privateHeaders(w, r)
		return h(w, r)
	}
}

// privateHeaders sets what every answer of the admin and device APIs
// carries, as the partner API's, the console's and the hosted flow's do
// (ASVS V8.2.1, V14.4): no cache keeps a copy; no browser sniffs a type
// other than the one declared (an answer holds a device's or a partner's
// text, and image bytes); no Referer carries a URL on; and, over TLS,
// HSTS, so a browser that opened an admin link never falls back to plain
// HTTP, where the bearer token and the person's data would travel in
// clear.
func privateHeaders(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if r.TLS != nil {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
}
