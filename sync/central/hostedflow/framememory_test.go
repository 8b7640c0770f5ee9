package hostedflow_test

import (
	"bytes"
	"encoding/json"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central/hostedflow"
)

// heavyFrame is a guidance frame near MaxFrameBytes: grey noise, which
// JPEG cannot compress, that no guide captures.
func heavyFrame(t *testing.T, seed uint64) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 1760, 1080))
	r := rand.New(rand.NewPCG(seed, 34))
	for i := range img.Pix {
		img.Pix[i] = byte(r.Uint32())
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	if n := buf.Len(); n > hostedflow.MaxFrameBytes || n < hostedflow.MaxFrameBytes*3/4 {
		t.Fatalf("a heavy frame of %d bytes, want near %d", n, hostedflow.MaxFrameBytes)
	}
	return buf.Bytes()
}

func keptBytes(frames map[string][]int) (total int64) {
	for _, frs := range frames {
		for _, n := range frs {
			total += int64(n)
		}
	}
	return total
}

// TestSessionFramesBounded: a session sent eight frames of the largest
// size for each of its three steps (a partner's compromised backend
// driving many sessions) keeps at most its budget, or the current step's
// floor (five: the guide's window and the feed's judgement), not 24 of
// them (48 MB; 500 sessions held 24 GB before the bound). Frames of the
// page's size are kept eight to a step as before, and a step whose
// capture is kept holds none.
func TestSessionFramesBounded(t *testing.T) {
	e := newEnv(t, true)
	doc, selfie, _ := images(t)
	pid, fc := e.initiate(map[string]any{"accepted_documents": []string{"id_card"}})
	b := e.browser()
	b.open(fc.LaunchURL)
	var seed uint64
	for _, step := range []string{"document", "back", "selfie"} {
		for range 8 {
			seed++
			e.clk.Advance(time.Second / hostedflow.FrameRate)
			must(t, http.StatusOK, b.post("/flow/api/frame?step="+step, "image/jpeg", heavyFrame(t, seed)))
		}
	}
	kept := e.flow.KeptFrames(pid, fc.SessionID)
	limit := max(int64(hostedflow.SessionFrameBudget), 5*hostedflow.MaxFrameBytes)
	if got := keptBytes(kept); got > limit {
		t.Errorf("the session keeps %d MB of frames (%v), want at most %d MB", got>>20, kept, limit>>20)
	}
	if n := len(kept["selfie"]); n < 5 {
		t.Errorf("the current step keeps %d frames, want at least 5 (the guide's window, the feed's judgement)", n)
	}
	if got, want := e.flow.FramesHeld(), keptBytes(kept); got != want {
		t.Errorf("the instance counts %d bytes held, the session keeps %d", got, want)
	}

	// The page's frames: the selfie's last eight are kept, as before.
	b.feed(selfie, 8)
	if n := len(e.flow.KeptFrames(pid, fc.SessionID)["selfie"]); n != 8 {
		t.Errorf("after eight frames of the page's size the selfie keeps %d, want 8", n)
	}

	// A step whose capture is kept holds no frame.
	e.clk.Advance(time.Second)
	must(t, http.StatusOK, b.post("/flow/api/frame?step=document", "image/jpeg", heavyFrame(t, 99)))
	b.captureOnly("document", doc)
	if kept := e.flow.KeptFrames(pid, fc.SessionID); len(kept["document"]) != 0 {
		t.Errorf("the captured document keeps %v frames, want none", kept["document"])
	}
	b.capture("selfie", selfie)
	if kept := e.flow.KeptFrames(pid, fc.SessionID); len(kept["selfie"]) != 0 {
		t.Errorf("the captured selfie keeps %v frames, want none", kept["selfie"])
	}
}

// TestInstanceFramesBounded: past Config.MaxFrameMemory a guidance frame
// answers 503 guidance_busy with a Retry-After, keeping nothing; once a
// session's capture frees its frames, the next is taken.
func TestInstanceFramesBounded(t *testing.T) {
	e := newEnv(t, true, func(c *hostedflow.Config) { c.MaxFrameMemory = 3 << 20 })
	doc, _, _ := images(t)
	var bs []*browser
	var pids, sids []string
	for range 2 {
		pid, fc := e.initiate(nil)
		b := e.browser()
		b.open(fc.LaunchURL)
		bs, pids, sids = append(bs, b), append(pids, pid), append(sids, fc.SessionID)
	}
	e.clk.Advance(time.Second)
	must(t, http.StatusOK, bs[0].post("/flow/api/frame?step=document", "image/jpeg", heavyFrame(t, 1)))
	a := bs[1].post("/flow/api/frame?step=document", "image/jpeg", heavyFrame(t, 2))
	var eo struct{ Code, Message, RequestID string }
	json.Unmarshal(a.body, &eo)
	if a.status != http.StatusServiceUnavailable || eo.Code != "guidance_busy" || a.header.Get("Retry-After") == "" {
		t.Fatalf("a frame past the instance's bound: %d %s (Retry-After %q), want 503 guidance_busy with a Retry-After",
			a.status, a.body, a.header.Get("Retry-After"))
	}
	if kept := e.flow.KeptFrames(pids[1], sids[1]); len(kept) != 0 {
		t.Errorf("the refused frame is kept: %v", kept)
	}
	bs[0].captureOnly("document", doc)
	e.clk.Advance(time.Second)
	must(t, http.StatusOK, bs[1].post("/flow/api/frame?step=document", "image/jpeg", heavyFrame(t, 3)))
	if got, want := e.flow.FramesHeld(), keptBytes(e.flow.KeptFrames(pids[1], sids[1])); got != want || want == 0 {
		t.Errorf("the instance counts %d bytes held, the sessions keep %d", got, want)
	}
}
