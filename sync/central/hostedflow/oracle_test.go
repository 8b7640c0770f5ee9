package hostedflow_test

import (
	"encoding/base64"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestLinksTellNothingWithoutTheSecret: a phone link or cookie is the
// sender's to write, a partner's id is in every phone link it hands out,
// and its session ids may be guessed (partner_session_id). Without the
// session's secret, one naming a session that exists (not started, bound
// to a browser, expired, of a disabled partner) is answered exactly as one
// naming none, so nobody can probe which sessions a partner has or how
// they stand.
func TestLinksTellNothingWithoutTheSecret(t *testing.T) {
	e := newEnv(t, true)
	pid, started := e.initiate(map[string]any{"partner_session_id": "order-7"})
	e.browser().open(started.LaunchURL)
	for _, body := range []string{`{"partner_user_id":"u","partner_session_id":"order-8"}`,
		`{"partner_user_id":"u","partner_session_id":"order-9","session_ttl":60}`} {
		must(t, http.StatusCreated, e.browser().do("POST", "/api/v1/flows", "application/json", []byte(body),
			map[string]string{"Authorization": "Bearer " + e.token}))
	}
	e.clk.Advance(2 * time.Minute) // order-9 has expired

	requestID := regexp.MustCompile(`"request_id":"[^"]*"`)
	// answers are what a stranger gets for a link and a cookie naming sid
	// with a secret of their own: the phone link opened and started, the
	// page and the state with the cookie.
	answers := func(sid string) []string {
		t.Helper()
		enc := base64.RawURLEncoding.EncodeToString
		ref := enc([]byte(pid)) + "." + enc([]byte(sid)) + "." + strings.Repeat("A", 43)
		cookie := map[string]string{"Cookie": "__Host-kyc_flow=" + ref}
		var out []string
		for _, r := range []struct {
			name, method, path string
			hdr                map[string]string
		}{{"link", "GET", "/flow/h/" + ref, nil}, {"start", "POST", "/flow/h/" + ref, nil}, {"page", "GET", "/flow/app", cookie},
			{"state", "GET", "/flow/api/state", cookie}} {
			a := e.browser().do(r.method, r.path, "application/x-www-form-urlencoded", nil, r.hdr)
			out = append(out, r.name+": "+http.StatusText(a.status)+" "+requestID.ReplaceAllString(string(a.body), ""))
		}
		return out
	}
	none := answers("order-404")
	for _, sid := range []string{"order-7", "order-8", "order-9"} {
		if got := answers(sid); strings.Join(got, "\n") != strings.Join(none, "\n") {
			t.Errorf("session %s:\n%s\nwant as for none:\n%s", sid, strings.Join(got, "\n"), strings.Join(none, "\n"))
		}
	}
	e.setDisabled(pid, true)
	if got := answers("order-7"); strings.Join(got, "\n") != strings.Join(none, "\n") {
		t.Errorf("session of a disabled partner:\n%s\nwant as for none:\n%s", strings.Join(got, "\n"), strings.Join(none, "\n"))
	}
}
