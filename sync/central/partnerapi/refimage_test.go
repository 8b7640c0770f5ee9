package partnerapi_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/central/partnerapi"
)

// pngHeader is the start of a PNG claiming w×h pixels: signature and a
// valid IHDR chunk, no pixels.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	chunk := append([]byte("IHDR"), ihdr...)
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

// refRequest is what the partner's endpoint saw of one call.
type refRequest struct {
	query  url.Values
	header http.Header
}

// TestReferenceImage: central fetches the reference image from the
// partner's endpoint over real TLS with the partner's authentication
// (bearer, basic, a named header) and the session's user in the query,
// and returns the image; an endpoint that is slow, answers too much, not
// an image, a header claiming too many pixels, 401, 404 or 500 each gives
// its own error, saying what went wrong; a partner without the endpoint
// gets ErrNoReferenceEndpoint.
func TestReferenceImage(t *testing.T) {
	jpg := centraltest.JPEG(t, 200, 240)
	big := centraltest.JPEG(t, 900, 900)
	var (
		mu   sync.Mutex
		seen []refRequest
	)
	release := make(chan struct{}) // ends the slow handler at the test's end
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, refRequest{query: r.URL.Query(), header: r.Header.Clone()})
		mu.Unlock()
		switch r.URL.Path {
		case "/ok":
			w.Header().Set("Content-Type", "image/jpeg")
			w.Write(jpg)
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-release:
			}
		case "/large":
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			w.Write(big)
		case "/large-chunked": // no Content-Length: the limit applies while reading
			for i := 0; i < len(big); i += 512 {
				w.Write(big[i:min(i+512, len(big))])
				w.(http.Flusher).Flush()
			}
		case "/text":
			w.Write([]byte("<html>sign in first</html>"))
		case "/broken-png":
			w.Write([]byte("\x89PNG\r\n\x1a\nnot a header at all"))
		case "/giant":
			w.Write(pngHeader(10000, 10000))
		case "/401":
			w.WriteHeader(http.StatusUnauthorized)
		case "/404":
			w.WriteHeader(http.StatusNotFound)
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	defer close(release)
	e := newEnvWith(t, boltStore, func(c *partnerapi.Config) { c.Client = srv.Client() })
	ctx := context.Background()
	p := e.addPartner("Acme Bank")
	fs := central.FlowSession{ID: "ses-ref-1", PartnerID: p.Partner.ID, UserID: "user-42", UserIDType: "customer_id"}
	set := func(c partnerapi.ReferenceImageConfig) {
		t.Helper()
		if _, err := e.api.SetReferenceImage(ctx, "test", p.Partner.ID, c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.api.ReferenceImage(ctx, fs); !errors.Is(err, partnerapi.ErrNoReferenceEndpoint) {
		t.Errorf("no endpoint: %v", err)
	}
	for _, auth := range []struct {
		cfg   partnerapi.ReferenceImageConfig
		check func(http.Header) bool
	}{
		{partnerapi.ReferenceImageConfig{Auth: "bearer", Secret: "tok-123"}, func(h http.Header) bool { return h.Get("Authorization") == "Bearer tok-123" }},
		{partnerapi.ReferenceImageConfig{Auth: "basic", Username: "central", Secret: "pw-456"}, func(h http.Header) bool {
			r := &http.Request{Header: h}
			u, pw, ok := r.BasicAuth()
			return ok && u == "central" && pw == "pw-456"
		}},
		{partnerapi.ReferenceImageConfig{Auth: "header", Header: "X-Api-Key", Secret: "key-789"}, func(h http.Header) bool {
			return h.Get("X-Api-Key") == "key-789" && h.Get("Authorization") == ""
		}},
	} {
		c := auth.cfg
		c.URL = srv.URL + "/ok?tenant=acme"
		set(c)
		got, err := e.api.ReferenceImage(ctx, fs)
		if err != nil || !bytes.Equal(got, jpg) {
			t.Fatalf("auth %s: %d bytes, %v", c.Auth, len(got), err)
		}
		mu.Lock()
		last := seen[len(seen)-1]
		mu.Unlock()
		q := last.query
		if q.Get("partner_user_id") != "user-42" || q.Get("partner_user_id_type") != "customer_id" || q.Get("session_id") != "ses-ref-1" || q.Get("tenant") != "acme" {
			t.Errorf("auth %s: query %v", c.Auth, q)
		}
		if !auth.check(last.header) {
			t.Errorf("auth %s: headers %v", c.Auth, last.header)
		}
	}
	for _, tc := range []struct {
		path     string
		maxBytes int64
		want     error
		says     string
	}{
		{"/slow", 0, partnerapi.ErrReferenceTimeout, "did not answer in time"},
		{"/large", 4096, partnerapi.ErrReferenceTooLarge, "the limit is 4096"},
		{"/large-chunked", 4096, partnerapi.ErrReferenceTooLarge, "over the limit of 4096 bytes"},
		{"/text", 0, partnerapi.ErrReferenceNotImage, "not a JPEG, PNG or WebP"},
		{"/broken-png", 0, partnerapi.ErrReferenceNotImage, "header does not parse"},
		{"/giant", 0, partnerapi.ErrReferenceTooLarge, "10000x10000"},
		{"/401", 0, partnerapi.ErrReferenceUnauthorized, "refused central's credentials"},
		{"/404", 0, partnerapi.ErrReferenceNotFound, "no image for this user"},
		{"/500", 0, partnerapi.ErrReferenceUnavailable, "status 500"},
	} {
		set(partnerapi.ReferenceImageConfig{URL: srv.URL + tc.path, Auth: "bearer", Secret: "tok-123", TimeoutMS: 300, MaxBytes: tc.maxBytes})
		got, err := e.api.ReferenceImage(ctx, fs)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) || got != nil {
			t.Errorf("%s: %d bytes, %v; want %v saying %q", tc.path, len(got), err, tc.want, tc.says)
		}
		for _, other := range []error{partnerapi.ErrReferenceTimeout, partnerapi.ErrReferenceTooLarge, partnerapi.ErrReferenceNotImage,
			partnerapi.ErrReferenceUnauthorized, partnerapi.ErrReferenceNotFound, partnerapi.ErrReferenceUnavailable} {
			if other != tc.want && errors.Is(err, other) {
				t.Errorf("%s: %v is also %v", tc.path, err, other)
			}
		}
	}
	// The caller's own end is not the partner's timeout.
	set(partnerapi.ReferenceImageConfig{URL: srv.URL + "/slow", Auth: "bearer", Secret: "tok-123", TimeoutMS: 60000})
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := e.api.ReferenceImage(cctx, fs); !errors.Is(err, partnerapi.ErrReferenceUnavailable) {
		t.Errorf("cancelled caller: %v", err)
	}
}
