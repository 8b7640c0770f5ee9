package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/auth"
)

// TestPasswordStepsBounded: someone holding an account's password (an
// auditor, their own) who signs in again and again, dropping the cookie
// each time, opens a pending session a time only passedBurst times at
// once, then one per auth.PendingTimeout/passedBurst: past that the step
// is 429 with a Retry-After and stores no session, a wrong password is
// still the plain refusal, and other accounts sign in as before.
func TestPasswordStepsBounded(t *testing.T) {
	e := newEnv(t)
	e.addUser("aud", central.RoleAuditor)
	e.addUser("bob", central.RoleAuditor)
	step := func(pw string) answer {
		t.Helper()
		b := e.browser() // no cookie but the sign-in form's: a new pending session each time
		b.get("/console/signin")
		return b.post("/console/signin", url.Values{"name": {"aud"}, "password": {pw}})
	}
	for i := range passedBurst {
		if a := step(testPassword); a.status != http.StatusSeeOther {
			t.Fatalf("password step %d: %d, want 303", i+1, a.status)
		}
	}
	a := step(testPassword)
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") == "" {
		t.Fatalf("password step %d: %d (Retry-After %q), want 429 with a Retry-After", passedBurst+1, a.status, a.header.Get("Retry-After"))
	}
	for _, ck := range a.header.Values("Set-Cookie") {
		if strings.HasPrefix(ck, sessionCookie+"=") {
			t.Errorf("the throttled step set a session cookie: %s", ck)
		}
	}
	if w := step("not the password at all"); w.status != http.StatusUnauthorized {
		t.Errorf("a wrong password while throttled: %d, want 401", w.status)
	}
	e.browser().signIn("bob")
	e.clk.Advance(auth.PendingTimeout / passedBurst)
	if a := step(testPassword); a.status != http.StatusSeeOther {
		t.Errorf("password step after %v: %d, want 303", auth.PendingTimeout/passedBurst, a.status)
	}
	if a := step(testPassword); a.status != http.StatusTooManyRequests {
		t.Errorf("the next one at once: %d, want 429", a.status)
	}
}
