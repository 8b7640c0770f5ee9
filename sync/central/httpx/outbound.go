package httpx

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ErrForbiddenAddress is the cause of an outbound request refused for the
// address it was to connect to.
var ErrForbiddenAddress = errors.New("central does not call link-local, multicast, unspecified or cloud metadata addresses")

// metadataAddrs are cloud instance metadata services outside link-local
// (which is refused as a whole): AWS's IPv6 one and Alibaba's.
var metadataAddrs = []netip.Addr{netip.MustParseAddr("fd00:ec2::254"), netip.MustParseAddr("100.100.100.200")}

// CheckOutboundAddr refuses an address central must never call on a
// partner's behalf: link-local (169.254.169.254, the metadata service of
// most clouds, hands out the instance's credentials), multicast,
// unspecified (0.0.0.0 reaches this host), and the metadata addresses
// outside link-local. Loopback and private addresses stay allowed: a
// receiver on central's own machine or network is a supported setup.
func CheckOutboundAddr(a netip.Addr) error {
	a = a.Unmap()
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
// refused address is refused too.
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
		TLSHandshakeTimeout: 10 * time.Second}
}
