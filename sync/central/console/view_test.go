package console

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"html"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/protocol"
)

// TestCaseView: what a reviewer needs is on the page (fields with source
// and confidence, MRZ check digits, the MRZ-vs-visual mismatch, face and
// liveness with thresholds, device checks, reasons in words, the attempt
// history), in English and Indonesian; images are served without caching
// and the reads are audited.
func TestCaseView(t *testing.T) { testCaseView(t, boltStore) }

func testCaseView(t *testing.T, open opener) {
	f := newFixtureOn(t, open)
	f.clk.Advance(time.Minute)
	retry := f.submit("dev-north", "sess-2-2", payload(t, "payload_device.json", "sess-2", func(m map[string]any) {
		asReview(45)(m)
		m["attempt"] = 2
	}))
	b := f.browser()
	b.signIn("rev1")
	a := b.get(caseHref(f.review))
	if a.status != http.StatusOK {
		t.Fatalf("case view: %d", a.status)
	}
	if csp := a.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || a.header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers: CSP %q, Cache-Control %q", csp, a.header.Get("Cache-Control"))
	}
	for _, want := range []string{
		`class="mismatch"`, "TEST VOID", // the given names: MRZ vs the visual zone
		"Check digit computed", "✓ valid", // MRZ check digits
		"virtual_machine", "KVMKVMKVM", // device checks with evidence
		"Document expired", // a reason code in words
		caseHref(retry),    // the session's other attempt
	} {
		if !strings.Contains(a.body, want) {
			t.Errorf("case view lacks %q", want)
		}
	}
	esc := b.get(caseHref(f.escalate))
	for _, want := range []string{"Face similarity", "0.364", "Liveness", "/images/portrait", "/images/selfie", "<svg viewBox=\"0 0 320 200\""} {
		if !strings.Contains(esc.body, want) {
			t.Errorf("escalated case view lacks %q", want)
		}
	}
	// The active challenge's evidence: the liveness path, and each frame
	// against the selfie, the failing ones marked; a frame named by a file
	// is shown escaped.
	chal := f.submit("dev-north", "sess-3-1", payload(t, "payload_device.json", "sess-3", func(m map[string]any) {
		asReview(45)(m)
		r := m["report"].(map[string]any)
		r["liveness_path"] = "challenge_failed"
		r["face"].(map[string]any)["challenge"] = map[string]any{"threshold": 0.2877, "same_person": false, "reproduction": true, "frames": []any{
			map[string]any{"prompt": "turn_left", "face_found": true, "similarity": 0.736, "yaw": -21, "same_person": true, "trace_mass": 0, "trace_score": 1},
			map[string]any{"prompt": "turn_right", "face_found": true, "similarity": 0.057, "yaw": 20, "same_person": false, "trace_mass": 0, "trace_score": 1},
			map[string]any{"prompt": "<b>f.jpg</b>", "face_found": true, "similarity": 0.61, "yaw": 15, "same_person": true, "trace_mass": 37.33, "trace_score": 0, "reproduction": true},
		}}
	}))
	cv := b.get(caseHref(chal))
	for _, want := range []string{
		`id="h-challenge"`, "an active challenge, failed", `<table id="challenge-frames" aria-labelledby="h-challenge">`,
		`<th scope="row">Turn left</th>`, "0.736", "✓ the selfie&#39;s person, no traces",
		`<tr class="mismatch"><th scope="row">Turn right</th>`, "0.057", "0.288", "20°", "✗ another person",
		`<tr class="mismatch"><th scope="row">&lt;b&gt;f.jpg&lt;/b&gt;</th>`, "37.33 (score 0.00)", "✗ screen or print traces",
	} {
		if !strings.Contains(cv.body, want) {
			t.Errorf("the challenge's case view lacks %q", want)
		}
	}
	table, _, _ := strings.Cut(cv.body[strings.Index(cv.body, `id="challenge-frames"`)+1:], "</table>")
	if strings.Count(table, `class="mismatch"`) != 2 || strings.Contains(cv.body, "<b>f.jpg") {
		t.Errorf("the challenge's frames: want two marked, the file name escaped")
	}
	// A selfie that came turned is said so (the engine analysed it
	// upright); an upright one says nothing.
	turned := f.submit("dev-north", "sess-4-1", payload(t, "payload_device.json", "sess-4", func(m map[string]any) {
		asReview(45)(m)
		m["report"].(map[string]any)["face"].(map[string]any)["selfie"] = map[string]any{"turned": 270, "faces_detected": 1}
	}))
	if tv := b.get(caseHref(turned)); !strings.Contains(tv.body, `<p id="selfie-turned">The selfie came sideways or upside down: its face was found, and analysed, with the image turned 270° clockwise.</p>`) {
		t.Error("the case view does not say the selfie came turned")
	}
	if strings.Contains(esc.body, `id="selfie-turned"`) || strings.Contains(esc.body, `id="reference-turned"`) {
		t.Error("an upright selfie is said to have come turned")
	}
	img := b.get(caseHref(f.review) + "/images/front")
	if img.status != http.StatusOK || img.header.Get("Content-Type") != "image/jpeg" || img.header.Get("Cache-Control") != "no-store" {
		t.Errorf("front image: %d %q %q", img.status, img.header.Get("Content-Type"), img.header.Get("Cache-Control"))
	}
	if p := b.get(caseHref(f.escalate) + "/images/portrait"); p.status != http.StatusOK || !strings.HasPrefix(p.body, "\x89PNG") {
		t.Errorf("portrait: %d", p.status)
	}
	if p := b.get(caseHref(f.review) + "/images/passport"); p.status != http.StatusNotFound {
		t.Errorf("unknown image: %d", p.status)
	}
	acts := f.auditActions(caseSubject(f.review))
	if len(acts) < 2 || acts[0] != AuditCaseView || acts[1] != AuditImageView {
		t.Errorf("reads audited as %v", acts)
	}

	// Indonesian, chosen with the switch and kept on the account.
	if a := b.post("/console/lang", url.Values{"lang": {"id"}, "next": {caseHref(f.review)}}); a.status != http.StatusSeeOther {
		t.Fatalf("language switch: %d", a.status)
	}
	a = b.get(caseHref(f.review))
	if !strings.Contains(a.body, `<html lang="id">`) || !strings.Contains(a.body, "Dokumen kedaluwarsa") || !strings.Contains(a.body, "Ambil kasus ini") {
		t.Error("the case view is not in Indonesian after the switch")
	}
	if u, _ := f.store.User(t.Context(), "rev1"); u.Lang != "id" {
		t.Errorf("language not kept on the account: %q", u.Lang)
	}
}

