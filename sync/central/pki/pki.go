// Package pki makes the private certificate authority and the server
// certificate an offline site (or a test) runs central's HTTPS with, and
// builds the TLS configurations that trust them.
//
// A site has no public CA to ask: `kyc-central tls init` calls Init once,
// the operator keeps ca.key offline, hands ca.crt to every device at
// enrolment (`kyc enroll --ca ca.crt`), and serves with server.crt and
// server.key. Devices trust only that CA for central (not the system
// roots), so a certificate from any other authority is refused.
//
// Keys are ECDSA P-256 (what every TLS stack accepts and fast to verify on
// small devices); the CA is valid for ten years, a server certificate for
// two. Running Init again keeps an existing CA (enrolled devices keep
// trusting it) and issues a new server certificate, e.g. for a new host
// name or before the old one expires; a CA that has expired is refused
// (ErrCAOutOfDate), not used to sign a certificate that would end with it.
package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/openkyc/kyc/internal/atomicfile"
)

// File names Init writes in its directory.
const (
	CACertFile     = "ca.crt"
	CAKeyFile      = "ca.key"
	ServerCertFile = "server.crt"
	ServerKeyFile  = "server.key"
)

// Validity periods.
const (
	CAValidity     = 10 * 365 * 24 * time.Hour
	ServerValidity = 2 * 365 * 24 * time.Hour
	// backdate covers clocks a little behind the one that signed.
	backdate = time.Hour
)

// ErrNoHosts means Init was given no host to certify.
var ErrNoHosts = errors.New("pki: the server certificate needs at least one host name or IP address")

// ErrNoCertificate means a PEM input holds no certificate.
var ErrNoCertificate = errors.New("pki: no certificate in PEM data")

// ErrCAOutOfDate means the CA Init keeps has expired at the clock: a
// server certificate it signed would end with it, refused at once.
var ErrCAOutOfDate = errors.New("pki: the CA is not valid at this time")

// Files are the paths Init wrote.
type Files struct {
	CACert, CAKey, ServerCert, ServerKey string
	// CAReused is set when an existing CA in the directory was kept.
	CAReused bool
}

// Init makes (or keeps) the CA in dir and issues a server certificate for
// hosts, each an IP address (an IP SAN) or a DNS name (a DNS SAN). Private
// keys are written mode 0600, every file atomically. The directory is
// created (0700) if needed.
func Init(dir string, hosts []string) (Files, error) {
	return initAt(dir, hosts, time.Now())
}

func initAt(dir string, hosts []string, now time.Time) (Files, error) {
	f := Files{
		CACert:     filepath.Join(dir, CACertFile),
		CAKey:      filepath.Join(dir, CAKeyFile),
		ServerCert: filepath.Join(dir, ServerCertFile),
		ServerKey:  filepath.Join(dir, ServerKeyFile),
	}
	ips, names, err := splitHosts(hosts)
	if err != nil {
		return f, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return f, fmt.Errorf("pki: creating %s: %w", dir, err)
	}
	caCert, caKey, err := loadCA(f.CACert, f.CAKey)
	switch {
	case err == nil:
		if !now.Before(caCert.NotAfter) {
			return f, fmt.Errorf("%w: %s expired %s (the clock says %s): check the clock, or move ca.crt and ca.key aside to make a new CA and give every device the new ca.crt",
				ErrCAOutOfDate, f.CACert, caCert.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
		f.CAReused = true
	case errors.Is(err, fs.ErrNotExist):
		if caCert, caKey, err = newCA(now); err != nil {
			return f, err
		}
		// The key first: a CA certificate without its key is useless,
		// and Create refuses to overwrite a key another run just made.
		if err := atomicfile.Create(f.CAKey, encodeKey(caKey)); err != nil {
			return f, fmt.Errorf("pki: writing CA key: %w", err)
		}
		if err := atomicfile.Write(f.CACert, encodeCert(caCert.Raw)); err != nil {
			return f, fmt.Errorf("pki: writing CA certificate: %w", err)
		}
	default:
		return f, err
	}
	certDER, key, err := newServerCert(caCert, caKey, ips, names, now)
	if err != nil {
		return f, err
	}
	// The pair is replaced together: the certificate is written whole
	// and synced first, the key replaced while it waits, then the
	// certificate renamed into place; a write that fails (a full disk)
	// leaves the old pair, never a new key beside the old certificate,
	// which central could not start with.
	certPEM := encodeCert(certDER)
	err = atomicfile.WriteFunc(f.ServerCert, func(w io.Writer) error {
		_, err := w.Write(certPEM)
		return err
	}, func(string) error {
		if err := atomicfile.Write(f.ServerKey, encodeKey(key)); err != nil {
			return fmt.Errorf("pki: writing server key: %w", err)
		}
		return nil
	})
	if err != nil {
		return f, fmt.Errorf("pki: writing server certificate and key: %w", err)
	}
	return f, nil
}

// splitHosts sorts hosts into IP addresses and DNS names, refusing what
// is neither.
func splitHosts(hosts []string) ([]net.IP, []string, error) {
	var ips []net.IP
	var names []string
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if ip := net.ParseIP(strings.Trim(h, "[]")); ip != nil {
			ips = append(ips, ip)
			continue
		}
		if !validDNSName(h) {
			return nil, nil, fmt.Errorf("pki: %q is neither an IP address nor a DNS name", h)
		}
		names = append(names, strings.ToLower(h))
	}
	if len(ips)+len(names) == 0 {
		return nil, nil, ErrNoHosts
	}
	return ips, names, nil
}

// validDNSName accepts host names (letters, digits, '-' in dot-separated
// labels of 1-63 bytes), with a leading "*." for a wildcard.
func validDNSName(h string) bool {
	h = strings.TrimPrefix(h, "*.")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

func serial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("pki: drawing a serial number: %w", err)
	}
	return n, nil
}

