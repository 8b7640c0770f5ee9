package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestInitWritesACAAndAServerCertificate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	now := time.Now()
	f, err := initAt(dir, []string{"127.0.0.1", "::1", "central.example.org", "localhost"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if f.CAReused {
		t.Error("a fresh directory reports a reused CA")
	}
	for path, private := range map[string]bool{f.CACert: false, f.CAKey: true, f.ServerCert: false, f.ServerKey: true} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if private && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(path), fi.Mode().Perm())
		}
	}
	ca := readCert(t, f.CACert)
	srv := readCert(t, f.ServerCert)
	if !ca.IsCA || !ca.BasicConstraintsValid || ca.MaxPathLen != 0 || !ca.MaxPathLenZero {
		t.Errorf("CA constraints: IsCA %v, MaxPathLen %d", ca.IsCA, ca.MaxPathLen)
	}
	if srv.IsCA {
		t.Error("the server certificate may act as a CA")
	}
	for _, c := range []*x509.Certificate{ca, srv} {
		pub, ok := c.PublicKey.(*ecdsa.PublicKey)
		if !ok || pub.Curve != elliptic.P256() {
			t.Errorf("%s: key %T, want ECDSA P-256", c.Subject.CommonName, c.PublicKey)
		}
	}
	if got := ca.NotAfter.Sub(now); got < CAValidity-time.Minute || got > CAValidity+time.Minute {
		t.Errorf("CA valid for %v, want ten years", got)
	}
	if got := srv.NotAfter.Sub(now); got < ServerValidity-time.Minute || got > ServerValidity+time.Minute {
		t.Errorf("server certificate valid for %v, want two years", got)
	}
	if len(srv.IPAddresses) != 2 || !srv.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) || !srv.IPAddresses[1].Equal(net.IPv6loopback) {
		t.Errorf("IP SANs %v", srv.IPAddresses)
	}
	if strings.Join(srv.DNSNames, ",") != "central.example.org,localhost" {
		t.Errorf("DNS SANs %v", srv.DNSNames)
	}
	if len(srv.ExtKeyUsage) != 1 || srv.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("server extended key usage %v", srv.ExtKeyUsage)
	}
	caPEM, _ := os.ReadFile(f.CACert)
	pool, err := CertPool(caPEM)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"127.0.0.1", "::1", "central.example.org", "localhost"} {
		if _, err := srv.Verify(x509.VerifyOptions{Roots: pool, DNSName: host}); err != nil {
			t.Errorf("server certificate does not verify for %s: %v", host, err)
		}
	}
	// What an attacker must not get: the certificate accepted for a name
	// it was not issued for.
	if _, err := srv.Verify(x509.VerifyOptions{Roots: pool, DNSName: "evil.example.org"}); err == nil {
		t.Error("server certificate verifies for a host it does not name")
	}
}

func TestInitKeepsAnExistingCA(t *testing.T) {
	dir := t.TempDir()
	f1, err := Init(dir, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	ca1, _ := os.ReadFile(f1.CACert)
	key1, _ := os.ReadFile(f1.CAKey)
	srv1, _ := os.ReadFile(f1.ServerCert)
	f2, err := Init(dir, []string{"127.0.0.1", "central.local"})
	if err != nil {
		t.Fatal(err)
	}
	ca2, _ := os.ReadFile(f2.CACert)
	key2, _ := os.ReadFile(f2.CAKey)
	srv2, _ := os.ReadFile(f2.ServerCert)
	if !f2.CAReused || !bytes.Equal(ca1, ca2) || !bytes.Equal(key1, key2) {
		t.Error("a second Init replaced the CA that devices already trust")
	}
	if bytes.Equal(srv1, srv2) {
		t.Error("a second Init kept the old server certificate")
	}
	pool, err := CertPool(ca1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readCert(t, f2.ServerCert).Verify(x509.VerifyOptions{Roots: pool, DNSName: "central.local"}); err != nil {
		t.Errorf("the new server certificate does not chain to the kept CA: %v", err)
	}
}

func TestInitRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		hosts []string
		setup func(dir string)
	}{
		{name: "no hosts", hosts: nil},
		{name: "blank hosts", hosts: []string{" ", ""}},
		{name: "bad name", hosts: []string{"exa mple.org"}},
		{name: "url instead of host", hosts: []string{"https://central"}},
		{name: "CA key without its certificate", hosts: []string{"127.0.0.1"}, setup: func(dir string) {
			os.WriteFile(filepath.Join(dir, CAKeyFile), []byte("x"), 0o600)
		}},
		{name: "CA certificate that is not PEM", hosts: []string{"127.0.0.1"}, setup: func(dir string) {
			os.WriteFile(filepath.Join(dir, CAKeyFile), []byte("x"), 0o600)
			os.WriteFile(filepath.Join(dir, CACertFile), []byte("not pem"), 0o600)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.setup != nil {
				tc.setup(dir)
			}
			if _, err := Init(dir, tc.hosts); err == nil {
				t.Error("Init succeeded")
			}
			if _, err := os.Stat(filepath.Join(dir, ServerKeyFile)); err == nil {
				t.Error("a server key was written anyway")
			}
		})
	}
	if _, err := Init(t.TempDir(), nil); !errors.Is(err, ErrNoHosts) {
		t.Errorf("Init without hosts = %v, want ErrNoHosts", err)
	}
}

