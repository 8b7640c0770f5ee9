package central_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/protocol"
)

// nonceCounter counts the nonces its store records.
type nonceCounter struct {
	central.Store
	n atomic.Int64
}

func (s *nonceCounter) UseNonce(ctx context.Context, deviceID, nonce string, now, expires time.Time) error {
	err := s.Store.UseNonce(ctx, deviceID, nonce, now, expires)
	if err == nil {
		s.n.Add(1)
	}
	return err
}

// TestDeviceRequestFloodRefused: a device key (a stolen kiosk's) that
// sends its other requests without pause gets, past its budget, 429
// too_many_requests with Retry-After, and central records no nonce of
// them; its uploads and another device go on.
func TestDeviceRequestFloodRefused(t *testing.T) {
	store := &nonceCounter{Store: openBolt(t)}
	c := start(t, central.Config{Store: store, RequestBurst: 5, RequestInterval: time.Hour})
	d, other := c.enrol(t), c.enrol(t)
	challenge := d.config(t).Challenge // the first of its five
	for range 4 {
		if resp, e := d.do(t, http.MethodGet, protocol.ReviewsPath(0), nil, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("within the budget: %d %+v", resp.StatusCode, e)
		}
	}
	before := store.n.Load()
	flood := []struct{ method, path string }{
		{http.MethodGet, protocol.PathConfig}, {http.MethodGet, protocol.ReviewsPath(0)},
		{http.MethodGet, protocol.PathWatchlists + "ofac"}, {http.MethodPut, protocol.PathStatus},
	}
	for i := range 40 {
		f := flood[i%len(flood)]
		var body []byte
		if f.method == http.MethodPut {
			body = []byte(`{"config_version":1}`)
		}
		resp, e := d.do(t, f.method, f.path, body, nil)
		if resp.StatusCode != http.StatusTooManyRequests || e.Code != "too_many_requests" || resp.Header.Get("Retry-After") == "" || e.RequestID == "" {
			t.Fatalf("%s %s past the budget: %d Retry-After %q %+v, want 429 too_many_requests", f.method, f.path, resp.StatusCode, resp.Header.Get("Retry-After"), e)
		}
	}
	if n := store.n.Load() - before; n != 0 {
		t.Errorf("the refused flood recorded %d nonces, want none", n)
	}
	if resp, e := d.submit(t, "after-flood", d.attestation(t, time.Now(), challenge), ""); resp.StatusCode != http.StatusOK {
		t.Errorf("the device's submission after the flood: %d %+v", resp.StatusCode, e)
	}
	if resp, e := other.do(t, http.MethodGet, protocol.PathConfig, nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("another device: %d %+v", resp.StatusCode, e)
	}
	if !containsLine(metricsOf(t, c), `kyc_central_shed_requests_total{reason="requests"} 40`) {
		t.Error("metrics do not count the refused requests")
	}
}
