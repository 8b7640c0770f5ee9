package hostedflow_test

import (
	"bytes"
	"image"
	"image/jpeg"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/openkyc/kyc/sync/central/hostedflow"
)

// peakRSS is the process's peak resident memory since the last
// resetPeak, in bytes (Linux: VmHWM).
func peakRSS(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status:", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Skip("no VmHWM")
	return 0
}

// resetPeak resets the peak to the memory resident now.
func resetPeak(t *testing.T) {
	t.Helper()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Skip("cannot reset the peak RSS:", err)
	}
}

// bigJPEG is a tiny file of many pixels: w x h, one grey.
func bigJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 0x80
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 50}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestCaptureDecodesBounded: the captures of many sessions at once (a
// partner's public sign-up hands out as many as a script asks for), each
// a file of a few hundred kilobytes decoding to 40 megapixels, are
// decoded a slot at a time (Config.MaxConcurrent): every one is taken,
// and the memory they hold together is that of the slots, not of every
// capture in flight (sessions times CaptureBurst: 1.7-1.9 GB above the
// base for these 18 before the bound, 262 MB with it).
func TestCaptureDecodesBounded(t *testing.T) {
	const slots, sessions = 2, 3
	const w, h = 6400, 6200 // 39.7 megapixels
	e := newEnv(t, true, func(c *hostedflow.Config) { c.MaxConcurrent = slots })
	bomb := bigJPEG(t, w, h)
	var bs []*browser
	for range sessions {
		_, fc := e.initiate(nil)
		b := e.browser()
		b.open(fc.LaunchURL)
		bs = append(bs, b)
	}
	resetPeak(t)
	base := peakRSS(t)
	var wg sync.WaitGroup
	codes := make(chan int, sessions*hostedflow.CaptureBurst)
	for _, b := range bs {
		for range hostedflow.CaptureBurst {
			wg.Go(func() {
				codes <- b.do("POST", "/flow/api/capture?step=document&source=upload", "image/jpeg", bomb, nil).status
			})
		}
	}
	wg.Wait()
	close(codes)
	n := map[int]int{}
	for c := range codes {
		n[c]++
	}
	peak := peakRSS(t) - base
	if n[http.StatusOK] != sessions*hostedflow.CaptureBurst {
		t.Errorf("captures at once: %v, want all %d taken", n, sessions*hostedflow.CaptureBurst)
	}
	// A decoded capture is a BGR Mat of w*h*3 bytes: the slots' and a
	// couple more for everything else, far below one per capture.
	mat := int64(w * h * 3)
	if limit := (slots + 2) * mat; peak > limit {
		t.Errorf("peak resident memory %d MB above the base, want below %d MB (%d decodes of %d MB at once)",
			peak>>20, limit>>20, slots, mat>>20)
	}
}
