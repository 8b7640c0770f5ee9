package httpx

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientAddr is the address of r's client without the port: the TCP peer,
// or the client a trusted proxy forwarded for (WithTrustedProxies has then
// put it in r.RemoteAddr). Per-address limits, audit events and logs key
// on it, so it is the one place central derives a client's address. An
// IPv4-mapped IPv6 address reads as the IPv4 address, so a dual-stack
// listener does not give one client two budgets.
func ClientAddr(r *http.Request) string {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap().WithZone("").String()
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Bounds of the X-Forwarded-For walk. Only the rightmost entries are ever
// believed, so whatever a client prepends is not read at all: at most
// maxForwardedHops entries from the right, none longer than
// maxForwardedEntry bytes (the longest IPv6 address with a port is 47).
// A chain of more trusted proxies than that, or a longer entry, leaves
// the request with its peer.
const (
	maxForwardedHops  = 16
	maxForwardedEntry = 64
)

// WithTrustedProxies serves h with r.RemoteAddr set to the client a
// trusted proxy forwarded for, when the TCP peer is inside one of trusted:
// the rightmost address of X-Forwarded-For that is not itself a trusted
// proxy. That entry is what the nearest trusted proxy saw; everything to
// its left the client may have written, so it is never believed. Requests
// from any other peer, and every request when trusted is empty, keep their
// peer: forwarding headers are ignored (behind an untrusted hop, limits
// apply to the hop). The RFC 7239 Forwarded header is not read: the load
// balancers central is run behind (HAProxy's option forwardfor) send
// X-Forwarded-For.
func WithTrustedProxies(trusted []netip.Prefix, h http.Handler) http.Handler {
	if len(trusted) == 0 {
		return h
	}
	isTrusted := func(a netip.Addr) bool {
		a = a.Unmap().WithZone("")
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
// proxies; its header lines are one list, in order. False when the header
// is absent, names only trusted proxies (every hop trusted: the peer
// stays, the conservative choice, as the leftmost of them could have been
// written by whoever sent the request), or its first untrusted entry is
// not an address (a proxy central trusts wrote it: a misconfiguration, not
// a client to believe), or the walk passes its bounds.
func forwardedClient(values []string, trusted func(netip.Addr) bool) (netip.Addr, bool) {
	hops := 0
	for i := len(values) - 1; i >= 0; i-- {
		rest := values[i]
		if strings.TrimSpace(rest) == "" {
			continue // an empty header line names nobody
		}
		for done := false; !done; {
			entry := rest
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				entry, rest = rest[j+1:], rest[:j]
			} else {
				done = true
			}
			if hops++; hops > maxForwardedHops {
				return netip.Addr{}, false
			}
			a, ok := forwardedAddr(strings.TrimSpace(entry))
			if !ok {
				return netip.Addr{}, false
			}
			if !trusted(a) {
				return a, true
			}
		}
	}
	return netip.Addr{}, false
}

// forwardedAddr parses one X-Forwarded-For entry: an address, or an
// address with a port as some proxies write it (1.2.3.4:80, [2001:db8::1]:80),
// IPv4-mapped IPv6 read as IPv4 and any zone dropped.
func forwardedAddr(entry string) (netip.Addr, bool) {
	if len(entry) > maxForwardedEntry {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(entry)
	if err != nil {
		ap, perr := netip.ParseAddrPort(entry)
		if perr != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.Unmap().WithZone(""), true
}
