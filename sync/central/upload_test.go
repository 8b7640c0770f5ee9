package central_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central/seal"
	"github.com/openkyc/kyc/sync/central/store/boltstore"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/internal/synctest"
	"github.com/openkyc/kyc/sync/protocol"
)

// uploader sends one device's submissions to a synctest central by hand,
// a request at a time, so a test or benchmark can stop between them.
type uploader struct {
	c   *synctest.Central
	id  *identity.Identity
	n   int
	img []byte
}

// begin sends the manifest of a new submission with one image, img, and
// returns its key, the image's content key and the answer's status.
func (u *uploader) begin(tb testing.TB) (key string, ck []byte, status int) {
	tb.Helper()
	u.n++
	s := synctest.Submission(tb, u.id, u.n, 0)
	sum := sha256.Sum256(u.img)
	ck, err := u.id.ContentKey(s.ID, "selfie", sum)
	if err != nil {
		tb.Fatal(err)
	}
	m := protocol.Manifest{ID: s.ID, CreatedAt: s.CreatedAt, Payload: s.Payload,
		Images: []protocol.ImageMeta{{Name: "selfie", Size: int64(len(u.img)), SHA256: sum[:], Key: ck}}}
	pt, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	sealed, err := protocol.SealManifest(&u.c.Box.Public, pt)
	if err != nil {
		tb.Fatal(err)
	}
	key = protocol.SubmissionKey(s.ID)
	return key, ck, u.send(tb, protocol.SubmissionPath(key), sealed)
}

// chunk sends the image's bytes [off, end) and returns the status.
func (u *uploader) chunk(tb testing.TB, key string, ck []byte, off, end int) int {
	tb.Helper()
	body, err := protocol.SealChunk(ck, "selfie", int64(off), u.img[off:end])
	if err != nil {
		tb.Fatal(err)
	}
	return u.send(tb, protocol.ImagePath(key, "selfie", int64(off)), body)
}

// send signs and sends a device request and returns the answer's status.
func (u *uploader) send(tb testing.TB, path string, body []byte) int {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPut, u.c.URL+path, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	u.id.SignRequest(req, body, time.Now())
	resp, err := u.c.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode
}

// BenchmarkFinishingChunk measures the request that brings the last 4 MiB
// chunk of an image to a sealed bbolt central, the one that checks the
// image's SHA-256, for images of 8, 32 and 64 MiB (the largest allowed).
// Run with -benchmem: what it allocates should not grow with the image.
func BenchmarkFinishingChunk(b *testing.B) {
	const chunk = protocol.MaxChunkSize
	for _, size := range []int{8 << 20, 32 << 20, protocol.MaxImageSize} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			inner, err := boltstore.Open(filepath.Join(b.TempDir(), "central.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { inner.Close() })
			kr, err := seal.LoadOrCreateKeyring(filepath.Join(b.TempDir(), "central.keys"))
			if err != nil {
				b.Fatal(err)
			}
			c := synctest.StartCentral(b, seal.New(inner, kr, kr), synctest.CentralOptions{})
			id, _ := c.Enroll(b)
			img := make([]byte, size)
			rng := rand.New(rand.NewPCG(1, 2))
			for i := range img {
				img[i] = byte(rng.UintN(256))
			}
			u := &uploader{c: c, id: id, img: img}
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				key, ck, status := u.begin(b)
				if status != http.StatusOK {
					b.Fatalf("manifest: %d", status)
				}
				for off := 0; off < size-chunk; off += chunk {
					if status := u.chunk(b, key, ck, off, off+chunk); status != http.StatusOK {
						b.Fatalf("chunk at %d: %d", off, status)
					}
				}
				b.StartTimer()
				if status := u.chunk(b, key, ck, size-chunk, size); status != http.StatusOK {
					b.Fatalf("last chunk: %d", status)
				}
			}
		})
	}
}
