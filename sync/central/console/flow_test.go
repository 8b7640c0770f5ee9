package console

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/auth"
	"github.com/openkyc/kyc/sync/internal/pgtest"
	"github.com/openkyc/kyc/sync/protocol"
)

// TestSignInWithTOTP: the first sign-in enrols TOTP (a wrong code is
// refused, the secret is stored sealed), a later one asks for the code, a
// code is used once, the session cookie is HttpOnly and SameSite=Strict,
// and signing out ends the session.
func TestSignInWithTOTP(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice", central.RoleReviewer)
	b := e.browser()

	if a := b.get("/console/queue"); a.status != http.StatusSeeOther || !strings.HasPrefix(a.loc, "/console/signin") {
		t.Fatalf("queue before sign-in: %d to %q", a.status, a.loc)
	}
	b.get("/console/signin")
	a := b.post("/console/signin", url.Values{"name": {"alice"}, "password": {testPassword}})
	if !strings.HasPrefix(a.loc, "/console/enrol") {
		t.Fatalf("first sign-in went to %q, want the TOTP enrolment", a.loc)
	}
	var sessCookie *http.Cookie
	for _, ck := range a.header.Values("Set-Cookie") {
		if strings.HasPrefix(ck, "kyc_session=") {
			sessCookie, _ = http.ParseSetCookie(ck)
		}
	}
	if sessCookie == nil || !sessCookie.HttpOnly || sessCookie.SameSite != http.SameSiteStrictMode || sessCookie.Path != "/" {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/", sessCookie)
	}
	// Pending: past the password, nothing else is open yet.
	if q := b.get("/console/queue"); q.status != http.StatusSeeOther {
		t.Errorf("queue with a pending session: %d", q.status)
	}
	page := b.get(a.loc)
	secret := secretRE.FindStringSubmatch(page.body)[1]
	sealed := sealedRE.FindStringSubmatch(page.body)[1]
	enrolCode := e.enrolCodes["alice"]
	if a := b.post("/console/enrol", url.Values{"sealed": {sealed}, "enrol_code": {enrolCode}, "code": {"000000"}}); a.status != http.StatusUnauthorized {
		t.Errorf("enrolment with a wrong code: %d", a.status)
	}
	if a := b.post("/console/enrol", url.Values{"sealed": {sealed}, "enrol_code": {enrolCode}, "code": {e.clk.code(t, secret)}}); a.status != http.StatusSeeOther {
		t.Fatalf("enrolment: %d %s", a.status, a.body)
	}
	u, err := e.store.User(context.Background(), "alice")
	if err != nil || len(u.TOTPSecret) == 0 || strings.Contains(string(u.TOTPSecret), secret) || u.LastTOTPStep == 0 {
		t.Fatalf("stored account %+v, %v: want the secret sealed and the step used", u, err)
	}
	if q := b.get("/console/queue"); q.status != http.StatusOK || !strings.Contains(q.body, "alice") {
		t.Fatalf("queue after enrolment: %d", q.status)
	}
	if a := b.post("/console/signout", nil); a.status != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", a.status)
	}
	if q := b.get("/console/queue"); q.status != http.StatusSeeOther {
		t.Errorf("queue after sign-out: %d", q.status)
	}

	// Second sign-in: the code of the step already used is refused.
	b2 := e.browser()
	b2.get("/console/signin")
	a = b2.post("/console/signin", url.Values{"name": {"alice"}, "password": {testPassword}})
	if !strings.HasPrefix(a.loc, "/console/signin/totp") {
		t.Fatalf("second sign-in went to %q", a.loc)
	}
	b2.get(a.loc)
	if a := b2.post("/console/signin/totp", url.Values{"code": {e.clk.code(t, secret)}}); a.status != http.StatusUnauthorized {
		t.Errorf("a TOTP code used twice: %d", a.status)
	}
	e.clk.nextStep()
	if a := b2.post("/console/signin/totp", url.Values{"code": {e.clk.code(t, secret)}}); a.status != http.StatusSeeOther {
		t.Fatalf("next step's code: %d %s", a.status, a.body)
	}
	// The code sent again is recorded as reused (ASVS 2.8.5).
	if acts := e.auditActions("user:alice"); strings.Join(acts, ",") != "totp_enrolled,signin,signout,totp_reused,signin" {
		t.Errorf("audit of alice = %v", acts)
	}
}

