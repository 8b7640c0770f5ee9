package hostedflow_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central/hostedflow"
	"github.com/openkyc/kyc/sync/central/partnerapi/apitest"
)

// checked is a browser whose every exchange apitest validates against
// openapi.json, as the partner API's tests talk to central.
func (e *env) checked(t *testing.T) *browser {
	t.Helper()
	b := e.browser()
	c := apitest.Client(t, e.tls)
	c.Jar = b.c.Jar
	b.c = c
	return b
}

// deliberate is b.do for a request that breaks the document on purpose
// (no CSRF header, a step that does not exist): only its answer is
// validated.
func (b *browser) deliberate(method, path, ctype string, body []byte, hdr map[string]string) answer {
	t := b.e.t
	t.Helper()
	req, err := http.NewRequest(method, b.e.base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(apitest.Invalid(req))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, body: out, header: resp.Header}
}

// wantPage checks that a is an HTML page of status want in the state
// named (data-state), "" for any.
func wantPage(t *testing.T, what string, a answer, want int, state string) {
	t.Helper()
	if a.status != want || !strings.HasPrefix(a.header.Get("Content-Type"), "text/html") ||
		(state != "" && !bytes.Contains(a.body, []byte(`data-state="`+state+`"`))) {
		t.Errorf("%s: %d %s %.300s, want %d text/html page %q", what, a.status, a.header.Get("Content-Type"), a.body, want, state)
	}
}

// wantError checks that a is the error object of status want and code.
func wantError(t *testing.T, what string, a answer, want int, code string) {
	t.Helper()
	var e struct{ Code string }
	if json.Unmarshal(a.body, &e); a.status != want || e.Code != code {
		t.Errorf("%s: %d %.300s, want %d %s", what, a.status, a.body, want, code)
	}
}

