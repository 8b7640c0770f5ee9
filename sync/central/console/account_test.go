package console

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/auth"
)

// TestChangePassword: a user changes their own password with the current
// one; a wrong current one, two new ones that differ, the same one and a
// guessable one are refused and change nothing. After the change the old
// password no longer signs in, the new one does, the user's other
// session is ended while this browser stays signed in, and it is audited.
func TestChangePassword(t *testing.T) {
	e := newEnv(t)
	e.addUser("ani", central.RoleReviewer)
	b, other := e.browser(), e.browser()
	b.signIn("ani")
	e.clk.nextStep() // a TOTP code signs in once
	other.signIn("ani")
	const strong = "orbit lantern pickle saxophone"
	if a := b.get("/console/account"); a.status != http.StatusOK || !strings.Contains(a.body, `action="/console/account/password"`) {
		t.Fatalf("account page: %d", a.status)
	}
	for _, tc := range []struct {
		name                 string
		current, next, again string
		status               int
		says                 string
	}{
		{"wrong current password", "not my password at all", strong, strong, http.StatusUnauthorized, "current password is wrong"},
		{"two different new ones", testPassword, strong, strong + "!", http.StatusUnprocessableEntity, "differ"},
		{"the same one", testPassword, testPassword, testPassword, http.StatusUnprocessableEntity, "is the current one"},
		{"guessable", testPassword, "password1234", "password1234", http.StatusUnprocessableEntity, "too easy to guess"},
	} {
		a := b.post("/console/account/password", url.Values{"current": {tc.current}, "new": {tc.next}, "repeat": {tc.again}})
		if a.status != tc.status || !strings.Contains(a.body, tc.says) {
			t.Errorf("%s: %d, want %d saying %q", tc.name, a.status, tc.status, tc.says)
		}
	}
	u, err := e.store.User(context.Background(), "ani")
	if err != nil || u.FailedLogins != 1 {
		t.Errorf("failures counted after one wrong current password: %d, %v", u.FailedLogins, err)
	}
	if a := other.get("/console/queue"); a.status != http.StatusOK {
		t.Fatalf("the other session before the change: %d", a.status)
	}

	a := b.post("/console/account/password", url.Values{"current": {testPassword}, "new": {strong}, "repeat": {strong}})
	if a.status != http.StatusSeeOther || a.loc != "/console/account?msg=msg.password_changed" {
		t.Fatalf("change: %d to %q: %s", a.status, a.loc, a.body)
	}
	if a := b.get("/console/queue"); a.status != http.StatusOK {
		t.Errorf("this browser after the change: %d, want still signed in", a.status)
	}
	if a := other.get("/console/queue"); a.status != http.StatusSeeOther {
		t.Errorf("the other session after the change: %d, want sent to sign in", a.status)
	}
	c := e.browser()
	c.get("/console/signin")
	if a := c.post("/console/signin", url.Values{"name": {"ani"}, "password": {testPassword}}); a.status != http.StatusUnauthorized {
		t.Errorf("the old password: %d, want refused", a.status)
	}
	c.get("/console/signin")
	if a := c.post("/console/signin", url.Values{"name": {"ani"}, "password": {strong}}); a.status != http.StatusSeeOther || !strings.HasPrefix(a.loc, "/console/signin/totp") {
		t.Errorf("the new password: %d to %q, want the second factor", a.status, a.loc)
	}
	if got := e.auditActions("user:ani"); !slices.Contains(got, AuditPassword) {
		t.Errorf("audit of user:ani %v, want %s", got, AuditPassword)
	}
}

