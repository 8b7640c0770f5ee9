package httpx

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

// TestTrustedProxies: the client's address is taken from X-Forwarded-For
// only when the peer is a trusted proxy, and then only the entry the
// nearest trusted proxy appended: what a client writes to the left of it
// (a forged address to escape its own failure budget) is never believed.
func TestTrustedProxies(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}
	for _, tc := range []struct {
		name, peer string
		xff        []string
		proxies    []netip.Prefix
		want       string
	}{
		{"no proxies configured: the header is ignored", "127.0.0.1:5000", []string{"203.0.113.9"}, nil, "127.0.0.1"},
		{"untrusted peer: the header is ignored", "198.51.100.7:5000", []string{"203.0.113.9"}, trusted, "198.51.100.7"},
		{"trusted proxy: its client", "127.0.0.1:5000", []string{"203.0.113.9"}, trusted, "203.0.113.9"},
		{"a forged entry left of the proxy's is not believed", "127.0.0.1:5000", []string{"192.0.2.1, 203.0.113.9"}, trusted, "203.0.113.9"},
		{"two trusted hops", "127.0.0.1:5000", []string{"192.0.2.1, 203.0.113.9, 10.1.2.3"}, trusted, "203.0.113.9"},
		{"several headers read in order", "127.0.0.1:5000", []string{"192.0.2.1", "203.0.113.9"}, trusted, "203.0.113.9"},
		{"IPv6 client", "127.0.0.1:5000", []string{"2001:db8::1"}, trusted, "2001:db8::1"},
		{"garbage where the proxy's entry should be: the peer", "127.0.0.1:5000", []string{"203.0.113.9, not-an-ip"}, trusted, "127.0.0.1"},
		{"only trusted hops: the peer", "127.0.0.1:5000", []string{"10.0.0.1"}, trusted, "127.0.0.1"},
		{"no header: the peer", "127.0.0.1:5000", nil, trusted, "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			h := WithTrustedProxies(tc.proxies, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = ClientAddr(r) }))
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.peer
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			h.ServeHTTP(httptest.NewRecorder(), r)
			if got != tc.want {
				t.Errorf("client %q, want %q", got, tc.want)
			}
		})
	}
}
