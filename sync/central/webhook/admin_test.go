package webhook

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
	"github.com/openkyc/kyc/sync/central/partnerapi/apitest"
)

// TestAdminAnswersNotStored: the admin endpoints' answers (event bodies
// name the partner's users and their decisions) are never kept by a cache
// or a browser, errors included; requests and answers match openapi.json
// (apitest).
func TestAdminAnswersNotStored(t *testing.T) {
	st := openStore(t)
	addPartner(t, st, "p1", "https://p1.example/hook", nil, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err := st.AppendEvents(context.Background(), []central.WebhookEvent{event(t, "p1", "s1", "evt_1", time.Now().UTC())}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	x := &httpx.Responder{}
	(&Admin{Store: st}).Mount(func(pattern string, h httpx.HandlerFunc) bool { mux.Handle(pattern, x.Handle(h)); return true })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c := apitest.Client(t, srv.Client().Transport)
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/admin/v1/partners/p1/events", http.StatusOK},
		{"GET", "/admin/v1/partners/nobody/events", http.StatusNotFound},
		{"GET", "/admin/v1/events/evt_1/attempts", http.StatusOK},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			// Central authenticates admin requests before these handlers
			// (the mux here does not); the document requires the token.
			req.Header.Set("Authorization", "Bearer "+strings.Repeat("a", 43))
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status || resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("%d (want %d), Cache-Control %q: %s", resp.StatusCode, tc.status, resp.Header.Get("Cache-Control"), body)
			}
		})
	}
}
