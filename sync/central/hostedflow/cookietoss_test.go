package hostedflow_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/central/hostedflow"
)

const (
	hostCookie   = "__Host-kyc_flow"
	legacyCookie = "kyc_flow" // the session cookie before __Host-, Path=/flow/
)

// jarCookies are the session cookies b's jar sends to the flow's page, by
// name.
func jarCookies(t *testing.T, b *browser) map[string][]string {
	t.Helper()
	u, err := url.Parse(b.e.base + "/flow/app")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, c := range b.c.Jar.Cookies(u) {
		out[c.Name] = append(out[c.Name], c.Value)
	}
	return out
}

// heldValue is the value of the one __Host- session cookie b's jar holds.
func heldValue(t *testing.T, b *browser) string {
	t.Helper()
	got := jarCookies(t, b)
	if len(got[hostCookie]) != 1 {
		t.Fatalf("jar holds %v, want one %s", got, hostCookie)
	}
	return got[hostCookie][0]
}

// setCookies are the cookies a sets, by name.
func setCookies(t *testing.T, a answer) map[string]*http.Cookie {
	t.Helper()
	out := map[string]*http.Cookie{}
	for _, line := range a.header.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			t.Fatalf("Set-Cookie %q: %v", line, err)
		}
		out[c.Name] = c
	}
	return out
}

// sameSiteOf is the SameSite of a session cookie: None for a session its
// partner may frame (embedded), else Lax.
func sameSiteOf(embedded bool) http.SameSite {
	if embedded {
		return http.SameSiteNoneMode
	}
	return http.SameSiteLaxMode
}

// checkSessionCookie fails unless c is the flow's __Host- session cookie
// holding value, with the attributes the prefix requires (Secure, Path=/,
// no Domain), HttpOnly, and the SameSite and Partitioned of a session that
// may (embedded) or may not be framed.
func checkSessionCookie(t *testing.T, c *http.Cookie, value string, embedded bool) {
	t.Helper()
	sameSite := sameSiteOf(embedded)
	if c == nil || c.Name != hostCookie || c.Value != value || c.Path != "/" || c.Domain != "" || !c.Secure || !c.HttpOnly ||
		c.SameSite != sameSite || c.Partitioned != embedded || c.Expires.IsZero() {
		t.Errorf("session cookie %q, want %s=%.12s... Path=/, no Domain, Secure, HttpOnly, SameSite mode %d, Partitioned %v, an expiry",
			c, hostCookie, value, sameSite, embedded)
	}
}

// started is a session started in a browser of its own (with engines:
// the page gives the CSRF token a hand-off needs).
type started struct {
	name     string
	embedded bool // may be framed: SameSite=None, Partitioned
	set      answer
	b        *browser
}

// startSessions starts a session a partner may frame, the phone of its
// hand-off, and one only run as a page of its own.
func startSessions(t *testing.T, e *env) []started {
	t.Helper()
	_, fc := e.initiate(map[string]any{"redirect_url": "https://bank.example/kyc/done", "smart_qr": true})
	framed := e.browser()
	_, a := framed.start(fc.LaunchURL, nil)
	must(t, http.StatusSeeOther, a)
	page := must(t, http.StatusOK, framed.get("/flow/app"))
	framed.csrf = csrfRE.FindStringSubmatch(string(page.body))[1]
	var h hostedflow.HandoffLink
	json.Unmarshal(must(t, http.StatusOK, framed.post("/flow/api/handoff", "", nil)).body, &h)
	phone := e.browser()
	_, pa := phone.start(h.URL, nil)
	must(t, http.StatusSeeOther, pa)
	_, fc = e.initiate(nil)
	own := e.browser()
	_, oa := own.start(fc.LaunchURL, nil)
	must(t, http.StatusSeeOther, oa)
	return []started{{"embeddable", true, a, framed}, {"phone", false, pa, phone}, {"own page", false, oa, own}}
}

// TestSessionCookieAttributes: Start sets the session cookie as
// __Host-kyc_flow, so that only central can set it: Secure, Path=/, no
// Domain (the prefix's terms, without which browsers refuse it), HttpOnly;
// SameSite=None and Partitioned for a session its partner may frame,
// SameSite=Lax otherwise (the phone of a hand-off is never framed). No
// cookie under the legacy name is set.
func TestSessionCookieAttributes(t *testing.T) {
	e := newEnv(t, true)
	for _, s := range startSessions(t, e) {
		t.Run(s.name, func(t *testing.T) {
			cs := setCookies(t, s.set)
			checkSessionCookie(t, cs[hostCookie], heldValue(t, s.b), s.embedded)
			if len(cs) != 1 {
				t.Errorf("Start sets %v, want only %s", s.set.header.Values("Set-Cookie"), hostCookie)
			}
		})
	}
}

