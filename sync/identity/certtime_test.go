package identity_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central/pki"
	"github.com/openkyc/kyc/sync/central/store/boltstore"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/internal/synctest"
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
