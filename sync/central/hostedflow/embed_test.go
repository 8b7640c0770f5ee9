package hostedflow_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/internal/browsertest"
	"github.com/openkyc/kyc/internal/testenv"
	"github.com/openkyc/kyc/sync/central/hostedflow"
	"github.com/openkyc/kyc/sync/central/partnerapi"
)

// TestEmbedHeaders: a session whose partner gave a redirect_url may be
// framed by that origin: the launch and the page answer with a
// frame-ancestors of central and that origin, the cookie is SameSite=None
// and Partitioned, and the state names the origin the page posts its
// result to. A session without one is framed by central alone, its
// cookie SameSite=Lax; the phone of a hand-off is never framed.
func TestEmbedHeaders(t *testing.T) {
	e := newEnv(t, true)
	_, fc := e.initiate(map[string]any{"redirect_url": "https://bank.example:8443/kyc/done?x=1", "smart_qr": true})
	b := e.browser()
	landing, a := b.start(fc.LaunchURL, nil)
	must(t, http.StatusSeeOther, a)
	for what, ans := range map[string]answer{"landing page": landing, "Start": a} {
		if csp := ans.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'self' https://bank.example:8443") {
			t.Errorf("%s CSP %q", what, csp)
		}
	}
	if c := a.header.Get("Set-Cookie"); !strings.Contains(c, "SameSite=None") || !strings.Contains(c, "Partitioned") || !strings.Contains(c, "Secure") {
		t.Errorf("embeddable session's cookie %q", c)
	}
	page := must(t, http.StatusOK, b.get("/flow/app"))
	if csp := page.header.Get("Content-Security-Policy"); !strings.HasSuffix(csp, "frame-ancestors 'self' https://bank.example:8443") {
		t.Errorf("page CSP %q", csp)
	}
	b.csrf = csrfRE.FindStringSubmatch(string(page.body))[1]
	if st := b.state(); len(st.EmbedOrigins) != 1 || st.EmbedOrigins[0] != "https://bank.example:8443" {
		t.Errorf("embed origins %v", st.EmbedOrigins)
	}
	var h hostedflow.HandoffLink
	json.Unmarshal(must(t, http.StatusOK, b.post("/flow/api/handoff", "", nil)).body, &h)
	_, pa := e.browser().start(h.URL, nil)
	must(t, http.StatusSeeOther, pa)
	if c := pa.header.Get("Set-Cookie"); !strings.Contains(c, "SameSite=Lax") || strings.Contains(c, "Partitioned") {
		t.Errorf("phone's cookie %q", c)
	}

	_, fc = e.initiate(nil)
	landing, a = e.browser().start(fc.LaunchURL, nil)
	must(t, http.StatusSeeOther, a)
	for what, ans := range map[string]answer{"landing page": landing, "Start": a} {
		if csp := ans.header.Get("Content-Security-Policy"); !strings.HasSuffix(csp, "frame-ancestors 'self'") {
			t.Errorf("%s CSP without a partner origin %q", what, csp)
		}
	}
	if c := a.header.Get("Set-Cookie"); !strings.Contains(c, "SameSite=Lax") || strings.Contains(c, "Partitioned") {
		t.Errorf("session cookie without a partner origin %q", c)
	}
	if csp := must(t, http.StatusOK, e.browser().get("/flow/code")).header.Get("Content-Security-Policy"); !strings.HasSuffix(csp, "frame-ancestors 'self'") {
		t.Errorf("code page CSP %q", csp)
	}
}

// TestEmbeddedInBrowser runs web/e2e/embed.mjs: the partner's page on
// http://localhost (another site than central on https://127.0.0.1) frames
// the launch URL in headless Chromium with third-party cookies phased
// out; the flow works in the frame and posts its result to the partner's
// origin only; the same page on another origin is refused the frame.
func TestEmbeddedInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser end-to-end test: skipped in -short mode")
	}
	root, ok := testenv.ModuleRoot()
	if !ok {
		t.Fatal("module root not found")
	}
	tools := browsertest.FindTools(t, root)
	e := newEnv(t, true)
	docFile, selfieFile := imageFiles(t)
	partner, other := partnerPage(t), partnerPage(t)
	_, fc := e.initiate(map[string]any{"redirect_url": partner + "/done"})
	_, fc2 := e.initiate(map[string]any{"redirect_url": partner + "/done"})
	_, fc3 := e.initiate(map[string]any{"redirect_url": partner + "/done"})
	shots := filepath.Join(browsertest.ArtifactsDir(t, root), "hosted")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	env := []string{"KYC_PLAYWRIGHT=" + tools.Playwright, "KYC_E2E_CHROMIUM=" + tools.Chromium, "KYC_FLOW_URL=" + e.base,
		"KYC_EMBED_PARTNER=" + partner, "KYC_EMBED_OTHER=" + other, "KYC_EMBED_LAUNCH=" + fc.LaunchURL, "KYC_EMBED_LAUNCH2=" + fc2.LaunchURL,
		"KYC_EMBED_SESSION=" + fc.SessionID, "KYC_EMBED_LAUNCH3=" + fc3.LaunchURL, "KYC_EMBED_SESSION3=" + fc3.SessionID, "KYC_EMBED_DOCUMENT=" + docFile, "KYC_EMBED_SELFIE=" + selfieFile, "KYC_FLOW_SHOTS=" + shots}
	var res struct {
		Checks      []scriptCheck
		Shots       []string
		Step, Error string
	}
	// "expire": every session's time runs out (the script's last scenario).
	answer := func(req string) string {
		if strings.HasPrefix(req, "expire") {
			e.clk.Advance(partnerapi.MaxSessionTTL * time.Second)
			return "{}"
		}
		return `{"error": "unknown request"}`
	}
	runScript(t, ctx, root, "embed.mjs", env, answer, &res, nil)
	reportChecks(t, res.Checks)
	t.Logf("screenshots in %s: %v", shots, res.Shots)
	if res.Error != "" {
		t.Fatalf("embed.mjs stopped at %q: %s", res.Step, res.Error)
	}
	if len(res.Checks) < 8 {
		t.Errorf("embed.mjs made %d checks, want every one of its scenarios'", len(res.Checks))
	}
}

