package console

// Security review of the console (OWASP ASVS level 2): each test asserts
// what a hostile device, a hostile or careless console user, or an
// outside attacker must not achieve.

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"hash/crc32"
	"image"
	"image/jpeg"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/auth"
	"github.com/openkyc/kyc/sync/central/partnerapi"
	"github.com/openkyc/kyc/sync/central/storetest"
	"github.com/openkyc/kyc/sync/internal/pgtest"
	"github.com/openkyc/kyc/sync/protocol"
)

// registeredPatterns are the console's route patterns, as New registers
// them.
func registeredPatterns(t *testing.T) []string {
	t.Helper()
	c, err := New(Config{Store: boltStore(t), SecretKey: make([]byte, auth.KeySize)})
	if err != nil {
		t.Fatal(err)
	}
	return c.patterns
}

// routeKind says how a route is guarded.
type routeKind int

const (
	guarded routeKind = iota // c.route: a signed-in user of a minimum role
	public                   // the sign-in form: the pre-session CSRF cookie
	pending                  // the TOTP step: a pending session
	open                     // static files, the redirect, the 404 page, the language switch
)

// routeSpec is how TestRouteAccess exercises one pattern: the concrete
// path (for an object outside northrev's or northadm's scope where the
// route names one), who may use it, and whether its object is scoped.
type routeSpec struct {
	kind routeKind
	path string
	// auditor: an auditor may POST it (it changes nothing: sign-out, the
	// chain verification).
	auditor bool
	// scoped: the route names a device or case; its out-of-scope path is
	// path.
	scoped bool
}