// TestLockout: five wrong passwords lock the account at that address for
// 15 minutes (the right password is refused meanwhile); an address
// failing too often is answered 429.
func TestLockout(t *testing.T) {
	e := newEnv(t)
	e.addUser("bob", central.RoleReviewer)
	b := e.browser()
	b.get("/console/signin")
	for range auth.MaxFailures {
		if a := b.post("/console/signin", url.Values{"name": {"bob"}, "password": {"wrong password here"}}); a.status != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", a.status)
		}
	}
	if a := b.post("/console/signin", url.Values{"name": {"bob"}, "password": {testPassword}}); a.status != http.StatusUnauthorized {
		t.Fatalf("right password on a locked account: %d", a.status)
	}
	if acts := e.auditActions("user:bob"); len(acts) != 1 || acts[0] != AuditLocked {
		t.Errorf("audit of bob = %v, want the lockout", acts)
	}
	e.clk.Advance(auth.LockDuration + time.Second)
	if a := b.post("/console/signin", url.Values{"name": {"bob"}, "password": {testPassword}}); a.status != http.StatusSeeOther {
		t.Fatalf("right password after the lock: %d", a.status)
	}

	// The address budget: unknown names too count.
	got429 := false
	for i := 0; i < addrFailBurst+5 && !got429; i++ {
		a := b.post("/console/signin", url.Values{"name": {"nobody"}, "password": {"guess number " + itoa(int64(i))}})
		got429 = a.status == http.StatusTooManyRequests && a.header.Get("Retry-After") != ""
	}
	if !got429 {
		t.Error("no 429 with Retry-After after the address's failure budget")
	}
}

// TestLockoutPerAddress: an attacker who knows a name and fails five
// times from their address locks it there only: the owner signs in from
// another address meanwhile (password and TOTP), the attacker's address
// stays locked even with the right password until the lock's 15 minutes
// pass, and the lock is audited with its scope and address.
func TestLockoutPerAddress(t *testing.T) {
	e := newEnv(t)
	e.addUser("bob", central.RoleAdmin)
	owner := e.browser()
	owner.signIn("bob") // enrols TOTP
	attacker := e.browserFrom("127.0.0.2")
	attacker.get("/console/signin")
	// The address's budget gives a unit back LockDuration after the
	// first failure; the clock runs on while the failures are made, so
	// the lock is checked well inside and just outside that.
	firstFailure := e.clk.Now()
	for range auth.MaxFailures {
		if a := attacker.post("/console/signin", url.Values{"name": {"bob"}, "password": {"wrong password here"}}); a.status != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", a.status)
		}
	}
	if a := attacker.post("/console/signin", url.Values{"name": {"bob"}, "password": {testPassword}}); a.status != http.StatusUnauthorized {
		t.Fatalf("right password from the locked address: %d", a.status)
	}
	lockedAt := e.clk.Now()
	e.clk.nextStep()
	e.browser().signIn("bob")

	evs, err := e.store.Audit(context.Background(), central.AuditFilter{Subject: "user:bob", Action: AuditLocked})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || !strings.Contains(string(evs[0].After), `"scope":"address"`) || !strings.Contains(string(evs[0].After), `"address":"127.0.0.2"`) {
		t.Errorf("lockouts audited: %+v, want one of address 127.0.0.2", evs)
	}

	e.clk.Advance(firstFailure.Add(auth.LockDuration - time.Minute).Sub(e.clk.Now()))
	if a := attacker.post("/console/signin", url.Values{"name": {"bob"}, "password": {testPassword}}); a.status != http.StatusUnauthorized {
		t.Fatalf("right password from the address before the lock ends: %d", a.status)
	}
	e.clk.Advance(lockedAt.Add(auth.LockDuration + time.Second).Sub(e.clk.Now()))
	if a := attacker.post("/console/signin", url.Values{"name": {"bob"}, "password": {testPassword}}); a.status != http.StatusSeeOther {
		t.Fatalf("right password from the address after the lock: %d", a.status)
	}
}

