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
		synth.AddSensorNoise(&m, uint64(first+i))
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

// TestFeedEvidence: a camera's frames pass; too few, one repeated or of
// two sizes are suspect, each saying why.
func TestFeedEvidence(t *testing.T) {
	live := cameraFrames(t, 5, 1, 320, 240)
	other := cameraFrames(t, 1, 9, 160, 120)
	for _, tc := range []struct {
		name   string
		frames []rawFrame
		want   string // in the evidence; "" for a live feed
	}{
		{"a camera's frames", live, ""},
		{"the fewest frames judged", live[:minFeedFrames], ""},
		{"no frames", nil, "no camera feed"},
		{"two frames", live[:2], "no camera feed"},
		{"a still", []rawFrame{live[0], live[0], live[0]}, "2 of the 3 camera frames behind the selfie repeat"},
		{"two stills in turn", []rawFrame{live[0], live[1], live[0], live[1]}, "2 of the 4"},
		{"a repeat among a camera's frames", append(live[:4:4], live[1]), "1 of the 5"},
		{"frames of two sizes", append(live[:3:3], other[0]), "not one camera's"},
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