// TestRouteAccess is the access-control table: every route the console
// registers (the test fails on a route missing from the table), tried
// without a session, without a CSRF token, with another session's token,
// cross-origin, as an auditor, and on an object outside the user's scope.
// Nothing refused may change anything.
func TestRouteAccess(t *testing.T) {
	f := newFixture(t)
	f.addUser("root", central.RoleAdmin)
	f.addUser("northadm", central.RoleAdmin, "north")
	south := caseHref(f.south)
	bank := f.addPartner("Bank", "south")
	table := map[string]routeSpec{
		"GET /console/static/":                            {kind: open, path: "/console/static/console.css"},
		"GET /console/dist/":                              {kind: open, path: "/console/dist/.gitkeep"},
		"GET /console/{$}":                                {kind: open, path: "/console/"},
		"/console/":                                       {kind: open, path: "/console/nope"},
		"POST /console/lang":                              {kind: open, path: "/console/lang"},
		"GET /console/signin":                             {kind: public, path: "/console/signin"},
		"POST /console/signin":                            {kind: public, path: "/console/signin"},
		"GET /console/signin/totp":                        {kind: pending, path: "/console/signin/totp"},
		"POST /console/signin/totp":                       {kind: pending, path: "/console/signin/totp"},
		"GET /console/enrol":                              {kind: pending, path: "/console/enrol"},
		"POST /console/enrol":                             {kind: pending, path: "/console/enrol"},
		"POST /console/signout":                           {path: "/console/signout", auditor: true},
		"GET /console/account":                            {path: "/console/account"},
		"POST /console/account/password":                  {path: "/console/account/password", auditor: true},
		"POST /console/account/sessions":                  {path: "/console/account/sessions", auditor: true},
		"POST /console/account/sessions/end":              {path: "/console/account/sessions/end", auditor: true},
		"GET /console/queue":                              {path: "/console/queue"},
		"POST /console/queue":                             {path: "/console/queue", auditor: true},
		"GET /console/cases/{device}/{key}":               {path: south, scoped: true},
		"GET /console/cases/{device}/{key}/images/{name}": {path: south + "/images/front", scoped: true},
		"POST /console/cases/{device}/{key}/claim":        {path: south + "/claim", scoped: true},
		"POST /console/cases/{device}/{key}/release":      {path: south + "/release", scoped: true},
		"POST /console/cases/{device}/{key}/decide":       {path: south + "/decide", scoped: true},
		"POST /console/cases/{device}/{key}/confirm":      {path: south + "/confirm", scoped: true},
		"POST /console/cases/{device}/{key}/send-back":    {path: south + "/send-back", scoped: true},
		"POST /console/cases/{device}/{key}/hits/{index}": {path: south + "/hits/0", scoped: true},
		"GET /console/audit":                              {path: "/console/audit"},
		"POST /console/audit/verify":                      {path: "/console/audit/verify", auditor: true},
		"GET /console/devices":                            {path: "/console/devices"},
		"POST /console/devices/{id}/revoke":               {path: "/console/devices/dev-south/revoke", scoped: true},
		"POST /console/devices/{id}/branch":               {path: "/console/devices/dev-south/branch", scoped: true},
		"POST /console/devices/tokens":                    {path: "/console/devices/tokens"},
		"GET /console/partners":                           {path: "/console/partners"},
		"POST /console/partners/{id}/disable":             {path: "/console/partners/" + bank.id + "/disable", scoped: true},
		"POST /console/partners/{id}/enable":              {path: "/console/partners/" + bank.id + "/enable", scoped: true},
		"GET /console/lists":                              {path: "/console/lists"},
		"POST /console/lists":                             {path: "/console/lists"},
		"GET /console/risk":                               {path: "/console/risk"},
		"POST /console/risk":                              {path: "/console/risk"},
		"GET /console/dashboard":                          {path: "/console/dashboard"},
		"GET /console/export.csv":                         {path: "/console/export.csv"},
		"GET /console/privacy":                            {path: "/console/privacy"},
		"POST /console/privacy/erase":                     {path: "/console/privacy/erase"},
	}
	// The risk and list proposals' steps (admin_riskproposal.go,
	// admin_listproposal.go), likewise.
	for _, step := range []string{"/confirm", "/decline"} {
		table["POST /console/risk/proposal"+step] = routeSpec{path: "/console/risk/proposal" + step}
		table["POST /console/lists/proposal"+step] = routeSpec{path: "/console/lists/proposal" + step}
	}
	// The override's steps (override.go), added here to keep the table's alignment.
	for _, step := range []string{"", "/confirm", "/decline"} {
		table["POST /console/cases/{device}/{key}/override"+step] = routeSpec{path: south + "/override" + step, scoped: true}
	}
	patterns := registeredPatterns(t)
	for _, p := range patterns {
		if _, ok := table[p]; !ok {
			t.Errorf("route %q is not in TestRouteAccess's table: add it, with how it is guarded", p)
		}
	}
	for p := range table {
		if !slices.Contains(patterns, p) {
			t.Errorf("the table names %q, which the console does not register", p)
		}
	}

	root, other, aud, northrev, northadm := f.browser(), f.browser(), f.browser(), f.browser(), f.browser()
	root.signIn("root")
	other.signIn("rev1")
	aud.signIn("aud")
	northrev.signIn("northrev")
	northadm.signIn("northadm")
	anon := f.browser()
	// A form that would do something on every route, had it been let in.
	form := func() url.Values {
		return url.Values{"version": {"0"}, "outcome": {"resubmit"}, "status": {"false_positive"}, "note": {"n"},
			"branch": {"north"}, "confirm": {"yes"}, "by": {"submission"}, "device_id": {"dev-south"},
			"submission_id": {"sess-3-1"}, "step": {"confirm"}, "lang": {"id"}, "action": {"preview"}}
	}
	post := func(b *browser, path string, csrf string, hdr map[string]string) answer {
		t.Helper()
		fm := form()
		fm.Set("csrf", csrf)
		req, _ := http.NewRequest(http.MethodPost, f.base+path, strings.NewReader(fm.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		return b.do(req)
	}
	for _, p := range patterns {
		spec := table[p]
		method, _, _ := strings.Cut(p, " ")
		isPost := method == http.MethodPost
		t.Run(p, func(t *testing.T) {
			switch {
			case spec.kind == guarded && !isPost:
				if a := anon.get(spec.path); a.status != http.StatusSeeOther || !strings.HasPrefix(a.loc, "/console/signin?next=") {
					t.Errorf("GET without a session: %d to %q, want the sign-in page", a.status, a.loc)
				}
			case spec.kind == guarded && isPost:
				if a := post(anon, spec.path, "", nil); a.status != http.StatusUnauthorized {
					t.Errorf("POST without a session: %d, want 401", a.status)
				}
				// A GET of a change does nothing (405, or the 404 page),
				// unless a page lives at the same path.
				if _, page := table["GET "+strings.TrimPrefix(p, "POST ")]; !page {
					if a := root.get(spec.path); a.status != http.StatusMethodNotAllowed && a.status != http.StatusNotFound {
						t.Errorf("GET of a POST route: %d", a.status)
					}
				}
				root.get("/console/queue")
				for name, tc := range map[string]struct {
					csrf string
					hdr  map[string]string
				}{
					"no token":                {"", nil},
					"another session's token": {other.csrf, nil},
					"cross-site":              {root.csrf, map[string]string{"Sec-Fetch-Site": "cross-site"}},
					"another origin":          {root.csrf, map[string]string{"Origin": "https://evil.example"}},
				} {
					if a := post(root, spec.path, tc.csrf, tc.hdr); a.status != http.StatusForbidden {
						t.Errorf("%s: %d, want 403", name, a.status)
					}
				}
				if !spec.auditor {
					aud.get("/console/queue")
					if a := post(aud, spec.path, aud.csrf, nil); a.status != http.StatusForbidden {
						t.Errorf("auditor: %d, want 403", a.status)
					}
				}
				if spec.scoped {
					b := northrev
					if strings.HasPrefix(spec.path, "/console/devices/") || strings.HasPrefix(spec.path, "/console/partners/") {
						b = northadm
					}
					b.get("/console/queue")
					if a := post(b, spec.path, b.csrf, nil); a.status != http.StatusForbidden {
						t.Errorf("out of scope: %d, want 403", a.status)
					}
				}
			case spec.kind == guarded && spec.scoped:
				if a := northrev.get(spec.path); a.status != http.StatusNotFound {
					t.Errorf("GET out of scope: %d, want 404", a.status)
				}
			case spec.kind == public && isPost, spec.kind == open && isPost:
				anon.get("/console/signin") // the pre-session cookie, no token sent
				if a := post(anon, spec.path, "", nil); a.status != http.StatusForbidden {
					t.Errorf("POST without the token: %d, want 403", a.status)
				}
			case spec.kind == pending:
				if isPost {
					if a := post(anon, spec.path, anon.csrf, nil); a.status != http.StatusUnauthorized {
						t.Errorf("POST without a pending session: %d, want 401", a.status)
					}
				} else if a := anon.get(spec.path); a.status != http.StatusSeeOther || a.loc != "/console/signin" {
					t.Errorf("GET without a pending session: %d to %q", a.status, a.loc)
				}
			}
		})
	}
	// The out-of-scope images: every name.
	for _, name := range []string{"front", "back", "selfie", "portrait"} {
		if a := northrev.get(south + "/images/" + name); a.status != http.StatusNotFound {
			t.Errorf("out-of-scope image %s: %d, want 404", name, a.status)
		}
	}
	// Nothing refused changed anything.
	if rv := f.reviewOf(f.south); rv.Version != 0 {
		t.Errorf("a refused request changed south's case: %+v", rv)
	}
	d, err := f.store.Device(context.Background(), "dev-south")
	if err != nil || d.Revoked() || d.Branch != "south" {
		t.Errorf("a refused request changed dev-south: %+v, %v", d, err)
	}
	if p, err := f.store.Partner(context.Background(), bank.id); err != nil || p.Disabled {
		t.Errorf("a refused request changed the partner: disabled %v, %v", p.Disabled, err)
	}
	if _, err := f.store.Upload(context.Background(), "dev-south", f.south.Key); err != nil {
		t.Errorf("a refused erasure erased south's case: %v", err)
	}
	evs, err := f.store.Audit(context.Background(), central.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		switch e.Action {
		case AuditSignIn, AuditTOTPEnrol, AuditCaseView, AuditImageView, AuditVerify, "user_add",
			partnerapi.AuditPartnerCreate, partnerapi.AuditPartnerWebhook, partnerapi.AuditPartnerPush, partnerapi.AuditPartnerReferenceImage: // addPartner's
		default:
			t.Errorf("a refused request left audit event %s by %s on %s", e.Action, e.Actor, e.Subject)
		}
	}
}

// TestScopedAdmin: an admin scoped to branch north manages north's devices
// only: another branch's device is neither revoked nor moved (into north,
// which would open its cases), north's devices are not moved out, tokens
// are for north only, and erasure is of north's submissions only (by
// person it spans every branch, so it is for an admin of every branch).
func TestScopedAdmin(t *testing.T) {
	f := newFixture(t)
	f.addUser("northadm", central.RoleAdmin, "north")
	b := f.browser()
	b.signIn("northadm")
	for _, tc := range []struct {
		name, path string
		form       url.Values
		want       int
	}{
		{"revoke another branch's device", "/console/devices/dev-south/revoke", url.Values{"confirm": {"yes"}}, http.StatusForbidden},
		{"revoke an unknown device", "/console/devices/dev-nowhere/revoke", url.Values{"confirm": {"yes"}}, http.StatusForbidden},
		{"move another branch's device in", "/console/devices/dev-south/branch", url.Values{"branch": {"north"}}, http.StatusForbidden},
		{"move a device out", "/console/devices/dev-north/branch", url.Values{"branch": {"south"}}, http.StatusForbidden},
		{"move a device to no branch", "/console/devices/dev-north/branch", url.Values{"branch": {""}}, http.StatusForbidden},
		{"token for another branch", "/console/devices/tokens", url.Values{"branch": {"south"}}, http.StatusForbidden},
		{"token for no branch", "/console/devices/tokens", url.Values{"branch": {""}}, http.StatusForbidden},
		{"erase by person", "/console/privacy/erase", url.Values{"by": {"person"}, "name": {"ANNA MARIA ERIKSSON"}}, http.StatusForbidden},
		{"erase another branch's submission", "/console/privacy/erase", url.Values{"by": {"submission"}, "device_id": {"dev-south"}, "submission_id": {"sess-3-1"}, "step": {"confirm"}, "confirm": {"ERASE"}}, http.StatusForbidden},
		{"preview risk settings over every branch", "/console/risk", url.Values{"action": {"preview"}}, http.StatusForbidden},
		{"propose risk settings for every branch", "/console/risk", url.Values{"action": {"propose"}}, http.StatusForbidden},
		{"confirm risk settings for every branch", "/console/risk/proposal/confirm", url.Values{"id": {"x"}}, http.StatusForbidden},
		{"decline risk settings for every branch", "/console/risk/proposal/decline", url.Values{"id": {"x"}, "reason": {"no"}}, http.StatusForbidden},
		{"token for north", "/console/devices/tokens", url.Values{"branch": {"north"}}, http.StatusOK},
		{"move within scope", "/console/devices/dev-north/branch", url.Values{"branch": {"north"}}, http.StatusSeeOther},
		{"count a north submission", "/console/privacy/erase", url.Values{"by": {"submission"}, "device_id": {"dev-north"}, "submission_id": {"sess-2-1"}}, http.StatusOK},
	} {
		b.get("/console/devices")
		if a := b.post(tc.path, tc.form); a.status != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, a.status, tc.want)
		}
	}
	for id, branch := range map[string]string{"dev-south": "south", "dev-north": "north"} {
		d, err := f.store.Device(context.Background(), id)
		if err != nil || d.Revoked() || d.Branch != branch {
			t.Errorf("%s after the refused changes: %+v, %v", id, d, err)
		}
	}
	if _, err := f.store.Upload(context.Background(), "dev-south", f.south.Key); err != nil {
		t.Errorf("south's submission was erased: %v", err)
	}
	if a := b.get("/console/devices"); strings.Contains(a.body, "dev-south") {
		t.Error("the fleet page shows another branch's device")
	}
	// Another branch's device and token events stay out of the scoped
	// audit view; the admin of every branch sees them.
	f.addUser("root", central.RoleAdmin)
	root := f.browser()
	root.signIn("root")
	root.get("/console/devices")
	root.post("/console/devices/tokens", url.Values{"branch": {"south"}})
	root.get("/console/devices")
	if a := root.post("/console/devices/dev-south/revoke", url.Values{"confirm": {"yes"}}); a.status != http.StatusSeeOther {
		t.Fatalf("root revoking dev-south: %d", a.status)
	}
	if a := root.get("/console/audit"); !strings.Contains(a.body, "device:dev-south") || !strings.Contains(a.body, "branch:south") {
		t.Error("the admin of every branch does not see south's device and token events")
	}
	if a := b.get("/console/audit"); strings.Contains(a.body, "device:dev-south") || strings.Contains(a.body, "branch:south") ||
		!strings.Contains(a.body, "branch:north") {
		t.Error("the scoped audit view shows another branch's device or token events (or not its own)")
	}
}

