package drill

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/identity"
)

// TestBudgetsPerClientBehindHAProxy: through the set's HAProxy, which the
// instances trust (--trusted-proxies), each client spends its own failure
// budget. A client on 127.0.0.1 (where HAProxy listens, and the clients
// of the set are) guessing the admin token, with a forged X-Forwarded-For
// on every guess, is locked out; a client on 127.0.0.4 with the right
// token is not.
func TestBudgetsPerClientBehindHAProxy(t *testing.T) {
	// A bound on a hang, not a speed target.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{Instances: 1, CentralBin: centralBin(t), Dir: t.TempDir(), Models: NoModels})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	from := func(ip string) *http.Client {
		tr, err := identity.NewTransport(c.CA)
		if err != nil {
			t.Fatal(err)
		}
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		tr.DialContext = d.DialContext
		return &http.Client{Transport: tr, Timeout: time.Minute}
	}
	get := func(cl *http.Client, xff, tok string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+"/admin/v1/devices", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	attacker, other := from("127.0.0.1"), from("127.0.0.4")
	limited := false
	for i := range 30 {
		status := get(attacker, fmt.Sprintf("198.51.100.%d", i+1), fmt.Sprintf("guess-%d", i))
		if status == http.StatusTooManyRequests {
			limited = true
			break
		}
		if status != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, status)
		}
	}
	if !limited {
		t.Fatal("30 wrong tokens, each under a fresh forged X-Forwarded-For, were never rate-limited")
	}
	if status := get(attacker, "192.0.2.77", c.Admin); status != http.StatusTooManyRequests {
		t.Errorf("the right token from the locked-out client: %d, want 429", status)
	}
	if status := get(other, "", c.Admin); status != http.StatusOK {
		t.Errorf("the right token from another client behind the same HAProxy: %d, want 200", status)
	}
}
