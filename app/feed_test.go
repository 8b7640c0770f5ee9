package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/engine/capture"
	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/engine/ort"
	"github.com/openkyc/kyc/internal/synth"
	"github.com/openkyc/kyc/internal/testenv"
)

// TestSelfieFeed: from a live camera the selfie guide keeps the grey levels
// of its last frames, and the feed behind the capture is judged by them: a
// camera's frames pass, a still fed as every frame (a virtual camera) does
// not. A video file, the operator's own choice, is not judged.
func TestSelfieFeed(t *testing.T) {
	testenv.ORT(t)
	det, err := face.NewYuNet(testenv.Model(t, "yunet"), face.YuNetConfig{}, ort.Options{IntraOpThreads: 1, InterOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer det.Close()
	photo, err := imageio.ReadFile(testenv.Data(t, "liveness", "interfaces_cc0", DemoPortrait), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer photo.Close()
	run := func(live, noisy bool) string {
		t.Helper()
		sg, err := capture.NewSelfieGuide(det, capture.DefaultSelfieConfig())
		if err != nil {
			t.Fatal(err)
		}
		g := &challengeGuide{SelfieGuide: sg, now: time.Now, live: live}
		defer g.Close()
		for i := range feedFrames + 2 {
			m := photo.Clone()
			if noisy {
				synth.AddSensorNoise(&m, 1, uint64(i+1))
			}
			_, err := g.Analyse(context.Background(), capture.Frame{Seq: i, Image: m})
			m.Close()
			if err != nil {
				t.Fatal(err)
			}
		}
		if len(g.recent) > feedFrames {
			t.Errorf("%d frames kept, want at most %d", len(g.recent), feedFrames)
		}
		return g.feed()
	}
	if got := run(true, true); got != "" {
		t.Errorf("a camera's frames: %q, want a live feed", got)
	}
	if got := run(true, false); !strings.Contains(got, "repeat an earlier one byte for byte") {
		t.Errorf("a still as every frame: %q, want it suspect", got)
	}
	if got := run(false, false); got != "" {
		t.Errorf("a video file: %q, want it not judged", got)
	}
	for cam, want := range map[string]bool{"": false, "0": true, "/dev/video2": true, "rtsp://10.0.0.5/cam": true,
		testenv.Data(t, "liveness", "interfaces_cc0", DemoPortrait): false} {
		if got := liveCamera(cam); got != want {
			t.Errorf("liveCamera(%q) = %v, want %v", cam, got, want)
		}
	}
}