// TestOpenRedirect: no "next" parameter sends the browser off the
// console: not at the end of sign-in, not when a signed-in browser opens
// the sign-in page, not after the language switch. The tricks are those
// http.Redirect's path cleaning turns into "/\host" or "/<TAB>/host",
// which browsers read as //host.
func TestOpenRedirect(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice", central.RoleReviewer)
	evil := []string{
		"https://evil.example/", "//evil.example/", "/\\evil.example/", "/console/../\\evil.example/",
		"/console/../\t/evil.example/", "/console/../\n/evil.example/", "/console/..//evil.example/",
		"/console/../../evil.example", "/console/%2e%2e/\\evil.example", "javascript:alert(1)", "/console\\..\\..\\evil.example",
		"/console/@evil.example", "/console/../\u0000/evil.example",
	}
	safe := func(loc string) bool {
		if !strings.HasPrefix(loc, Prefix) || strings.HasPrefix(loc, "//") {
			return false
		}
		for _, r := range loc {
			if r < 0x20 || r == 0x7f || r == '\\' {
				return false
			}
		}
		u, err := url.Parse(loc)
		return err == nil && u.Host == "" && u.Scheme == ""
	}
	b := e.browser()
	b.signIn("alice")
	for _, next := range evil {
		if a := b.get("/console/signin?next=" + url.QueryEscape(next)); a.status != http.StatusSeeOther || !safe(a.loc) {
			t.Errorf("signed-in sign-in page with next=%q: %d to %q", next, a.status, a.loc)
		}
		b.get("/console/queue")
		if a := b.post("/console/lang", url.Values{"lang": {"en"}, "next": {next}}); a.status != http.StatusSeeOther || !safe(a.loc) {
			t.Errorf("language switch with next=%q: %d to %q", next, a.status, a.loc)
		}
	}
	// The whole sign-in with a hostile next, ending at the TOTP step.
	for i, next := range evil[:6] {
		e.clk.nextStep()
		nb := e.browser()
		nb.get("/console/signin")
		a := nb.post("/console/signin", url.Values{"name": {"alice"}, "password": {testPassword}, "next": {next}})
		if a.status != http.StatusSeeOther || !strings.HasPrefix(a.loc, "/console/signin/totp?next=") {
			t.Fatalf("%d: password step: %d to %q", i, a.status, a.loc)
		}
		page := nb.get(a.loc)
		m := regexp.MustCompile(`name="next" value="([^"]*)"`).FindStringSubmatch(page.body)
		if m == nil || !safe(m[1]) {
			t.Errorf("next=%q: the TOTP form carries next %v", next, m)
		}
		code, _ := auth.Code(e.secrets["alice"], e.clk.Now())
		a = nb.post("/console/signin/totp", url.Values{"code": {code}, "next": {next}})
		if a.status != http.StatusSeeOther || !safe(a.loc) {
			t.Errorf("next=%q: signed in to %d %q", next, a.status, a.loc)
		}
	}
	// A proper target is kept.
	for _, next := range []string{"/console/cases/dev-1/abc?x=1", "/console/queue?state=open&page=2"} {
		if got := localTarget(next); got != next {
			t.Errorf("localTarget(%q) = %q", next, got)
		}
	}
}

// TestSecurityHeaders: every answer (pages, images, errors, the
// cross-origin refusal, static files) carries a content security policy
// without inline script or style, nosniff, no referrer, no framing and a
// permissions policy; pages and images are not cached; and no rendered
// page holds an inline script, style or event handler the policy would
// have to allow. Behind TLS, HSTS.
func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t)
	f.addUser("root", central.RoleAdmin)
	b := f.browser()
	b.signIn("root")
	check := func(what string, a answer, noStore bool) {
		t.Helper()
		h := a.header
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", what, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-") {
			t.Errorf("%s: CSP %q allows unsafe sources", what, csp)
		}
		for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
			"Cross-Origin-Opener-Policy": "same-origin"} {
			if h.Get(k) != want {
				t.Errorf("%s: %s %q, want %q", what, k, h.Get(k), want)
			}
		}
		if pp := h.Get("Permissions-Policy"); !strings.Contains(pp, "camera=()") {
			t.Errorf("%s: Permissions-Policy %q", what, pp)
		}
		if noStore && h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", what, h.Get("Cache-Control"))
		}
	}
	inline := regexp.MustCompile(`(?i)<script(?:\s+(?:defer|type="application/json"\s+id="[a-z-]+"))?>|<style|\sstyle=|\son[a-z]+=`)
	pages := []string{"/console/queue", caseHref(f.escalate), "/console/audit", "/console/devices", "/console/lists",
		"/console/risk", "/console/dashboard", "/console/privacy", "/console/nope"}
	for _, p := range pages {
		a := b.get(p)
		check(p, a, true)
		for _, m := range inline.FindAllString(a.body, -1) {
			if !strings.Contains(m, "application/json") { // a data block: not run, its content escaped
				t.Errorf("%s: inline %q", p, m)
			}
		}
	}
	check("image", b.get(caseHref(f.escalate)+"/images/front"), true)
	check("portrait", b.get(caseHref(f.escalate)+"/images/portrait"), true)
	check("export", b.get("/console/export.csv"), true)
	b.header.Set("Sec-Fetch-Site", "cross-site")
	a := b.act(f.review, "claim", nil)
	b.header = http.Header{}
	if a.status != http.StatusForbidden {
		t.Fatalf("cross-site claim: %d", a.status)
	}
	check("cross-origin refusal", a, true)
	check("static", b.get("/console/static/console.js"), false)
	anon := f.browser()
	check("sign-in", anon.get("/console/signin"), true)

	c, err := New(Config{Store: boltStore(t), SecretKey: make([]byte, auth.KeySize), Secure: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(c.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/console/signin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=") {
		t.Errorf("HSTS behind TLS: %q", hsts)
	}
}

// submitFront is env.submit with the front image given (and no selfie).
func (e *env) submitFront(device, id string, pl, front []byte) central.SubmissionRef {
	e.t.Helper()
	ctx := context.Background()
	now := e.clk.Now().UTC()
	sum := central.Summarize(pl)
	h := sha256.Sum256(front)
	key := protocol.SubmissionKey(id)
	sub := central.Submission{DeviceID: device, Key: key, ID: id, ManifestHash: []byte(id), CreatedAt: now.Add(-time.Minute),
		ReceivedAt: now, Verdict: "ok", AttestationFresh: true, Payload: pl, Summary: &sum,
		Images: []central.ImageProgress{{ImageMeta: protocol.ImageMeta{Name: "front", Size: int64(len(front)), SHA256: h[:], Key: make([]byte, 32)}}}}
	if _, _, err := e.store.BeginSubmission(ctx, sub); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.store.AppendChunk(ctx, central.Chunk{DeviceID: device, Key: key, Image: "front", Data: front, At: now}); err != nil {
		e.t.Fatal(err)
	}
	return central.SubmissionRef{DeviceID: device, Key: key}
}

// TestImageBomb: a device's front image that would take hundreds of MB
// to decode is not decoded to cut the portrait: 404, and the server
// allocates little. One of a few hundred bytes declares 65500x65500
// pixels; another, a 16-bit RGBA PNG of some 400 KB, has fewer pixels
// than the bound but 8 bytes each in Go's decoder (392 MB).
func TestImageBomb(t *testing.T) {
	e := newEnv(t)
	e.addDevice("dev-1", "north")
	e.addUser("rev", central.RoleReviewer)
	small := testJPEG(t, 16, 16)
	huge := bytes.Clone(small)
	i := bytes.Index(huge, []byte{0xFF, 0xC0}) // SOF0: length, precision, height, width
	if i < 0 {
		t.Fatal("no SOF0 marker in the test JPEG")
	}
	copy(huge[i+5:], []byte{0xFF, 0xDC, 0xFF, 0xDC})
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(huge)); err != nil || cfg.Width != 65500 {
		t.Fatalf("the bomb reads as %+v, %v", cfg, err)
	}
	deep := png16Bomb(t, 7000, 7000)
	if len(deep) > 1<<20 {
		t.Fatalf("the 16-bit PNG takes %d bytes", len(deep))
	}
	b := e.browser()
	b.signIn("rev")
	for n, bomb := range map[string][]byte{"65500x65500 JPEG": huge, "16-bit RGBA PNG": deep} {
		ref := e.submitFront("dev-1", "bomb-"+strings.ReplaceAll(n, " ", "-"), payload(t, "payload_escalate.json", "bomb", nil), bomb)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		a := b.get(caseHref(ref) + "/images/portrait")
		runtime.ReadMemStats(&after)
		if a.status != http.StatusNotFound {
			t.Errorf("%s: portrait: %d, want 404", n, a.status)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 256<<20 {
			t.Errorf("%s: cutting the portrait allocated %d MiB", n, grew>>20)
		}
		if a := b.get(caseHref(ref)); a.status != http.StatusOK {
			t.Errorf("%s: case view: %d", n, a.status)
		}
	}
}

// TestPortraitCutBounded: a device's payload may put the portrait's box
// over the whole of a 49 MP front; the cut the console serves is at most
// maxCutSide on a side (sampled), not a copy of the page at 4 bytes a
// pixel (196 MB).
func TestPortraitCutBounded(t *testing.T) {
	e := newEnv(t)
	e.addDevice("dev-1", "north")
	e.addUser("rev", central.RoleReviewer)
	const side = 7000
	var front bytes.Buffer
	if err := jpeg.Encode(&front, image.NewGray(image.Rect(0, 0, side, side)), nil); err != nil {
		t.Fatal(err)
	}
	pl := payload(t, "payload_escalate.json", "whole-page", func(m map[string]any) {
		doc := m["report"].(map[string]any)["document"].(map[string]any)
		doc["portrait"].(map[string]any)["box"] = map[string]any{"x": 0, "y": 0, "w": side, "h": side}
		delete(doc, "forensics") // its portrait_region would be cut instead
	})
	ref := e.submitFront("dev-1", "whole-page", pl, front.Bytes())
	b := e.browser()
	b.signIn("rev")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	a := b.get(caseHref(ref) + "/images/portrait")
	runtime.ReadMemStats(&after)
	if a.status != http.StatusOK {
		t.Fatalf("portrait: %d", a.status)
	}
	cfg, err := png.DecodeConfig(strings.NewReader(a.body))
	if err != nil || cfg.Width > maxCutSide || cfg.Height > maxCutSide || cfg.Width < maxCutSide/2 {
		t.Errorf("the cut is %dx%d (%v), want at most %d a side", cfg.Width, cfg.Height, err, maxCutSide)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 128<<20 {
		t.Errorf("cutting the whole page allocated %d MiB", grew>>20)
	}
}

// TestNotText: on PostgreSQL, which answers a query holding invalid UTF-8
// or a NUL with an error rather than a miss, such a filter, path id or
// sign-in name is answered as the console answers any invalid one (a
// filter's message, 400, 404, a failed sign-in), never a 500 logged as
// central's own failure, and changes nothing.
func TestNotText(t *testing.T) {
	e := newEnvOn(t, pgStore(pgtest.StartT(t)), nil)
	e.addDevice("dev-1", "north")
	e.addUser("root", central.RoleAdmin)
	b := e.browser()
	b.signIn("root")
	invalid := "A filter value is not valid"
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/console/queue?reason=%FF", http.StatusOK},
		{"/console/queue?doc_type=a%00", http.StatusOK},
		{"/console/queue?decision=%FF", http.StatusOK},
		{"/console/audit?actor=%FF", http.StatusOK},
		{"/console/audit?subject=a%00", http.StatusOK},
		{"/console/export.csv?reason=%FF", http.StatusBadRequest},
	} {
		a := b.get(tc.path)
		if a.status != tc.want || tc.want == http.StatusOK && !strings.Contains(a.body, invalid) {
			t.Errorf("GET %s: %d, want %d with the invalid filter's message", tc.path, a.status, tc.want)
		}
	}
	b.get("/console/devices")
	for _, tc := range []struct {
		path string
		form url.Values
		want int
	}{
		{"/console/devices/%FF/revoke", url.Values{"confirm": {"yes"}}, http.StatusNotFound},
		{"/console/partners/a%00/disable", url.Values{"confirm": {"yes"}}, http.StatusNotFound},
		{"/console/devices/dev-1/branch", url.Values{"branch": {"a\x00"}}, http.StatusBadRequest},
	} {
		if a := b.post(tc.path, tc.form); a.status != tc.want {
			t.Errorf("POST %s %v: %d, want %d", tc.path, tc.form, a.status, tc.want)
		}
	}
	if d, err := e.store.Device(context.Background(), "dev-1"); err != nil || d.Branch != "north" || d.Revoked() {
		t.Errorf("dev-1 after the refused changes: %+v, %v", d, err)
	}
	stranger := e.browser()
	stranger.get("/console/signin")
	if a := stranger.post("/console/signin", url.Values{"name": {"\xff"}, "password": {testPassword}}); a.status != http.StatusUnauthorized {
		t.Errorf("sign-in as a name that is not UTF-8: %d, want 401", a.status)
	}
}

// png16Bomb is a w×h PNG of 16-bit RGBA black pixels, compressed as far
// as zlib goes (about 1000:1), written a row at a time.
func png16Bomb(t *testing.T, w, h int) []byte {
	t.Helper()
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		_ = binary.Write(&out, binary.BigEndian, uint32(len(data)))
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		out.WriteString(typ)
		out.Write(data)
		_ = binary.Write(&out, binary.BigEndian, crc.Sum32())
	}
	ihdr := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, uint32(w)), uint32(h))
	chunk("IHDR", append(ihdr, 16, 6, 0, 0, 0)) // 16 bits, RGBA, deflate, no filter set, no interlace
	var idat bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&idat, zlib.BestCompression)
	row := make([]byte, 1+8*w) // filter type 0, then the pixels
	for range h {
		if _, err := zw.Write(row); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	chunk("IDAT", idat.Bytes())
	chunk("IEND", nil)
	return out.Bytes()
}