// TestFlowRoutesMatchOpenAPI drives every route of the hosted flow through
// its main outcomes with a client that validates each request and answer
// against openapi.json (apitest): the launch URL's GET, HEAD and Start,
// used, expired and unknown links, the page, its JSON API with and without
// the session's cookie, the Smart QR's phone link and short code, the
// page's files, and a disabled partner's session. A route, a status, a
// content type or a field the document does not describe fails the test.
func TestFlowRoutesMatchOpenAPI(t *testing.T) {
	e := newEnv(t, true)
	doc, _, _ := images(t)
	form := "application/x-www-form-urlencoded"

	// The launch URL: landing page (GET, HEAD), then Start.
	pid, fc := e.initiate(map[string]any{"smart_qr": true})
	launch, _ := url.Parse(fc.LaunchURL)
	a := e.checked(t)
	wantPage(t, "launch GET", a.get(launch.Path), http.StatusOK, "start")
	if h := a.do("HEAD", launch.Path, "", nil, nil); h.status != http.StatusOK || len(h.body) != 0 {
		t.Errorf("launch HEAD: %d %.100s, want 200 without a body", h.status, h.body)
	}
	cross := a.do("POST", launch.Path, form, nil, map[string]string{"Sec-Fetch-Site": "cross-site"})
	wantError(t, "cross-site Start", cross, http.StatusForbidden, "csrf")
	started := a.post(launch.Path, form, nil)
	if started.status != http.StatusSeeOther || started.header.Get("Location") != "/flow/app" || started.header.Get("Set-Cookie") == "" {
		t.Fatalf("Start: %d %v, want 303 to /flow/app with the cookie", started.status, started.header)
	}
	// The bound browser opening it again goes on; another is told it was used.
	for _, m := range []string{"GET", "HEAD", "POST"} {
		if r := a.do(m, launch.Path, form, nil, nil); r.status != http.StatusSeeOther {
			t.Errorf("%s of the launch URL by the bound browser: %d, want 303", m, r.status)
		}
	}
	other := e.checked(t)
	wantPage(t, "launch GET by another browser", other.get(launch.Path), http.StatusGone, "used")
	wantPage(t, "Start by another browser", other.post(launch.Path, form, nil), http.StatusGone, "used")
	if h := other.do("HEAD", launch.Path, "", nil, nil); h.status != http.StatusGone {
		t.Errorf("launch HEAD by another browser: %d, want 410", h.status)
	}
	for _, m := range []string{"GET", "POST"} {
		wantPage(t, m+" of an unknown launch URL", other.do(m, "/flow/"+strings.Repeat("A", 43), form, nil, nil), http.StatusNotFound, "unknown")
	}

	// The page and its JSON API.
	page := a.get("/flow/app")
	wantPage(t, "the page", page, http.StatusOK, "")
	m := csrfRE.FindSubmatch(page.body)
	if m == nil {
		t.Fatalf("no CSRF token in the page: %.300s", page.body)
	}
	a.csrf = string(m[1])
	if st := a.state(); st.Stage != "document" {
		t.Errorf("state %+v", st)
	}
	var fa hostedflow.FrameAnswer
	if r := must(t, http.StatusOK, a.post("/flow/api/frame?step=document", "image/jpeg", doc)); json.Unmarshal(r.body, &fa) != nil || fa.Overlay.Step == "" {
		t.Errorf("frame answer %.300s", r.body)
	}
	must(t, http.StatusOK, a.post("/flow/api/lang", "application/json", []byte(`{"lang":"id"}`)))
	wantError(t, "submit before the captures", a.post("/flow/api/submit", "", nil), http.StatusConflict, "captures_missing")
	wantError(t, "retry without a result", a.post("/flow/api/retry", "", nil), http.StatusConflict, "no_retry")
	wantError(t, "finish before the end", a.post("/flow/api/finish", "", nil), http.StatusConflict, "not_finished")
	wantError(t, "a step that does not exist", a.deliberate("POST", "/flow/api/capture?step=passport", "image/jpeg", doc,
		map[string]string{"X-Flow-CSRF": a.csrf}), http.StatusBadRequest, "bad_step")
	wantError(t, "a bad language", a.deliberate("POST", "/flow/api/lang", "application/json", []byte(`{"lang":"fr"}`),
		map[string]string{"X-Flow-CSRF": a.csrf}), http.StatusBadRequest, "bad_lang")
	wantError(t, "capture without the CSRF header", a.deliberate("POST", "/flow/api/capture?step=document", "image/jpeg", doc, nil),
		http.StatusForbidden, "csrf")
	var captured struct{ State hostedflow.State }
	if r := must(t, http.StatusOK, a.post("/flow/api/capture?step=document", "image/jpeg", doc)); json.Unmarshal(r.body, &captured) != nil || !captured.State.Captures.Document {
		t.Errorf("capture answer %.300s", r.body)
	}

	// Without the session's cookie: the error object, or the page saying so.
	wantError(t, "state without the cookie", other.get("/flow/api/state"), http.StatusUnauthorized, "no_session")
	wantError(t, "submit without the cookie", other.deliberate("POST", "/flow/api/submit", "", nil, nil), http.StatusUnauthorized, "no_session")
	wantPage(t, "the page without the cookie", other.get("/flow/app"), http.StatusUnauthorized, "unknown")

	// Smart QR: the phone link (GET, HEAD, Start) and the short code.
	var link hostedflow.HandoffLink
	json.Unmarshal(must(t, http.StatusOK, a.post("/flow/api/handoff", "", nil)).body, &link)
	hl, _ := url.Parse(link.URL)
	phone := e.checked(t)
	wantPage(t, "phone link GET", phone.get(hl.Path), http.StatusOK, "start")
	if h := phone.do("HEAD", hl.Path, "", nil, nil); h.status != http.StatusOK {
		t.Errorf("phone link HEAD: %d", h.status)
	}
	wantPage(t, "a phone link that is not one", phone.get("/flow/h/nothing"), http.StatusNotFound, "unknown")
	wantPage(t, "code form", phone.get("/flow/code"), http.StatusOK, "code")
	wantPage(t, "a wrong code", phone.post("/flow/code", form, []byte("code=AAAA-AAAA")), http.StatusNotFound, "badcode")
	if r := phone.post("/flow/code", form, []byte("code="+link.ShortCode)); r.status != http.StatusSeeOther || r.header.Get("Location") != "/flow/app" {
		t.Errorf("the right code: %d %v, want 303 to /flow/app", r.status, r.header)
	}
	if r := phone.get(hl.Path); r.status != http.StatusSeeOther {
		t.Errorf("the phone bound opening its link again: %d, want 303", r.status)
	}
	wantPage(t, "the phone link by another phone", e.checked(t).post(hl.Path, form, nil), http.StatusGone, "used")
	wantError(t, "a second hand-off", a.post("/flow/api/handoff", "", nil), http.StatusConflict, "handoff_used")
	wantError(t, "capture on the first screen after the hand-off", a.post("/flow/api/capture?step=selfie", "image/jpeg", doc),
		http.StatusConflict, "handed_off")

	// A session without Smart QR nor uploads; then expired.
	_, fc2 := e.initiate(map[string]any{"session_ttl": 120, "allow_upload": false})
	b := e.checked(t)
	b.open(fc2.LaunchURL)
	wantError(t, "hand-off without smart_qr", b.post("/flow/api/handoff", "", nil), http.StatusForbidden, "smart_qr_off")
	wantError(t, "an upload where allow_upload is off", b.post("/flow/api/capture?step=document&source=upload", "image/jpeg", doc),
		http.StatusForbidden, "upload_not_allowed")
	_, fc3 := e.initiate(map[string]any{"session_ttl": 120})
	e.clk.Advance(3 * time.Minute)
	if st := b.state(); st.Stage != "expired" {
		t.Errorf("expired session's state %+v", st)
	}
	wantError(t, "capture once expired", b.post("/flow/api/capture?step=document", "image/jpeg", doc), http.StatusGone, "session_expired")
	u3, _ := url.Parse(fc3.LaunchURL)
	wantPage(t, "an expired launch URL", e.checked(t).get(u3.Path), http.StatusGone, "expired")
	wantPage(t, "Start of an expired launch URL", e.checked(t).post(u3.Path, form, nil), http.StatusGone, "expired")

	// The partner disabled: every step says the link is no longer available.
	e.setDisabled(pid, true)
	wantPage(t, "the launch URL of a disabled partner", a.get(launch.Path), http.StatusGone, "link_unavailable")
	wantPage(t, "the page of a disabled partner", a.get("/flow/app"), http.StatusGone, "link_unavailable")
	wantError(t, "state of a disabled partner", a.get("/flow/api/state"), http.StatusGone, "link_unavailable")
	wantError(t, "submit of a disabled partner", a.post("/flow/api/submit", "", nil), http.StatusGone, "link_unavailable")
	wantPage(t, "the phone link of a disabled partner", phone.get(hl.Path), http.StatusGone, "link_unavailable")

	// The page's files.
	if r := b.get("/flow/static/flow.js"); r.status != http.StatusOK || len(r.body) == 0 {
		t.Errorf("flow.js: %d", r.status)
	}
	wantError(t, "a file that is not there", b.get("/flow/static/nothing.js"), http.StatusNotFound, "not_found")
}

