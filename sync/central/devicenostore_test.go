package central_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/protocol"
)

// TestDeviceAnswersNotCached: the device API's answers (reviews, config,
// enrolment, errors) tell caches to keep no copy, as the admin API's do.
func TestDeviceAnswersNotCached(t *testing.T) {
	c := start(t, central.Config{Store: sealedBolt(t)})
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
	}{
		{"reviews, unsigned", http.MethodGet, protocol.PathReviews, "", http.StatusUnauthorized},
		{"config, unsigned", http.MethodGet, protocol.PathConfig, "", http.StatusUnauthorized},
		{"enrol, malformed", http.MethodPost, protocol.PathEnroll, "{", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, c.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, _ := c.send(t, req, nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", got)
			}
		})
	}
}