// multipartBody is a multipart form with one file of size bytes.
func multipartBody(t *testing.T, size int) (string, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("file", "big.bin")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(bytes.Repeat([]byte{'x'}, size))
	mw.WriteField("name", "alice")
	mw.Close()
	return mw.FormDataContentType(), &buf
}

// TestFormLimits: a multipart body is refused (415) everywhere but the
// watchlist upload, before a byte of it is parsed: without the refusal,
// reading a field would spool its files to disk without limit, and on the
// sign-in form anyone may post. A urlencoded form over maxForm is 413.
// Neither changes anything.
func TestFormLimits(t *testing.T) {
	f := newFixture(t)
	anon := f.browser()
	anon.get("/console/signin")
	ct, body := multipartBody(t, 2<<20)
	req, _ := http.NewRequest(http.MethodPost, f.base+"/console/signin?csrf="+url.QueryEscape(anon.csrf), body)
	req.Header.Set("Content-Type", ct)
	if a := anon.do(req); a.status != http.StatusUnsupportedMediaType {
		t.Errorf("multipart sign-in: %d, want 415", a.status)
	}
	b := f.browser()
	b.signIn("rev1")
	b.get(caseHref(f.review))
	ct, body = multipartBody(t, 2<<20)
	req, _ = http.NewRequest(http.MethodPost, f.base+caseHref(f.review)+"/claim?csrf="+url.QueryEscape(b.csrf), body)
	req.Header.Set("Content-Type", ct)
	if a := b.do(req); a.status != http.StatusUnsupportedMediaType {
		t.Errorf("multipart claim: %d, want 415", a.status)
	}
	// The watchlist upload takes multipart, with the token in its URL:
	// without it, or with another session's, 403.
	f.addUser("root", central.RoleAdmin)
	root := f.browser()
	root.signIn("root")
	for _, tok := range []string{"", b.csrf} {
		ct, body := multipartBody(t, 1<<10)
		req, _ := http.NewRequest(http.MethodPost, f.base+"/console/lists?csrf="+url.QueryEscape(tok), body)
		req.Header.Set("Content-Type", ct)
		if a := root.do(req); a.status != http.StatusForbidden {
			t.Errorf("multipart upload with token %q: %d, want 403", tok, a.status)
		}
	}
	big := url.Values{"csrf": {b.csrf}, "version": {"0"}, "note": {strings.Repeat("x", maxForm)}}
	req, _ = http.NewRequest(http.MethodPost, f.base+caseHref(f.review)+"/claim", strings.NewReader(big.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if a := b.do(req); a.status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized form: %d, want 413", a.status)
	}
	if rv := f.reviewOf(f.review); rv.Version != 0 {
		t.Errorf("a refused form changed the case: %+v", rv)
	}
	// Queue pages out of range, and search terms of every shape, are
	// answered normally.
	for _, q := range []string{"page=1000000000000000000", "page=-9", "page=9223372036854775807", "page=abc",
		"q=" + url.QueryEscape(strings.Repeat("(a+)+", 2000)), "q=" + url.QueryEscape("\u202e\u0000ＮＩＫ\U0001F600"), "kind=name&q=%E2%80%8B",
		"from=2026-13-45", "state=bogus", "decision=" + strings.Repeat("x", 4000)} {
		a := b.get("/console/queue?" + q)
		if a.status != http.StatusOK {
			t.Errorf("queue ?%.40s: %d", q, a.status)
		}
		if m := regexp.MustCompile(`id="queue-count">[^<]*-\d`).FindString(a.body); m != "" {
			t.Errorf("queue ?%.40s: %q", q, m)
		}
	}
}

// hostile is what a hostile device puts in every string of its payload:
// markup for each context, and a spreadsheet formula first.
const hostile = `=HYPERLINK("http://evil.example")"'><script>alert(1)</script><img src=x onerror=alert(2)>javascript:alert(3)`

// hostilePayload is a captured payload with every string a device
// controls replaced by hostile (a few routing strings kept), and hostile
// keys in its maps.
func hostilePayload(t *testing.T, session string) []byte {
	t.Helper()
	keep := map[string]bool{"session_id": true, "decision": true, "source": true, "time": true}
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, val := range x {
				if s, ok := val.(string); ok && keep[k] {
					x[k] = s
					continue
				}
				x[k] = walk(val)
			}
			return x
		case []any:
			for i := range x {
				x[i] = walk(x[i])
			}
			return x
		case string:
			return hostile
		}
		return v
	}
	return payload(t, "payload_escalate.json", session, func(m map[string]any) {
		walk(m)
		rep := m["report"].(map[string]any)
		doc := rep["document"].(map[string]any)
		doc["fields"].(map[string]any)[hostile] = map[string]any{"value": hostile, "source": "visual", "confidence": 1}
		doc["mismatches"] = []any{map[string]any{"field": hostile, "source": hostile, "value": hostile, "visual": hostile}}
		rep["reasons"] = []any{map[string]any{"code": hostile, "detail": hostile}}
		rep["screening"] = map[string]any{"screened": true, "name": hostile, "hits": []any{map[string]any{
			"name": hostile, "list": hostile, "entry_id": hostile, "kind": hostile, "alias": hostile, "dob": hostile, "country": hostile,
			"matched": []any{map[string]any{"query": hostile, "entry": hostile, "score": 1}}}}}
		rep["device"] = map[string]any{"verdict": hostile, "profile": hostile, "os": hostile, "arch": hostile,
			"checks": []any{map[string]any{"name": hostile, "status": hostile, "severity": hostile, "evidence": map[string]any{hostile: hostile}}}}
	})
}

