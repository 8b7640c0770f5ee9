package hostedflow

import (
	"strings"
	"testing"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/internal/synth"
)

// cameraFrames are n guidance frames of one scene as the page sends them
// (JPEG at its quality, 0.92), each with a camera's noise (seed first+i);
// size w x h.
func cameraFrames(t testing.TB, n, first, w, h int) []rawFrame {
	t.Helper()
	scene := synth.Background(w, h, 21)
	defer scene.Close()
	out := make([]rawFrame, n)
	for i := range out {
		m := scene.Clone()
		synth.AddSensorNoise(&m, 1, uint64(first+i))
		buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, m, []int{gocv.IMWriteJpegQuality, 92})
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[i] = rawFrame{seq: i, data: append([]byte(nil), buf.GetBytes()...)}
		buf.Close()
	}
	return out
}

// TestFeedEvidence: guidance frames as the page sends them (JPEG) are
// judged on their decoded grey levels (device.FeedSuspect has the cases):
// a camera's pass, a still's repeat.
func TestFeedEvidence(t *testing.T) {
	live := cameraFrames(t, 5, 1, 320, 240)
	for _, tc := range []struct {
		name   string
		frames []rawFrame
		want   string // in the evidence; "" for a live feed
	}{
		{"a camera's frames", live, ""},
		{"a still", []rawFrame{live[0], live[0], live[0]}, "2 of the 3 camera frames behind the selfie repeat"},
		{"no frames", nil, "no camera feed"},
	} {
		got := feedEvidence(tc.frames)
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// BenchmarkFeedEvidence: judging a selfie's feed once, at its capture:
// the eight frames central keeps, at the page's size (1280x720).
func BenchmarkFeedEvidence(b *testing.B) {
	frames := cameraFrames(b, 8, 1, 1280, 720)
	for b.Loop() {
		if got := feedEvidence(frames); got != "" {
			b.Fatal(got)
		}
	}
}
