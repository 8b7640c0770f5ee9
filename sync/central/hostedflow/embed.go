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
// SameSite=Lax. Both are Secure, HttpOnly, Path=/ and host-only, as the
// __Host- prefix requires.
func (f *Flow) setCookie(w http.ResponseWriter, value string, expires time.Time, embedded bool) {
	c := flowCookie(cookieName, "/", value, embedded)
	c.Expires = expires
	http.SetCookie(w, c)
}

// moveCookie moves a session proven by its legacy cookie to cookieName,
// and expires the legacy one. The expiry carries the attributes it was set
// with: a framed page's answer may set only SameSite=None cookies, and a
// partitioned cookie is replaced only by a partitioned one.
func (f *Flow) moveCookie(w http.ResponseWriter, s *sess) {
	embedded := s.role == roleBrowser && len(embedOrigins(s.cfg)) > 0
	f.setCookie(w, cookieValue(s.fs.PartnerID, s.fs.ID, s.secret), s.fs.ExpiresAt.Add(cookieGrace), embedded)
	old := flowCookie(legacyCookieName, legacyCookiePath, "", embedded)
	old.MaxAge = -1
	http.SetCookie(w, old)
}

// flowCookie is a session cookie named name on path, as setCookie
// describes, without its lifetime.
func flowCookie(name, path, value string, embedded bool) *http.Cookie {
	c := &http.Cookie{Name: name, Value: value, Path: path, HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode}
	if embedded {
		c.SameSite, c.Partitioned = http.SameSiteNoneMode, true
	}
	return c
}