// TestLockoutAccountCeiling: a guess spread over addresses, five failures
// from each, locks the whole account at auth.AccountMaxFailures: the
// owner's right password is refused from any address until the lock
// ends, and the lock is audited with the account's scope. Failures older
// than the window no longer count.
func TestLockoutAccountCeiling(t *testing.T) {
	e := newEnv(t)
	e.addUser("bob", central.RoleAdmin)
	fail := func(first, n int) {
		t.Helper()
		for i := range n {
			b := e.browserFrom("127.0.1." + itoa(int64(first+i/auth.MaxFailures)))
			b.get("/console/signin")
			if a := b.post("/console/signin", url.Values{"name": {"bob"}, "password": {"guess number " + itoa(int64(i))}}); a.status != http.StatusUnauthorized {
				t.Fatalf("guess %d: %d", i, a.status)
			}
		}
	}
	// One failure short of the ceiling, then the window passes.
	fail(1, auth.AccountMaxFailures-1)
	e.clk.Advance(auth.AccountWindow)
	fail(100, 1)
	if u, _ := e.store.User(context.Background(), "bob"); auth.Locked(u, e.clk.Now()) || u.FailedLogins != 1 {
		t.Fatalf("after a window passed: locked until %v, %d failures", u.LockedUntil, u.FailedLogins)
	}

	fail(101, auth.AccountMaxFailures-1)
	owner := e.browser()
	owner.get("/console/signin")
	if a := owner.post("/console/signin", url.Values{"name": {"bob"}, "password": {testPassword}}); a.status != http.StatusUnauthorized {
		t.Fatalf("right password on an account at its ceiling: %d", a.status)
	}
	evs, err := e.store.Audit(context.Background(), central.AuditFilter{Subject: "user:bob", Action: AuditLocked})
	if err != nil {
		t.Fatal(err)
	}
	scopes := 0
	for _, ev := range evs {
		if strings.Contains(string(ev.After), `"scope":"account"`) {
			scopes++
		}
	}
	if scopes != 1 {
		t.Errorf("the account's lock audited %d times, want once (%d lock events)", scopes, len(evs))
	}
	e.clk.Advance(auth.LockDuration)
	owner.signIn("bob")
}

// fixture is a central with cases on two branches and the users the
// tests need.
type fixture struct {
	*env
	escalate, review, south central.SubmissionRef
}

func newFixture(t *testing.T) *fixture { return newFixtureOn(t, boltStore) }

func newFixtureOn(t *testing.T, open opener) *fixture {
	e := newEnvOn(t, open, nil)
	e.addDevice("dev-north", "north")
	e.addDevice("dev-south", "south")
	f := &fixture{env: e}
	f.escalate = e.submit("dev-north", "sess-1-1", payload(t, "payload_escalate.json", "sess-1", nil))
	e.clk.Advance(time.Second)
	f.review = e.submit("dev-north", "sess-2-1", payload(t, "payload_device.json", "sess-2", asReview(40)))
	e.clk.Advance(time.Second)
	f.south = e.submit("dev-south", "sess-3-1", payload(t, "payload_escalate.json", "sess-3", nil))
	e.addUser("rev1", central.RoleReviewer)
	e.addUser("rev2", central.RoleReviewer)
	e.addUser("aud", central.RoleAuditor)
	e.addUser("northrev", central.RoleReviewer, "north")
	return f
}

// TestCSRF: a change without the token, with a wrong one, or from another
// origin is refused with 403 and changes nothing.
func TestCSRF(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	b.signIn("rev1")
	b.get(caseHref(f.review))
	for _, tc := range []struct {
		name   string
		form   url.Values
		header map[string]string
	}{
		{"no token", url.Values{"csrf": {""}}, nil},
		{"wrong token", url.Values{"csrf": {"forged"}}, nil},
		{"cross-origin Origin", nil, map[string]string{"Origin": "http://evil.example"}},
		{"cross-site fetch", nil, map[string]string{"Sec-Fetch-Site": "cross-site"}},
	} {
		b.header = http.Header{}
		for k, v := range tc.header {
			b.header.Set(k, v)
		}
		form := url.Values{}
		for k, v := range tc.form {
			form[k] = v
		}
		if a := b.act(f.review, "claim", form); a.status != http.StatusForbidden {
			t.Errorf("%s: claim answered %d, want 403", tc.name, a.status)
		}
	}
	b.header = http.Header{}
	if rv := f.reviewOf(f.review); rv.State != "" && rv.State != central.ReviewOpen {
		t.Fatalf("a refused claim changed the case: %+v", rv)
	}
	b.get(caseHref(f.review))
	if a := b.act(f.review, "claim", nil); a.status != http.StatusSeeOther {
		t.Errorf("claim with the token: %d %s", a.status, a.body)
	}
}

