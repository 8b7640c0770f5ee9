package central_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/internal/synctest"
	"github.com/openkyc/kyc/sync/protocol"
)

// randomBytes returns n reproducible random bytes.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{}).Read(b)
	return b
}

// storeDetail stores a complete submission with the images straight into
// st and returns the admin API's path of its detail.
func storeDetail(tb testing.TB, st central.Store, imgs map[string][]byte) string {
	tb.Helper()
	now := time.Now().UTC()
	ref := centraltest.StoreSubmission(tb, st, central.Submission{DeviceID: "dev-1", Key: protocol.SubmissionKey("sub-1"), ID: "sub-1",
		ManifestHash: []byte("sub-1"), CreatedAt: now, ReceivedAt: now, Verdict: "ok", Payload: json.RawMessage(`{"a":"<b>"}`)},
		imgs, protocol.MaxChunkSize)
	return "/admin/v1/devices/" + ref.DeviceID + "/submissions/sub-1"
}

// adminGet sends an admin GET to c with client and returns the answer
// unread.
func adminGet(tb testing.TB, client *http.Client, c *synctest.Central, path string) *http.Response {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, c.URL+path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+synctest.AdminToken)
	resp, err := client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	return resp
}

// TestSubmissionDetailStreamed checks that the admin API's submission
// detail, written as the images are read, is byte for byte what encoding
// a SubmissionDetail gives, and that a store failing once the answer has
// begun cuts it off rather than ending a 200 short.
func TestSubmissionDetailStreamed(t *testing.T) {
	var fail atomic.Bool
	st := sealedBolt(t)
	c := synctest.StartCentral(t, centraltest.FailingImages{Store: st, Fail: &fail}, synctest.CentralOptions{})
	imgs := map[string][]byte{"selfie": randomBytes(protocol.MaxChunkSize + 1000), "front": randomBytes(7), "back": {}}
	path := storeDetail(t, st, imgs)

	ctx := context.Background()
	sub, err := st.Upload(ctx, "dev-1", protocol.SubmissionKey("sub-1"))
	if err != nil {
		t.Fatal(err)
	}
	want := central.SubmissionDetail{Submission: sub, ImageData: map[string][]byte{}}
	for i, im := range sub.Images {
		if want.ImageData[im.Name], err = st.ImageData(ctx, "dev-1", sub.Key, im.Name); err != nil {
			t.Fatal(err)
		}
		want.Images[i].Key = nil
	}
	var wantBody bytes.Buffer
	if err := json.NewEncoder(&wantBody).Encode(want); err != nil {
		t.Fatal(err)
	}
	admins := adminOf(t, c).Admins
	resp := adminGet(t, admins, c, path)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil || !bytes.Equal(body, wantBody.Bytes()) {
		t.Errorf("detail: %d, %v, %d bytes; want the %d bytes of json.Encoder\ngot  %.300s\nwant %.300s",
			resp.StatusCode, err, len(body), wantBody.Len(), body, wantBody.Bytes())
	}

	// The answer is cut off wherever it stands: before its headers left
	// the server's buffer (no answer) or after (a 200 whose body fails).
	fail.Store(true)
	req, err := http.NewRequest(http.MethodGet, c.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+synctest.AdminToken)
	if resp, err := admins.Do(req); err == nil {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Errorf("store failing mid-answer: %d and %d bytes, whole; want the answer cut off", resp.StatusCode, len(body))
		}
	}
}

// TestWriteImageJSON: the admin detail's and the push's image strings are
// the bytes encoding/json writes for the image's []byte, ImageJSONLen
// counts them (the push announces it as its Content-Length), tee sees the
// raw bytes, and an image without bytes writes nothing, start included.
func TestWriteImageJSON(t *testing.T) {
	st := sealedBolt(t)
	imgs := map[string][]byte{"selfie": randomBytes(protocol.MaxChunkSize + 1000), "front": randomBytes(7), "back": {}}
	storeDetail(t, st, imgs)
	ref := central.SubmissionRef{DeviceID: "dev-1", Key: protocol.SubmissionKey("sub-1")}
	for _, name := range []string{"selfie", "front", "back"} {
		var out, tee bytes.Buffer
		started := false
		err := central.WriteImageJSON(context.Background(), st, &out, &tee, ref, name, int64(len(imgs[name])), func() error {
			started = true
			_, err := out.WriteString("<")
			return err
		})
		if len(imgs[name]) == 0 {
			if !errors.Is(err, central.ErrNotFound) || started || out.Len() != 0 {
				t.Errorf("%s, no bytes: %v, started %v, wrote %q; want ErrNotFound and nothing", name, err, started, out.Bytes())
			}
			continue
		}
		want, _ := json.Marshal(imgs[name])
		want = append([]byte("<"), want...)
		if err != nil || !bytes.Equal(out.Bytes(), want) || !bytes.Equal(tee.Bytes(), imgs[name]) {
			t.Errorf("%s: %v, wrote %.40q (%d bytes), tee %d bytes; want %.40q (%d bytes) and the image", name, err, out.Bytes(), out.Len(), tee.Len(), want, len(want))
		}
		if n := central.ImageJSONLen(int64(len(imgs[name]))); n != int64(out.Len()-1) {
			t.Errorf("%s: ImageJSONLen = %d, wrote %d", name, n, out.Len()-1)
		}
	}
}

// BenchmarkSubmissionDetail measures the admin API's submission detail of
// a submission with one image of 8, 32 or 64 MiB (the largest allowed) on
// a sealed bbolt central. Run with -benchmem: what it allocates should not
// grow with the image.
func BenchmarkSubmissionDetail(b *testing.B) {
	for _, size := range []int{8 << 20, 32 << 20, protocol.MaxImageSize} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			st := sealedBolt(b)
			c := synctest.StartCentral(b, st, synctest.CentralOptions{})
			path := storeDetail(b, st, map[string][]byte{"selfie": randomBytes(size)})
			b.ReportAllocs()
			for b.Loop() {
				// Not held to openapi.json (apitest): its copy of each
				// answer would be what the benchmark measures.
				resp := adminGet(b, c.Client(), c, path)
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || n < int64(size) || err != nil {
					b.Fatalf("%d, %d bytes, %v", resp.StatusCode, n, err)
				}
			}
		})
	}
}