// partnerPage serves a partner's page on http://localhost:PORT: /embed
// frames ?src= and keeps the messages it receives in window.__messages;
// /done is its redirect_url.
func partnerPage(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /embed", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>Partner bank</title>
<style>body{margin:0;font:16px system-ui,sans-serif;background:#f4f6f8}header{padding:10px 14px;background:#123;color:#fff}
iframe{display:block;border:0;width:100%%;height:calc(100vh - 42px);background:#fff}</style></head>
<body><header>Partner bank &middot; open an account</header>
<iframe id="kyc" title="Identity verification" src="%s" allow="camera"></iframe>
<script>window.__messages=[];addEventListener("message",function(e){window.__messages.push({origin:e.origin,data:e.data})});</script>
</body></html>`, html.EscapeString(r.URL.Query().Get("src")))
	})
	mux.HandleFunc("GET /done", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Done</title></head><body><p id="done">%s</p></body></html>`,
			html.EscapeString(r.URL.RawQuery))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return "http://localhost:" + port
}

// TestPagesSecurityHeaders: every answer of the hosted flow, served over
// HTTPS, tells the browser to keep to HTTPS (HSTS; ASVS 14.4.5) and
// carries its content security policy and nosniff: the launch's landing
// page, its Start and a cross-site Start refused, the page, the
// short-code form, a static file, an API error and an unknown path.
func TestPagesSecurityHeaders(t *testing.T) {
	e := newEnv(t, false)
	_, fc := e.initiate(nil)
	u, _ := url.Parse(fc.LaunchURL)
	b := e.browser()
	landing, started := b.start(fc.LaunchURL, nil)
	answers := map[string]answer{
		"landing":     landing,
		"start":       must(t, http.StatusSeeOther, started),
		"cross-site":  must(t, http.StatusForbidden, e.browser().do("POST", u.Path, "", nil, map[string]string{"Sec-Fetch-Site": "cross-site"})),
		"page":        b.get("/flow/app"), // 503 without engines: headers all the same
		"code form":   must(t, http.StatusOK, e.browser().get("/flow/code")),
		"static":      must(t, http.StatusOK, e.browser().get("/flow/static/flow.js")),
		"no session":  must(t, http.StatusUnauthorized, e.browser().get("/flow/api/state")),
		"unknown":     must(t, http.StatusNotFound, e.browser().get("/flow/nope/nope")),
		"used launch": e.browser().get(u.Path),
	}
	for what, a := range answers {
		h := a.header
		if hsts := h.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=") {
			t.Errorf("%s: Strict-Transport-Security %q", what, hsts)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors") {
			t.Errorf("%s: nosniff %q, CSP %q", what, h.Get("X-Content-Type-Options"), h.Get("Content-Security-Policy"))
		}
	}
}

// TestStaticFilesOnly: /flow/static/ serves its files and nothing else: no
// directory listing (ASVS 12.5.1), nothing outside it however the path
// is spelled.
func TestStaticFilesOnly(t *testing.T) {
	e := newEnv(t, false)
	b := e.browser()
	if a := b.get("/flow/static/flow.css"); a.status != http.StatusOK {
		t.Fatalf("flow.css: %d", a.status)
	}
	for _, p := range []string{"/flow/static/", "/flow/static", "/flow/static/../app.html", "/flow/static/%2e%2e/app.html",
		"/flow/static/..%2fapp.html", "/flow/static/%2e%2e%2fapp.html", "/flow/static/..\\app.html", "/flow/static//"} {
		a := b.get(p)
		if a.status == http.StatusOK || strings.Contains(string(a.body), "<pre>") || strings.Contains(string(a.body), "flow.js") {
			t.Errorf("GET %s: %d %.80q", p, a.status, a.body)
		}
	}
}
