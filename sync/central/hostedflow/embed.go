package hostedflow

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/openkyc/kyc/sync/central/partnerapi"
)

// basePolicy is the pages' content security policy before frame-ancestors
// (no inline script, nothing from other hosts).
const basePolicy = "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; form-action 'self'; base-uri 'none'"

// embedOrigins are the origins that may frame a session's pages and that
// its page posts the result to: those of the partner's redirect_url and
// callback_url (seed 000: the partner's front end). Empty: the flow runs
// only as a page of its own.
func embedOrigins(c partnerapi.FlowConfig) []string {
	var out []string
	for _, raw := range []string{c.RedirectURL, c.CallbackURL} {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			continue
		}
		o := u.Scheme + "://" + strings.ToLower(u.Host)
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out
}

// allowFraming sets the answer's frame-ancestors to central itself and
// origins (the session's embedOrigins); without it a page may be framed
// by central's own pages only (the headers' default).
func allowFraming(w http.ResponseWriter, origins []string) {
	fa := "frame-ancestors 'self'"
	for _, o := range origins {
		fa += " " + o
	}
	w.Header().Set("Content-Security-Policy", basePolicy+"; "+fa)
}

// setCookie sets the session cookie. A session the partner may embed gets
// SameSite=None (its pages run in the partner's iframe, a third-party
// context where Lax cookies are not sent) and Partitioned (CHIPS: kept
// under the partner's site, so browsers that block third-party cookies
// still keep it, and no other site's frame shares it); any other stays
// SameSite=Lax. Both are Secure, HttpOnly and limited to /flow/.
func (f *Flow) setCookie(w http.ResponseWriter, value string, expires time.Time, embedded bool) {
	c := &http.Cookie{Name: cookieName, Value: value, Path: "/flow/", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteLaxMode, Expires: expires}
	if embedded {
		c.SameSite, c.Partitioned = http.SameSiteNoneMode, true
	}
	http.SetCookie(w, c)
}