// TestTLSWithThePrivateCA serves HTTPS with Init's certificate: a client
// trusting the CA connects; one trusting only the system roots, or another
// site's CA, is refused.
func TestTLSWithThePrivateCA(t *testing.T) {
	f, err := Init(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	srvCfg, err := ServerConfig(f.ServerCert, f.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	ts.TLS = srvCfg
	ts.StartTLS()
	defer ts.Close()

	caPEM, _ := os.ReadFile(f.CACert)
	get := func(cfg *tls.Config) error {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
		resp, err := c.Get(ts.URL)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if string(body) != "ok" {
			t.Errorf("body %q", body)
		}
		return nil
	}
	cfg, err := ClientConfig(caPEM)
	if err != nil {
		t.Fatal(err)
	}
	if err := get(cfg); err != nil {
		t.Fatalf("a client trusting the CA: %v", err)
	}
	if err := get(&tls.Config{}); err == nil {
		t.Error("a client trusting only the system roots connected")
	}
	other, err := Init(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	otherPEM, _ := os.ReadFile(other.CACert)
	otherCfg, _ := ClientConfig(otherPEM)
	if err := get(otherCfg); err == nil {
		t.Error("a client trusting another site's CA connected")
	}
}

func TestParseCertificates(t *testing.T) {
	if _, err := CertPool([]byte("garbage")); !errors.Is(err, ErrNoCertificate) {
		t.Errorf("CertPool(garbage) = %v, want ErrNoCertificate", err)
	}
	f, err := Init(t.TempDir(), []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := os.ReadFile(f.CAKey)
	if _, err := ParseCertificates(key); !errors.Is(err, ErrNoCertificate) {
		t.Errorf("a key file parsed as certificates: %v", err)
	}
	ca, _ := os.ReadFile(f.CACert)
	srv, _ := os.ReadFile(f.ServerCert)
	certs, err := ParseCertificates(append(append(ca, key...), srv...))
	if err != nil || len(certs) != 2 {
		t.Errorf("ParseCertificates of two certificates and a key = %d, %v", len(certs), err)
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := ParseCertificates(data)
	if err != nil {
		t.Fatal(err)
	}
	return certs[0]
}

// TestInitRefusesACAOutOfDate: a kept CA that has expired at the clock
// issues no server certificate, which would be out of date at once (its
// end is the CA's), and leaves the one being served as it was.
func TestInitRefusesACAOutOfDate(t *testing.T) {
	dir := t.TempDir()
	made := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	f, err := initAt(dir, []string{"127.0.0.1"}, made)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := os.ReadFile(f.ServerCert)
	key, _ := os.ReadFile(f.ServerKey)
	for _, at := range []time.Time{made.Add(CAValidity), made.Add(CAValidity + 24*time.Hour)} {
		if _, err := initAt(dir, []string{"127.0.0.1"}, at); !errors.Is(err, ErrCAOutOfDate) {
			t.Errorf("Init at %v with a CA made at %v = %v, want ErrCAOutOfDate", at, made, err)
		}
		if c, _ := os.ReadFile(f.ServerCert); !bytes.Equal(c, cert) {
			t.Errorf("Init at %v replaced the server certificate", at)
		}
		if k, _ := os.ReadFile(f.ServerKey); !bytes.Equal(k, key) {
			t.Errorf("Init at %v replaced the server key", at)
		}
	}
}

// TestInitDiskFullKeepsAPair: a disk that fills while a new server
// certificate is written (the process's file size limit, which fails a
// write as a full disk does) leaves the key and certificate being served
// as they were, a pair that still loads, never a new key beside the old
// certificate, which central could not start with.
func TestInitDiskFullKeepsAPair(t *testing.T) {
	dir := t.TempDir()
	f, err := Init(dir, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := os.ReadFile(f.ServerKey)
	cert, _ := os.ReadFile(f.ServerCert)
	if len(key) >= len(cert) {
		t.Fatalf("the key (%d bytes) is not shorter than the certificate (%d)", len(key), len(cert))
	}
	signal.Ignore(syscall.SIGXFSZ)
	defer signal.Reset(syscall.SIGXFSZ)
	var was syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &was); err != nil {
		t.Fatal(err)
	}
	limit := was
	limit.Cur = uint64(len(key) + 32) // a key fits, a certificate does not
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limit); err != nil {
		t.Skipf("cannot limit file sizes: %v", err)
	}
	_, err = Init(dir, []string{"127.0.0.1", "central.local"})
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &was); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(err, syscall.EFBIG) {
		t.Errorf("Init onto a full disk = %v, want the write's error", err)
	}
	if _, err := ServerConfig(f.ServerCert, f.ServerKey); err != nil {
		t.Errorf("the server's key and certificate no longer load: %v", err)
	}
	if k, _ := os.ReadFile(f.ServerKey); !bytes.Equal(k, key) {
		t.Error("the server key was replaced")
	}
}