// TestAuditorRefused: an auditor reads the queue, cases and images, and
// every change answers 403.
func TestAuditorRefused(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	b.signIn("aud")
	if a := b.get("/console/queue"); a.status != http.StatusOK || !strings.Contains(a.body, caseHref(f.escalate)) {
		t.Fatalf("auditor's queue: %d", a.status)
	}
	if a := b.get(caseHref(f.escalate)); a.status != http.StatusOK {
		t.Fatalf("auditor's case view: %d", a.status)
	}
	if a := b.get(caseHref(f.escalate) + "/images/front"); a.status != http.StatusOK || a.header.Get("Cache-Control") != "no-store" {
		t.Errorf("auditor's image: %d, Cache-Control %q", a.status, a.header.Get("Cache-Control"))
	}
	for _, action := range []string{"claim", "release", "decide", "confirm", "send-back", "hits/0"} {
		if a := b.act(f.escalate, action, url.Values{"outcome": {"approve"}, "status": {"false_positive"}, "note": {"x"}}); a.status != http.StatusForbidden {
			t.Errorf("auditor %s: %d, want 403", action, a.status)
		}
	}
	if rv := f.reviewOf(f.escalate); rv.Version != 0 {
		t.Errorf("the auditor changed the case: %+v", rv)
	}
}

// TestScope: a reviewer of branch north does not see south's case: the
// queue leaves it out, the case and its images are 404, every change 403.
func TestScope(t *testing.T) { testScope(t, boltStore) }

func testScope(t *testing.T, open opener) {
	f := newFixtureOn(t, open)
	b := f.browser()
	b.signIn("northrev")
	q := b.get("/console/queue")
	if !strings.Contains(q.body, caseHref(f.escalate)) || strings.Contains(q.body, caseHref(f.south)) {
		t.Errorf("north's queue: has north %v, has south %v", strings.Contains(q.body, caseHref(f.escalate)), strings.Contains(q.body, caseHref(f.south)))
	}
	if a := b.get("/console/queue?branch=south"); strings.Contains(a.body, caseHref(f.south)) {
		t.Error("the branch filter shows a case outside the scope")
	}
	for _, path := range []string{caseHref(f.south), caseHref(f.south) + "/images/front", caseHref(f.south) + "/images/selfie"} {
		if a := b.get(path); a.status != http.StatusNotFound {
			t.Errorf("GET %s out of scope: %d, want 404", path, a.status)
		}
	}
	for _, action := range []string{"claim", "release", "decide", "confirm", "send-back", "hits/0"} {
		if a := b.post(caseHref(f.south)+"/"+action, url.Values{"version": {"0"}, "outcome": {"approve"}}); a.status != http.StatusForbidden {
			t.Errorf("%s out of scope: %d, want 403", action, a.status)
		}
	}
	if rv := f.reviewOf(f.south); rv.Version != 0 {
		t.Errorf("an out-of-scope claim changed the case: %+v", rv)
	}
	// The audit view leaves out the events of south's cases.
	admin := f.browser()
	f.addUser("root", central.RoleAdmin)
	admin.signIn("root")
	admin.get(caseHref(f.south))
	if a := b.get("/console/audit"); strings.Contains(a.body, caseSubject(f.south)) || !strings.Contains(a.body, "signin") {
		t.Error("the scoped audit view shows an out-of-scope case's events")
	}
	if a := admin.get("/console/audit"); !strings.Contains(a.body, caseSubject(f.south)) {
		t.Error("the admin's audit view lacks the case's events")
	}
}

// TestClaimRace: two reviewers claim one case at once: exactly one holds
// it, the other is told it is claimed.
func TestClaimRace(t *testing.T) { testClaimRace(t, boltStore) }

