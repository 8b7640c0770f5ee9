package hostedflow_test

import (
	"net/http"
	"net/url"
	"testing"
)

// TestPlantedCookieRefused: whoever can set a cookie for central's host
// without being it (a sibling subdomain's page, or a network attacker
// answering a plain-HTTP request to one: Domain=parent.example) plants the
// cookie of a session of their own, which the browser sends beside, and
// before, the one central set when the person pressed Start. Were the
// first one taken, the person would photograph their document and face
// into the attacker's session, and the attacker's partner account would be
// verified as them. A request carrying two session cookies is answered as
// one with none: which is the person's cannot be told.
func TestPlantedCookieRefused(t *testing.T) {
	e := newEnv(t, false)
	cookieOf := func(launch string) string {
		t.Helper()
		b := e.browser()
		_, a := b.start(launch, nil)
		must(t, http.StatusSeeOther, a)
		u, _ := url.Parse(e.base + "/flow/app")
		for _, c := range b.c.Jar.Cookies(u) {
			if c.Name == "kyc_flow" {
				return c.Value
			}
		}
		t.Fatal("no session cookie after Start")
		return ""
	}
	_, attacker := e.initiate(map[string]any{"partner_user_id": "mule"})
	_, victim := e.initiate(map[string]any{"partner_user_id": "person"})
	planted, own := cookieOf(attacker.LaunchURL), cookieOf(victim.LaunchURL)

	state := func(cookie string) answer {
		t.Helper()
		return e.browser().do("GET", "/flow/api/state", "", nil, map[string]string{"Cookie": cookie})
	}
	must(t, http.StatusOK, state("kyc_flow="+own))
	for _, c := range []string{"kyc_flow=" + planted + "; kyc_flow=" + own, "kyc_flow=" + own + "; kyc_flow=" + planted} {
		if a := state(c); a.status != http.StatusUnauthorized {
			t.Errorf("two session cookies: %d %.300s, want 401", a.status, a.body)
		}
	}
}
