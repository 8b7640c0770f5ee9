package hostedflow_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzHostedFlow is a person's phone, or a script holding a session,
// sending the hosted flow what it likes: every route with any query,
// body and content type, with the session's cookie and CSRF token, with
// none, or with others made up. Each input starts from a new session
// (Smart QR on, so the phone's routes are there). The flow answers each
// with a page or a JSON error object of its own, never a 5xx but 503.
// `go test` runs the seeds; `go test -fuzz FuzzHostedFlow` searches.
func FuzzHostedFlow(f *testing.F) {
	e := newEnv(f, true)
	routes := []struct{ method, path string }{
		{"GET", "/flow/api/state"}, {"POST", "/flow/api/frame"}, {"POST", "/flow/api/capture"}, {"POST", "/flow/api/submit"},
		{"POST", "/flow/api/retry"}, {"POST", "/flow/api/handoff"}, {"POST", "/flow/api/finish"}, {"POST", "/flow/api/lang"},
		{"GET", "/flow/app"}, {"GET", "/flow/code"}, {"POST", "/flow/code"}, {"GET", "/flow/h/"}, {"POST", "/flow/h/"},
		{"GET", "/flow/"}, {"POST", "/flow/"}, {"GET", "/flow/static/"},
	}
	for i := range routes {
		f.Add(uint8(i), "", []byte(nil), uint8(0), uint8(0), "")
		f.Add(uint8(i), "step=selfie", []byte{0xff, 0xd8, 0xff, 0xe0}, uint8(1), uint8(1), "x")
	}
	f.Add(uint8(7), "", []byte(`{"lang":"id"}`), uint8(2), uint8(0), "")
	f.Add(uint8(2), "step=front", bytes.Repeat([]byte{0xff}, 5000), uint8(1), uint8(0), "")
	f.Add(uint8(10), "", []byte("code=ABCD-EFGH"), uint8(3), uint8(2), "AAAAAAAA:BBBB:CCCC")

	contentTypes := []string{"", "image/jpeg", "application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=z", "text/plain"}
	f.Fuzz(func(t *testing.T, route uint8, query string, body []byte, ctype, auth uint8, tail string) {
		e.t = t // the env's helpers fail this input
		// An hour later every budget has refilled.
		e.clk.Advance(time.Hour)
		_, fc := e.initiate(map[string]any{"smart_qr": true})
		b := e.browser()
		b.open(fc.LaunchURL)
		r := routes[int(route)%len(routes)]
		path := r.path
		if strings.HasSuffix(path, "/") && path != "/flow/static/" || strings.HasPrefix(path, "/flow/static/") {
			path += url.PathEscape(tail)
		}
		target := e.base + path
		if query != "" {
			target += "?" + query
		}
		req, err := http.NewRequest(r.method, target, bytes.NewReader(body))
		if err != nil {
			t.Skip("not a request a browser can send:", err)
		}
		if ct := contentTypes[int(ctype)%len(contentTypes)]; ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		c := b.c
		switch auth % 3 {
		case 0: // the session's browser, with its token
			req.Header.Set("X-Flow-CSRF", b.csrf)
		case 1: // the session's cookie, another token
			if validHeaderValue(tail) {
				req.Header.Set("X-Flow-CSRF", tail)
			}
		case 2: // another browser, whose cookie is made up
			c = e.browser().c
			if validHeaderValue(tail) {
				req.Header.Set("Cookie", "__Host-kyc_flow="+tail)
			}
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", r.method, path, err)
		}
		answer, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s %s: reading the answer: %v", r.method, path, err)
		}
		if resp.StatusCode >= 500 && resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s %s?%s (%d bytes of %q): %d %.300s", r.method, path, query, len(body), req.Header.Get("Content-Type"), resp.StatusCode, answer)
		}
		ct := resp.Header.Get("Content-Type")
		switch {
		case resp.StatusCode < 400 || strings.HasPrefix(ct, "text/html"):
		case strings.HasPrefix(ct, "application/json"):
			var e struct{ Code, Message string }
			if err := json.Unmarshal(answer, &e); err != nil || e.Code == "" || e.Message == "" {
				t.Errorf("%s %s: %d without an error object: %.300s", r.method, path, resp.StatusCode, answer)
			}
		default:
			t.Errorf("%s %s: %d as %q: %.300s", r.method, path, resp.StatusCode, ct, answer)
		}
	})
}

// validHeaderValue reports whether v can be sent as a header value at all
// (net/http refuses control characters other than tab).
func validHeaderValue(v string) bool {
	return !strings.ContainsFunc(v, func(r rune) bool { return (r < 0x20 && r != '\t') || r == 0x7f })
}