func testClaimRace(t *testing.T, open opener) {
	f := newFixtureOn(t, open)
	b1, b2 := f.browser(), f.browser()
	b1.signIn("rev1")
	f.clk.nextStep()
	b2.signIn("rev2")
	b1.get(caseHref(f.review))
	b2.get(caseHref(f.review))
	var wg sync.WaitGroup
	answers := make([]answer, 2)
	for i, b := range []*browser{b1, b2} {
		wg.Go(func() { answers[i] = b.post(caseHref(f.review)+"/claim", url.Values{"version": {"0"}}) })
	}
	wg.Wait()
	won, lost := 0, 0
	for _, a := range answers {
		switch {
		case a.status == http.StatusSeeOther:
			won++
		case a.status == http.StatusConflict && strings.Contains(a.body, "Another reviewer has claimed"):
			lost++
		default:
			t.Errorf("claim answered %d: %s", a.status, a.body)
		}
	}
	rv := f.reviewOf(f.review)
	if won != 1 || lost != 1 || rv.State != central.ReviewClaimed || (rv.Assignee != "rev1" && rv.Assignee != "rev2") {
		t.Fatalf("won %d, lost %d, review %+v", won, lost, rv)
	}
	// The loser, claiming again on the fresh version, gets "claimed".
	loser := b1
	if rv.Assignee == "rev1" {
		loser = b2
	}
	if a := loser.act(f.review, "claim", nil); a.status != http.StatusConflict || !strings.Contains(a.body, "Another reviewer has claimed") {
		t.Errorf("second claim: %d %s", a.status, a.body)
	}
}

// TestFourEyes: the reject of an escalated case with a confirmed
// sanctions hit waits for a second reviewer; its proposer cannot confirm
// it, another reviewer can. A low-risk approval is final at once. Every
// step is in the audit chain with the review before and after.
func TestFourEyes(t *testing.T) { testFourEyes(t, boltStore) }

