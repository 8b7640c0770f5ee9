package identity_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central/pki"
	"github.com/openkyc/kyc/sync/central/store/boltstore"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/internal/synctest"
	"github.com/openkyc/kyc/sync/protocol"
)

// TestCertificateTime: over real TLS, a device clock outside central's
// certificate is told apart (with the certificate's dates) only when the
// certificate is otherwise sound: one from another CA, whatever its
// dates, is no clock problem but someone in between.
func TestCertificateTime(t *testing.T) {
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "central.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	c := synctest.StartCentral(t, store, synctest.CentralOptions{})
	files, err := pki.Init(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	otherCA, err := os.ReadFile(files.CACert)
	if err != nil {
		t.Fatal(err)
	}
	dial := func(caPEM []byte, now time.Time) error {
		tr, err := identity.NewTransport(caPEM)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.CloseIdleConnections()
		tr.TLSClientConfig.Time = func() time.Time { return now }
		resp, err := (&http.Client{Transport: tr}).Get(c.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	cmos := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		ca       []byte
		now      time.Time
		clockErr bool
	}{
		{"clock at 2000-01-01", c.CA, cmos, true},
		{"clock ten years ahead", c.CA, time.Now().AddDate(10, 0, 0), true},
		{"another CA, clock at 2000-01-01", otherCA, cmos, false},
		{"another CA, clock right", otherCA, time.Now(), false},
	} {
		err := dial(tc.ca, tc.now)
		if err == nil {
			t.Fatalf("%s: TLS accepted", tc.name)
		}
		cte, ok := identity.CertificateTime(err, tc.ca, c.URL, tc.now)
		if ok != tc.clockErr {
			t.Errorf("%s: CertificateTime = %v, want %v (%v)", tc.name, ok, tc.clockErr, err)
			continue
		}
		if ok && (!cte.DeviceTime.Equal(tc.now) || !cte.NotBefore.Before(time.Now()) || !cte.NotAfter.After(time.Now())) {
			t.Errorf("%s: %+v, want the device's time and central's certificate's validity", tc.name, cte)
		}
	}
	if err := dial(c.CA, time.Now()); err != nil {
		t.Errorf("the right CA and clock: %v", err)
	}
}

// TestEnrollClockBeforeCertificate: enrolling from a device whose clock is
// a day behind central's certificate (real TLS, a certificate valid from
// tomorrow) fails saying the clock reads what and the certificate's
// validity, not only x509's words.
func TestEnrollClockBeforeCertificate(t *testing.T) {
	url, caPEM, notBefore := futureServer(t)
	tok := protocol.FormatEnrollToken(make([]byte, 16), make([]byte, protocol.FingerprintSize))
	_, err := identity.EnrollWithCA(context.Background(), caPEM, url, tok, identity.Generate(), "t")
	var cte *identity.CertificateTimeError
	if !errors.As(err, &cte) || !cte.NotBefore.Equal(notBefore) {
		t.Fatalf("enrolment = %v, want a CertificateTimeError from %v", err, notBefore)
	}
	for _, words := range []string{"device's clock reads", notBefore.UTC().Format("2006-01-02 15:04"), "set the device's date and time"} {
		if !strings.Contains(err.Error(), words) {
			t.Errorf("%q does not say %q", err, words)
		}
	}
}

// futureServer serves HTTPS on loopback with a certificate, from a CA of
// its own, valid from tomorrow; it returns its URL, the CA's PEM and the
// certificate's NotBefore.
func futureServer(t *testing.T) (string, []byte, time.Time) {
	t.Helper()
	now := time.Now().Truncate(time.Second)
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	notBefore := now.Add(24 * time.Hour)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"}, NotBefore: notBefore, NotAfter: now.AddDate(0, 6, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), notBefore
}