// TestChangePasswordLocked: wrong current passwords lock the account, and
// a locked account changes nothing even with the right one, so a stolen
// session cannot guess its way to a new password.
func TestChangePasswordLocked(t *testing.T) {
	e := newEnv(t)
	e.addUser("ani", central.RoleReviewer)
	b := e.browser()
	b.signIn("ani")
	const strong = "orbit lantern pickle saxophone"
	for range 5 {
		b.post("/console/account/password", url.Values{"current": {"guess guess guess"}, "new": {strong}, "repeat": {strong}})
	}
	if a := b.post("/console/account/password", url.Values{"current": {testPassword}, "new": {strong}, "repeat": {strong}}); a.status != http.StatusUnauthorized || !strings.Contains(a.body, "locked") {
		t.Errorf("the right password on a locked account: %d, want refused as locked", a.status)
	}
	c := e.browser()
	c.get("/console/signin")
	e.clk.Advance(auth.LockDuration + time.Minute)
	if a := c.post("/console/signin", url.Values{"name": {"ani"}, "password": {testPassword}}); a.status != http.StatusSeeOther {
		t.Errorf("the old password after the lockout: %d, want it still to work", a.status)
	}
}

// TestEndOtherSessions: "sign out everywhere else" ends the user's other
// sessions, keeps this browser signed in, and is audited.
func TestEndOtherSessions(t *testing.T) {
	e := newEnv(t)
	e.addUser("ani", central.RoleAuditor)
	b, other := e.browser(), e.browser()
	b.signIn("ani")
	e.clk.nextStep() // a TOTP code signs in once
	other.signIn("ani")
	b.get("/console/account")
	if a := b.post("/console/account/sessions", nil); a.status != http.StatusSeeOther || a.loc != "/console/account?msg=msg.sessions_ended" {
		t.Fatalf("end sessions: %d to %q", a.status, a.loc)
	}
	if a := b.get("/console/account?msg=msg.sessions_ended"); a.status != http.StatusOK || !strings.Contains(a.body, "other sessions are signed out") {
		t.Errorf("this browser: %d", a.status)
	}
	if a := other.get("/console/queue"); a.status != http.StatusSeeOther {
		t.Errorf("the other session: %d, want sent to sign in", a.status)
	}
	if got := e.auditActions("user:ani"); !slices.Contains(got, AuditSessionsEnds) {
		t.Errorf("audit of user:ani %v, want %s", got, AuditSessionsEnds)
	}
}

// TestSignInLogNamesKnownAccounts: a refused sign-in logs the name only of
// an account that exists; an unknown one may be a password typed in the
// name field.
func TestSignInLogNamesKnownAccounts(t *testing.T) {
	e := newEnv(t)
	e.addUser("ani", central.RoleReviewer)
	b := e.browser()
	b.get("/console/signin")
	b.post("/console/signin", url.Values{"name": {"ani"}, "password": {"wrong wrong wrong"}})
	b.post("/console/signin", url.Values{"name": {"orbit lantern pickle"}, "password": {"x"}})
	got := e.log.String()
	if !strings.Contains(got, "user=ani") || strings.Contains(got, "orbit lantern") || !strings.Contains(got, "unknown_user=true") {
		t.Errorf("sign-in log:\n%s", got)
	}
}

// TestRenewedSessionKeepsItsEnd: ending the other sessions and changing
// the password give this browser a new token, not a new lifetime: a
// session (a stolen cookie, say) renewed so again and again still ends
// auth.AbsoluteTimeout after its sign-in.
func TestRenewedSessionKeepsItsEnd(t *testing.T) {
	e := newEnv(t)
	e.addUser("ani", central.RoleAuditor)
	b := e.browser()
	b.signIn("ani")
	start := e.clk.Now()
	renew := []struct {
		path string
		form url.Values
	}{
		{"/console/account/password", url.Values{"current": {testPassword}, "new": {"quiet harbour lantern spruce"}, "repeat": {"quiet harbour lantern spruce"}}},
		{"/console/account/sessions", nil},
	}
	for i := 0; e.clk.Now().Sub(start) < auth.AbsoluteTimeout-20*time.Minute; i++ {
		e.clk.Advance(20 * time.Minute)
		r := renew[min(i, 1)]
		b.get("/console/account")
		if a := b.post(r.path, r.form); a.status != http.StatusSeeOther {
			t.Fatalf("%s at %v: %d", r.path, e.clk.Now().Sub(start), a.status)
		}
	}
	e.clk.Advance(20 * time.Minute)
	if a := b.get("/console/queue"); a.status != http.StatusSeeOther {
		t.Errorf("a renewed session past the absolute timeout of its sign-in: %d, want sent to sign in", a.status)
	}
}
