package identity

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/openkyc/kyc/sync/central/pki"
)

// CertificateTimeError means central's certificate chains to the CA the
// device trusts and names central's host, but is not valid at the device's
// clock: the device's date is wrong (a dead CMOS battery gives 2000-01-01,
// a clock set by hand), or, if the date is right, central's certificate
// has expired. Only the validity failed, so nobody is in between, and
// once the clock is right every request works again.
type CertificateTimeError struct {
	// DeviceTime is the device's clock when the connection was refused;
	// NotBefore and NotAfter are the validity of the certificate it fell
	// outside (central's own, or a CA's in its chain).
	DeviceTime          time.Time
	NotBefore, NotAfter time.Time
	// Err is the TLS failure.
	Err error
}

func (e *CertificateTimeError) Error() string {
	const layout = "2006-01-02 15:04 MST"
	return fmt.Sprintf("the device's clock reads %s, outside the validity of central's certificate (%s to %s): set the device's date and time; if they are right, central's certificate has expired and its administrator must renew it",
		e.DeviceTime.UTC().Format(layout), e.NotBefore.UTC().Format(layout), e.NotAfter.UTC().Format(layout))
}

func (e *CertificateTimeError) Unwrap() error { return e.Err }

// CertificateTime tells whether err, a failure to connect to centralURL,
// is central's certificate refused only for its dates at the device's time
// now: the chain the server sent verifies against caPEM (nil or empty: the
// system roots) and names the host at a time within the certificate's
// validity. A certificate from another CA, or for another host, is not
// such a failure, whatever its dates: that is someone in between.
func CertificateTime(err error, caPEM []byte, centralURL string, now time.Time) (*CertificateTimeError, bool) {
	var cv *tls.CertificateVerificationError
	var ci x509.CertificateInvalidError
	if !errors.As(err, &cv) || !errors.As(err, &ci) || ci.Reason != x509.Expired || ci.Cert == nil || len(cv.UnverifiedCertificates) == 0 {
		return nil, false
	}
	u, perr := url.Parse(centralURL)
	if perr != nil {
		return nil, false
	}
	var roots *x509.CertPool // nil: the system roots
	if len(caPEM) > 0 {
		if roots, perr = pki.CertPool(caPEM); perr != nil {
			return nil, false
		}
	}
	leaf := cv.UnverifiedCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range cv.UnverifiedCertificates[1:] {
		inter.AddCert(c)
	}
	// A time when every certificate sent (and the one refused, perhaps a
	// CA's) is valid.
	from, to := ci.Cert.NotBefore, ci.Cert.NotAfter
	for _, c := range cv.UnverifiedCertificates {
		from, to = later(from, c.NotBefore), earlier(to, c.NotAfter)
	}
	if !from.Before(to) {
		return nil, false
	}
	at := from.Add(to.Sub(from) / 2)
	if _, verr := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: u.Hostname(), CurrentTime: at}); verr != nil {
		return nil, false
	}
	return &CertificateTimeError{DeviceTime: now, NotBefore: ci.Cert.NotBefore, NotAfter: ci.Cert.NotAfter, Err: err}, true
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