// TestCatalogues: both catalogues have the same keys, and every literal
// key the templates use exists.
// TestCaseViewDeviceClock: the capture time is labelled as the device's
// claim, and a device clock central's own times prove wrong (a capture
// dated after its receipt, or before the challenge its attestation signs)
// is flagged in words; a capture dated a week before its receipt (offline)
// is not.
func TestCaseViewDeviceClock(t *testing.T) {
	e := newEnv(t)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dev := protocol.DeviceID(pub)
	ctx := context.Background()
	now := e.clk.Now().UTC()
	tok := sha256.Sum256([]byte("token-" + dev))
	if err := e.store.CreateEnrollToken(ctx, central.EnrollToken{Hash: tok, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Enroll(ctx, tok, central.Device{ID: dev, PublicKey: pub, EnrolledAt: now}); err != nil {
		t.Fatal(err)
	}
	// The challenge central hands the device with its configuration.
	req, err := http.NewRequest(http.MethodGet, e.base+protocol.PathConfig, nil)
	if err != nil {
		t.Fatal(err)
	}
	protocol.Sign(req, sha256.Sum256(nil), dev, priv, e.clk.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var sc protocol.SignedConfig
	err = json.NewDecoder(resp.Body).Decode(&sc)
	resp.Body.Close()
	var cfg protocol.Config
	if err == nil {
		err = json.Unmarshal(sc.Config, &cfg)
	}
	if resp.StatusCode != http.StatusOK || err != nil || cfg.Challenge == "" {
		t.Fatalf("configuration: %d, %v, challenge %q", resp.StatusCode, err, cfg.Challenge)
	}
	signed := func(session string) []byte {
		return payload(t, "payload_device.json", session, func(m map[string]any) {
			m["attestation"] = map[string]any{"device_id": dev, "nonce": cfg.Challenge}
		})
	}
	e.clk.Advance(8 * 24 * time.Hour) // received a week and more after the challenge
	received := e.clk.Now().UTC()
	e.addUser("rev1", central.RoleReviewer)
	b := e.browser()
	b.signIn("rev1")
	for _, tc := range []struct {
		name    string
		created time.Time
		pl      []byte
		want    string // "" for no flag
	}{
		{"dead CMOS battery", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), signed("s-cmos"), "before central issued the challenge"},
		{"set forward", received.Add(74 * time.Hour), signed("s-ahead"), "wrong: it dated this capture 3d after central received it"},
		{"set forward, no challenge", received.Add(74 * time.Hour), payload(t, "payload_device.json", "s-ahead2", nil), "wrong: it dated this capture 3d after central received it"},
		{"offline a week", received.Add(-7 * 24 * time.Hour), signed("s-offline"), ""},
		{"2000, no challenge to tell", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), payload(t, "payload_device.json", "s-unknown", nil), ""},
	} {
		ref := e.submitCreated(dev, "clock-"+strings.ReplaceAll(tc.name, " ", "-"), tc.pl, tc.created)
		a := b.get(caseHref(ref))
		if a.status != http.StatusOK {
			t.Fatalf("%s: case view %d", tc.name, a.status)
		}
		if !strings.Contains(a.body, "captured, by the device&#39;s clock,") {
			t.Errorf("%s: the capture time is not labelled as the device's", tc.name)
		}
		flagged := strings.Contains(a.body, `id="clock-skew"`)
		if flagged != (tc.want != "") || !strings.Contains(a.body, html.EscapeString(tc.want)) {
			t.Errorf("%s: flagged %v, want %q", tc.name, flagged, tc.want)
		}
	}
}

func TestCatalogues(t *testing.T) {
	cat, err := loadCatalogues()
	if err != nil {
		t.Fatal(err)
	}
	for k := range cat["en"] {
		if _, ok := cat["id"][k]; !ok {
			t.Errorf("id.json lacks %q", k)
		}
	}
	for k := range cat["id"] {
		if _, ok := cat["en"][k]; !ok {
			t.Errorf("en.json lacks %q", k)
		}
	}
	keyRE := regexp.MustCompile(`[({]T "([^"]+)"`)
	err = fs.WalkDir(webFS, "web/templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := webFS.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range keyRE.FindAllSubmatch(b, -1) {
			if !cat.has(string(m[1])) {
				t.Errorf("%s uses %q, which en.json lacks", path, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range reasonCodes {
		if !cat.has("reason." + code) {
			t.Errorf("no words for reason code %s", code)
		}
	}
	for _, r := range rejectReasons {
		if !cat.has("reject." + r) {
			t.Errorf("no words for reject reason %s", r)
		}
	}
	var en map[string]string
	raw, _ := webFS.ReadFile("web/i18n/en.json")
	if err := json.Unmarshal(raw, &en); err != nil || bytes.Contains(raw, []byte("TODO")) {
		t.Errorf("en.json: %v", err)
	}
}

// TestPayloadViews: the captured payloads parse into the view structs,
// and the forensic evidence becomes shapes.
func TestPayloadViews(t *testing.T) {
	for _, file := range []string{"payload_escalate.json", "payload_device.json"} {
		p := parsePayload(payload(t, file, "s", nil))
		if p == nil || p.Report == nil || p.Report.Document == nil || p.Report.Document.MRZ == nil || len(p.Report.Document.MRZ.Checks) == 0 {
			t.Fatalf("%s: %+v", file, p)
		}
		if file == "payload_escalate.json" && (p.Report.Face.Match == nil || p.Report.Face.Match.Threshold == 0) {
			t.Errorf("%s: no face match threshold", file)
		}
		if s := overlays(p.Report.Document.Forensics.Checks); len(s) == 0 {
			t.Errorf("%s: no forensic evidence drawn", file)
		}
	}
	if parsePayload([]byte("{not json")) != nil || parsePayload(nil) != nil {
		t.Error("an unreadable payload parsed")
	}
	if s := central.Summarize(payload(t, "payload_escalate.json", "s", nil)); s.Decision != "escalate" || s.Hits != 1 {
		t.Errorf("summary %+v", s)
	}
}

// tampered shows the audit trail with entry 3's actor changed, as an
// edit of the stored trail would.
type tampered struct{ central.Store }

func (s tampered) Audit(ctx context.Context, f central.AuditFilter) ([]central.AuditEvent, error) {
	evs, err := s.Store.Audit(ctx, f)
	for i := range evs {
		if evs[i].Seq == 3 {
			evs[i].Actor = "user:mallory"
		}
	}
	return evs, err
}

// TestAuditViewTampered: "Verify chain" names the first entry that does
// not verify.
func TestAuditViewTampered(t *testing.T) {
	e := newEnvWrapped(t, func(s central.Store) central.Store { return tampered{s} })
	e.addUser("aud", central.RoleAuditor)
	b := e.browser()
	b.signIn("aud")
	b.post("/console/signout", nil)
	e.clk.nextStep()
	b.signIn("aud")
	b.get("/console/audit")
	a := b.post("/console/audit/verify", nil)
	if a.status != http.StatusOK || !strings.Contains(a.body, "Chain BROKEN at entry 3") {
		t.Errorf("verify of a tampered trail: %d %s", a.status, a.body)
	}
	if a := b.get("/console/audit"); !strings.Contains(a.body, "user:mallory") {
		t.Error("the audit view does not list the trail")
	}
}

// TestErrorPages: an unknown console page is the console's 404 page, a
// malformed case path too, and neither says more than "not found".
func TestErrorPages(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	b.signIn("rev1")
	for _, path := range []string{"/console/nope", "/console/cases/dev-north/not-a-key"} {
		a := b.get(path)
		if a.status != http.StatusNotFound || !strings.Contains(a.body, `<main id="main"`) || !strings.Contains(a.body, "Not found") {
			t.Errorf("GET %s: %d", path, a.status)
		}
	}
}

// TestSecureCookies: behind TLS the cookies are __Host- prefixed, Secure,
// HttpOnly and SameSite=Strict.
func TestSecureCookies(t *testing.T) {
	key := make([]byte, 32)
	c, err := New(Config{Store: boltStore(t), SecretKey: key, Secure: true})
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
	cks := resp.Cookies()
	if len(cks) != 1 || cks[0].Name != "__Host-kyc_presession" || !cks[0].Secure || !cks[0].HttpOnly ||
		cks[0].SameSite != http.SameSiteStrictMode || cks[0].Path != "/" || cks[0].Domain != "" {
		t.Errorf("cookies %+v", cks)
	}
}

// TestLanguageBeforeSignIn: the switch works on the sign-in page (a
// cookie), and Accept-Language picks Indonesian for a new browser.
func TestLanguageBeforeSignIn(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.get("/console/signin")
	if a := b.post("/console/lang", url.Values{"lang": {"id"}, "next": {"/console/signin"}}); a.status != http.StatusSeeOther {
		t.Fatalf("switch: %d %s", a.status, a.body)
	}
	if a := b.get("/console/signin"); !strings.Contains(a.body, "Kata sandi") {
		t.Error("the sign-in page is not in Indonesian after the switch")
	}
	b2 := e.browser()
	b2.header.Set("Accept-Language", "id-ID,id;q=0.9,en;q=0.5")
	if a := b2.get("/console/signin"); !strings.Contains(a.body, `lang="id"`) {
		t.Error("Accept-Language id did not choose Indonesian")
	}
	if a := b2.post("/console/lang", url.Values{"lang": {"fr"}, "csrf": {"x"}}); a.status != http.StatusForbidden {
		t.Errorf("switch with a wrong token: %d", a.status)
	}
}