func testFourEyes(t *testing.T, open opener) {
	f := newFixtureOn(t, open)
	b1, b2 := f.browser(), f.browser()
	b1.signIn("rev1")
	f.clk.nextStep()
	b2.signIn("rev2")

	page := b1.get(caseHref(f.escalate))
	for _, want := range []string{"L898902C3", "P&lt;UTOERIKSSON", "Anna Maria Eriksson", "ERIKSSON, ANNA MARIA", "PEP-1", "Watchlist match"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("case view lacks %q", want)
		}
	}
	if a := b1.act(f.escalate, "decide", url.Values{"outcome": {"reject"}, "reason": {"sanctions"}}); a.status != http.StatusConflict {
		t.Errorf("decide before claiming: %d", a.status)
	}
	b1.act(f.escalate, "claim", nil)
	if a := b1.act(f.escalate, "decide", url.Values{"outcome": {"approve"}}); a.status != http.StatusConflict {
		t.Errorf("approve with an open hit: %d", a.status)
	}
	if a := b1.act(f.escalate, "hits/0", url.Values{"status": {"confirmed"}, "note": {"same person: DOB and name agree"}}); a.status != http.StatusSeeOther {
		t.Fatalf("confirm hit: %d %s", a.status, a.body)
	}
	if a := b1.act(f.escalate, "decide", url.Values{"outcome": {"reject"}}); a.status != http.StatusBadRequest {
		t.Errorf("reject without a reason: %d", a.status)
	}
	if a := b1.act(f.escalate, "decide", url.Values{"outcome": {"reject"}, "reason": {"sanctions"}, "note": {"PEP, confirmed"}}); a.status != http.StatusSeeOther {
		t.Fatalf("reject: %d %s", a.status, a.body)
	}
	rv := f.reviewOf(f.escalate)
	if rv.State != central.ReviewSecond || rv.Outcome != central.OutcomeReject || rv.DecidedBy != "rev1" {
		t.Fatalf("after the reject: %+v, want second_review", rv)
	}
	if p := b1.get(caseHref(f.escalate)); !strings.Contains(p.body, `id="four-eyes-wait"`) {
		t.Error("the proposer's view does not say it waits for a second reviewer")
	}
	if a := b1.act(f.escalate, "confirm", nil); a.status != http.StatusForbidden {
		t.Errorf("the proposer confirming: %d, want 403", a.status)
	}
	if rv := f.reviewOf(f.escalate); rv.State != central.ReviewSecond {
		t.Fatalf("the proposer's confirm changed the case: %+v", rv)
	}
	b2.get(caseHref(f.escalate))
	if a := b2.act(f.escalate, "confirm", url.Values{"note": {"agree"}}); a.status != http.StatusSeeOther {
		t.Fatalf("second reviewer's confirm: %d %s", a.status, a.body)
	}
	rv = f.reviewOf(f.escalate)
	if rv.State != central.ReviewDecided || rv.SecondBy != "rev2" || len(rv.Hits) != 1 || rv.Hits[0].SecondBy != "rev2" {
		t.Fatalf("after the confirm: %+v", rv)
	}

	// A review case with a low score: approval is final at once.
	b2.act(f.review, "claim", nil)
	if a := b2.act(f.review, "decide", url.Values{"outcome": {"approve"}, "note": {"fine"}}); a.status != http.StatusSeeOther {
		t.Fatalf("approve: %d %s", a.status, a.body)
	}
	if rv := f.reviewOf(f.review); rv.State != central.ReviewDecided || rv.Outcome != central.OutcomeApprove || rv.SecondBy != "" {
		t.Errorf("approved review case: %+v", rv)
	}

	// The audit chain: every change, with before and after, and reads.
	want := []string{AuditCaseView, AuditClaim, AuditHitResolved, AuditPropose, AuditCaseView, AuditCaseView, AuditConfirm}
	got := f.auditActions(caseSubject(f.escalate))
	var changes []string
	for _, a := range got {
		if a != AuditCaseView && a != AuditImageView {
			changes = append(changes, a)
		}
	}
	if strings.Join(changes, ",") != "case_claim,hit_resolve,case_second_review,case_confirm" {
		t.Errorf("audit of the case = %v (want the changes of %v)", got, want)
	}
	evs, _ := f.store.Audit(context.Background(), central.AuditFilter{Subject: caseSubject(f.escalate), Action: AuditConfirm})
	if len(evs) != 1 || evs[0].Actor != "user:rev2" {
		t.Fatalf("confirm event %+v", evs)
	}
	var before, after central.Review
	if json.Unmarshal(evs[0].Before, &before) != nil || json.Unmarshal(evs[0].After, &after) != nil ||
		before.State != central.ReviewSecond || after.State != central.ReviewDecided {
		t.Errorf("confirm event before %s after %s", evs[0].Before, evs[0].After)
	}
	c, err := central.VerifyAuditChain(context.Background(), f.store, nil)
	if err != nil || c.Events < 10 {
		t.Errorf("VerifyAuditChain = %d, %v", c.Events, err)
	}
	if a := b1.post("/console/audit/verify", nil); a.status != http.StatusOK || !strings.Contains(a.body, `id="verify-result"`) || !strings.Contains(a.body, "Chain OK") ||
		!strings.Contains(a.body, "No checkpoint signed by central") {
		t.Errorf("verify from the console: %d", a.status)
	}
	// The hourly sweep's checkpoint, signed by central's key, is checked and named.
	if err := f.console.cfg.Central.CheckpointAudit(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(DefaultVerifyCooldown) // TestAuditVerifyCooldown's business
	if a := b1.post("/console/audit/verify", nil); !strings.Contains(a.body, "Chain OK") || !strings.Contains(a.body, "Signed by central&#39;s key up to entry") {
		t.Errorf("verify after a checkpoint: %d %s", a.status, a.body[strings.Index(a.body, `id="verify-result"`):][:300])
	}
	if a := b1.get("/console/audit?actor=user:rev2&action=case_confirm"); !strings.Contains(a.body, caseSubject(f.escalate)) {
		t.Error("the audit view's filter does not find the confirm")
	}
}

// TestQueueAndSearch: the queue lists waiting cases oldest first with SLA
// bands in words; filters and the search by document number (blind
// index) select; decided cases leave the default view.
func TestQueueAndSearch(t *testing.T) { testQueueAndSearch(t, boltStore) }

