package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestEnrolNeedsEnrolCode: whoever has only an account's password cannot
// enrol their own phone as its second factor; the one-time code `user add`
// printed is needed, a wrong one counts as a failed sign-in, and it works
// once.
func TestEnrolNeedsEnrolCode(t *testing.T) {
	e := newEnv(t)
	e.addUser("ani", "reviewer")
	b := e.browser()
	b.get("/console/signin")
	a := b.post("/console/signin", url.Values{"name": {"ani"}, "password": {testPassword}, "next": {"/console/queue"}})
	if a.status != http.StatusSeeOther || !strings.HasPrefix(a.loc, "/console/enrol") {
		t.Fatalf("password step: %d to %q", a.status, a.loc)
	}
	page := b.get(a.loc)
	m, s := secretRE.FindStringSubmatch(page.body), sealedRE.FindStringSubmatch(page.body)
	if m == nil || s == nil || !strings.Contains(page.body, `name="enrol_code"`) {
		t.Fatalf("enrolment page without the enrolment code field: %s", page.body)
	}
	e.mu.Lock()
	code := e.enrolCodes["ani"]
	e.mu.Unlock()
	for _, tc := range []struct{ name, code string }{{"missing", ""}, {"wrong", "ABCD-EFGH-JKMN"}} {
		a := b.post("/console/enrol", url.Values{"sealed": {s[1]}, "enrol_code": {tc.code}, "code": {e.clk.code(t, m[1])}, "next": {"/console/queue"}})
		if a.status != http.StatusUnauthorized || !strings.Contains(a.body, `name="enrol_code"`) {
			t.Errorf("%s enrolment code: %d (want 401 and the form again)", tc.name, a.status)
		}
	}
	u, err := e.store.User(context.Background(), "ani")
	if err != nil || len(u.TOTPSecret) != 0 || u.FailedLogins != 2 {
		t.Fatalf("after two refused enrolments: err %v, enrolled %v, failures %d", err, len(u.TOTPSecret) > 0, u.FailedLogins)
	}
	a = b.post("/console/enrol", url.Values{"sealed": {s[1]}, "enrol_code": {strings.ToLower(code)}, "code": {e.clk.code(t, m[1])}, "next": {"/console/queue"}})
	if a.status != http.StatusSeeOther || a.loc != "/console/queue" {
		t.Fatalf("right enrolment code: %d to %q: %s", a.status, a.loc, a.body)
	}
	if u, _ := e.store.User(context.Background(), "ani"); len(u.TOTPSecret) == 0 || len(u.EnrolCodeHash) != 0 || u.FailedLogins != 0 {
		t.Errorf("after enrolling: enrolled %v, code kept %v, failures %d", len(u.TOTPSecret) > 0, len(u.EnrolCodeHash) > 0, u.FailedLogins)
	}
}