// TestHostileDeviceStrings: every string of a hostile device's payload and
// status (names, fields and their names, reason codes and details, MRZ
// lines, screening entries, device checks, app version, operator, branch,
// last error), and a reviewer's note, shows as text on every page, never
// as markup; the dashboard's embedded JSON holds no "<"; and the CSV export
// defuses formulas.
func TestHostileDeviceStrings(t *testing.T) {
	e := newEnv(t)
	ref := hostileFixture(t, e)
	e.addUser("root", central.RoleAdmin)
	b := e.browser()
	b.signIn("root")
	b.get(caseHref(ref))
	if a := b.act(ref, "claim", nil); a.status != http.StatusSeeOther {
		t.Fatalf("claim: %d", a.status)
	}
	if a := b.act(ref, "hits/0", url.Values{"status": {"confirmed"}, "note": {hostile}}); a.status != http.StatusSeeOther {
		t.Fatalf("hit: %d %s", a.status, a.body)
	}
	raw := []string{"<script>alert", "<img src=x", `"'>`, `href="javascript:`, `src="javascript:`}
	shown := 0
	for _, p := range []string{caseHref(ref), "/console/queue", "/console/devices", "/console/audit", "/console/dashboard", "/console/lists",
		"/console/queue?doc_type=" + url.QueryEscape(hostile), "/console/audit?actor=" + url.QueryEscape(hostile)} {
		a := b.get(p)
		if a.status != http.StatusOK {
			t.Errorf("%s: %d", p, a.status)
			continue
		}
		for _, r := range raw {
			if strings.Contains(a.body, r) {
				i := strings.Index(a.body, r)
				t.Errorf("%s: raw %q in the page: …%s…", p, r, a.body[max(0, i-80):min(len(a.body), i+40)])
			}
		}
		shown += strings.Count(a.body, "&lt;script&gt;alert(1)&lt;/script&gt;")
		if m := admDataBlock.FindStringSubmatch(a.body); m != nil && strings.ContainsAny(m[1], "<>") {
			t.Errorf("%s: the embedded JSON holds markup: %.200s", p, m[1])
		}
	}
	if shown < 10 {
		t.Errorf("the hostile strings were shown (escaped) only %d times: are the pages showing them at all?", shown)
	}
	a := b.get("/console/export.csv?state=claimed")
	rows, err := csv.NewReader(strings.NewReader(a.body)).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("export: %d rows, %v: %s", len(rows), err, a.body)
	}
	for i, cell := range rows[1] {
		if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
			t.Errorf("export column %s: %q starts a formula", rows[0][i], cell)
		}
	}
	if !slices.Contains(rows[1], "'"+hostile) {
		t.Errorf("export row %q lacks the defused hostile branch", rows[1])
	}
}

var admDataBlock = regexp.MustCompile(`(?s)<script type="application/json" id="dash-data">(.*?)</script>`)

// cookieOf is b's session cookie.
func (b *browser) cookieOf(name string) string {
	u, _ := url.Parse(b.e.base)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// withCookie is a new browser holding only the session cookie tok.
func (e *env) withCookie(tok string) *browser {
	b := e.browser()
	u, _ := url.Parse(e.base)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: tok, Path: "/"}})
	return b
}