func testQueueAndSearch(t *testing.T, open opener) {
	f := newFixtureOn(t, open)
	b := f.browser()
	b.signIn("rev1")
	q := b.get("/console/queue")
	i1, i2 := strings.Index(q.body, caseHref(f.escalate)), strings.Index(q.body, caseHref(f.review))
	if i1 < 0 || i2 < 0 || i1 > i2 || !strings.Contains(q.body, "within SLA") {
		t.Fatalf("queue order or SLA: escalate at %d, review at %d", i1, i2)
	}
	f.clk.Advance(5 * time.Hour)
	b = f.browser() // the session idled out meanwhile
	b.signIn("rev1")
	if q := b.get("/console/queue"); !strings.Contains(q.body, "sla-amber") || !strings.Contains(q.body, "SLA at risk") {
		t.Error("no amber SLA after 5 hours")
	}
	for _, tc := range []struct {
		query     string
		esc, revw bool
		south     bool
	}{
		{"decision=review", false, true, false},
		{"decision=escalate", true, false, true},
		{"reason=WATCHLIST_HIT", true, false, true},
		{"branch=south", false, false, true},
		{"device=dev-north", true, true, false},
		{"country=uto", true, false, true},
		{"kind=document_number&q=L898902C3", true, false, true},
		{"kind=nik&q=3174096112900001", false, false, false},
		{"from=2000-01-01&to=2000-01-02", false, false, false},
	} {
		a := b.get("/console/queue?" + tc.query)
		got := [3]bool{strings.Contains(a.body, caseHref(f.escalate)), strings.Contains(a.body, caseHref(f.review)), strings.Contains(a.body, caseHref(f.south))}
		if got != [3]bool{tc.esc, tc.revw, tc.south} {
			t.Errorf("queue?%s lists escalate/review/south = %v", tc.query, got)
		}
	}
	if acts := f.auditActions("queue"); len(acts) != 2 || acts[0] != AuditSearch {
		t.Errorf("searches audited as %v", acts)
	}
	b.act(f.review, "claim", nil)
	b.act(f.review, "decide", url.Values{"outcome": {"resubmit"}})
	if q := b.get("/console/queue"); strings.Contains(q.body, caseHref(f.review)) {
		t.Error("a decided case is still in the waiting queue")
	}
	if q := b.get("/console/queue?state=decided"); !strings.Contains(q.body, caseHref(f.review)) {
		t.Error("the decided filter does not list the decided case")
	}
}

// TestOnPostgres runs the case flows on PostgreSQL (pgstore), as central
// runs with several instances.
func TestOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	open := pgStore(pgtest.StartT(t))
	for name, test := range map[string]func(*testing.T, opener){
		"scope": testScope, "claim race": testClaimRace, "four eyes": testFourEyes, "queue": testQueueAndSearch, "case view": testCaseView,
		"linked": testLinked, "linked capped": testLinkedCapped, "queue paging": testQueuePaging, "override webhooks": testOverrideWebhooks,
		"override": testOverride, "override race": testOverrideRace, "override hits": testOverrideHits, "override again": testOverrideAgain,
	} {
		t.Run(name, func(t *testing.T) { test(t, open) })
	}
}

// TestQueuePaging: the queue pages by cursor (Next and Prev links that
// name no case), forth and back, with its filters, showing each page's
// place; a cursor not made by the console, or changed, is a 400 page.
func TestQueuePaging(t *testing.T) { testQueuePaging(t, boltStore) }

