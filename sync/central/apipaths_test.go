package central_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/central/partnerapi"
	"github.com/openkyc/kyc/sync/central/partnerapi/apitest"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/protocol"
)

// rawAnswer is an answer read whole.
type rawAnswer struct {
	status int
	header http.Header
	body   []byte
}

// rawRequest sends method and target exactly as written (the standard
// client would clean neither, but says so nowhere) over a new TLS
// connection to host, with the headers h, and reads the answer.
func rawRequest(t *testing.T, cfg *tls.Config, host, method, target string, h http.Header) rawAnswer {
	t.Helper()
	conn, err := tls.Dial("tcp", host, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nContent-Length: 0\r\n", method, target, host)
	if err := h.Write(conn); err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(conn, "\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rawAnswer{resp.StatusCode, resp.Header, b}
}

// TestAPIPathsAnswerErrors: under the APIs' paths (devices', admin,
// partner, /openapi.json, /healthz) a path with an empty, "." or ".."
// segment, a root without its slash and a path no route serves answer the
// APIs' error object, 404 not_found (405 method_not_allowed with Allow for
// a route's path asked with another method), held to openapi.json's
// component responses; never the router's 307 redirect page or its plain
// text. A device's signed request to a path spelled so is refused alike,
// and is not carried to the clean path.
func TestAPIPathsAnswerErrors(t *testing.T) {
	c := centraltest.New(t, centraltest.BoltStore(t), centraltest.Options{})
	key := make([]byte, partnerapi.SecretKeySize)
	rand.Read(key)
	api, err := partnerapi.New(partnerapi.Config{Store: c.Store, SecretKey: key, PublicURL: c.Base})
	if err != nil {
		t.Fatal(err)
	}
	api.Mount(c.Server)
	c.Serve(t)
	host := c.Base[len("https://"):]
	admin := http.Header{"Authorization": {"Bearer " + c.Admin}}
	for _, tc := range []struct {
		method, target string
		header         http.Header
		status         int
		allow          string
	}{
		{"GET", "/api//v1/flows", nil, 404, ""},
		{"POST", "/api//v1/flows", nil, 404, ""},
		{"GET", "/api/v1/../v1/flows/ses_1", nil, 404, ""},
		{"GET", "/api/v1/./flows/ses_1", nil, 404, ""},
		{"GET", "/api", nil, 404, ""},
		{"GET", "/flow/../api/v1/flows/ses_1", nil, 404, ""},
		{"GET", "//openapi.json", nil, 404, ""},
		{"GET", "/openapi.json/", nil, 404, ""},
		{"GET", "/healthz/", nil, 404, ""},
		{"GET", "/admin//v1/devices", admin, 404, ""},
		{"GET", "/admin/v1/partners/../devices", admin, 404, ""},
		{"GET", "/admin", admin, 404, ""},
		{"GET", "/admin/v1/nope", admin, 404, ""},
		{"GET", "/admin/v1/devices/", admin, 404, ""},
		{"POST", "/admin/v1/devices", admin, 405, "GET, HEAD"},
		{"GET", "/v1", nil, 404, ""},
		{"GET", "/v1//config", nil, 404, ""},
		{"GET", "/v1/nope", nil, 404, ""},
		{"GET", "/v1/submissions/", nil, 404, ""},
		{"POST", "/v1/config", nil, 405, "GET, HEAD"},
	} {
		a := rawRequest(t, c.ClientTLS, host, tc.method, tc.target, tc.header)
		if a.status != tc.status || a.header.Get("Location") != "" || a.header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d Location %q Allow %q %.100q, want %d Allow %q", tc.method, tc.target, a.status,
				a.header.Get("Location"), a.header.Get("Allow"), a.body, tc.status, tc.allow)
			continue
		}
		name := "NotFound"
		if tc.status == http.StatusMethodNotAllowed {
			name = "MethodNotAllowed"
		}
		apitest.Response(t, name, a.header, a.body)
	}

	// A device's signed request to /v1//config: the signature covers the
	// path as sent, and central answers for that path, not another.
	client := &http.Client{Transport: c.Transport()}
	tokReq, _ := http.NewRequest("POST", c.Base+"/admin/v1/enroll-tokens", nil)
	tokReq.Header.Set("Authorization", "Bearer "+c.Admin)
	resp, err := client.Do(tokReq)
	if err != nil {
		t.Fatal(err)
	}
	var tok central.TokenResponse
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	id := identity.Generate()
	if _, err := identity.Enroll(context.Background(), client, c.Base, tok.Token, id, "test"); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", c.Base+"/v1//config", nil)
	protocol.Sign(req, sha256.Sum256(nil), id.DeviceID(), id.Signer().(ed25519.PrivateKey), time.Now())
	if a := rawRequest(t, c.ClientTLS, host, "GET", "/v1//config", req.Header); a.status != http.StatusNotFound || a.header.Get("Location") != "" {
		t.Errorf("signed GET /v1//config: %d Location %q %.100q, want 404", a.status, a.header.Get("Location"), a.body)
	}
}
