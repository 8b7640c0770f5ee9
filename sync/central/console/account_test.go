package console

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"maps"
	"net/http"
	"net/url"
	"regexp"
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

// TestEndOtherSessions: "sign out everywhere else" asks the password
// again (ASVS 3.3.4): without it or with a wrong one nothing ends (and the
// wrong one counts towards the lockout); with it the user's other
// sessions end, this browser stays signed in, and it is audited.
func TestEndOtherSessions(t *testing.T) {
	e := newEnv(t)
	e.addUser("ani", central.RoleAuditor)
	b, other := e.browser(), e.browser()
	b.signIn("ani")
	e.clk.nextStep() // a TOTP code signs in once
	other.signIn("ani")
	b.get("/console/account")
	for _, pw := range []string{"", "not my password at all"} {
		if a := b.post("/console/account/sessions", url.Values{"password": {pw}}); a.status != http.StatusUnauthorized || !strings.Contains(a.body, "current password is wrong") {
			t.Errorf("end sessions with password %q: %d, want refused", pw, a.status)
		}
	}
	if a := other.get("/console/queue"); a.status != http.StatusOK {
		t.Fatalf("the other session after refused tries: %d, want still signed in", a.status)
	}
	if u, err := e.store.User(context.Background(), "ani"); err != nil || u.FailedLogins != 2 {
		t.Errorf("failures counted after two wrong passwords: %d, %v", u.FailedLogins, err)
	}
	if a := b.post("/console/account/sessions", url.Values{"password": {testPassword}}); a.status != http.StatusSeeOther || a.loc != "/console/account?msg=msg.sessions_ended" {
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

// sessionIDRE finds the ids of the account page's "Sign out" buttons.
var sessionIDRE = regexp.MustCompile(`name="id" value="([^"]+)"`)

// TestSessionList: the account page lists the user's live sessions, not
// another user's nor a pending one: the browser and system of each (the
// words, not the User-Agent), when it signed in and was last active to
// the minute, this one marked and without a button. Neither a token nor
// a hash of one is on the page.
func TestSessionList(t *testing.T) {
	e := newEnv(t)
	e.addUser("ani", central.RoleAuditor)
	e.addUser("bo", central.RoleAuditor)
	const firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0 secret-marker"
	const edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"
	b, other, bo, half := e.browser(), e.browser(), e.browser(), e.browser()
	b.header.Set("User-Agent", firefox)
	other.header.Set("User-Agent", edge)
	b.signIn("ani")
	e.clk.nextStep()
	other.signIn("ani")
	bo.signIn("bo")
	half.get("/console/signin") // past the password only: a pending session
	half.post("/console/signin", url.Values{"name": {"ani"}, "password": {testPassword}})
	a := b.get("/console/account")
	if a.status != http.StatusOK {
		t.Fatalf("account page: %d", a.status)
	}
	rows := regexp.MustCompile(`(?s)<tbody>.*</tbody>`).FindString(a.body)
	for _, want := range []string{"Firefox on Linux", "Edge on Windows", "this session", e.clk.Now().UTC().Format("2006-01-02 15:04 UTC")} {
		if !strings.Contains(rows, want) {
			t.Errorf("the sessions list lacks %q:\n%s", want, rows)
		}
	}
	if n := strings.Count(rows, "<tr"); n != 2 {
		t.Errorf("%d sessions listed, want ani's 2 (not bo's, not the pending one):\n%s", n, rows)
	}
	if ids := sessionIDRE.FindAllStringSubmatch(a.body, -1); len(ids) != 1 {
		t.Errorf("%d session buttons, want 1 (the other session's; not this one's)", len(ids))
	}
	if strings.Contains(a.body, "secret-marker") {
		t.Error("the page shows the User-Agent itself")
	}
	ss, err := e.store.UserSessions(context.Background(), "ani", e.clk.Now())
	if err != nil || len(ss) != 3 {
		t.Fatalf("ani's stored sessions: %d, %v", len(ss), err)
	}
	for _, s := range ss {
		for _, enc := range []func([]byte) string{hex.EncodeToString, base64.RawURLEncoding.EncodeToString, base64.StdEncoding.EncodeToString} {
			if strings.Contains(a.body, enc(s.Hash)) {
				t.Errorf("the page holds a session's hash")
			}
		}
	}
	base, _ := url.Parse(e.base)
	for _, ck := range append(b.c.Jar.Cookies(base), other.c.Jar.Cookies(base)...) {
		if strings.Contains(a.body, ck.Value) && len(ck.Value) > 8 {
			t.Errorf("the page holds cookie %s's value", ck.Name)
		}
	}
}

// TestEndSession: a user ends one chosen session of theirs, giving the
// password again: that session is signed out, the user's others and this
// one stay, and it is audited with the session's id. Without the
// password, or naming another user's session, this session or an unknown
// id, nothing ends.
func TestEndSession(t *testing.T) {
	e := newEnv(t)
	e.addUser("ani", central.RoleAuditor)
	e.addUser("bo", central.RoleAuditor)
	bs := e.signedIn("ani", "ani", "ani", "bo")
	b, other, third, bo := bs[0], bs[1], bs[2], bs[3]
	idsOf := func(br *browser) []string {
		t.Helper()
		a := br.get("/console/account")
		var ids []string
		for _, m := range sessionIDRE.FindAllStringSubmatch(a.body, -1) {
			ids = append(ids, m[1])
		}
		return ids
	}
	boIDs := idsOf(bo)
	if len(boIDs) != 0 {
		t.Fatalf("bo's other sessions: %v, want none", boIDs)
	}
	// bo's own id, from the store (the page never shows one's own).
	boSessions, err := e.store.UserSessions(context.Background(), "bo", e.clk.Now())
	if err != nil || len(boSessions) != 1 || boSessions[0].ID == "" {
		t.Fatalf("bo's sessions: %+v, %v", boSessions, err)
	}
	// Which id is other's: the one missing from other's own page.
	mine, its := idsOf(b), idsOf(other)
	if len(mine) != 2 || len(its) != 2 {
		t.Fatalf("buttons: %v and %v, want 2 each", mine, its)
	}
	target := ""
	for _, id := range mine {
		if !slices.Contains(its, id) {
			target = id
		}
	}
	if target == "" {
		t.Fatalf("other's id not found among %v / %v", mine, its)
	}
	selfID := ""
	for _, id := range its {
		if !slices.Contains(mine, id) {
			selfID = id
		}
	}
	b.get("/console/account")
	for _, tc := range []struct {
		name, id, password string
		status             int
	}{
		{"no password", target, "", http.StatusUnauthorized},
		{"a wrong password", target, "not my password at all", http.StatusUnauthorized},
		{"another user's session", boSessions[0].ID, testPassword, http.StatusNotFound},
		{"this session", selfID, testPassword, http.StatusNotFound},
		{"an unknown id", "nope", testPassword, http.StatusNotFound},
		{"no id", "", testPassword, http.StatusNotFound},
	} {
		if a := b.post("/console/account/sessions/end", url.Values{"id": {tc.id}, "password": {tc.password}}); a.status != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, a.status, tc.status)
		}
	}
	for i, br := range bs {
		if a := br.get("/console/queue"); a.status != http.StatusOK {
			t.Errorf("session %d after refused ends: %d, want signed in", i, a.status)
		}
	}
	a := b.post("/console/account/sessions/end", url.Values{"id": {target}, "password": {testPassword}})
	if a.status != http.StatusSeeOther || a.loc != "/console/account?msg=msg.session_ended" {
		t.Fatalf("end the session: %d to %q: %s", a.status, a.loc, a.body)
	}
	if a := other.get("/console/queue"); a.status != http.StatusSeeOther {
		t.Errorf("the ended session: %d, want sent to sign in", a.status)
	}
	for name, br := range map[string]*browser{"this": b, "the third": third, "bo's": bo} {
		if a := br.get("/console/queue"); a.status != http.StatusOK {
			t.Errorf("%s session: %d, want still signed in", name, a.status)
		}
	}
	if ids := idsOf(b); len(ids) != 1 || ids[0] == target {
		t.Errorf("buttons after: %v, want the third session's only", ids)
	}
	if got := e.auditActions("user:ani"); !slices.Contains(got, AuditSessionEnded) {
		t.Errorf("audit of user:ani %v, want %s", got, AuditSessionEnded)
	}
	// Gone already: refused, nothing else ends.
	b.get("/console/account")
	if a := b.post("/console/account/sessions/end", url.Values{"id": {target}, "password": {testPassword}}); a.status != http.StatusNotFound {
		t.Errorf("ending it again: %d, want 404", a.status)
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
		{"/console/account/sessions", url.Values{"password": {"quiet harbour lantern spruce"}}}, // the new one
	}
	for i := 0; e.clk.Now().Sub(start) < auth.AbsoluteTimeout-20*time.Minute; i++ {
		e.clk.Advance(20 * time.Minute)
		r := renew[min(i, 1)]
		b.get("/console/account")
		if a := b.post(r.path, maps.Clone(r.form)); a.status != http.StatusSeeOther { // a copy: post adds this page's token
			t.Fatalf("%s at %v: %d", r.path, e.clk.Now().Sub(start), a.status)
		}
	}
	e.clk.Advance(20 * time.Minute)
	if a := b.get("/console/queue"); a.status != http.StatusSeeOther {
		t.Errorf("a renewed session past the absolute timeout of its sign-in: %d, want sent to sign in", a.status)
	}
}
