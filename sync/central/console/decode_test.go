package console

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/centraltest"
)

// TestDecodeSlots checks that the images the console decodes (the
// portrait cut, the error level analysis) wait for one of Config.MaxDecodes
// slots and, none freeing within Config.DecodeWait, are answered 503
// "decode_busy" with a Retry-After; the images as they are need no slot.
func TestDecodeSlots(t *testing.T) {
	e := newEnvConfig(t, boltStore, nil, func(c *Config) { c.MaxDecodes, c.DecodeWait = 1, time.Millisecond })
	e.addDevice("dev-1", "north")
	e.addUser("rev", central.RoleReviewer)
	ref := e.submit("dev-1", "busy-1", payload(t, "payload_escalate.json", "busy-1", nil))
	b := e.browser()
	b.signIn("rev")

	if !e.console.decodes.Acquire() { // another tab's decode
		t.Fatal("no decode slot free")
	}
	for _, name := range []string{"portrait", "ela"} {
		a := b.get(caseHref(ref) + "/images/" + name)
		if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" || !bytes.Contains([]byte(a.body), []byte(e.console.cat["en"]["err.decode_busy"])) {
			t.Errorf("%s with every decode slot taken: %d, Retry-After %q", name, a.status, a.header.Get("Retry-After"))
		}
	}
	if a := b.get(caseHref(ref) + "/images/front"); a.status != http.StatusOK {
		t.Errorf("the front as it is, with every decode slot taken: %d, want 200", a.status)
	}
	e.console.decodes.Release()
	for _, name := range []string{"portrait", "ela"} {
		if a := b.get(caseHref(ref) + "/images/" + name); a.status != http.StatusOK || a.header.Get("Content-Type") != "image/png" {
			t.Errorf("%s with a slot free: %d %q", name, a.status, a.header.Get("Content-Type"))
		}
	}
	if n := e.console.decodes.InUse(); n != 0 {
		t.Errorf("%d decode slots still taken after the answers", n)
	}
}

// countingReads counts the console's reads of whole images.
type countingReads struct {
	central.Store
	whole *atomic.Int32
}

func (s countingReads) ImageData(ctx context.Context, deviceID, key, image string) ([]byte, error) {
	s.whole.Add(1)
	return s.Store.ImageData(ctx, deviceID, key, image)
}

// TestDecodeRefusedFromHeader checks that a front whose header declares
// too many pixels is refused (404) for the portrait and the error level
// analysis from its first bytes: the whole image is never read.
func TestDecodeRefusedFromHeader(t *testing.T) {
	var whole atomic.Int32
	e := newEnvWrapped(t, func(s central.Store) central.Store { return countingReads{Store: s, whole: &whole} })
	e.addDevice("dev-1", "north")
	e.addUser("rev", central.RoleReviewer)
	bomb := testJPEG(t, 16, 16)
	i := bytes.Index(bomb, []byte{0xFF, 0xC0})
	copy(bomb[i+5:], []byte{0xFF, 0xDC, 0xFF, 0xDC}) // 65500x65500
	ref := e.submitFront("dev-1", "bomb-1", payload(t, "payload_escalate.json", "bomb-1", nil), bomb)
	b := e.browser()
	b.signIn("rev")
	for _, name := range []string{"portrait", "ela"} {
		if a := b.get(caseHref(ref) + "/images/" + name); a.status != http.StatusNotFound {
			t.Errorf("%s of a bomb: %d, want 404", name, a.status)
		}
	}
	if a := b.get(caseHref(ref)); a.status != http.StatusOK {
		t.Errorf("case view: %d", a.status)
	}
	if n := whole.Load(); n != 0 {
		t.Errorf("the bomb was read whole %d times; want its header only", n)
	}
}

// TestDecodeRefusesScanBomb checks that a front whose scans repeat past
// imageio.MaxJPEGScans (a header like any other; minutes of CPU for Go's
// decoder at scale) is neither cut for its portrait nor analysed: 404.
func TestDecodeRefusesScanBomb(t *testing.T) {
	e := newEnv(t)
	e.addDevice("dev-1", "north")
	e.addUser("rev", central.RoleReviewer)
	src := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(128, 128, 128, 0), 1000, 1600, gocv.MatTypeCV8UC3)
	defer src.Close()
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, src, []int{gocv.IMWriteJpegProgressive, 1})
	if err != nil {
		t.Fatal(err)
	}
	defer buf.Close()
	front := map[string][]byte{"progressive": bytes.Clone(buf.GetBytes())}
	p := front["progressive"]
	sos, end := bytes.LastIndex(p, []byte{0xFF, 0xDA}), bytes.LastIndex(p, []byte{0xFF, 0xD9})
	front["scan bomb"] = append(bytes.Clone(p[:end]), append(bytes.Repeat(p[sos:end], imageio.MaxJPEGScans), 0xFF, 0xD9)...)
	b := e.browser()
	b.signIn("rev")
	for name, want := range map[string]int{"progressive": http.StatusOK, "scan bomb": http.StatusNotFound} {
		ref := e.submitFront("dev-1", name, payload(t, "payload_escalate.json", name, nil), front[name])
		for _, img := range []string{"portrait", "ela"} {
			if a := b.get(caseHref(ref) + "/images/" + img); a.status != want {
				t.Errorf("%s of the %s JPEG: %d, want %d", img, name, a.status, want)
			}
		}
	}
}

// TestCaseImageCut checks that an image the store fails to read once its
// answer has begun is cut off, never a 200 ending short.
func TestCaseImageCut(t *testing.T) {
	var fail atomic.Bool
	e := newEnvWrapped(t, func(s central.Store) central.Store { return centraltest.FailingImages{Store: s, Fail: &fail} })
	e.addDevice("dev-1", "north")
	e.addUser("rev", central.RoleReviewer)
	front := make([]byte, 256<<10)
	copy(front, testJPEG(t, 16, 16))
	ref := e.submitFront("dev-1", "cut-1", payload(t, "payload_escalate.json", "cut-1", nil), front)
	b := e.browser()
	b.signIn("rev")
	if a := b.get(caseHref(ref) + "/images/front"); a.status != http.StatusOK || a.body != string(front) || a.header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("front: %d, %d bytes, %q", a.status, len(a.body), a.header.Get("Content-Type"))
	}
	fail.Store(true)
	req, err := http.NewRequest(http.MethodGet, e.base+caseHref(ref)+"/images/front", nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range b.header {
		req.Header[k] = v
	}
	resp, err := b.c.Do(req)
	if err != nil {
		return // cut off before its headers left
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Errorf("store failing mid-answer: %d and %d bytes, whole; want the answer cut off", resp.StatusCode, len(body))
	}
}
