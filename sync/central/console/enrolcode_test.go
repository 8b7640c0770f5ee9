package console

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/openkyc/kyc/sync/central/auth"
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
	// The failures stay counted towards the account's ceiling (auth.Fail).
	if u, _ := e.store.User(context.Background(), "ani"); len(u.TOTPSecret) == 0 || len(u.EnrolCodeHash) != 0 || u.FailedLogins != 2 {
		t.Errorf("after enrolling: enrolled %v, code kept %v, failures %d", len(u.TOTPSecret) > 0, len(u.EnrolCodeHash) > 0, u.FailedLogins)
	}
}

// TestEnrolLockout: wrong enrolment codes lock the account as wrong
// passwords do (audited alike), and a locked account enrols no phone,
// not even with the right code in a pending session opened before the
// lock: else whoever has the password could guess codes on and on.
func TestEnrolLockout(t *testing.T) {
	e := newEnv(t)
	e.addUser("ani", "reviewer")
	b := e.browser()
	b.get("/console/signin")
	a := b.post("/console/signin", url.Values{"name": {"ani"}, "password": {testPassword}})
	page := b.get(a.loc)
	m, s := secretRE.FindStringSubmatch(page.body), sealedRE.FindStringSubmatch(page.body)
	if m == nil || s == nil {
		t.Fatalf("enrolment page without secret: %s", page.body)
	}
	e.mu.Lock()
	code := e.enrolCodes["ani"]
	e.mu.Unlock()
	for range auth.MaxFailures {
		if a := b.post("/console/enrol", url.Values{"sealed": {s[1]}, "enrol_code": {"ABCD-EFGH-JKMN"}, "code": {e.clk.code(t, m[1])}}); a.status != http.StatusUnauthorized {
			t.Fatalf("wrong enrolment code: %d", a.status)
		}
	}
	if acts := e.auditActions("user:ani"); !slices.Contains(acts, AuditLocked) {
		t.Errorf("audit of ani = %v, want the lockout", acts)
	}
	if a := b.post("/console/enrol", url.Values{"sealed": {s[1]}, "enrol_code": {code}, "code": {e.clk.code(t, m[1])}}); a.status != http.StatusUnauthorized {
		t.Errorf("right enrolment code on a locked account: %d, want 401", a.status)
	}
	if u, _ := e.store.User(context.Background(), "ani"); len(u.TOTPSecret) != 0 || len(u.EnrolCodeHash) == 0 {
		t.Errorf("a locked account enrolled a phone: enrolled %v, code kept %v", len(u.TOTPSecret) > 0, len(u.EnrolCodeHash) > 0)
	}
}