// TestSessions: the token changes at each sign-in step (fixation), the
// pending token authorises nothing and dies at sign-in, a signed-out
// token is dead on the server (a copy of the cookie does not work), and
// sessions end server-side when idle, at their absolute end, and when the
// account is disabled.
func TestSessions(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice", central.RoleReviewer)
	first := e.browser()
	first.signIn("alice") // enrols TOTP

	b := e.browser()
	b.get("/console/signin")
	b.post("/console/signin", url.Values{"name": {"alice"}, "password": {testPassword}})
	pendingTok := b.cookieOf(sessionCookie)
	if pendingTok == "" {
		t.Fatal("no pending session cookie")
	}
	pend := e.withCookie(pendingTok)
	for _, p := range []string{"/console/queue", caseHref(central.SubmissionRef{DeviceID: "d", Key: protocol.SubmissionKey("x")}), "/console/audit", "/console/export.csv"} {
		if a := pend.get(p); a.status != http.StatusSeeOther || !strings.HasPrefix(a.loc, "/console/signin") {
			t.Errorf("pending session GET %s: %d to %q", p, a.status, a.loc)
		}
	}
	pend.get("/console/signin/totp") // the pending session's CSRF token
	if a := pend.post("/console/signout", nil); a.status != http.StatusUnauthorized {
		t.Errorf("a pending session's POST to a signed-in route: %d, want 401", a.status)
	}
	e.clk.nextStep()
	b.get("/console/signin/totp")
	if a := b.post("/console/signin/totp", url.Values{"code": {e.clk.code(t, e.secrets["alice"])}}); a.status != http.StatusSeeOther {
		t.Fatalf("TOTP: %d", a.status)
	}
	fullTok := b.cookieOf(sessionCookie)
	if fullTok == "" || fullTok == pendingTok {
		t.Fatal("the session token did not change at sign-in (fixation)")
	}
	if a := e.withCookie(pendingTok).get("/console/signin/totp"); a.status != http.StatusSeeOther || a.loc != "/console/signin" {
		t.Errorf("the pending token after sign-in: %d to %q", a.status, a.loc)
	}
	copyB := e.withCookie(fullTok)
	if a := copyB.get("/console/queue"); a.status != http.StatusOK {
		t.Fatalf("a copy of the cookie before sign-out: %d", a.status)
	}
	b.get("/console/queue")
	b.post("/console/signout", nil)
	if a := copyB.get("/console/queue"); a.status != http.StatusSeeOther {
		t.Errorf("a copy of the cookie after sign-out: %d", a.status)
	}

	// Idle: used within the idle timeout it lives; past it, it is gone.
	if a := first.get("/console/queue"); a.status != http.StatusOK {
		t.Fatalf("first session: %d", a.status)
	}
	e.clk.Advance(auth.IdleTimeout - time.Minute)
	if a := first.get("/console/queue"); a.status != http.StatusOK {
		t.Errorf("used within the idle timeout: %d", a.status)
	}
	e.clk.Advance(auth.IdleTimeout + time.Second)
	if a := first.get("/console/queue"); a.status != http.StatusSeeOther {
		t.Errorf("idle past the timeout: %d", a.status)
	}
	// Absolute: kept busy, it still ends AbsoluteTimeout after sign-in.
	e.clk.nextStep()
	busy := e.browser()
	busy.signIn("alice")
	start := e.clk.Now()
	for e.clk.Now().Sub(start) < auth.AbsoluteTimeout-20*time.Minute {
		e.clk.Advance(20 * time.Minute)
		if a := busy.get("/console/queue"); a.status != http.StatusOK {
			t.Fatalf("busy session at %v: %d", e.clk.Now().Sub(start), a.status)
		}
	}
	e.clk.Advance(20 * time.Minute)
	if a := busy.get("/console/queue"); a.status != http.StatusSeeOther {
		t.Errorf("busy session past the absolute timeout: %d", a.status)
	}
	// Disabled: the next request is refused and the session removed.
	e.clk.nextStep()
	d := e.browser()
	d.signIn("alice")
	tok := d.cookieOf(sessionCookie)
	if _, err := e.store.UpdateUser(context.Background(), "alice", func(u *central.User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if a := d.get("/console/queue"); a.status != http.StatusSeeOther {
		t.Errorf("a disabled account's session: %d", a.status)
	}
	if _, err := e.store.Session(context.Background(), auth.HashToken(tok), e.clk.Now()); err == nil {
		t.Error("a disabled account's session is still stored")
	}
}

// TestTOTPLockout: MaxFailures wrong TOTP codes lock the account
// everywhere (only someone who knows the password can send them), the
// lockout is audited, and a right code is refused while locked.
func TestTOTPLockout(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice", central.RoleReviewer)
	e.browser().signIn("alice")
	e.clk.nextStep()
	b := e.browser()
	b.get("/console/signin")
	b.post("/console/signin", url.Values{"name": {"alice"}, "password": {testPassword}})
	b.get("/console/signin/totp")
	right := e.clk.code(t, e.secrets["alice"])
	wrong := wrongCode(right)
	for range auth.MaxFailures {
		if a := b.post("/console/signin/totp", url.Values{"code": {wrong}}); a.status != http.StatusUnauthorized {
			t.Fatalf("wrong code: %d", a.status)
		}
	}
	if a := b.post("/console/signin/totp", url.Values{"code": {right}}); a.status != http.StatusUnauthorized {
		t.Errorf("right code on a locked account: %d", a.status)
	}
	if acts := e.auditActions("user:alice"); !slices.Contains(acts, AuditLocked) {
		t.Errorf("audit of alice = %v, want the lockout", acts)
	}
	if u, _ := e.store.User(context.Background(), "alice"); !auth.Locked(u, e.clk.Now()) || u.SecondFactorFailures != auth.MaxFailures || u.FailedLogins != 0 {
		t.Errorf("after %d wrong codes: locked until %v, %d wrong codes and %d failed passwords counted", auth.MaxFailures, u.LockedUntil, u.SecondFactorFailures, u.FailedLogins)
	}
	// From another address too.
	other := e.browserFrom("127.0.2.1")
	other.get("/console/signin")
	if a := other.post("/console/signin", url.Values{"name": {"alice"}, "password": {testPassword}}); a.status != http.StatusUnauthorized {
		t.Errorf("right password from another address on a locked account: %d", a.status)
	}
}

// wrongCode is a six-digit code other than right.
func wrongCode(right string) string {
	if right == "000000" {
		return "111111"
	}
	return "000000"
}

// TestSecondFactorBlock: someone who knows the password and tries codes
// from many addresses, waiting out every lock, is held to
// auth.SecondFactorMaxFailures codes in all: the count survives the locks'
// expiry, and then the account stays locked, audited as a known password,
// until an administrator sets a new one. A complete sign-in forgives the
// owner's typos.
func TestSecondFactorBlock(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice", central.RoleReviewer)
	e.browser().signIn("alice")

	// The owner's typos, then a sign-in: forgiven.
	e.clk.nextStep()
	owner := e.browser()
	owner.get("/console/signin")
	owner.post("/console/signin", url.Values{"name": {"alice"}, "password": {testPassword}})
	owner.get("/console/signin/totp")
	for range auth.SecondFactorLockEvery - 1 {
		owner.post("/console/signin/totp", url.Values{"code": {wrongCode(e.clk.code(t, e.secrets["alice"]))}})
	}
	e.clk.nextStep()
	if a := owner.post("/console/signin/totp", url.Values{"code": {e.clk.code(t, e.secrets["alice"])}, "next": {"/console/queue"}}); a.status != http.StatusSeeOther {
		t.Fatalf("owner's code: %d %s", a.status, a.body)
	}
	if u, _ := e.store.User(context.Background(), "alice"); u.SecondFactorFailures != 0 {
		t.Fatalf("%d wrong codes still counted after a sign-in", u.SecondFactorFailures)
	}

	// The attacker: a new address for each lock, each lock waited out.
	tries := 0
	for cycle := 0; ; cycle++ {
		u, err := e.store.User(context.Background(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		if u.SecondFactorBlocked {
			break
		}
		if auth.Locked(u, e.clk.Now()) {
			e.clk.Advance(u.LockedUntil.Sub(e.clk.Now()))
		}
		b := e.browserFrom("127.0.1." + itoa(int64(1+cycle)))
		b.get("/console/signin")
		if a := b.post("/console/signin", url.Values{"name": {"alice"}, "password": {testPassword}}); a.status != http.StatusSeeOther {
			t.Fatalf("cycle %d: password refused after the lock expired: %d", cycle, a.status)
		}
		b.get("/console/signin/totp")
		locked := false
		for i := 0; i < auth.SecondFactorLockEvery && !locked; i++ {
			e.clk.nextStep()
			a := b.post("/console/signin/totp", url.Values{"code": {wrongCode(e.clk.code(t, e.secrets["alice"]))}})
			if a.status != http.StatusUnauthorized {
				t.Fatalf("wrong code: %d", a.status)
			}
			tries++
			u, err := e.store.User(context.Background(), "alice")
			if err != nil {
				t.Fatal(err)
			}
			locked = auth.Locked(u, e.clk.Now())
		}
		if !locked {
			t.Fatalf("account not locked after %d wrong codes in a row", tries)
		}
	}
	if tries != auth.SecondFactorMaxFailures {
		t.Errorf("%d codes tried before the block, want %d", tries, auth.SecondFactorMaxFailures)
	}
	// Blocked for good: a year on, the owner's password and code are refused.
	e.clk.Advance(365 * 24 * time.Hour)
	b := e.browserFrom("127.0.3.1")
	b.get("/console/signin")
	if a := b.post("/console/signin", url.Values{"name": {"alice"}, "password": {testPassword}}); a.status != http.StatusUnauthorized {
		t.Fatalf("password of a blocked account: %d", a.status)
	}
	evs, err := e.store.Audit(context.Background(), central.AuditFilter{Subject: "user:alice", Action: AuditBlocked})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || !strings.Contains(string(evs[0].After), `"password_known":true`) || !strings.Contains(string(evs[0].After), "new password") {
		t.Errorf("block audited as %d events: %v", len(evs), evs)
	}
	if !strings.Contains(e.log.String(), "password is known") {
		t.Errorf("block not logged: %s", e.log.String())
	}
	// A new password, as `kyc-central user passwd` sets it, unblocks.
	if _, err := e.store.UpdateUser(context.Background(), "alice", func(u *central.User) error {
		auth.Unlock(u)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.clk.nextStep()
	e.browserFrom("127.0.3.2").signIn("alice")
}

// TestStaticFiles: the static handlers serve the embedded files and
// nothing else: no directory listing, no way out of the embedded
// directory (the console's Go sources are beside it in the module).
func TestStaticFiles(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	if a := b.get("/console/static/console.css"); a.status != http.StatusOK || !strings.HasPrefix(a.header.Get("Content-Type"), "text/css") {
		t.Fatalf("console.css: %d %q", a.status, a.header.Get("Content-Type"))
	}
	for _, p := range []string{"/console/static/", "/console/dist/", "/console/dist/vendor", "/console/dist/vendor/",
		"/console/static/../console.go", "/console/static/%2e%2e/console.go", "/console/static/..%2fconsole.go",
		"/console/static/%2e%2e%2f%2e%2e%2fi18n/en.json", "/console/static/..\\console.go", "/console/dist/../templates/layout.html"} {
		a := b.get(p)
		if a.status == http.StatusOK || strings.Contains(a.body, "package console") || strings.Contains(a.body, "<pre>") ||
			strings.Contains(a.body, `{{define`) || strings.Contains(a.body, `"queue.title"`) {
			t.Errorf("GET %s: %d %.80q", p, a.status, a.body)
		}
	}
}

// TestFourEyesBypass: the person behind a decision waiting for a second
// reviewer cannot be that second reviewer by any route or session (not
// an admin either); nobody decides a case without claiming it, or one
// another reviewer holds, or on a stale version; and whoever confirmed a
// screening hit is not the second reviewer of the decision built on it.
func TestFourEyesBypass(t *testing.T) {
	f := newFixture(t)
	f.addUser("root", central.RoleAdmin)
	f.addUser("rev3", central.RoleReviewer)
	bs := f.signedIn("rev1", "rev1", "rev2", "root", "rev3")
	rev1, rev1b, rev2, root, rev3 := bs[0], bs[1], bs[2], bs[3], bs[4]
	ref := f.escalate
	rev1.get(caseHref(ref))
	if a := rev1.act(ref, "decide", url.Values{"outcome": {"reject"}, "reason": {"sanctions"}}); a.status != http.StatusConflict {
		t.Errorf("decide without a claim: %d, want 409", a.status)
	}
	if a := rev1.act(ref, "hits/0", url.Values{"status": {"confirmed"}, "note": {"n"}}); a.status != http.StatusConflict {
		t.Errorf("resolve a hit without a claim: %d, want 409", a.status)
	}
	rev1.act(ref, "claim", nil)
	rev2.get(caseHref(ref))
	for _, action := range []string{"decide", "hits/0", "release", "claim"} {
		if a := rev2.act(ref, action, url.Values{"outcome": {"reject"}, "reason": {"sanctions"}, "status": {"false_positive"}, "note": {"n"}}); a.status != http.StatusConflict {
			t.Errorf("%s of a case rev1 holds: %d, want 409", action, a.status)
		}
	}
	if a := rev1.act(ref, "hits/0", url.Values{"status": {"confirmed"}, "note": {"n"}, "version": {"0"}}); a.status != http.StatusConflict {
		t.Errorf("a stale version: %d, want 409", a.status)
	}
	if a := rev1.act(ref, "hits/0", url.Values{"status": {"confirmed"}, "note": {"same person"}}); a.status != http.StatusSeeOther {
		t.Fatalf("confirm the hit: %d", a.status)
	}
	// rev1 confirmed the hit and lets go; rev2 takes the case and
	// proposes the reject.
	rev1.act(ref, "release", nil)
	rev2.act(ref, "claim", nil)
	if a := rev2.act(ref, "decide", url.Values{"outcome": {"reject"}, "reason": {"sanctions"}, "note": {"n"}}); a.status != http.StatusSeeOther {
		t.Fatalf("reject: %d %s", a.status, a.body)
	}
	if rv := f.reviewOf(ref); rv.State != central.ReviewSecond {
		t.Fatalf("after the reject: %+v", rv)
	}
	for _, who := range []struct {
		name string
		b    *browser
	}{{"the proposer", rev2}, {"the hit's confirmer", rev1}, {"the hit's confirmer in another session", rev1b}} {
		who.b.get(caseHref(ref))
		for _, action := range []string{"confirm", "send-back"} {
			if a := who.b.act(ref, action, url.Values{"note": {"n"}}); a.status != http.StatusForbidden {
				t.Errorf("%s: %s %d, want 403", who.name, action, a.status)
			}
		}
		for _, action := range []string{"decide", "hits/0", "release", "claim"} {
			if a := who.b.act(ref, action, url.Values{"outcome": {"approve"}, "status": {"false_positive"}, "note": {"n"}}); a.status != http.StatusConflict {
				t.Errorf("%s: %s in second review %d, want 409", who.name, action, a.status)
			}
		}
	}
	if rv := f.reviewOf(ref); rv.State != central.ReviewSecond || rv.SecondBy != "" {
		t.Fatalf("the refused attempts changed the case: %+v", rv)
	}
	// An admin who proposes is a proposer like anyone.
	root.get(caseHref(f.south))
	root.act(f.south, "claim", nil)
	root.act(f.south, "hits/0", url.Values{"status": {"confirmed"}, "note": {"n"}})
	if a := root.act(f.south, "decide", url.Values{"outcome": {"reject"}, "reason": {"sanctions"}}); a.status != http.StatusSeeOther {
		t.Fatalf("the admin's reject: %d %s", a.status, a.body)
	}
	for _, action := range []string{"confirm", "send-back"} {
		if a := root.act(f.south, action, url.Values{"note": {"n"}}); a.status != http.StatusForbidden {
			t.Errorf("the admin confirming their own proposal: %s %d, want 403", action, a.status)
		}
	}
	rev3.get(caseHref(ref))
	if a := rev3.act(ref, "confirm", url.Values{"note": {"agree"}}); a.status != http.StatusSeeOther {
		t.Fatalf("a reviewer outside the decision confirming: %d %s", a.status, a.body)
	}
	if rv := f.reviewOf(ref); rv.State != central.ReviewDecided || rv.SecondBy != "rev3" {
		t.Errorf("after the second reviewer: %+v", rv)
	}
}

// TestEveryChangeAudited: each change of a case leaves exactly one audit
// event naming who did it, on the case, with the review before and after;
// each read of personal data (the case, each image, a search by person,
// an export) leaves one too; a refused change leaves none.
func TestEveryChangeAudited(t *testing.T) {
	f := newFixture(t)
	rev1, rev2 := f.browser(), f.browser()
	rev1.signIn("rev1")
	f.clk.nextStep()
	rev2.signIn("rev2")
	ref := f.escalate
	count := func() int {
		evs, err := f.store.Audit(context.Background(), central.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	rev1.get(caseHref(ref))
	rev2.get(caseHref(ref))
	for _, step := range []struct {
		b            *browser
		actor        string
		action, want string
		form         url.Values
		state        central.ReviewState
	}{
		{rev1, "rev1", "claim", AuditClaim, nil, central.ReviewClaimed},
		{rev1, "rev1", "release", AuditRelease, nil, central.ReviewOpen},
		{rev1, "rev1", "claim", AuditClaim, nil, central.ReviewClaimed},
		{rev1, "rev1", "hits/0", AuditHitResolved, url.Values{"status": {"confirmed"}, "note": {"agree"}}, central.ReviewClaimed},
		{rev1, "rev1", "decide", AuditPropose, url.Values{"outcome": {"reject"}, "reason": {"sanctions"}}, central.ReviewSecond},
		{rev2, "rev2", "send-back", AuditSendBack, url.Values{"note": {"look again"}}, central.ReviewClaimed},
		{rev1, "rev1", "decide", AuditPropose, url.Values{"outcome": {"resubmit"}}, central.ReviewSecond},
		{rev2, "rev2", "confirm", AuditConfirm, nil, central.ReviewDecided},
	} {
		before := f.reviewOf(ref)
		n := count()
		// A refused try first (a stale version): no event. (A claim
		// takes no version: it is the claim or who holds the case.)
		if step.action != "claim" {
			if a := step.b.act(ref, step.action, url.Values{"version": {itoa(before.Version + 7)}}); a.status != http.StatusConflict {
				t.Errorf("%s on a stale version: %d", step.action, a.status)
			}
		}
		if a := step.b.act(ref, step.action, step.form); a.status != http.StatusSeeOther {
			t.Fatalf("%s: %d %s", step.action, a.status, a.body)
		}
		if got := count(); got != n+1 {
			t.Errorf("%s: %d audit events, want 1", step.action, got-n)
		}
		evs, _ := f.store.Audit(context.Background(), central.AuditFilter{Subject: caseSubject(ref), Action: step.want})
		if len(evs) == 0 {
			t.Fatalf("%s: no %s event", step.action, step.want)
		}
		e := evs[len(evs)-1]
		var b, a central.Review
		if e.Actor != "user:"+step.actor || json.Unmarshal(e.Before, &b) != nil || json.Unmarshal(e.After, &a) != nil ||
			b.Version != before.Version || state(a) != step.state {
			t.Errorf("%s: event %s by %s, before %s, after %s", step.action, e.Action, e.Actor, e.Before, e.After)
		}
	}
	// Reads of personal data.
	for _, r := range []struct{ path, action string }{
		{caseHref(ref), AuditCaseView},
		{caseHref(ref) + "/images/front", AuditImageView},
		{caseHref(ref) + "/images/selfie", AuditImageView},
		{caseHref(ref) + "/images/portrait", AuditImageView},
		{"/console/queue?kind=document_number&q=L898902C3", AuditSearch},
		{"/console/export.csv?state=decided", "export"},
	} {
		n := count()
		if a := rev1.get(r.path); a.status != http.StatusOK {
			t.Errorf("GET %s: %d", r.path, a.status)
		}
		evs, _ := f.store.Audit(context.Background(), central.AuditFilter{})
		if len(evs) != n+1 || evs[n].Action != r.action || evs[n].Actor != "user:rev1" {
			t.Errorf("GET %s: %d new events (last %+v), want one %s", r.path, len(evs)-n, evs[len(evs)-1], r.action)
		}
	}
}

// TestOverturnedHitNeedsFourEyes: a reviewer who clears as a false
// positive a screening hit a colleague confirmed (the colleague having
// let the case go) does not approve alone: the approval waits for a
// second reviewer, not themselves. Clearing one's own confirmation does
// not make the approval one person's either: any approval over hits
// waits (TestFourEyesByOutcome).
func TestOverturnedHitNeedsFourEyes(t *testing.T) {
	f := newFixture(t)
	f.addUser("rev3", central.RoleReviewer)
	bs := f.signedIn("rev1", "rev2", "rev3")
	rev1, rev2, rev3 := bs[0], bs[1], bs[2]
	ref := f.escalate
	rev1.get(caseHref(ref))
	rev1.act(ref, "claim", nil)
	if a := rev1.act(ref, "hits/0", url.Values{"status": {"confirmed"}, "note": {"same person"}}); a.status != http.StatusSeeOther {
		t.Fatalf("confirm: %d", a.status)
	}
	rev1.act(ref, "release", nil)
	rev2.get(caseHref(ref))
	rev2.act(ref, "claim", nil)
	if a := rev2.act(ref, "hits/0", url.Values{"status": {"false_positive"}, "note": {"another person"}}); a.status != http.StatusSeeOther {
		t.Fatalf("clear: %d", a.status)
	}
	if a := rev2.act(ref, "decide", url.Values{"outcome": {"approve"}}); a.status != http.StatusSeeOther {
		t.Fatalf("approve: %d %s", a.status, a.body)
	}
	if rv := f.reviewOf(ref); rv.State != central.ReviewSecond || rv.Outcome != central.OutcomeApprove {
		t.Fatalf("an approval over a colleague's confirmed hit: %+v, want second review", rv)
	}
	if a := rev2.act(ref, "confirm", nil); a.status != http.StatusForbidden {
		t.Errorf("its proposer confirming: %d, want 403", a.status)
	}
	rev3.get(caseHref(ref))
	if a := rev3.act(ref, "confirm", url.Values{"note": {"agree: another person"}}); a.status != http.StatusSeeOther {
		t.Fatalf("second reviewer: %d", a.status)
	}
	if rv := f.reviewOf(ref); rv.State != central.ReviewDecided || rv.SecondBy != "rev3" {
		t.Errorf("after the second reviewer: %+v", rv)
	}
	// One's own change of mind: still not one person's approval.
	rev1.get(caseHref(f.south))
	rev1.act(f.south, "claim", nil)
	rev1.act(f.south, "hits/0", url.Values{"status": {"confirmed"}, "note": {"n"}})
	rev1.act(f.south, "hits/0", url.Values{"status": {"false_positive"}, "note": {"no: another person"}})
	if a := rev1.act(f.south, "decide", url.Values{"outcome": {"approve"}}); a.status != http.StatusSeeOther {
		t.Fatalf("approve: %d", a.status)
	}
	if rv := f.reviewOf(f.south); rv.State != central.ReviewSecond {
		t.Errorf("approval after clearing one's own confirmation: %+v, want second review", rv)
	}
}

// TestSendBackNoteKept: the second reviewer's reason for sending a
// decision back stays on the case when its proposer decides again, so the
// next second reviewer reads the objection: the proposer cannot wipe it
// with a new note (or none).
func TestSendBackNoteKept(t *testing.T) {
	f := newFixture(t)
	rev1, rev2 := f.browser(), f.browser()
	rev1.signIn("rev1")
	f.clk.nextStep()
	rev2.signIn("rev2")
	ref := f.escalate
	const objection = "the document is genuine, the watchlist entry is someone else"
	rev1.get(caseHref(ref))
	rev1.act(ref, "claim", nil)
	for _, step := range []struct {
		b            *browser
		action, note string
	}{
		{rev1, "decide", "first look"},
		{rev2, "send-back", objection},
		{rev1, "decide", ""},
	} {
		step.b.get(caseHref(ref))
		a := step.b.act(ref, step.action, url.Values{"outcome": {"reject"}, "reason": {"sanctions"}, "note": {step.note}})
		if a.status != http.StatusSeeOther {
			t.Fatalf("%s: %d %s", step.action, a.status, a.body)
		}
	}
	rv := f.reviewOf(ref)
	if rv.State != central.ReviewSecond || !strings.Contains(rv.Note, "rev2: "+objection) {
		t.Errorf("after deciding again: state %s, note %q lacks the send-back's %q", rv.State, rv.Note, objection)
	}
	if p := rev2.get(caseHref(ref)); !strings.Contains(p.body, objection) {
		t.Error("the case page does not show the objection to the next second reviewer")
	}
}

// gatedUser holds the console's reads of one account until release is
// closed, telling entered about each: the test sees how many sign-ins
// are past the door at once.
type gatedUser struct {
	central.Store
	name    string
	entered chan struct{}
	release chan struct{}
}

func (g *gatedUser) User(ctx context.Context, name string) (central.User, error) {
	if name == g.name {
		g.entered <- struct{}{}
		select {
		case <-g.release:
		case <-ctx.Done():
			return central.User{}, ctx.Err()
		}
	}
	return g.Store.User(ctx, name)
}

// TestSignInConcurrency: at most signInSlots sign-ins check a password
// at once, the others are turned away (503, Retry-After) at once. Each
// check of a real password hash takes 64 MiB, so a burst of concurrent
// sign-ins would exhaust the server's memory; and each would have read
// the account's lockout before any failure was counted, so a burst
// would try far more than auth.MaxFailures passwords.
func TestSignInConcurrency(t *testing.T) {
	const n = 12 // more than the slots and than MaxFailures, under the address budget
	entered, release := make(chan struct{}, 4*n), make(chan struct{})
	e := newEnvOn(t, boltStore, func(s central.Store) central.Store {
		return &gatedUser{Store: s, name: "bob", entered: entered, release: release}
	})
	e.addUser("bob", central.RoleReviewer)
	type result struct {
		status     int
		retryAfter string
	}
	results := make(chan result, n)
	for i := range n {
		b := e.browser()
		b.get("/console/signin")
		form := url.Values{"name": {"bob"}, "password": {"wrong password " + itoa(int64(i))}, "csrf": {b.csrf}}
		req, _ := http.NewRequest(http.MethodPost, e.base+"/console/signin", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		go func() {
			resp, err := b.c.Do(req)
			if err != nil {
				results <- result{}
				return
			}
			resp.Body.Close()
			results <- result{resp.StatusCode, resp.Header.Get("Retry-After")}
		}()
	}
	// Each sign-in either waits at the account's read or has its answer.
	inside, early := 0, []result{}
	for inside+len(early) < n {
		select {
		case <-entered:
			inside++
		case r := <-results:
			early = append(early, r)
		}
	}
	close(release)
	for range inside {
		<-results
	}
	if inside > signInSlots {
		t.Errorf("%d sign-ins checked a password at once, want at most %d", inside, signInSlots)
	}
	for _, r := range early {
		if r.status != http.StatusServiceUnavailable || r.retryAfter == "" {
			t.Errorf("a sign-in turned away: %d, Retry-After %q; want 503 with Retry-After", r.status, r.retryAfter)
		}
	}
}

// TestSearchTermNotInURL: the queue's filter form posts, so a search by
// person (a NIK, a document number, a name) never is in a URL (browser
// history, a proxy's log, the sign-in page's next): the queue's URL, its
// paging and export links carry the term's blind-index token sealed to
// the session, which another session cannot use.
func TestSearchTermNotInURL(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	b.signIn("rev1")
	const term = "L898902C3"
	if p := b.get("/console/queue"); !strings.Contains(p.body, `<form method="post" action="/console/queue"`) {
		t.Error("the queue's filter form does not post")
	}
	a := b.post("/console/queue", url.Values{"kind": {"document_number"}, "q": {term}, "decision": {"escalate"}})
	if a.status != http.StatusSeeOther || strings.Contains(strings.ToUpper(a.loc), term) || strings.Contains(a.loc, "q=") {
		t.Fatalf("search: %d to %q, want a redirect without the term", a.status, a.loc)
	}
	page := b.get(a.loc)
	if !strings.Contains(page.body, caseHref(f.escalate)) || !strings.Contains(page.body, caseHref(f.south)) ||
		strings.Contains(page.body, caseHref(f.review)) {
		t.Errorf("the search's results: escalate %v, south %v, review %v; want escalate and south only", strings.Contains(page.body, caseHref(f.escalate)),
			strings.Contains(page.body, caseHref(f.south)), strings.Contains(page.body, caseHref(f.review)))
	}
	if strings.Contains(strings.ToUpper(page.body), term) {
		t.Error("the results page shows the term (its links would carry it)")
	}
	// Another session holding the URL finds nothing by it.
	other := f.browser()
	other.signIn("rev2")
	if p := other.get(a.loc); strings.Contains(p.body, caseHref(f.escalate)) || !strings.Contains(p.body, `id="queue-count"`) {
		t.Error("another session's search URL lists the person's cases")
	}
	if acts := f.auditActions("queue"); len(acts) == 0 || acts[0] != AuditSearch {
		t.Errorf("the search is audited as %v", acts)
	}
}

// hostileFixture enrols a device in a hostile branch with a hostile status,
// has it submit a case whose payload's strings are all hostile, and
// publishes a list whose header names it hostile-ly (the lists page shows
// the header's name and version); it returns the case.
func hostileFixture(t *testing.T, e *env) central.SubmissionRef {
	t.Helper()
	ctx := context.Background()
	h := sha256.Sum256([]byte("token-hostile"))
	now := e.clk.Now().UTC()
	if err := e.store.CreateEnrollToken(ctx, central.EnrollToken{Hash: h, CreatedAt: now, ExpiresAt: now.Add(time.Hour), Branch: hostile}); err != nil {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	if err := e.store.Enroll(ctx, h, central.Device{ID: "dev-h", PublicKey: pub, Branch: hostile, AppVersion: hostile, EnrolledAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetDeviceStatus(ctx, "dev-h", protocol.DeviceStatus{AppVersion: hostile, LastError: hostile, QueueDepth: 1,
		Watchlists: map[string]int64{hostile: 1}}, now); err != nil {
		t.Fatal(err)
	}
	ref := e.submit("dev-h", "hostile-1", hostilePayload(t, "hostile"))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	json.NewEncoder(zw).Encode(map[string]any{"format": "x", "name": hostile, "version": hostile, "date": now, "count": 1, "entries": []any{}})
	zw.Close()
	storetest.PublishWatchlist(t, e.store, "hostile.list.json.gz", gz.Bytes())
	return ref
}