func newCA(now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: generating CA key: %w", err)
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		// The serial in the name tells two sites' CAs apart in a trust store.
		Subject:               pkix.Name{Organization: []string{"OpenKYC"}, CommonName: "OpenKYC central CA " + fmt.Sprintf("%032x", sn)[:8]},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// It signs server certificates only, never another CA.
		MaxPathLen:     0,
		MaxPathLenZero: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: signing CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: parsing CA certificate: %w", err)
	}
	return cert, key, nil
}

func newServerCert(ca *x509.Certificate, caKey *ecdsa.PrivateKey, ips []net.IP, names []string, now time.Time) ([]byte, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: generating server key: %w", err)
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	cn := ""
	if len(names) > 0 {
		cn = names[0]
	} else {
		cn = ips[0].String()
	}
	notAfter := now.Add(ServerValidity)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{Organization: []string{"OpenKYC"}, CommonName: cn},
		NotBefore:    now.Add(-backdate),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     names,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: signing server certificate: %w", err)
	}
	return der, key, nil
}

// loadCA reads an existing CA certificate and key; fs.ErrNotExist when
// neither exists. One without the other is an error: Init must not
// silently replace a CA devices already trust.
func loadCA(certPath, keyPath string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPEM, cerr := os.ReadFile(certPath)
	keyPEM, kerr := os.ReadFile(keyPath)
	switch {
	case errors.Is(cerr, fs.ErrNotExist) && errors.Is(kerr, fs.ErrNotExist):
		return nil, nil, fs.ErrNotExist
	case cerr != nil:
		return nil, nil, fmt.Errorf("pki: reading CA certificate (the CA key exists): %w", cerr)
	case kerr != nil:
		return nil, nil, fmt.Errorf("pki: reading CA key (the CA certificate exists): %w", kerr)
	}
	certs, err := ParseCertificates(certPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: %s: %w", certPath, err)
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, nil, fmt.Errorf("pki: %s holds no PRIVATE KEY block", keyPath)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: %s: %w", keyPath, err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || !key.PublicKey.Equal(certs[0].PublicKey) {
		return nil, nil, fmt.Errorf("pki: %s is not the key of %s", keyPath, certPath)
	}
	if !certs[0].IsCA {
		return nil, nil, fmt.Errorf("pki: %s is not a CA certificate", certPath)
	}
	return certs[0], key, nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(key *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		// A P-256 key always marshals.
		panic(fmt.Sprintf("pki: marshalling a P-256 key: %v", err))
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// ParseCertificates decodes every CERTIFICATE block of PEM data (other
// blocks are skipped); ErrNoCertificate when there is none.
func ParseCertificates(pemData []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := bytes.TrimSpace(pemData)
	for len(rest) > 0 {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("pki: parsing certificate: %w", err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, ErrNoCertificate
	}
	return out, nil
}

// CertPool returns a pool holding exactly the certificates in caPEM (and
// not the system roots).
func CertPool(caPEM []byte) (*x509.CertPool, error) {
	certs, err := ParseCertificates(caPEM)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// ClientConfig returns the TLS configuration of a client that trusts only
// the CA in caPEM: TLS 1.2 at least, the server's name checked as usual.
func ClientConfig(caPEM []byte) (*tls.Config, error) {
	pool, err := CertPool(caPEM)
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// ServerConfig loads a certificate and key (server.crt and server.key as
// Init writes them) into a server TLS configuration: TLS 1.2 at least.
func ServerConfig(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("pki: loading server certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}