// TestLegacyCookieMoved: a browser holding the cookie of a session opened
// before the upgrade (kyc_flow, Path=/flow/) goes on with it on an
// instance started after the session was created, and its first request
// moves it to __Host-kyc_flow and expires the legacy one (Path=/flow/ and,
// for a framed session, SameSite=None and Partitioned as it was set: a
// framed answer may set no other, and only a partitioned cookie replaces a
// partitioned one). The page's CSRF token still holds. An instance started
// before the session was created never gave it a legacy cookie: it
// refuses one (401), so the legacy door closes as the sessions opened
// before the upgrade end.
func TestLegacyCookieMoved(t *testing.T) {
	raw := centraltest.BoltStore(t)
	kr, key := instanceSecrets(t)
	first := newEnvOn(t, true, raw, kr, key, &clock{})
	sessions := startSessions(t, first)
	e := newEnvOn(t, true, raw, kr, key, &clock{}) // started after the sessions were created
	legacyBrowser := func(e *env, value string) *browser {
		b := e.browser()
		u, _ := url.Parse(e.base + "/flow/")
		b.c.Jar.SetCookies(u, []*http.Cookie{{Name: legacyCookie, Value: value, Path: "/flow/", Secure: true, HttpOnly: true}})
		if got := jarCookies(t, b); len(got) != 1 || len(got[legacyCookie]) != 1 {
			t.Fatalf("jar before: %v", got)
		}
		return b
	}
	for _, s := range sessions {
		t.Run(s.name, func(t *testing.T) {
			value := heldValue(t, s.b)
			refused := must(t, http.StatusUnauthorized, legacyBrowser(first, value).get("/flow/api/state"))
			if sc := refused.header.Values("Set-Cookie"); len(sc) != 0 {
				t.Errorf("a refused legacy cookie moved: %v", sc)
			}

			old := legacyBrowser(e, value)
			a := must(t, http.StatusOK, old.get("/flow/api/state"))
			cs := setCookies(t, a)
			checkSessionCookie(t, cs[hostCookie], value, s.embedded)
			sameSite := sameSiteOf(s.embedded)
			if c := cs[legacyCookie]; c == nil || c.MaxAge >= 0 || c.Path != "/flow/" || !c.Secure || c.SameSite != sameSite || c.Partitioned != s.embedded {
				t.Errorf("legacy cookie %q, want it expired on Path=/flow/, Secure, SameSite mode %d, Partitioned %v", c, sameSite, s.embedded)
			}
			if got := jarCookies(t, old); len(got) != 1 || len(got[hostCookie]) != 1 || got[hostCookie][0] != value {
				t.Errorf("jar after: %v, want only %s", got, hostCookie)
			}

			again := must(t, http.StatusOK, old.get("/flow/api/state"))
			if sc := again.header.Values("Set-Cookie"); len(sc) != 0 {
				t.Errorf("the moved cookie set again: %v", sc)
			}
			old.csrf = s.b.csrf
			if old.csrf != "" {
				must(t, http.StatusOK, old.post("/flow/api/lang", "application/json", []byte(`{"lang":"id"}`)))
			}
		})
	}
}

// TestPlantedCookieRefused: whoever can set a cookie for central's host
// without being it (a sibling subdomain's page, or a network attacker
// answering a plain-HTTP request to one: Domain=parent.example) plants the
// cookie of a session of their own, which the browser sends beside, and
// before, the one central set when the person pressed Start. Were the
// first one taken, the person would photograph their document and face
// into the attacker's session, and the attacker's partner account would be
// verified as them. Browsers refuse a __Host- cookie with a Domain, so a
// planted one bears the legacy name: beside the person's __Host- cookie it
// is ignored (and left alone), and two legacy cookies are answered as
// none, since which is the person's cannot be told. Two __Host- cookies,
// which only central's own origin could set, are refused alike.
func TestPlantedCookieRefused(t *testing.T) {
	e := newEnv(t, false)
	cookieOf := func(maxRetries int) string {
		t.Helper()
		_, fc := e.initiate(map[string]any{"max_retries": maxRetries})
		b := e.browser()
		_, a := b.start(fc.LaunchURL, nil)
		must(t, http.StatusSeeOther, a)
		return heldValue(t, b)
	}
	// The sessions tell apart by their max_retries.
	planted, own := cookieOf(1), cookieOf(2)

	for _, tc := range []struct {
		name, cookie string
		want         int
	}{
		{"own", hostCookie + "=" + own, http.StatusOK},
		{"planted legacy before", legacyCookie + "=" + planted + "; " + hostCookie + "=" + own, http.StatusOK},
		{"planted legacy after", hostCookie + "=" + own + "; " + legacyCookie + "=" + planted, http.StatusOK},
		{"two legacy, planted first", legacyCookie + "=" + planted + "; " + legacyCookie + "=" + own, http.StatusUnauthorized},
		{"two legacy, planted last", legacyCookie + "=" + own + "; " + legacyCookie + "=" + planted, http.StatusUnauthorized},
		{"two, planted first", hostCookie + "=" + planted + "; " + hostCookie + "=" + own, http.StatusUnauthorized},
		{"two, planted last", hostCookie + "=" + own + "; " + hostCookie + "=" + planted, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := e.browser().do("GET", "/flow/api/state", "", nil, map[string]string{"Cookie": tc.cookie})
			if a.status != tc.want {
				t.Fatalf("%d %.300s, want %d", a.status, a.body, tc.want)
			}
			if tc.want != http.StatusOK {
				return
			}
			var st hostedflow.State
			json.Unmarshal(a.body, &st)
			if st.MaxRetries != 2 {
				t.Errorf("state of the session with max_retries %d, want the person's (2)", st.MaxRetries)
			}
			if sc := a.header.Values("Set-Cookie"); len(sc) != 0 {
				t.Errorf("sets %v: the planted legacy cookie must be left alone", sc)
			}
		})
	}
}
