package console_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/engine/screening"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/auth"
	"github.com/openkyc/kyc/sync/central/console"
	"github.com/openkyc/kyc/sync/central/seal"
	"github.com/openkyc/kyc/sync/central/store/boltstore"
	"github.com/openkyc/kyc/sync/central/storetest"
	"github.com/openkyc/kyc/sync/protocol"
)

// adminEnv is a real central (bbolt store sealed by seal.Store, so search
// and erasure by person work) with the console mounted, served over TLS.
type adminEnv struct {
	store *seal.Store
	srv   *central.Server
	url   string
	http  *http.Client
}

func newAdminEnv(t *testing.T) *adminEnv {
	t.Helper()
	return newAdminEnvWith(t, func(*central.Config) {})
}

// newAdminEnvWith is newAdminEnv with central's configuration changed by
// set (say, an admin token and its owner).
func newAdminEnvWith(t *testing.T, set func(*central.Config)) *adminEnv {
	t.Helper()
	dir := t.TempDir()
	bolt, err := boltstore.Open(filepath.Join(dir, "central.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bolt.Close() })
	kr, err := seal.LoadOrCreateKeyring(filepath.Join(dir, "central.keys"))
	if err != nil {
		t.Fatal(err)
	}
	st := seal.New(bolt, kr, kr)
	box, err := central.GenerateBoxKey()
	if err != nil {
		t.Fatal(err)
	}
	sign, err := central.GenerateSignKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := central.Config{Store: st, BoxKey: box, SignKey: sign}
	set(&cfg)
	srv, err := central.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	con, err := console.New(console.Config{Store: st, Central: srv, Index: st.Token, SecretKey: secret, Secure: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Mount(console.Prefix, con.Handler())
	ts := httptest.NewTLSServer(srv.Handler())
	t.Cleanup(ts.Close)
	c := ts.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &adminEnv{store: st, srv: srv, url: ts.URL, http: c}
}

// admUser is a signed-in console user: its session cookie and CSRF token.
type admUser struct {
	env         *adminEnv
	token, csrf string
}

// user creates an account with a live session, as the sign-in pages leave
// it (password and TOTP are the sign-in tests' business).
func (e *adminEnv) user(t *testing.T, name string, role central.Role, scopes ...string) *admUser {
	t.Helper()
	ctx := context.Background()
	if err := e.store.CreateUser(ctx, central.User{Name: name, Role: role, Scopes: scopes, PasswordHash: "x", CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	tok, sess := auth.NewSession(name, time.Now(), false)
	if err := e.store.PutSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	return &admUser{env: e, token: tok, csrf: sess.CSRF}
}

func (u *admUser) do(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	req.AddCookie(&http.Cookie{Name: "__Host-kyc_session", Value: u.token})
	resp, err := u.env.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func (u *admUser) get(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u.env.url+path, nil)
	return u.do(t, req)
}

// post sends a form with the session's CSRF token (unless the form sets
// csrf itself).
func (u *admUser) post(t *testing.T, path string, form url.Values) (*http.Response, string) {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", u.csrf)
	}
	req, _ := http.NewRequest(http.MethodPost, u.env.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return u.do(t, req)
}

// upload posts a multipart form, the CSRF token in the query as the
// console wants it for multipart.
func (u *admUser) upload(t *testing.T, path string, fields map[string]string, files map[string][]byte) (*http.Response, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	for k, data := range files {
		fw, err := mw.CreateFormFile(k, k+".dat")
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(data)
	}
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, u.env.url+path+"?csrf="+url.QueryEscape(u.csrf), &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return u.do(t, req)
}

// enrolDevice enrols a device through the store with branch and a
// reported status.
func (e *adminEnv) enrolDevice(t *testing.T, id, branch string, st *protocol.DeviceStatus) {
	t.Helper()
	ctx := context.Background()
	tok := "token-" + id
	now := time.Now().UTC()
	if err := e.store.CreateEnrollToken(ctx, central.EnrollToken{Hash: sha256.Sum256([]byte(tok)), CreatedAt: now, ExpiresAt: now.Add(time.Hour), Branch: branch}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Enroll(ctx, sha256.Sum256([]byte(tok)), central.Device{ID: id, PublicKey: make([]byte, 32), EnrolledAt: now}); err != nil {
		t.Fatal(err)
	}
	if st != nil {
		if err := e.store.SetDeviceStatus(ctx, id, *st, now); err != nil {
			t.Fatal(err)
		}
	}
}

// testPayload is one of the payloads captured from `kyc verify` (testdata).
func admPayload(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// submit stores a complete submission of payload from device, captured
// and received at the given times, as central's ingest does.
func (e *adminEnv) submit(t *testing.T, device, id string, payload []byte, captured, received time.Time) central.SubmissionRef {
	t.Helper()
	sum := sha256.Sum256(payload)
	s := central.Summarize(payload)
	sub := central.Submission{DeviceID: device, Key: protocol.SubmissionKey(id), ID: id, ManifestHash: sum[:],
		CreatedAt: captured.UTC(), ReceivedAt: received.UTC(), Verdict: "ok", AttestationFresh: true, Payload: payload, Summary: &s}
	if _, _, err := e.store.BeginSubmission(context.Background(), sub); err != nil {
		t.Fatal(err)
	}
	return central.SubmissionRef{DeviceID: device, Key: sub.Key}
}

// auditOf lists the audit events of action.
func (e *adminEnv) auditOf(t *testing.T, action string) []central.AuditEvent {
	t.Helper()
	evs, err := e.store.Audit(context.Background(), central.AuditFilter{Action: action})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestAdminPagesRoles: every admin page and action against each role.
// Admin-only changes are refused to reviewers and auditors server-side
// (403), change nothing and leave no audit event; a POST without the CSRF
// token is refused too.
func TestAdminPagesRoles(t *testing.T) {
	e := newAdminEnv(t)
	e.enrolDevice(t, "dev-a", "JKT", nil)
	admin := e.user(t, "ada", central.RoleAdmin)
	reviewer := e.user(t, "rev", central.RoleReviewer)
	auditor := e.user(t, "aud", central.RoleAuditor)
	gets := []struct {
		path                   string
		admin, reviewer, audit int
	}{
		{"/console/devices", 200, 200, 200},
		{"/console/dashboard", 200, 200, 200},
		{"/console/export.csv", 200, 200, 200},
		{"/console/lists", 200, 403, 403},
		{"/console/risk", 200, 403, 403},
		{"/console/privacy", 200, 403, 403},
	}
	for _, g := range gets {
		for _, c := range []struct {
			u    *admUser
			want int
		}{{admin, g.admin}, {reviewer, g.reviewer}, {auditor, g.audit}} {
			if resp, body := c.u.get(t, g.path); resp.StatusCode != c.want {
				t.Errorf("GET %s: %d, want %d\n%.300s", g.path, resp.StatusCode, c.want, body)
			}
		}
	}
	posts := []struct {
		path string
		form url.Values
	}{
		{"/console/devices/dev-a/revoke", url.Values{"confirm": {"yes"}}},
		{"/console/devices/dev-a/branch", url.Values{"branch": {"BDG"}}},
		{"/console/devices/tokens", url.Values{"branch": {"JKT"}}},
		{"/console/risk", url.Values{"action": {"propose"}}},
		{"/console/risk/proposal/confirm", url.Values{"id": {"x"}}},
		{"/console/risk/proposal/decline", url.Values{"id": {"x"}, "reason": {"no"}}},
		{"/console/lists/proposal/confirm", url.Values{"name": {"pep.list.json.gz"}, "id": {"x"}}},
		{"/console/lists/proposal/decline", url.Values{"name": {"pep.list.json.gz"}, "id": {"x"}, "reason": {"no"}}},
		{"/console/privacy/erase", url.Values{"by": {"submission"}, "device_id": {"dev-a"}, "submission_id": {"x"}, "step": {"confirm"}, "confirm": {"ERASE"}}},
	}
	for _, p := range posts {
		for _, u := range []*admUser{reviewer, auditor} {
			if resp, _ := u.post(t, p.path, p.form); resp.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s by a non-admin: %d, want 403", p.path, resp.StatusCode)
			}
		}
		form := url.Values{"csrf": {"wrong"}}
		for k, v := range p.form {
			form[k] = v
		}
		if resp, _ := admin.post(t, p.path, form); resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s with a wrong CSRF token: %d, want 403", p.path, resp.StatusCode)
		}
	}
	if resp, _ := auditor.upload(t, "/console/lists", map[string]string{"format": "pep-csv"}, map[string][]byte{"file": []byte(admPEP)}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("upload by an auditor: %d, want 403", resp.StatusCode)
	}
	d, err := e.store.Device(context.Background(), "dev-a")
	if err != nil || d.Revoked() || d.Branch != "JKT" {
		t.Errorf("refused requests changed the device: %+v, %v", d, err)
	}
	for _, action := range []string{central.AuditDeviceRevoke, central.AuditDeviceBranch, central.AuditEnrollToken, central.AuditRiskProposed,
		central.AuditRiskConfirmed, central.AuditRiskDeclined, central.AuditWatchlistPublish, central.AuditWatchlistProposed, central.AuditWatchlistConfirmed,
		central.AuditWatchlistDeclined, central.AuditErasure, central.AuditErasureDryRun} {
		if evs := e.auditOf(t, action); len(evs) != 0 {
			t.Errorf("refused requests left %s events: %+v", action, evs)
		}
	}
	if _, v, _ := e.store.Risk(context.Background()); v != 0 {
		t.Errorf("a refused publish published risk version %d", v)
	}
}

var admTokenRE = regexp.MustCompile(`<code class="secret" id="enrol-token">([^<]+)</code>`)

// TestAdminFleet: an enrolment token made in the console (shown once, as
// a QR code and text) enrols a device into its branch; the fleet page
// shows what the device reported and its latest submission's verdict;
// moving and revoking are audited with before and after.
func TestAdminFleet(t *testing.T) {
	e := newAdminEnv(t)
	admin := e.user(t, "ada", central.RoleAdmin)
	ctx := context.Background()

	resp, body := admin.post(t, "/console/devices/tokens", url.Values{"branch": {"JKT-Selatan"}, "ttl_hours": {"2"}})
	if resp.StatusCode != 200 {
		t.Fatalf("token: %d\n%s", resp.StatusCode, body)
	}
	m := admTokenRE.FindStringSubmatch(body)
	if m == nil || !strings.Contains(body, `src="data:image/png;base64,`) {
		t.Fatalf("the token page shows no token or no QR code:\n%s", body)
	}
	tok := html.UnescapeString(m[1])
	if fp, err := protocol.ParseEnrollToken(tok); err != nil || !bytes.Equal(fp, e.srv.Fingerprint()) {
		t.Errorf("token %q does not carry central's fingerprint: %v", tok, err)
	}
	if resp, _ := admin.post(t, "/console/devices/tokens", url.Values{"ttl_hours": {"9999"}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a token for 9999 hours: %d, want 400", resp.StatusCode)
	}
	// The token enrols a device, which gets the token's branch.
	now := time.Now().UTC()
	if err := e.store.Enroll(ctx, sha256.Sum256([]byte(tok)), central.Device{ID: "dev-1", PublicKey: make([]byte, 32), EnrolledAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Enroll(ctx, sha256.Sum256([]byte(tok)), central.Device{ID: "dev-2", PublicKey: make([]byte, 32), EnrolledAt: now}); err == nil {
		t.Error("the token enrolled a second device")
	}
	if _, err := e.store.PutRisk(ctx, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	storetest.PublishWatchlist(t, e.store, "pep.list.json.gz", []byte("x"))
	st := protocol.DeviceStatus{ConfigVersion: 0, Watchlists: map[string]int64{}, QueueDepth: 7, Rejected: 1, OldestQueued: now.Add(-3 * time.Hour)}
	if err := e.store.SetDeviceStatus(ctx, "dev-1", st, now); err != nil {
		t.Fatal(err)
	}
	e.submit(t, "dev-1", "sub-1", admPayload(t, "payload_device.json"), now.Add(-time.Hour), now)
	_, body = admin.get(t, "/console/devices")
	for _, want := range []string{"dev-1", "JKT-Selatan", "7 waiting", "1 refused", "oldest 3h", "verdict: ok", "attestation fresh", "risk v0 / v1", "pep.list.json.gz: missing"} {
		if !strings.Contains(body, want) {
			t.Errorf("the fleet page lacks %q", want)
		}
	}

	// Move, then revoke: the revoke needs its confirmation box.
	if resp, _ := admin.post(t, "/console/devices/dev-1/branch", url.Values{"branch": {"BDG-Dago"}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("set branch: %d", resp.StatusCode)
	}
	if resp, _ := admin.post(t, "/console/devices/dev-1/revoke", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("unconfirmed revoke: %d", resp.StatusCode)
	}
	if d, _ := e.store.Device(ctx, "dev-1"); d.Revoked() || d.Branch != "BDG-Dago" {
		t.Errorf("after the move and an unconfirmed revoke: %+v", d)
	}
	if resp, _ := admin.post(t, "/console/devices/dev-1/revoke", url.Values{"confirm": {"yes"}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("revoke: %d", resp.StatusCode)
	}
	if d, _ := e.store.Device(ctx, "dev-1"); !d.Revoked() {
		t.Error("the device was not revoked")
	}
	if resp, _ := admin.post(t, "/console/devices/nope/revoke", url.Values{"confirm": {"yes"}}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("revoking an unknown device: %d, want 404", resp.StatusCode)
	}
	for _, c := range []struct {
		action, subject, before, after string
	}{
		{central.AuditEnrollToken, "branch:JKT-Selatan", "", `"branch":"JKT-Selatan"`},
		{central.AuditDeviceBranch, "device:dev-1", `"branch":"JKT-Selatan"`, `"branch":"BDG-Dago"`},
		{central.AuditDeviceRevoke, "device:dev-1", `"branch":"BDG-Dago"}`, `"revoked_at"`},
	} {
		evs := e.auditOf(t, c.action)
		if len(evs) != 1 || evs[0].Actor != "user:ada" || evs[0].Subject != c.subject ||
			!strings.Contains(string(evs[0].Before), c.before) || !strings.Contains(string(evs[0].After), c.after) {
			t.Errorf("%s audit: %+v", c.action, evs)
			continue
		}
		if strings.Contains(string(evs[0].After)+string(evs[0].Before), tok) {
			t.Errorf("the audit trail holds the enrolment token")
		}
	}
}

// A PEP list in the layout engine/screening imports.
const admPEP = "id,name,aliases,dob,country,position\n" +
	"PEP-1,Budi Santoso,Budi S.,1961-04-02,IDN,Minister\n" +
	"PEP-2,Siti Rahma,,1970,IDN,Governor\n"

// Two OFAC SDN rows (no header, "-0-" for empty), with an alias.
const admOFACSDN = `36,"AEROCARIBBEAN AIRLINES",-0-,"CUBA",-0-,-0-,-0-,-0-,-0-,-0-,-0-,-0-
173,"ANGLO-CARIBBEAN CO., LTD.",-0-,"CUBA",-0-,-0-,-0-,-0-,-0-,-0-,-0-,-0-
`
const admOFACAlt = `36,12,"aka","AERO-CARIBBEAN",-0-
`
const admOFACAdd = `36,25,-0-,"Havana",-0-,-0-
`

// TestAdminLists: a list uploaded as its publisher makes it is parsed by
// the device's importer, published in the screening store's format (a
// device's screening store loads the published bytes as they are), shown
// with its entry count, and audited; a malformed or empty one is refused
// and nothing is published.
func TestAdminLists(t *testing.T) {
	e := newAdminEnv(t)
	admin := e.user(t, "ada", central.RoleAdmin)
	bob := e.user(t, "bob", central.RoleAdmin)
	ctx := context.Background()
	cases := []struct {
		name     string
		fields   map[string]string
		files    map[string][]byte
		status   int
		list     string
		entries  int
		wantText string
	}{
		{"pep", map[string]string{"format": "pep-csv"}, map[string][]byte{"file": []byte(admPEP)}, 303, "pep", 2, ""},
		{"ofac", map[string]string{"format": "ofac-csv", "name": "ofac-test"}, map[string][]byte{"sdn": []byte(admOFACSDN), "alt": []byte(admOFACAlt), "add": []byte(admOFACAdd)}, 303, "ofac-test", 2, ""},
		{"pep again", map[string]string{"format": "pep-csv"}, map[string][]byte{"file": []byte(admPEP + "PEP-3,Joko Widodo,,1961,IDN,President\n")}, 303, "pep", 3, ""},
		{"malformed", map[string]string{"format": "pep-csv", "name": "bad"}, map[string][]byte{"file": []byte("id,name\n1\n")}, 422, "", 0, "not a valid list"},
		{"empty", map[string]string{"format": "pep-csv", "name": "empty"}, map[string][]byte{"file": []byte("id,name,aliases,dob,country,position\n")}, 422, "", 0, ""},
		{"no file", map[string]string{"format": "un-xml"}, nil, 400, "", 0, ""},
		{"ofac without add.csv", map[string]string{"format": "ofac-csv", "name": "ofac-2"}, map[string][]byte{"sdn": []byte(admOFACSDN), "alt": []byte(admOFACAlt)}, 400, "", 0, ""},
		{"unknown format", map[string]string{"format": "xls"}, map[string][]byte{"file": []byte(admPEP)}, 400, "", 0, ""},
		{"bad name", map[string]string{"format": "pep-csv", "name": "../x"}, map[string][]byte{"file": []byte(admPEP)}, 400, "", 0, ""},
	}
	for _, c := range cases {
		resp, body := admin.upload(t, "/console/lists", c.fields, c.files)
		if resp.StatusCode != c.status || !strings.Contains(body, c.wantText) {
			t.Errorf("%s: %d, want %d\n%.400s", c.name, resp.StatusCode, c.status, body)
			continue
		}
		if c.list == "" {
			continue
		}
		if c.name == "pep again" { // a new version: four eyes
			e.confirmList(t, admin, bob, c.list+".list.json.gz")
		}
		// What devices download loads in their screening store as is.
		wl, data, err := e.store.Watchlist(ctx, c.list+".list.json.gz")
		if err != nil {
			t.Errorf("%s: not published: %v", c.name, err)
			continue
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, wl.Name), data, 0o600); err != nil {
			t.Fatal(err)
		}
		ls, err := screening.OpenStore(dir)
		if err != nil {
			t.Fatal(err)
		}
		lists, err := ls.LoadAll(ctx)
		if err != nil || len(lists) != 1 || lists[0].Name != c.list || len(lists[0].Entries) != c.entries {
			t.Errorf("%s: the published file does not load as a screening list of %d entries: %v", c.name, c.entries, err)
		}
	}
	wls, err := e.store.Watchlists(ctx)
	if err != nil || len(wls) != 2 {
		t.Errorf("published lists: %+v, %v (want pep and ofac-test only)", wls, err)
	}
	_, body := admin.get(t, "/console/lists")
	for _, want := range []string{"pep.list.json.gz", "ofac-test.list.json.gz", "<td>3</td>", "<td>2</td>", "v2"} {
		if !strings.Contains(body, want) {
			t.Errorf("the lists page lacks %q", want)
		}
	}
	if evs := e.auditOf(t, central.AuditWatchlistPublish); len(evs) != 2 {
		t.Errorf("watchlist_publish audit: %+v, want the two new lists", evs)
	}
	evs := e.auditOf(t, central.AuditWatchlistConfirmed)
	if len(evs) != 1 || evs[0].Subject != "watchlist:pep.list.json.gz" || !strings.Contains(string(evs[0].Before), `"version":1`) ||
		!strings.Contains(string(evs[0].After), `"version":2`) || evs[0].Actor != "user:bob" {
		t.Errorf("watchlist audit: %+v", evs)
	}
}

// confirmList confirms name's pending proposal of proposer as confirmer,
// checking on the way that devices still get the published version, that
// the proposer sees it without a confirm button and cannot confirm it.
func (e *adminEnv) confirmList(t *testing.T, proposer, confirmer *admUser, name string) {
	t.Helper()
	ctx := context.Background()
	before, _, err := e.store.Watchlist(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := e.srv.PendingWatchlists(ctx)
	p, ok := ps[name]
	if err != nil || !ok {
		t.Fatalf("no proposal of %s pending: %v", name, err)
	}
	if _, body := proposer.get(t, "/console/lists"); !strings.Contains(body, `id="list-proposals"`) || strings.Contains(body, "/console/lists/proposal/confirm") {
		t.Errorf("the proposer's lists page does not show the proposal without a confirm:\n%.2000s", body)
	}
	if _, body := confirmer.get(t, "/console/lists"); !strings.Contains(body, `action="/console/lists/proposal/confirm"`) {
		t.Errorf("the confirmer's lists page has no confirm:\n%.2000s", body)
	}
	form := func() url.Values { return url.Values{"name": {name}, "id": {p.ID}} } // post adds its user's CSRF token
	if resp, _ := proposer.post(t, "/console/lists/proposal/confirm", form()); resp.StatusCode != http.StatusForbidden {
		t.Errorf("the proposer's own confirm: %d, want 403", resp.StatusCode)
	}
	if w, _, err := e.store.Watchlist(ctx, name); err != nil || w.Version != before.Version {
		t.Fatalf("%s was published before a second admin confirmed: %+v, %v", name, w, err)
	}
	if resp, body := confirmer.post(t, "/console/lists/proposal/confirm", form()); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("confirming: %d\n%.500s", resp.StatusCode, body)
	}
}

// TestAdminListDecline: a declined new version (the reason required)
// leaves the published list.
func TestAdminListDecline(t *testing.T) {
	e := newAdminEnv(t)
	ada := e.user(t, "ada", central.RoleAdmin)
	bob := e.user(t, "bob", central.RoleAdmin)
	ctx := context.Background()
	const name = "pep.list.json.gz"
	for range 2 {
		if resp, body := ada.upload(t, "/console/lists", map[string]string{"format": "pep-csv"}, map[string][]byte{"file": []byte(admPEP)}); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("upload: %d\n%.400s", resp.StatusCode, body)
		}
	}
	ps, err := e.srv.PendingWatchlists(ctx)
	if err != nil || ps[name].ID == "" {
		t.Fatalf("no proposal pending: %+v, %v", ps, err)
	}
	form := func(reason string) url.Values { // post adds its user's CSRF token
		return url.Values{"name": {name}, "id": {ps[name].ID}, "reason": {reason}}
	}
	if resp, _ := bob.post(t, "/console/lists/proposal/decline", form("")); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a decline without a reason: %d, want 400", resp.StatusCode)
	}
	if resp, _ := ada.post(t, "/console/lists/proposal/decline", form("mine")); resp.StatusCode != http.StatusForbidden {
		t.Errorf("the proposer's decline: %d, want 403", resp.StatusCode)
	}
	if resp, body := bob.post(t, "/console/lists/proposal/decline", form("not this one")); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("decline: %d\n%.400s", resp.StatusCode, body)
	}
	if w, _, err := e.store.Watchlist(ctx, name); err != nil || w.Version != 1 {
		t.Errorf("after the decline: %+v, %v; want version 1", w, err)
	}
	if ps, err := e.srv.PendingWatchlists(ctx); err != nil || len(ps) != 0 {
		t.Errorf("pending after the decline: %+v, %v", ps, err)
	}
	if evs := e.auditOf(t, central.AuditWatchlistDeclined); len(evs) != 1 || evs[0].Actor != "user:bob" {
		t.Errorf("watchlist_declined audit: %+v", evs)
	}
}

// TestAdminRisk: the settings form validates each field and their order;
// a preview decides the stored submissions again (the rebuilt input
// reproduces the recorded decisions under the settings they were made
// with); publishing stores the settings devices parse, signed into their
// configuration, and audits before and after.
func TestAdminRisk(t *testing.T) {
	e := newAdminEnv(t)
	admin := e.user(t, "ada", central.RoleAdmin)
	ctx := context.Background()
	e.enrolDevice(t, "dev-1", "JKT", nil)
	now := time.Now().UTC()
	e.submit(t, "dev-1", "sub-device", admPayload(t, "payload_device.json"), now.Add(-2*time.Hour), now.Add(-time.Hour))
	e.submit(t, "dev-1", "sub-escalate", admPayload(t, "payload_escalate.json"), now.Add(-2*time.Hour), now)
	e.submit(t, "dev-1", "sub-flat", []byte(`{"decision":"approve","name":"x"}`), now.Add(-2*time.Hour), now)

	resp, body := admin.get(t, "/console/risk")
	if resp.StatusCode != 200 || !strings.Contains(body, `name="w_face_liveness"`) || !strings.Contains(body, `value="85"`) {
		t.Fatalf("the form does not show the defaults: %d\n%.500s", resp.StatusCode, body)
	}
	form := func(change map[string]string) url.Values {
		f := url.Values{"approve_min": {"85"}, "review_min": {"50"}, "max_retries": {"3"}, "face_mismatch": {"retry"}, "retries_exhausted": {"reject"},
			"screening_max_age_days": {"7"}}
		def := risk.DefaultConfig()
		for s, w := range def.Weights {
			f.Set("w_"+string(s), fmt.Sprint(w))
		}
		for _, s := range def.Required {
			f.Set("req_"+string(s), "1")
		}
		th := map[string]float64{"face_liveness_min": .5, "face_liveness_challenge_min": .25, "doc_liveness_min": .5, "doc_authenticity_min": .5,
			"face_match_min": .5, "face_match_accept": .65, "data_checks_min": 1}
		for k, v := range th {
			f.Set(k, fmt.Sprint(v))
		}
		for k, v := range change {
			f.Set(k, v)
		}
		return f
	}
	bad := []struct {
		name   string
		change map[string]string
		want   string
	}{
		{"bands crossed", map[string]string{"review_min": "90"}, "review band must start at or below"},
		{"threshold out of range", map[string]string{"face_match_min": "1.5"}, "out of range"},
		{"face match crossed", map[string]string{"face_match_min": "0.7"}, "at or below the acceptance threshold"},
		{"not a number", map[string]string{"w_sanctions": "lots"}, "not a number"},
		{"no weight", map[string]string{"w_face_liveness": "0", "w_face_match": "0", "w_doc_authenticity": "0", "w_doc_liveness": "0",
			"w_data_checks": "0", "w_sanctions": "0", "w_device_integrity": "0"}, "must not all be zero"},
		{"retries", map[string]string{"max_retries": "0"}, "1 to 10"},
		{"minimum age", map[string]string{"min_age": "-3"}, "from 0 to 100"},
		{"choice", map[string]string{"face_mismatch": "shrug"}, "choose one of the options"},
	}
	for _, b := range bad {
		f := form(b.change)
		f.Set("action", "propose")
		resp, body := admin.post(t, "/console/risk", f)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, b.want) {
			t.Errorf("%s: %d, want 422 with %q", b.name, resp.StatusCode, b.want)
		}
	}
	if _, v, _ := e.store.Risk(ctx); v != 0 {
		t.Fatalf("invalid settings were published (version %d)", v)
	}

	// Preview: a face mismatch that rejects at once changes nothing here
	// (one case escalates first, the other is an expired document); a
	// watchlist-free world is not in the settings, so bands matter only.
	f := form(map[string]string{"face_mismatch": "reject", "max_retries": "1", "retries_exhausted": "review", "min_age": "17"})
	f.Set("action", "preview")
	resp, body = admin.post(t, "/console/risk", f)
	if resp.StatusCode != 200 || !strings.Contains(body, `id="risk-preview"`) {
		t.Fatalf("preview: %d\n%.800s", resp.StatusCode, body)
	}
	for _, want := range []string{
		"Of the latest 3 submissions, 2 could be decided again; 1 would be decided differently.",
		"1 could not be decided again",
		"under the current settings, 2 of 2 come out as recorded",
		"sub-device",
	} {
		if !strings.Contains(html.UnescapeString(body), want) {
			t.Errorf("the preview lacks %q", want)
		}
	}
	if _, v, _ := e.store.Risk(ctx); v != 0 {
		t.Fatalf("a preview published (version %d)", v)
	}

	// Propose, from the form read at version 0; another admin confirms.
	f.Set("action", "propose")
	f.Set("version", "0")
	if resp, body := admin.post(t, "/console/risk", f); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("propose: %d\n%.500s", resp.StatusCode, body)
	}
	second := e.user(t, "bob", central.RoleAdmin)
	if resp, body := second.post(t, "/console/risk/proposal/confirm", url.Values{"id": {e.pendingRisk(t).ID}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("confirm: %d\n%.500s", resp.StatusCode, body)
	}
	doc, v, err := e.store.Risk(ctx)
	if err != nil || v != 1 {
		t.Fatalf("risk version %d, %v", v, err)
	}
	cfg, err := risk.ParseConfig(doc)
	if err != nil || cfg.FaceMismatch != risk.MismatchReject || cfg.MaxRetries != 1 || cfg.RetriesExhausted != risk.Review || cfg.MinAge != 17 {
		t.Errorf("published settings %+v, %v", cfg, err)
	}
	evs := e.auditOf(t, central.AuditRiskConfirmed)
	if len(evs) != 1 || evs[0].Subject != "risk" || !strings.Contains(string(evs[0].Before), `"version":0`) ||
		!strings.Contains(string(evs[0].After), `"version":1`) || !strings.Contains(string(evs[0].After), `"face_mismatch":"reject"`) {
		t.Errorf("risk audit: %+v", evs)
	}
	_, body = admin.get(t, "/console/risk")
	if !strings.Contains(body, "Published version 1.") || !strings.Contains(body, `<option value="reject" selected>`) || !strings.Contains(body, `name="min_age" type="number" min="0" max="100" step="1" value="17"`) {
		t.Errorf("the form does not show the published settings")
	}
}

// TestAdminDashboard: the charts' data (embedded JSON) and their tables
// count the stored cases by day and decision, the backlog and reason
// codes; a scoped reviewer's dashboard and CSV export hold only their
// branch's cases, and exports are audited without personal data.
func TestAdminDashboard(t *testing.T) {
	e := newAdminEnv(t)
	admin := e.user(t, "ada", central.RoleAdmin)
	scoped := e.user(t, "rev", central.RoleReviewer, "BDG")
	e.enrolDevice(t, "dev-jkt", "JKT", &protocol.DeviceStatus{QueueDepth: 4})
	e.enrolDevice(t, "dev-bdg", "BDG", nil)
	now := time.Now().UTC()
	esc, dev := admPayload(t, "payload_escalate.json"), admPayload(t, "payload_device.json")
	e.submit(t, "dev-jkt", "j1", esc, now.Add(-30*time.Minute), now.Add(-10*time.Minute))
	e.submit(t, "dev-jkt", "j2", dev, now.Add(-50*time.Hour), now.Add(-48*time.Hour))
	e.submit(t, "dev-bdg", "b1", esc, now.Add(-2*time.Hour), now.Add(-time.Hour))

	resp, body := admin.get(t, "/console/dashboard?days=7")
	if resp.StatusCode != 200 {
		t.Fatalf("dashboard: %d\n%.500s", resp.StatusCode, body)
	}
	charts := admCharts(t, body)
	sum := func(id, label string) float64 {
		var n float64
		for _, s := range charts[id].Series {
			if label == "" || s.Label == label {
				for _, v := range s.Data {
					n += v
				}
			}
		}
		return n
	}
	for _, c := range []struct {
		id, label string
		want      float64
	}{
		{"per-day", "Escalate", 2}, {"per-day", "Reject", 1}, {"per-day", "", 3},
		{"backlog", "", 2},  // the escalated ones wait for a person
		{"reasons", "", 12}, // 4 reason codes in each of the three payloads
	} {
		if got := sum(c.id, c.label); got != c.want {
			t.Errorf("chart %s %q sums to %v, want %v", c.id, c.label, got, c.want)
		}
	}
	if b := charts["backlog"].Series[0].Data; fmt.Sprint(b) != "[1 1 0 0 0]" {
		t.Errorf("backlog by age: %v, want one under an hour and one of 1-4 hours", b)
	}
	if l := charts["lag"]; len(l.Labels) != 2 || l.Series[2].Data[1] != 4 {
		t.Errorf("sync lag per branch: %+v", l)
	}
	if !strings.Contains(body, `<canvas id="chart-per-day"`) || !strings.Contains(body, `<th scope="row">Document expired</th>`) {
		t.Error("the dashboard lacks a chart's canvas or its table")
	}
	if resp, _ := admin.get(t, "/console/dashboard?days=365"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a year's dashboard: %d, want 400", resp.StatusCode)
	}
	if c := admCharts(t, admBody(scoped.get(t, "/console/dashboard"))); admSum(c["per-day"]) != 1 {
		t.Errorf("the BDG reviewer's dashboard counts %v cases, want 1", admSum(c["per-day"]))
	}

	for _, c := range []struct {
		u     *admUser
		query string
		rows  []string
	}{
		{admin, "", []string{"b1", "j1"}},
		{admin, "?state=decided", nil},
		{admin, "?branch=JKT", []string{"j1"}},
		{scoped, "", []string{"b1"}},
		{scoped, "?branch=JKT", nil},
		{admin, "?q=000000003&kind=document_number&decision=escalate", nil},
	} {
		resp, body := c.u.get(t, "/console/export.csv"+c.query)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
			t.Errorf("export %s: %d %s", c.query, resp.StatusCode, resp.Header.Get("Content-Type"))
			continue
		}
		recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil || len(recs) == 0 || recs[0][0] != "submission_id" {
			t.Errorf("export %s: %v\n%s", c.query, err, body)
			continue
		}
		var ids []string
		for _, r := range recs[1:] {
			ids = append(ids, r[0])
		}
		if strings.Join(ids, ",") != strings.Join(c.rows, ",") {
			t.Errorf("export %s: rows %v, want %v", c.query, ids, c.rows)
		}
		if strings.Contains(body, "SPECIMEN") || strings.Contains(body, "000000003") {
			t.Errorf("export %s holds personal data", c.query)
		}
	}
	// The fleet too shows a scoped user their branch's devices only.
	if _, body := scoped.get(t, "/console/devices"); !strings.Contains(body, "dev-bdg") || strings.Contains(body, "dev-jkt") {
		t.Error("the BDG reviewer's fleet page is not limited to BDG")
	}
	// The queue links its own filters' export.
	if _, body := admin.get(t, "/console/queue?decision=escalate&page=1"); !strings.Contains(body, `href="/console/export.csv?decision=escalate"`) {
		t.Error("the queue page does not link the export of its filter")
	}
	evs := e.auditOf(t, "export")
	if len(evs) != 6 || evs[5].Actor != "user:ada" || strings.Contains(string(evs[5].After), "000000003") {
		t.Errorf("export audit: %d events, last %+v", len(evs), evs[len(evs)-1])
	}
}

func admBody(_ *http.Response, s string) string { return s }

func admSum(c admChart) float64 {
	var n float64
	for _, s := range c.Series {
		for _, v := range s.Data {
			n += v
		}
	}
	return n
}

type admChart struct {
	ID     string   `json:"id"`
	Labels []string `json:"labels"`
	Series []struct {
		Label string    `json:"label"`
		Data  []float64 `json:"data"`
	} `json:"series"`
}

var admDataRE = regexp.MustCompile(`(?s)<script type="application/json" id="dash-data">(.*?)</script>`)

// TestAdminFleetDeviceClock: a device whose clock runs three hours ahead
// reports its oldest queued submission by that clock: the fleet page ages
// it by central's (the offset the device measured) and says the clock is
// ahead.
func TestAdminFleetDeviceClock(t *testing.T) {
	e := newAdminEnv(t)
	admin := e.user(t, "ada", central.RoleAdmin)
	ahead := 3 * time.Hour
	e.enrolDevice(t, "dev-fast", "JKT", &protocol.DeviceStatus{QueueDepth: 1,
		OldestQueued: time.Now().Add(ahead - 10*time.Minute), ClockOffsetMS: -ahead.Milliseconds()})
	_, body := admin.get(t, "/console/devices")
	for _, want := range []string{"oldest 10m", "clock 3h ahead of central&#39;s"} {
		if !strings.Contains(body, want) {
			t.Errorf("the fleet page does not say %q", want)
		}
	}
}

// TestDashboardLeavesOutWrongClocks: a capture dated by a dead CMOS
// battery (2000-01-01, before its device was enrolled) or after its
// receipt does not swamp the times from capture, which are the device's
// claim.
func TestDashboardLeavesOutWrongClocks(t *testing.T) {
	e := newAdminEnv(t)
	admin := e.user(t, "ada", central.RoleAdmin)
	e.enrolDevice(t, "dev-jkt", "JKT", &protocol.DeviceStatus{})
	now := time.Now().UTC()
	dev := admPayload(t, "payload_device.json")
	e.submit(t, "dev-jkt", "right", dev, now.Add(-10*time.Minute), now)
	e.submit(t, "dev-jkt", "cmos", dev, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), now)
	e.submit(t, "dev-jkt", "ahead", dev, now.Add(72*time.Hour), now)
	charts := admCharts(t, admBody(admin.get(t, "/console/dashboard?days=7")))
	for _, id := range []string{"timing", "lag"} {
		for _, ser := range charts[id].Series {
			for _, v := range ser.Data {
				if v > 10 {
					t.Errorf("chart %s, %s: %v minutes from capture, want at most the right clock's 10", id, ser.Label, v)
				}
			}
		}
	}
}

// dashCharts reads the charts' data the dashboard embeds for admin.js.
func admCharts(t *testing.T, body string) map[string]admChart {
	t.Helper()
	m := admDataRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the dashboard embeds no chart data:\n%.500s", body)
	}
	var cs []admChart
	if err := json.Unmarshal([]byte(m[1]), &cs); err != nil {
		t.Fatalf("the chart data is not JSON: %v\n%.300s", err, m[1])
	}
	out := map[string]admChart{}
	for _, c := range cs {
		out[c.ID] = c
	}
	return out
}

// TestAdminPrivacy: erasure by person counts first (a dry run, audited as
// one), asks for ERASE, refuses anything else, then erases through the
// blind index; erasure of one submission works too. The audit trail
// records who and how many, never whose; the page shows the retention
// policy and what sweeps removed.
func TestAdminPrivacy(t *testing.T) {
	e := newAdminEnv(t)
	admin := e.user(t, "ada", central.RoleAdmin)
	ctx := context.Background()
	e.enrolDevice(t, "dev-1", "JKT", nil)
	now := time.Now().UTC()
	a := e.submit(t, "dev-1", "sub-a", admPayload(t, "payload_device.json"), now.Add(-time.Hour), now)
	b := e.submit(t, "dev-1", "sub-b", admPayload(t, "payload_escalate.json"), now.Add(-time.Hour), now)
	old := e.submit(t, "dev-1", "sub-old", admPayload(t, "payload_escalate.json"), now.Add(-50*24*time.Hour), now.Add(-50*24*time.Hour))

	person := url.Values{"by": {"person"}, "document_number": {"000000003"}}
	resp, body := admin.post(t, "/console/privacy/erase", person)
	if resp.StatusCode != 200 || !strings.Contains(body, "1 submissions would be erased.") {
		t.Fatalf("count: %d\n%.600s", resp.StatusCode, body)
	}
	confirm := url.Values{"by": {"person"}, "document_number": {"000000003"}, "step": {"confirm"}, "confirm": {"erase"}}
	if resp, body := admin.post(t, "/console/privacy/erase", confirm); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "type ERASE exactly") {
		t.Errorf("a wrong confirmation word: %d", resp.StatusCode)
	}
	if _, err := e.store.Upload(ctx, a.DeviceID, a.Key); err != nil {
		t.Fatalf("a wrong confirmation word erased: %v", err)
	}
	confirm.Set("confirm", "ERASE")
	resp, _ = admin.post(t, "/console/privacy/erase", confirm)
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "/console/privacy?erasure=") {
		t.Fatalf("erase: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Without a job queue it is done before the redirect: the page says
	// how many, and has nothing more to read.
	_, body = admin.get(t, resp.Header.Get("Location"))
	if !strings.Contains(body, `id="erasure-status"`) || !strings.Contains(body, "1 submissions were erased.") || strings.Contains(body, "data-erasure-pending") {
		t.Errorf("the erasure's status on the page:\n%.2000s", body)
	}
	if _, err := e.store.Upload(ctx, a.DeviceID, a.Key); err == nil {
		t.Error("the person's submission is still stored")
	}
	if _, err := e.store.Upload(ctx, b.DeviceID, b.Key); err != nil {
		t.Errorf("another person's submission went too: %v", err)
	}
	one := url.Values{"by": {"submission"}, "device_id": {"dev-1"}, "submission_id": {"sub-b"}, "step": {"confirm"}, "confirm": {"ERASE"}}
	if resp, _ := admin.post(t, "/console/privacy/erase", one); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("erase one submission: %d", resp.StatusCode)
	}
	if _, err := e.store.Upload(ctx, b.DeviceID, b.Key); err == nil {
		t.Error("the submission is still stored")
	}
	if resp, _ := admin.post(t, "/console/privacy/erase", url.Values{"by": {"person"}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("erasure of nobody: %d, want 400", resp.StatusCode)
	}
	dry, done := e.auditOf(t, central.AuditErasureDryRun), e.auditOf(t, central.AuditErasure)
	if len(dry) != 2 || len(done) != 2 || done[0].Count != 1 || done[0].Actor != "user:ada" {
		t.Errorf("erasure audit: dry %+v, done %+v", dry, done)
	}
	raw, _ := json.Marshal(append(dry, done...))
	for _, leak := range []string{"000000003", "sub-a", "sub-b", a.Key, b.Key, "SPECIMEN"} {
		if strings.Contains(string(raw), leak) {
			t.Errorf("the erasure audit names %q", leak)
		}
	}

	// An erasure the job queue has not finished: the page lists it and
	// reads its status again (admin.js) until it is done.
	queued := central.Erasure{ID: "er-queued", Status: central.ErasureQueued, Actor: "user:ada", RequestedAt: now, DeviceID: "dev-1", SubmissionKey: old.Key}
	if err := e.store.AddErasure(ctx, queued, false); err != nil {
		t.Fatal(err)
	}
	_, body = admin.get(t, "/console/privacy?erasure=er-queued")
	for _, want := range []string{"data-erasure-pending", `id="erasures-pending"`, `href="/console/privacy?erasure=er-queued"`, "The erasure is under way (0 submissions erased so far)", "er-queued"} {
		if !strings.Contains(body, want) {
			t.Errorf("the page of a queued erasure lacks %q", want)
		}
	}
	if _, _, err := e.store.FinishErasure(ctx, queued.ID, central.ErasureDone, now, "", central.AuditEvent{ID: queued.ID, At: now, Actor: "user:ada", Action: central.AuditErasure}); err != nil {
		t.Fatal(err)
	}

	// Retention: a sweep removes the old submission; the page says so.
	if err := e.store.PutRetention(ctx, central.RetentionPolicy{DecisionDays: 30, AuditDays: 3650}); err != nil {
		t.Fatal(err)
	}
	if res, err := e.srv.Sweep(ctx); err != nil || res.Counts[central.ExpireDecision] != 1 {
		t.Fatalf("sweep: %+v, %v", res, err)
	}
	if _, err := e.store.Upload(ctx, old.DeviceID, old.Key); err == nil {
		t.Error("the sweep left the old submission")
	}
	_, body = admin.get(t, "/console/privacy")
	for _, want := range []string{"30 days", "until erased on request", `id="sweeps"`, `id="erasures"`, "user:ada"} {
		if !strings.Contains(body, want) {
			t.Errorf("the privacy page lacks %q", want)
		}
	}
}