func testQueuePaging(t *testing.T, open opener) {
	e := newEnvOn(t, open, nil)
	e.addDevice("dev-north", "north")
	e.addDevice("dev-south", "south")
	e.addUser("rev1", central.RoleReviewer)
	pl := payload(t, "payload_device.json", "sess-p", asReview(40))
	sum := central.Summarize(pl)
	// 120 waiting cases, a second apart, every other one in the north.
	var refs []central.SubmissionRef
	for i := range 120 {
		now := e.clk.Now().UTC()
		dev := []string{"dev-north", "dev-south"}[i%2]
		sub := central.Submission{DeviceID: dev, Key: protocol.SubmissionKey(fmt.Sprintf("page-%03d", i)), ID: fmt.Sprintf("page-%03d", i),
			ManifestHash: []byte{byte(i)}, CreatedAt: now.Add(-time.Minute), ReceivedAt: now, CompletedAt: now, Verdict: "ok", Payload: pl, Summary: &sum}
		if _, _, err := e.store.BeginSubmission(context.Background(), sub); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, central.SubmissionRef{DeviceID: dev, Key: sub.Key})
		e.clk.Advance(time.Second)
	}
	b := e.browser()
	b.signIn("rev1")
	link := func(a answer, rel string) string {
		t.Helper()
		m := regexp.MustCompile(`<a href="([^"]*)" rel="` + rel + `"`).FindStringSubmatch(a.body)
		if m == nil {
			return ""
		}
		return html.UnescapeString(m[1])
	}
	// page checks that a lists the cases want of refs, in order, as
	// cases from-to of total.
	page := func(a answer, want []central.SubmissionRef, from, to, total int) {
		t.Helper()
		if a.status != http.StatusOK {
			t.Fatalf("queue page: %d", a.status)
		}
		var got []string
		for _, m := range regexp.MustCompile(`href="(/console/cases/[^"]*)"`).FindAllStringSubmatch(a.body, -1) {
			got = append(got, m[1])
		}
		var hrefs []string
		for _, r := range want {
			hrefs = append(hrefs, caseHref(r))
		}
		if !slices.Equal(got, hrefs) {
			t.Errorf("page lists %d cases %v..., want %d from %s", len(got), got[:min(len(got), 1)], len(hrefs), hrefs[0])
		}
		if c := fmt.Sprintf("Cases %d–%d of %d", from, to, total); !strings.Contains(a.body, c) {
			t.Errorf("page is not %q", c)
		}
		for _, rel := range []string{"next", "prev"} {
			l := link(a, rel)
			if l == "" {
				continue
			}
			// The cursor names no case: no device, no submission.
			if strings.Contains(l, "page=") || !strings.Contains(l, "cursor=") || strings.Contains(l, "dev-") || strings.Contains(l, "page-") {
				t.Errorf("%s link %q", rel, l)
			}
		}
	}
	first := b.get("/console/queue")
	page(first, refs[:50], 1, 50, 120)
	if link(first, "prev") != "" {
		t.Error("the first page links to a page before it")
	}
	second := b.get(link(first, "next"))
	page(second, refs[50:100], 51, 100, 120)
	third := b.get(link(second, "next"))
	page(third, refs[100:], 101, 120, 120)
	if link(third, "next") != "" {
		t.Error("the last page links to a page after it")
	}
	back := b.get(link(third, "prev"))
	page(back, refs[50:100], 51, 100, 120)
	back = b.get(link(back, "prev"))
	page(back, refs[:50], 1, 50, 120)
	if link(back, "prev") != "" {
		t.Error("the first page, back, links to a page before it")
	}
	// With a filter: the north's 60 cases, the filter kept.
	var north []central.SubmissionRef
	for i := 0; i < len(refs); i += 2 {
		north = append(north, refs[i])
	}
	nf := b.get("/console/queue?branch=north")
	page(nf, north[:50], 1, 50, 60)
	nl := link(nf, "next")
	if !strings.Contains(nl, "branch=north") {
		t.Errorf("next link %q drops the filter", nl)
	}
	page(b.get(nl), north[50:], 51, 60, 60)
	// Cursors the console did not make, or changed.
	u, err := url.Parse(link(first, "next"))
	if err != nil {
		t.Fatal(err)
	}
	good := u.Query().Get("cursor")
	if good == "" {
		t.Fatal("no cursor in the first page's next link")
	}
	flipped := []byte(good)
	flipped[len(flipped)/2] ^= 1
	other, err := auth.NewSealer(make([]byte, auth.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	forged := base64.RawURLEncoding.EncodeToString(other.Seal([]byte(`{"p":0,"t":0,"d":"dev-north","k":"x"}`), cursorContext))
	for _, c := range []string{"abc", "!!!", string(flipped), forged, good[:len(good)-4], strings.Repeat("A", 5000)} {
		a := b.get("/console/queue?cursor=" + url.QueryEscape(c))
		if a.status != http.StatusBadRequest || !strings.Contains(a.body, "is not valid") {
			t.Errorf("cursor %.20q: %d", c, a.status)
		}
	}
}
