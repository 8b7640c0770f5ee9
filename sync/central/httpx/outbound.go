package httpx

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"syscall"
	"time"
)

// ErrForbiddenAddress is the cause of an outbound request refused for the
// address it was to connect to.
var ErrForbiddenAddress = errors.New("central does not call link-local, multicast, unspecified or cloud metadata addresses")

// metadataAddrs are cloud instance metadata services outside link-local
// (which is refused as a whole): AWS's IPv6 one and Alibaba's.
var metadataAddrs = []netip.Addr{netip.MustParseAddr("fd00:ec2::254"), netip.MustParseAddr("100.100.100.200")}

// embeddingPrefixes are the IPv6 prefixes whose addresses carry an IPv4
// address in their last 32 bits, which a translator on the way (NAT64 and
// DNS64 on an IPv6-only network, RFC 6052's well-known prefix; SIIT's
// IPv4-translated addresses) or the kernel (IPv4-compatible addresses)
// turns back into that IPv4 address.
var embeddingPrefixes = []netip.Prefix{netip.MustParsePrefix("64:ff9b::/96"), netip.MustParsePrefix("::ffff:0:0:0/96"),
	netip.MustParsePrefix("::/96")}

// sixToFour is 6to4 (RFC 3056): the IPv4 address in bits 16 to 47.
var sixToFour = netip.MustParsePrefix("2002::/16")

// localNAT64 is RFC 8215's local-use NAT64 prefix. An operator translates
// with a prefix of 48 to 96 bits inside it, and RFC 6052 puts the IPv4
// address at a different place for each length (skipping bits 64 to 71),
// so each place is checked: the address must stand for no refused IPv4
// address however the network's translator reads it.
var localNAT64 = netip.MustParsePrefix("64:ff9b:1::/48")

// nat64Places are the IPv4 address's byte positions in an IPv6 address
// for RFC 6052's prefix lengths 48, 56, 64 and 96.
var nat64Places = [][4]int{{6, 7, 9, 10}, {7, 9, 10, 11}, {9, 10, 11, 12}, {12, 13, 14, 15}}

// CheckOutboundAddr refuses an address central must never call on a
// partner's behalf: link-local (169.254.169.254, the metadata service of
// most clouds, hands out the instance's credentials), multicast,
// unspecified (0.0.0.0 reaches this host), and the metadata addresses
// outside link-local; and an IPv6 address that stands for one of those
// (NAT64 with the well-known or the local-use prefix, 6to4,
// IPv4-compatible: 64:ff9b::a9fe:a9fe is 169.254.169.254 through a NAT64). Loopback and private addresses stay allowed: a
// receiver on central's own machine or network is a supported setup.
func CheckOutboundAddr(a netip.Addr) error {
	a = a.Unmap()
	if err := checkAddr(a); err != nil {
		return err
	}
	if !a.Is6() || a == netip.IPv6Loopback() {
		return nil
	}
	b := a.As16()
	if localNAT64.Contains(a) {
		for i, at := range nat64Places {
			v4 := netip.AddrFrom4([4]byte{b[at[0]], b[at[1]], b[at[2]], b[at[3]]})
			// The zeros of a shorter placement are the /96 address's
			// padding, not 0.0.0.0.
			if v4.IsUnspecified() && i < len(nat64Places)-1 {
				continue
			}
			if err := checkAddr(v4); err != nil {
				return fmt.Errorf("%s may stand for %w", a, err)
			}
		}
		return nil
	}
	var v4 [4]byte
	switch {
	case slices.ContainsFunc(embeddingPrefixes, func(p netip.Prefix) bool { return p.Contains(a) }):
		copy(v4[:], b[12:])
	case sixToFour.Contains(a):
		copy(v4[:], b[2:6])
	default:
		return nil
	}
	if err := checkAddr(netip.AddrFrom4(v4)); err != nil {
		return fmt.Errorf("%s stands for %w", a, err)
	}
	return nil
}

// checkAddr is CheckOutboundAddr for the address itself.
func checkAddr(a netip.Addr) error {
	if !a.IsValid() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() ||
		a.IsMulticast() || a.IsUnspecified() {
		return fmt.Errorf("%s: %w", a, ErrForbiddenAddress)
	}
	for _, m := range metadataAddrs {
		if a == m {
			return fmt.Errorf("%s: %w", a, ErrForbiddenAddress)
		}
	}
	return nil
}

// OutboundTransport is the transport of central's requests to URLs a
// partner's configuration names (webhooks, the enterprise push, the
// reference-image endpoint): no proxy from the environment, and every
// connection's address checked by CheckOutboundAddr as it is dialled, so
// a host name that resolves (or is re-resolved: DNS rebinding) to a
// refused address is refused too; an answer's headers are bounded
// (MaxAnswerHeaderBytes).
func OutboundTransport() *http.Transport {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("dialling %q: %w", address, ErrForbiddenAddress)
			}
			return CheckOutboundAddr(ap.Addr())
		}}
	return &http.Transport{Proxy: nil, DialContext: d.DialContext, ForceAttemptHTTP2: true, IdleConnTimeout: 90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second, MaxResponseHeaderBytes: MaxAnswerHeaderBytes}
}

// MaxAnswerHeaderBytes bounds the headers of an answer to an outbound
// request (net/http's default is 10 MB): a partner's endpoint answering
// each of the webhook worker's many concurrent deliveries with megabytes
// of headers would have them all held in memory at once. An answer past it
// is refused, a failed attempt.
const MaxAnswerHeaderBytes = 64 << 10
