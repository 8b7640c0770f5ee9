package central_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/central"
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
	// last is central's upload state in the last successful answer.
	last protocol.UploadState
}

// begin sends the manifest of a new submission with one image, img, and
// returns its key, the image's content key and the answer.
func (u *uploader) begin(tb testing.TB) (key string, ck []byte, a answer) {
	tb.Helper()
	u.n++
	return u.manifest(tb, u.n)
}

// manifest sends the manifest of submission n (synctest.Submission) with
// one image, img.
func (u *uploader) manifest(tb testing.TB, n int) (key string, ck []byte, a answer) {
	tb.Helper()
	s := synctest.Submission(tb, u.id, n, 0)
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

// chunk sends the image's bytes [off, end) and returns the answer.
func (u *uploader) chunk(tb testing.TB, key string, ck []byte, off, end int) answer {
	tb.Helper()
	body, err := protocol.SealChunk(ck, "selfie", int64(off), u.img[off:end])
	if err != nil {
		tb.Fatal(err)
	}
	return u.send(tb, protocol.ImagePath(key, "selfie", int64(off)), body)
}

// answer is central's answer to one of uploader's requests.
type answer struct {
	status     int
	code       string // the error's code, "" on success
	retryAfter string
}

// send signs and sends a device request and returns the answer.
func (u *uploader) send(tb testing.TB, path string, body []byte) answer {
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
	a := answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
	if resp.StatusCode >= 300 {
		var e protocol.Error
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
			tb.Fatalf("PUT %s: %d without an error body: %v", path, resp.StatusCode, err)
		}
		a.code = e.Code
		return a
	}
	if err := json.NewDecoder(resp.Body).Decode(&u.last); err != nil {
		tb.Fatalf("PUT %s: %d with an upload state that does not decode: %v", path, resp.StatusCode, err)
	}
	return a
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
				key, ck, a := u.begin(b)
				if a.status != http.StatusOK {
					b.Fatalf("manifest: %+v", a)
				}
				for off := 0; off < size-chunk; off += chunk {
					if a := u.chunk(b, key, ck, off, off+chunk); a.status != http.StatusOK {
						b.Fatalf("chunk at %d: %+v", off, a)
					}
				}
				b.StartTimer()
				if a := u.chunk(b, key, ck, size-chunk, size); a.status != http.StatusOK {
					b.Fatalf("last chunk: %+v", a)
				}
			}
		})
	}
}

// TestOpenUploadsBounded checks that a device holds at most
// central.MaxOpenUploads submissions whose images are still arriving: one
// more is answered 429 with a Retry-After, and accepted once one of them
// finishes; resends of an open one's manifest, submissions without images
// and other devices are not held back.
func TestOpenUploadsBounded(t *testing.T) {
	c := synctest.StartCentral(t, openBolt(t), synctest.CentralOptions{})
	id, _ := c.Enroll(t)
	u := &uploader{c: c, id: id, img: []byte("a small image")}
	type open struct {
		key string
		ck  []byte
	}
	var opened []open
	for range central.MaxOpenUploads {
		key, ck, a := u.begin(t)
		if a.status != http.StatusOK {
			t.Fatalf("manifest %d of %d: %+v", len(opened)+1, central.MaxOpenUploads, a)
		}
		opened = append(opened, open{key, ck})
	}
	other, _ := c.Enroll(t)
	steps := []struct {
		name string
		send func() answer
		want answer
	}{
		{"one more", func() answer { _, _, a := u.begin(t); return a },
			answer{status: http.StatusTooManyRequests, code: "too_many_uploads", retryAfter: "60"}},
		{"a resend of an open one", func() answer { _, _, a := u.manifest(t, 1); return a },
			answer{status: http.StatusOK}},
		{"without images", func() answer {
			s := synctest.Submission(t, id, 100, 0)
			pt, err := json.Marshal(protocol.Manifest{ID: s.ID, CreatedAt: s.CreatedAt, Payload: s.Payload})
			if err != nil {
				t.Fatal(err)
			}
			sealed, err := protocol.SealManifest(&c.Box.Public, pt)
			if err != nil {
				t.Fatal(err)
			}
			return u.send(t, protocol.SubmissionPath(protocol.SubmissionKey(s.ID)), sealed)
		}, answer{status: http.StatusOK}},
		{"another device", func() answer { _, _, a := (&uploader{c: c, id: other, img: u.img}).begin(t); return a },
			answer{status: http.StatusOK}},
		{"one finishes", func() answer { return u.chunk(t, opened[0].key, opened[0].ck, 0, len(u.img)) },
			answer{status: http.StatusOK}},
		{"then one more", func() answer { _, _, a := u.begin(t); return a }, answer{status: http.StatusOK}},
		{"and no more", func() answer { _, _, a := u.begin(t); return a },
			answer{status: http.StatusTooManyRequests, code: "too_many_uploads", retryAfter: "60"}},
	}
	for _, step := range steps {
		if got := step.send(); got != step.want {
			t.Errorf("%s: %+v, want %+v", step.name, got, step.want)
		}
	}
}

