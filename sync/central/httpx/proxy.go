package httpx

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientAddr is the address of r's client without the port: the TCP peer,
// or the client a trusted proxy forwarded for (WithTrustedProxies has then
// put it in r.RemoteAddr). Per-address limits key on it.
func ClientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// WithTrustedProxies serves h with r.RemoteAddr set to the client a
// trusted proxy forwarded for, when the TCP peer is inside one of trusted:
// the rightmost address of X-Forwarded-For that is not itself a trusted
// proxy. That entry is what the nearest trusted proxy saw; everything to
// its left the client may have written, so it is never believed. Requests
// from any other peer, and every request when trusted is empty, keep their
// peer: forwarding headers are ignored (behind an untrusted hop, limits
// apply to the hop).
func WithTrustedProxies(trusted []netip.Prefix, h http.Handler) http.Handler {
	if len(trusted) == 0 {
		return h
	}
	isTrusted := func(a netip.Addr) bool {
		a = a.Unmap()
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil || !isTrusted(peer.Addr()) {
			h.ServeHTTP(w, r)
			return
		}
		if client, ok := forwardedClient(r.Header.Values("X-Forwarded-For"), isTrusted); ok {
			r2 := r.Clone(r.Context())
			r2.RemoteAddr = netip.AddrPortFrom(client, 0).String()
			r = r2
		}
		h.ServeHTTP(w, r)
	})
}

// forwardedClient walks X-Forwarded-For from the right past trusted
// proxies; false when the header is absent, names only trusted proxies,
// or its first untrusted entry is not an address.
func forwardedClient(values []string, trusted func(netip.Addr) bool) (netip.Addr, bool) {
	var hops []string
	for _, v := range values {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return netip.Addr{}, false
		}
		if !trusted(a) {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}
