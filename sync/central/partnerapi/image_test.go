package partnerapi_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/central/partnerapi"
	"github.com/openkyc/kyc/sync/central/partnerapi/apitest"
	"github.com/openkyc/kyc/sync/protocol"
)

// imageLink sets up a partner's completed session whose submission has
// the images and returns the partner and each image's link path.
func imageLink(tb testing.TB, e *env, imgs map[string][]byte) (partner, map[string]string) {
	tb.Helper()
	p := e.partner("Acme")
	fc := e.flow(p, map[string]any{"partner_user_id": "cust-1", "partner_user_id_type": "customer_id", "partner_session_id": "s-1"})
	ref := e.submitImages("dev-1", "s-1", payload(tb, "payload_escalate.json", "s-1"), imgs, protocol.MaxChunkSize)
	e.complete(p.Partner.ID, fc.SessionID, ref)
	var d partnerapi.Details
	e.must(http.StatusOK, e.do(req{method: "GET", path: "/api/v1/submission-details", token: p.tok,
		header: map[string]string{"x-partner-session-id": fc.SessionID, "x-partner-user-id": "cust-1", "x-partner-user-id-type": "customer_id"}})).json(tb, &d)
	if d.Result == nil || len(d.Result.Images) != len(imgs) {
		tb.Fatalf("details: %+v", d.Result)
	}
	links := map[string]string{}
	for _, im := range d.Result.Images {
		links[im.Name] = strings.TrimPrefix(im.URL, e.base)
	}
	return p, links
}

// rawGet sends a GET past the contract check (which reads the whole body
// and so would hide a cut answer), and returns the answer unread.
func rawGet(tb testing.TB, e *env, path, token string) *http.Response {
	tb.Helper()
	hr, err := http.NewRequest(http.MethodGet, e.base+path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	hr.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.client.Transport.(*apitest.Transport).Base.RoundTrip(hr)
	if err != nil {
		tb.Fatal(err)
	}
	return resp
}

// TestImageStreamed checks that an image link's answer gives the image's
// size and SHA-256 (Content-Length, ETag) before its bytes, and that a
// store failing once bytes are on their way cuts the answer off rather
// than ending a 200 short.
func TestImageStreamed(t *testing.T) {
	var broken atomic.Bool
	e := newEnvWith(t, boltStore, func(c *partnerapi.Config) { c.Store = centraltest.FailingImages{Store: c.Store, Fail: &broken} })
	// Not an image (application/octet-stream); large enough that the half
	// the broken store yields leaves the server's buffer, headers first.
	front := make([]byte, 64<<10)
	rand.NewChaCha8([32]byte{}).Read(front)
	p, links := imageLink(t, e, map[string][]byte{"front": front})

	a := e.must(http.StatusOK, e.do(req{method: "GET", path: links["front"], token: p.tok}))
	sum := sha256.Sum256(front)
	if string(a.body) != string(front) || a.header.Get("Content-Length") != strconv.Itoa(len(front)) ||
		a.header.Get("ETag") != `"`+hex.EncodeToString(sum[:])+`"` || a.header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("image: %d bytes, %v", len(a.body), a.header)
	}

	broken.Store(true)
	resp := rawGet(t, e, links["front"], p.tok)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.ContentLength != int64(len(front)) || err == nil {
		t.Errorf("store failing mid-answer: %d, Content-Length %d, %d bytes read, %v; want a 200 of %d bytes cut off",
			resp.StatusCode, resp.ContentLength, len(body), err, len(front))
	}
}

// BenchmarkImageDownload measures a partner's download of an image by
// its link from a sealed bbolt central, for images of 8, 32 and 64 MiB
// (the largest allowed) stored in chunks of protocol.MaxChunkSize. Run
// with -benchmem: what it allocates should not grow with the image.
func BenchmarkImageDownload(b *testing.B) {
	for _, size := range []int{8 << 20, 32 << 20, protocol.MaxImageSize} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			e := newEnv(b, boltStore)
			img := make([]byte, size)
			rand.NewChaCha8([32]byte{}).Read(img)
			p, links := imageLink(b, e, map[string][]byte{"front": img})
			b.ReportAllocs()
			for b.Loop() {
				resp := rawGet(b, e, links["front"], p.tok)
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || n != int64(size) || err != nil {
					b.Fatalf("%d, %d bytes, %v", resp.StatusCode, n, err)
				}
			}
		})
	}
}