// TestOpenUploadsAgentWaits checks that the agent's uploader takes the 429
// of a device at its bound as "try later", never as a rejection (which
// would be final), and delivers the submission once an open upload
// finishes.
func TestOpenUploadsAgentWaits(t *testing.T) {
	store := openBolt(t)
	c := synctest.StartCentral(t, store, synctest.CentralOptions{})
	id, enr := c.Enroll(t)
	u := &uploader{c: c, id: id, img: []byte("a small image"), n: 1000}
	key, ck, a := u.begin(t)
	for range central.MaxOpenUploads - 1 {
		if _, _, a = u.begin(t); a.status != http.StatusOK {
			t.Fatalf("manifest: %+v", a)
		}
	}
	up, err := agent.NewUploader(agent.Config{Identity: id, Enrollment: enr})
	if err != nil {
		t.Fatal(err)
	}
	s := synctest.Submission(t, id, 1, 100)
	err = up.Upload(context.Background(), s)
	var later *agent.RetryLaterError
	if !errors.As(err, &later) || later.After != time.Minute || errors.Is(err, agent.ErrRejected) {
		t.Fatalf("Upload at the bound = %v; want a RetryLaterError of a minute", err)
	}
	if a := u.chunk(t, key, ck, 0, len(u.img)); a.status != http.StatusOK {
		t.Fatalf("finishing an open upload: %+v", a)
	}
	if err := up.Upload(context.Background(), s); err != nil {
		t.Fatalf("Upload once an open upload finished: %v", err)
	}
	if sub, err := store.Upload(context.Background(), id.DeviceID(), protocol.SubmissionKey(s.ID)); err != nil || sub.CompletedAt.IsZero() {
		t.Errorf("central holds %+v, %v; want the submission complete", sub, err)
	}
}

// TestChunkAfterRetentionClosedUpload: retention erases the images of an
// upload still open, which closes it (complete, images erased). The
// device's next chunk is answered with the receipt saying so, which the
// agent takes as final (the device keeps its copy), not with 404
// unknown_image because the erased images are no longer listed, which
// the agent could only take as "try again".
func TestChunkAfterRetentionClosedUpload(t *testing.T) {
	for _, st := range sealedStores {
		t.Run(st.name, func(t *testing.T) {
			store := st.open(t)
			c := synctest.StartCentral(t, store, synctest.CentralOptions{})
			id, _ := c.Enroll(t)
			u := &uploader{c: c, id: id, img: bytes.Repeat([]byte("image bytes "), 20)}
			key, ck, a := u.begin(t)
			if a.status != http.StatusOK {
				t.Fatalf("manifest: %+v", a)
			}
			if a := u.chunk(t, key, ck, 0, 100); a.status != http.StatusOK {
				t.Fatalf("first chunk: %+v", a)
			}
			now := time.Now()
			if n, err := store.Expire(t.Context(), central.ExpireImages, now.Add(time.Hour), now, 10); err != nil || n != 1 {
				t.Fatalf("erasing the images: %d, %v", n, err)
			}
			body, err := protocol.SealChunk(ck, "selfie", 100, u.img[100:])
			if err != nil {
				t.Fatal(err)
			}
			req, err := http.NewRequest(http.MethodPut, c.URL+protocol.ImagePath(key, "selfie", 100), bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			id.SignRequest(req, body, time.Now())
			resp, err := c.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got protocol.UploadState
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("chunk after the images were erased: %d, %v; want 200 with the receipt", resp.StatusCode, err)
			}
			if rc := got.Receipt; !got.Complete || rc == nil || rc.Key != key || !rc.ImagesErased || !rc.Incomplete {
				t.Errorf("answer %+v (receipt %+v), want complete with a receipt: images erased, incomplete", got, got.Receipt)
			}
		})
	}
}

// TestOversizedManifestRejected: a submission whose sealed manifest is
// over protocol.MaxManifestSize can never be taken (central refuses its
// length before reading it, 413). The agent rejects it itself, kept on
// the device for an operator, rather than send it again at every pass for
// ever (a 413 read as "try again later").
func TestOversizedManifestRejected(t *testing.T) {
	c := synctest.StartCentral(t, openBolt(t), synctest.CentralOptions{})
	id, enr := c.Enroll(t)
	up, err := agent.NewUploader(agent.Config{Identity: id, Enrollment: enr, RetryMax: -1})
	if err != nil {
		t.Fatal(err)
	}
	s := synctest.Submission(t, id, 1, 0)
	var p map[string]any
	if err := json.Unmarshal(s.Payload, &p); err != nil {
		t.Fatal(err)
	}
	p["padding"] = string(bytes.Repeat([]byte("x"), protocol.MaxManifestSize+8<<10))
	if s.Payload, err = json.Marshal(p); err != nil {
		t.Fatal(err)
	}
	err = up.Upload(context.Background(), s)
	var rej *agent.RejectionError
	if !errors.As(err, &rej) || rej.Code != "invalid" {
		t.Errorf("Upload of a manifest over %d bytes = %v; want a rejection (invalid)", protocol.MaxManifestSize, err)
	}
}
