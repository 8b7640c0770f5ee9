package webhook

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
)

// TestAdminAnswersNotStored: the admin endpoints' answers (event bodies
// name the partner's users and their decisions) are never kept by a cache
// or a browser, errors included.
func TestAdminAnswersNotStored(t *testing.T) {
	st := openStore(t)
	addPartner(t, st, "p1", "https://p1.example/hook", nil, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err := st.AppendEvents(context.Background(), []central.WebhookEvent{event(t, "p1", "s1", "evt_1", time.Now().UTC())}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	x := &httpx.Responder{}
	(&Admin{Store: st}).Mount(func(pattern string, h httpx.HandlerFunc) bool { mux.Handle(pattern, x.Handle(h)); return true })
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/admin/v1/partners/p1/events", http.StatusOK},
		{"GET", "/admin/v1/partners/nobody/events", http.StatusNotFound},
		{"GET", "/admin/v1/events/evt_1/attempts", http.StatusOK},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			if rec.Code != tc.status || rec.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("%d (want %d), Cache-Control %q: %s", rec.Code, tc.status, rec.Header().Get("Cache-Control"), rec.Body)
			}
		})
	}
}
