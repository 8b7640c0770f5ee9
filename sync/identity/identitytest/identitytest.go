// Package identitytest holds what tests of enrolment share across packages
// (sync/identity and the kyc command line): a man in the middle of an
// enrolment that holds a certificate the device trusts.
package identitytest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"testing"

	"github.com/openkyc/kyc/sync/central/pki"
	"github.com/openkyc/kyc/sync/protocol"
)

// EnrolmentProxy serves on loopback a reverse proxy to the central at
// centralURL (reached through transport), passing every enrolment answer
// through edit, and returns its URL. Its certificate is issued from the CA
// in tlsDir, the one the device trusts: TLS alone does not stop it, only
// the pinning of central's keys to the token's fingerprint does. The proxy
// stops at the end of the test.
func EnrolmentProxy(tb testing.TB, centralURL string, transport http.RoundTripper, tlsDir string, edit func(*protocol.EnrollResponse)) string {
	tb.Helper()
	target, err := url.Parse(centralURL)
	if err != nil {
		tb.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = transport
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.URL.Path != protocol.PathEnroll || resp.StatusCode != http.StatusOK {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		var er protocol.EnrollResponse
		if err := json.Unmarshal(body, &er); err != nil {
			return err
		}
		edit(&er)
		body, _ = json.Marshal(er)
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	srv := httptest.NewUnstartedServer(rp)
	files, err := pki.Init(tlsDir, []string{"127.0.0.1"})
	if err != nil {
		tb.Fatal(err)
	}
	if srv.TLS, err = pki.ServerConfig(files.ServerCert, files.ServerKey); err != nil {
		tb.Fatal(err)
	}
	srv.StartTLS()
	tb.Cleanup(srv.Close)
	return srv.URL
}
