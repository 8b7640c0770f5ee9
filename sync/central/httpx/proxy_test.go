package httpx

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
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
		{"empty header: the peer", "127.0.0.1:5000", []string{" "}, trusted, "127.0.0.1"},
		{"untrusted peer's forged header ignored, spoofed list and all", "198.51.100.7:5000", []string{"10.0.0.1, 192.0.2.55, 127.0.0.1"}, trusted, "198.51.100.7"},
		{"several forged entries left of the proxy's", "127.0.0.1:5000", []string{"1.1.1.1, 2.2.2.2", "3.3.3.3, 203.0.113.9"}, trusted, "203.0.113.9"},
		{"a forged trusted address left of the proxy's is not walked to", "127.0.0.1:5000", []string{"10.9.9.9, 203.0.113.9, 10.1.2.3"}, trusted, "203.0.113.9"},
		{"garbage left of the proxy's entry is never read", "127.0.0.1:5000", []string{"<script>, ;;, 203.0.113.9"}, trusted, "203.0.113.9"},
		{"a forged header line before the proxy's", "127.0.0.1:5000", []string{"not an ip at all", "203.0.113.9"}, trusted, "203.0.113.9"},
		{"an empty entry where the proxy's should be: the peer", "127.0.0.1:5000", []string{"203.0.113.9,"}, trusted, "127.0.0.1"},
		{"IPv4-mapped client read as IPv4", "127.0.0.1:5000", []string{"::ffff:203.0.113.9"}, trusted, "203.0.113.9"},
		{"IPv4-mapped trusted hop is trusted", "127.0.0.1:5000", []string{"203.0.113.9, ::ffff:10.1.2.3"}, trusted, "203.0.113.9"},
		{"IPv4-mapped peer is trusted", "[::ffff:127.0.0.1]:5000", []string{"203.0.113.9"}, trusted, "203.0.113.9"},
		{"IPv4-mapped untrusted peer reads as IPv4", "[::ffff:198.51.100.7]:5000", []string{"203.0.113.9"}, trusted, "198.51.100.7"},
		{"IPv6 proxy", "[2001:db8:ffff::1]:5000", []string{"192.0.2.1, 2001:db8::7"}, append(trusted, netip.MustParsePrefix("2001:db8:ffff::/48")), "2001:db8::7"},
		{"entry with a port", "127.0.0.1:5000", []string{"203.0.113.9:4711"}, trusted, "203.0.113.9"},
		{"IPv6 entry with a port", "127.0.0.1:5000", []string{"[2001:db8::1]:4711"}, trusted, "2001:db8::1"},
		{"zone dropped", "127.0.0.1:5000", []string{"fe80::1%eth0"}, trusted, "fe80::1"},
		{"overlong entry: the peer", "127.0.0.1:5000", []string{strings.Repeat("0", 70) + "1.2.3.4"}, trusted, "127.0.0.1"},
		{"a megabyte of forged entries is not read", "127.0.0.1:5000", []string{strings.Repeat("192.0.2.1, ", 100000) + "203.0.113.9"}, trusted, "203.0.113.9"},
		{"more trusted hops than the walk's bound: the peer", "127.0.0.1:5000", []string{"203.0.113.9" + strings.Repeat(", 10.0.0.1", maxForwardedHops)}, trusted, "127.0.0.1"},
		{"trusted hops within the walk's bound", "127.0.0.1:5000", []string{"203.0.113.9" + strings.Repeat(", 10.0.0.1", maxForwardedHops-1)}, trusted, "203.0.113.9"},
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

// TestForwardedForReadsOnlyTheRight: a client may send as long a header as
// the server takes, all of it forged; the walk reads the few entries at
// its right end, not a list of all of them.
func TestForwardedForReadsOnlyTheRight(t *testing.T) {
	values := []string{strings.Repeat("192.0.2.1, ", 1500), strings.Repeat("192.0.2.2, ", 1500) + "203.0.113.9"}
	trusted := func(a netip.Addr) bool { return false }
	var got netip.Addr
	allocs := testing.AllocsPerRun(20, func() { got, _ = forwardedClient(values, trusted) })
	if got != netip.MustParseAddr("203.0.113.9") || allocs > 0 {
		t.Errorf("client %v with %v allocations, want 203.0.113.9 with none", got, allocs)
	}
}
