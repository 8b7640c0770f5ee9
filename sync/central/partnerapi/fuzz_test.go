package partnerapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central/backup"
	"github.com/openkyc/kyc/sync/central/partnerapi"
	"github.com/openkyc/kyc/sync/central/partnerapi/apitest"
)

// operation is one method and path template of openapi.json.
type operation struct{ method, path string }

// documentedOperations lists every operation of openapi.json, in a fixed
// order, so a new route is fuzzed without this file changing.
func documentedOperations(t testing.TB) []operation {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(partnerapi.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	var ops []operation
	for p, item := range doc.Paths {
		for m := range item {
			switch m {
			case "get", "post", "put", "delete", "patch":
				ops = append(ops, operation{strings.ToUpper(m), p})
			}
		}
	}
	slices.SortFunc(ops, func(a, b operation) int { return strings.Compare(a.path+" "+a.method, b.path+" "+b.method) })
	return ops
}

var pathParam = regexp.MustCompile(`\{[^}]+\}`)

// FuzzPartnerAPI sends requests made of fuzzed parts to every operation
// of openapi.json (the partner API, its admin routes and central's): path
// parameters, query, body, content type, credentials and Idempotency-Key,
// as a hostile or broken partner might. Whatever arrives, central answers
// as the document says (apitest validates each answer: status, headers,
// error object) and never with a 5xx but the documented 503s, each with
// Retry-After. `go test` runs the seeds; `go test -fuzz FuzzPartnerAPI`
// searches.
func FuzzPartnerAPI(f *testing.F) {
	e := newEnvWith(f, boltStore, func(c *partnerapi.Config) {
		// The fuzzer's requests would spend any partner's budget at once
		// and leave the rest of a run to 429.
		c.PartnerRate = partnerapi.RateLimit{PerSecond: 1e6, Burst: 1 << 20}
	})
	// The launch page of this minimal mount is a test's: kyc-central
	// mounts the hosted flow there, fuzzed in its own package; and the
	// backup of the embedded store, which it mounts too (package backup,
	// tested there), is not mounted here.
	ops := slices.DeleteFunc(documentedOperations(f), func(op operation) bool {
		return strings.HasPrefix(op.path, "/flow/") || op.path == backup.Path
	})
	at := func(method, path string) uint8 { return uint8(slices.Index(ops, operation{method, path})) }
	p := e.addPartner("fuzz")
	other := e.partner("other")
	fc := e.flow(other, map[string]any{"partner_user_id": "cust-1"})
	// Path parameters a fuzzed request may use instead of its own bytes:
	// this partner's id, another tenant's session, the partner's client id.
	known := []string{p.Partner.ID, fc.SessionID, p.ClientID}

	for i, op := range ops {
		var body []byte
		switch {
		case op.path == "/api/v1/partner-token":
			body, _ = json.Marshal(map[string]string{"client_id": p.ClientID, "pass_key": p.PassKey})
		case op.path == "/api/v1/flows":
			body = []byte(`{"partner_user_id":"u-1","partner_user_id_type":"email","partner_session_id":"s-1","callback_url":"https://example.com/cb"}`)
		case op.method == "POST" || op.method == "PUT":
			body = []byte(`{"url":"https://example.com/hook","name":"x","branches":["b1"],"disabled":true}`)
		}
		f.Add(uint8(i), uint8(0), "", "", body, uint8(0), uint8(1), "")
		f.Add(uint8(i), uint8(1), "x", "limit=-1&after=%00", []byte(`{"a":`), uint8(2), uint8(2), "k\x00")
	}
	f.Add(at("POST", "/admin/v1/events/{id}/replay"), uint8(9), "..%2f..", "session_id=1&session_id=2", []byte(`{"partner_user_id":"a","partner_user_id":"b"}`), uint8(0), uint8(1), strings.Repeat("k", 300))
	f.Add(at("POST", "/admin/v1/partners"), uint8(9), "\u00e9", "", bytes.Repeat([]byte("["), 10000), uint8(3), uint8(3), "")

	contentTypes := []string{"application/json", "", "text/plain", "multipart/form-data; boundary=x", "application/json; charset=latin1", "image/jpeg"}
	f.Fuzz(func(t *testing.T, opIndex, paramPick uint8, param, query string, body []byte, ctype, auth uint8, idem string) {
		// An hour later every failure budget has refilled and the last
		// token has expired: each input starts where the first did.
		e.clk.Advance(time.Hour)
		op := ops[int(opIndex)%len(ops)]
		if paramPick%2 == 1 {
			param = known[int(paramPick/2)%len(known)]
		}
		path := pathParam.ReplaceAllLiteralString(op.path, url.PathEscape(param))
		target := e.base + path
		if query != "" {
			target += "?" + query
		}
		req, err := http.NewRequest(op.method, target, bytes.NewReader(body))
		if err != nil {
			t.Skip("not a request a client can send:", err)
		}
		if ct := contentTypes[int(ctype)%len(contentTypes)]; ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		switch auth % 4 {
		case 1:
			req.Header.Set("Authorization", "Bearer "+fuzzToken(t, e, p))
		case 2:
			req.Header.Set("Authorization", "Bearer "+e.admin)
		case 3:
			if validHeaderValue(param) {
				req.Header.Set("Authorization", "Bearer "+param)
			}
		}
		if idem != "" && validHeaderValue(idem) {
			req.Header.Set("Idempotency-Key", idem)
		}
		// An empty path parameter makes a path the document does not
		// have: its answer is held to the document's 404 or 405.
		undocumented := param == "" && path != op.path
		c := apitest.Client(t, e.transport)
		if undocumented {
			c = &http.Client{Transport: e.transport}
		}
		resp, err := c.Do(apitest.Invalid(req))
		if err != nil {
			t.Fatalf("%s %s: %v", op.method, path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if undocumented {
			switch resp.StatusCode {
			case http.StatusNotFound:
				apitest.Response(t, "NotFound", resp.Header, b)
			case http.StatusMethodNotAllowed:
				apitest.Response(t, "MethodNotAllowed", resp.Header, b)
			default:
				t.Errorf("%s %s: %d, want 404 or 405: %s", op.method, path, resp.StatusCode, b)
			}
		}
		// A 503 is documented where it is temporary (busy) or lasting
		// (no models); any other 5xx is a fault.
		if resp.StatusCode >= 500 && resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s %s?%s (%d bytes of %q): %d %s", op.method, path, query, len(body), req.Header.Get("Content-Type"), resp.StatusCode, b)
		}
	})
}

// fuzzToken is a fresh partner token of p.
func fuzzToken(t *testing.T, e *env, p partnerapi.Created) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"client_id": p.ClientID, "pass_key": p.PassKey})
	req, err := http.NewRequest("POST", e.base+"/api/v1/partner-token", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := apitest.Client(t, e.transport).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr partnerapi.TokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("partner token: %d %v", resp.StatusCode, err)
	}
	return tr.Token
}

// validHeaderValue reports whether v can be sent as a header value at all
// (net/http refuses control characters other than tab).
func validHeaderValue(v string) bool {
	return !strings.ContainsFunc(v, func(r rune) bool { return (r < 0x20 && r != '\t') || r == 0x7f })
}
