package device

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

const frameW, frameH = 320, 240

// scene renders a capture-like picture: a lit wall with a gradient, a
// shaded face-sized ellipse shifted by dx, and a dark card. It returns
// exact (unrounded) intensities.
func scene(dx int) []float64 {
	img := make([]float64, frameW*frameH)
	cx, cy := float64(frameW/2+dx), float64(frameH/2)
	for y := range frameH {
		for x := range frameW {
			v := 70 + 90*float64(y)/frameH + 20*float64(x)/frameW
			ex, ey := (float64(x)-cx)/60, (float64(y)-cy)/80
			if d := ex*ex + ey*ey; d < 1 {
				v = 170 - 50*d // shading towards the edge of the face
			}
			if x > 30 && x < 110 && y > 150 && y < 200 {
				v = 40
			}
			img[y*frameW+x] = v
		}
	}
	return img
}

// toGray rounds intensities plus noise of deviation sigma(v) into a frame.
func toGray(v []float64, rng *rand.Rand, sigma func(float64) float64) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, frameW, frameH))
	for i, x := range v {
		if sigma != nil {
			x += rng.NormFloat64() * sigma(x)
		}
		g.Pix[i] = uint8(math.Round(min(255, max(0, x))))
	}
	return g
}

// sensorNoise is read noise plus shot noise growing with the signal, as
// on a real sensor.
func sensorNoise(read float64) func(float64) float64 {
	return func(v float64) float64 { return math.Sqrt(read*read + 0.01*v) }
}

func noisyFrames(n int, read float64, seed uint64) []*image.Gray {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]*image.Gray, n)
	for i := range out {
		out[i] = toGray(scene(i*3), rng, sensorNoise(read))
	}
	return out
}

// renderedFrames are noise-free frames of a moving subject; step 0 keeps
// it still, so every frame is identical.
func renderedFrames(n, step int) []*image.Gray {
	out := make([]*image.Gray, n)
	for i := range out {
		out[i] = toGray(scene(i*step), nil, nil)
	}
	return out
}

func jpegRoundTrip(t *testing.T, frames []*image.Gray, quality int) []*image.Gray {
	t.Helper()
	out := make([]*image.Gray, len(frames))
	for i, f := range frames {
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, f, &jpeg.Options{Quality: quality}); err != nil {
			t.Fatal(err)
		}
		img, err := jpeg.Decode(&buf)
		if err != nil {
			t.Fatal(err)
		}
		g, ok := img.(*image.Gray)
		if !ok {
			t.Fatalf("decoded %T", img)
		}
		out[i] = g
	}
	return out
}

func TestCheckFrames(t *testing.T) {
	repeated := noisyFrames(4, 1, 7)
	repeated[2] = repeated[1]
	alternating := noisyFrames(4, 1, 9)
	alternating[2], alternating[3] = alternating[0], alternating[1]
	black := make([]*image.Gray, 3)
	for i := range black {
		black[i] = image.NewGray(image.Rect(0, 0, frameW, frameH))
	}
	subImages := noisyFrames(3, 1, 8)
	for i, f := range subImages {
		subImages[i] = f.SubImage(image.Rect(13, 7, 301, 233)).(*image.Gray)
	}
	tests := []struct {
		name    string
		frames  func(t *testing.T) []*image.Gray
		want    Status
		finding string
	}{
		{"sensor noise", func(*testing.T) []*image.Gray { return noisyFrames(5, 1, 1) }, StatusPass, ""},
		{"faint sensor noise", func(*testing.T) []*image.Gray { return noisyFrames(5, 0.5, 2) }, StatusPass, ""},
		{"sensor noise through mjpeg q90", func(t *testing.T) []*image.Gray {
			return jpegRoundTrip(t, noisyFrames(5, 1, 3), 90)
		}, StatusPass, ""},
		{"sub-images", func(*testing.T) []*image.Gray { return subImages }, StatusPass, ""},
		{"single noisy frame", func(*testing.T) []*image.Gray { return noisyFrames(1, 1, 4) }, StatusPass, ""},
		{"rendered moving subject", func(*testing.T) []*image.Gray { return renderedFrames(5, 3) }, StatusFail, "no sensor noise"},
		{"rendered single frame", func(*testing.T) []*image.Gray { return renderedFrames(1, 0) }, StatusWarn, "single frame"},
		{"single mjpeg q90 frame", func(t *testing.T) []*image.Gray {
			return jpegRoundTrip(t, noisyFrames(1, 1, 3), 90)
		}, StatusWarn, "single frame"},
		{"still image looped", func(*testing.T) []*image.Gray { return renderedFrames(4, 0) }, StatusFail, "repeated frames"},
		{"noisy frame repeated", func(*testing.T) []*image.Gray { return repeated }, StatusFail, "repeated frames"},
		{"two noisy stills in turn", func(*testing.T) []*image.Gray { return alternating }, StatusFail, "repeated frames"},
		{"covered lens", func(*testing.T) []*image.Gray { return black }, StatusWarn, "too clipped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := CheckFrames(tt.frames(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("evidence %v", r.Evidence)
			if r.Status != tt.want {
				t.Errorf("status %s, want %s", r.Status, tt.want)
			}
			got, found := r.Evidence["finding"]
			if found != (tt.finding != "") || !strings.Contains(got, tt.finding) {
				t.Errorf("finding %q, want %q", got, tt.finding)
			}
		})
	}
}

