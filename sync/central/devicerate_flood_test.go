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

// TestDeviceResendFloodRefused: a device key that replays a manifest
// central holds (each answered 200 with its receipt, each a nonce row)
// is, past its resend budget, refused 429 too_many_resends before a nonce
// is recorded, its new uploads too until the budget refills; another
// device goes on.
func TestDeviceResendFloodRefused(t *testing.T) {
	store := &nonceCounter{Store: openBolt(t)}
	c := start(t, central.Config{Store: store, ResendBurst: 5, ResendInterval: time.Hour})
	d, other := c.enrol(t), c.enrol(t)
	cfg := d.config(t)
	att := d.attestation(t, time.Now(), cfg.Challenge)
	if resp, e := d.submit(t, "held", att, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("the submission: %d %+v", resp.StatusCode, e)
	}
	for i := range 5 {
		if resp, e := d.submit(t, "held", att, ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("resend %d within the budget: %d %+v", i+1, resp.StatusCode, e)
		}
	}
	before := store.n.Load()
	for i := range 20 {
		resp, e := d.submit(t, "held", att, "")
		if resp.StatusCode != http.StatusTooManyRequests || e.Code != "too_many_resends" || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("resend %d past the budget: %d Retry-After %q %+v, want 429 too_many_resends", 6+i, resp.StatusCode, resp.Header.Get("Retry-After"), e)
		}
	}
	if resp, e := d.submit(t, "new", att, ""); resp.StatusCode != http.StatusTooManyRequests || e.Code != "too_many_resends" {
		t.Errorf("a new upload of the device past its resend budget: %d %+v, want 429 too_many_resends", resp.StatusCode, e)
	}
	if n := store.n.Load() - before; n != 0 {
		t.Errorf("the refused resends recorded %d nonces, want none", n)
	}
	if resp, e := d.do(t, http.MethodGet, protocol.PathConfig, nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("the device's other requests: %d %+v", resp.StatusCode, e)
	}
	if resp, e := other.submit(t, "other", other.attestation(t, time.Now(), other.config(t).Challenge), ""); resp.StatusCode != http.StatusOK {
		t.Errorf("another device's submission: %d %+v", resp.StatusCode, e)
	}
	if !containsLine(metricsOf(t, c), `kyc_central_shed_requests_total{reason="resends"} 21`) {
		t.Error("metrics do not count the refused resends")
	}
}

// TestDeviceRefusedUploadFloodRefused: a device key that sends uploads
// central refuses (chunks of a submission it does not hold, 404; manifests
// that do not open, 422), each a nonce row before, spends its resend
// budget with each: past it, 429 too_many_resends before a nonce is
// recorded. Before, such uploads spent no budget at all, and a stolen
// kiosk's key wrote nonce rows as fast as central answered.
func TestDeviceRefusedUploadFloodRefused(t *testing.T) {
	store := &nonceCounter{Store: openBolt(t)}
	c := start(t, central.Config{Store: store, ResendBurst: 5, ResendInterval: time.Hour})
	d, other := c.enrol(t), c.enrol(t)
	unknown := protocol.SubmissionKey("never sent")
	flood := []struct {
		path string
		want int
	}{
		{protocol.ImagePath(unknown, "selfie", 0), http.StatusNotFound},
		{protocol.SubmissionPath(unknown), http.StatusUnprocessableEntity},
	}
	for i := range 5 {
		f := flood[i%len(flood)]
		if resp, e := d.do(t, http.MethodPut, f.path, []byte("not sealed"), nil); resp.StatusCode != f.want {
			t.Fatalf("refused upload %d within the budget: %d %+v, want %d", i+1, resp.StatusCode, e, f.want)
		}
	}
	before := store.n.Load()
	for i := range 20 {
		f := flood[i%len(flood)]
		resp, e := d.do(t, http.MethodPut, f.path, []byte("not sealed"), nil)
		if resp.StatusCode != http.StatusTooManyRequests || e.Code != "too_many_resends" || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("refused upload %d past the budget: %d Retry-After %q %+v, want 429 too_many_resends", 6+i, resp.StatusCode, resp.Header.Get("Retry-After"), e)
		}
	}
	if n := store.n.Load() - before; n != 0 {
		t.Errorf("the refused flood recorded %d nonces, want none", n)
	}
	if resp, e := other.submit(t, "other", other.attestation(t, time.Now(), other.config(t).Challenge), ""); resp.StatusCode != http.StatusOK {
		t.Errorf("another device's submission: %d %+v", resp.StatusCode, e)
	}
}