// TestFlowUnavailableMatchesOpenAPI: without the engines the page and the
// steps that need them answer 503 as openapi.json says: the page in HTML,
// the API's error object (unavailable, without Retry-After).
func TestFlowUnavailableMatchesOpenAPI(t *testing.T) {
	e := newEnv(t, false)
	doc, _, _ := images(t)
	_, fc := e.initiate(nil)
	b := e.checked(t)
	_, started := b.start(fc.LaunchURL, nil)
	must(t, http.StatusSeeOther, started)
	wantPage(t, "the page without engines", b.get("/flow/app"), http.StatusServiceUnavailable, "unavailable")
	// The page that would carry the CSRF token is not served: derive it
	// from the cookie's secret, as the flow does (csrfToken).
	parts := strings.Split(heldValue(t, b), ".")
	sum := sha256.Sum256([]byte("openkyc hosted flow csrf\x00" + parts[len(parts)-1]))
	b.csrf = base64.RawURLEncoding.EncodeToString(sum[:])
	must(t, http.StatusOK, b.get("/flow/api/state"))
	must(t, http.StatusOK, b.post("/flow/api/lang", "application/json", []byte(`{"lang":"en"}`)))
	for _, path := range []string{"/flow/api/frame?step=document", "/flow/api/capture?step=document", "/flow/api/submit"} {
		ctype, body := "image/jpeg", doc
		if path == "/flow/api/submit" {
			ctype, body = "", nil
		}
		a := b.post(path, ctype, body)
		wantError(t, path+" without engines", a, http.StatusServiceUnavailable, "unavailable")
		if a.header.Get("Retry-After") != "" {
			t.Errorf("%s without engines: Retry-After %q", path, a.header.Get("Retry-After"))
		}
	}
}