// TestNoiseEstimates checks the estimators against known Gaussian noise on
// the scene. Taking the 10th percentile of block estimates biases them
// low; they must still land within 25% of the truth.
func TestNoiseEstimates(t *testing.T) {
	for _, sigma := range []float64{1, 2, 4} {
		rng := rand.New(rand.NewPCG(uint64(sigma), 2))
		frames := make([]*image.Gray, 4)
		for i := range frames {
			frames[i] = toGray(scene(0), rng, func(float64) float64 { return sigma })
		}
		r, err := CheckFrames(frames)
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"spatial_noise", "temporal_noise"} {
			got, err := strconv.ParseFloat(r.Evidence[key], 64)
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			if got < 0.75*sigma || got > 1.1*sigma {
				t.Errorf("sigma %.0f: %s %.2f", sigma, key, got)
			}
		}
	}
}

func TestCheckFramesBadInput(t *testing.T) {
	good := noisyFrames(2, 1, 5)
	short := image.NewGray(image.Rect(0, 0, frameW, frameH))
	short.Pix = short.Pix[:100]
	tests := []struct {
		name   string
		frames []*image.Gray
		want   error
	}{
		{"none", nil, ErrNoFrames},
		{"nil frame", []*image.Gray{good[0], nil}, ErrBadFrame},
		{"nil first frame", []*image.Gray{nil, good[0]}, ErrBadFrame},
		{"size mismatch", []*image.Gray{good[0], image.NewGray(image.Rect(0, 0, 64, 64))}, ErrBadFrame},
		{"tiny", []*image.Gray{image.NewGray(image.Rect(0, 0, 16, 16))}, ErrBadFrame},
		{"short buffer", []*image.Gray{short}, ErrBadFrame},
		{"zero-value image", []*image.Gray{{}}, ErrBadFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := CheckFrames(tt.frames); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// noisyFrames720p returns n mid-grey 1280x720 frames with uniform noise.
func noisyFrames720p(n int) []*image.Gray {
	rng := rand.New(rand.NewPCG(1, 1))
	frames := make([]*image.Gray, n)
	for i := range frames {
		g := image.NewGray(image.Rect(0, 0, 1280, 720))
		for p := range g.Pix {
			g.Pix[p] = uint8(128 + rng.IntN(5) - 2)
		}
		frames[i] = g
	}
	return frames
}

func BenchmarkCheckFrames720p(b *testing.B) {
	frames := noisyFrames720p(5)
	for b.Loop() {
		if _, err := CheckFrames(frames); err != nil {
			b.Fatal(err)
		}
	}
}

func TestRepeats(t *testing.T) {
	still := renderedFrames(1, 0)[0]
	noisy := noisyFrames(4, 1, 11)
	black := image.NewGray(image.Rect(0, 0, frameW, frameH))
	tests := []struct {
		name   string
		frames []*image.Gray
		want   int
	}{
		{"sensor noise", noisy, 0},
		{"one frame", noisy[:1], 0},
		{"a still three times", []*image.Gray{still, still, still}, 2},
		{"two stills in turn", []*image.Gray{noisy[0], noisy[1], noisy[0], noisy[1]}, 2},
		{"a repeat after others", []*image.Gray{noisy[0], noisy[1], noisy[2], noisy[0]}, 1},
		{"a covered lens is not judged", []*image.Gray{black, black, noisy[0]}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Repeats(tt.frames)
			if err != nil || got != tt.want {
				t.Errorf("Repeats = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
	if _, err := Repeats(nil); !errors.Is(err, ErrNoFrames) {
		t.Errorf("no frames: %v, want ErrNoFrames", err)
	}
	small := image.NewGray(image.Rect(0, 0, 10, 10))
	if _, err := Repeats([]*image.Gray{noisy[0], small}); !errors.Is(err, ErrBadFrame) {
		t.Errorf("frames of two sizes: %v, want ErrBadFrame", err)
	}
}

// TestBlockStatsEveryRow: columns that alternate between two greys, the
// same on every row, have no noise in any block: the mask's vertical
// difference cancels them on the first rows as on the others.
func TestBlockStatsEveryRow(t *testing.T) {
	const w, h = 64, 48
	rows := make([][]byte, h)
	for y := range rows {
		rows[y] = make([]byte, w)
		for x := range rows[y] {
			rows[y][x] = byte(100 + 40*(x%2))
		}
	}
	usable, sigma := blockStats(rows)
	for i, s := range sigma {
		if s != 0 || !usable[i] {
			t.Fatalf("block %d: noise %.3f, usable %v; want 0, true", i, s, usable[i])
		}
	}
}

// TestFeedSuspect: a camera's frames pass; too few, a repeat or two sizes
// are suspect, each saying why.
func TestFeedSuspect(t *testing.T) {
	noisy := noisyFrames(4, 1, 13)
	small := image.NewGray(image.Rect(0, 0, 40, 30))
	for _, tc := range []struct {
		name   string
		frames []*image.Gray
		want   string // in the evidence; "" for a live feed
	}{
		{"a camera's frames", noisy, ""},
		{"the fewest judged", noisy[:MinFeedFrames], ""},
		{"no frames", nil, "no camera feed"},
		{"too few", noisy[:MinFeedFrames-1], "no camera feed"},
		{"a repeat", []*image.Gray{noisy[0], noisy[1], noisy[0]}, "1 of the 3"},
		{"two sizes", []*image.Gray{noisy[0], noisy[1], small}, "not one camera's"},
	} {
		got := FeedSuspect(tc.frames)
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
