package face

import (
	"context"
	"errors"
	"image"
	"math"
	"math/rand/v2"
	"testing"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/ort"
	"github.com/openkyc/kyc/internal/synth"
	"github.com/openkyc/kyc/internal/testenv"
)

// TestLivenessOnMinivisionSamples: image_T1 is a live face, F1 and F2 are
// a print and a screen replay; the previous single model and the fused
// three tell them apart alike.
func TestLivenessOnMinivisionSamples(t *testing.T) {
	for _, eng := range []struct {
		name  string
		e     *Engine
		fused bool
	}{{"MiniFASNetV2-SE alone", newSingleModelEngine(t, 1), false}, {"fused", newTestEngine(t, 1), true}} {
		for _, c := range []struct {
			file string
			live bool
		}{
			{"image_T1.jpg", true},
			{"image_F1.jpg", false},
			{"image_F2.jpg", false},
		} {
			img := readImage(t, "liveness", "minivision_samples", c.file)
			f := detectOne(t, eng.e.det, img)
			r, err := eng.e.Liveness(context.Background(), img, f)
			if err != nil {
				t.Fatal(err)
			}
			if r.Live != c.live || r.Score < 0 || r.Score > 1 {
				t.Errorf("%s, %s: live=%v (p=%.3f), want live=%v", eng.name, c.file, r.Live, r.Score, c.live)
			}
			if (r.Fused != nil) != eng.fused {
				t.Fatalf("%s: fused breakdown %+v", eng.name, r.Fused)
			}
			if r.Fused != nil && (len(r.Fused.Models) != 3 || r.Fused.Traces == nil || r.Score != r.Fused.Score()) {
				t.Errorf("%s: breakdown %+v, score %.3f", c.file, r.Fused, r.Score)
			}
		}
	}
}

// TestMiniFASPairAsPublished: minivision's own rule (the mean of the two
// models' live probabilities) on its three samples.
func TestMiniFASPairAsPublished(t *testing.T) {
	e := newTestEngine(t, 1)
	for file, live := range map[string]bool{"image_T1.jpg": true, "image_F1.jpg": false, "image_F2.jpg": false} {
		img := readImage(t, "liveness", "minivision_samples", file)
		b := detectOne(t, e.det, img).Box
		var mean float64
		for _, m := range []*MiniFAS{e.miniV2, e.miniV1SE} {
			z, err := m.LiveLogit(context.Background(), img, b)
			if err != nil {
				t.Fatal(err)
			}
			mean += sigmoid(z) / 2
		}
		if (mean > 0.5) != live {
			t.Errorf("%s: mean live probability %.3f, want live=%v", file, mean, live)
		}
	}
}

// TestMiniFASRect checks the crop box against minivision's CropImage
// arithmetic, worked by hand.
func TestMiniFASRect(t *testing.T) {
	for _, c := range []struct {
		name  string
		w, h  int
		b     Box
		scale float64
		want  image.Rectangle
	}{
		// 2.7 x (40x50) = 108x135 about (120, 125): 66..174, 57.5..192.5.
		{"inside", 640, 480, Box{X: 100, Y: 100, W: 40, H: 50}, 2.7, image.Rect(66, 57, 175, 193)},
		// 4 x (60x60) = 240 about (40, 50): shifted right and down to 0.
		{"top-left corner", 640, 480, Box{X: 10, Y: 20, W: 60, H: 60}, 4, image.Rect(0, 0, 241, 241)},
		// 4 x 60 = 240 about (620, 460): shifted to end at 639 and 479.
		{"bottom-right corner", 640, 480, Box{X: 590, Y: 430, W: 60, H: 60}, 4, image.Rect(399, 239, 640, 480)},
		// The scale shrinks to (480-1)/200 = 2.395: 479 tall from 0.
		{"large face", 640, 480, Box{X: 220, Y: 140, W: 200, H: 200}, 4, image.Rect(80, 0, 560, 480)},
	} {
		got, err := miniFASRect(c.w, c.h, c.b, c.scale)
		if err != nil || got != c.want {
			t.Errorf("%s: %v %v, want %v", c.name, got, err, c.want)
		}
	}
	for _, b := range []Box{{0, 0, 0, 10}, {700, 10, 20, 20}, {-50, -50, 20, 20}} {
		if _, err := miniFASRect(640, 480, b, 2.7); err == nil {
			t.Errorf("box %+v gave a crop", b)
		}
	}
	img := bbt(t, "leonard1")
	crop, err := miniFASCrop(img, Box{X: 140, Y: 140, W: 9, H: 9}, 4)
	if err != nil || crop.Cols() != miniFASSide || crop.Rows() != miniFASSide {
		t.Errorf("crop at the border: %v", err)
	}
	crop.Close()
}

// TestFitPlatt recovers a known calibration from samples drawn from it,
// keeps separable classes finite and weighs the classes equally.
func TestFitPlatt(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	want := Platt{A: 0.5, B: -1}
	var z []float64
	var live []bool
	for range 20000 {
		x := -10 + 20*rng.Float64()
		z = append(z, x)
		live = append(live, rng.Float64() < sigmoid(want.Apply(x)))
	}
	// Equal class weights shift the intercept by the log of the class
	// ratio; without it the fit is the plain maximum likelihood.
	var nLive float64
	for _, l := range live {
		if l {
			nLive++
		}
	}
	wantB := want.B + math.Log((float64(len(live))-nLive)/nLive)
	got, err := FitPlatt(z, live)
	if err != nil || math.Abs(got.A-want.A) > 0.03 || math.Abs(got.B-wantB) > 0.1 {
		t.Errorf("fit %+v, %v; want A %.2f B %.2f", got, err, want.A, wantB)
	}
	sep, err := FitPlatt([]float64{-3, -2, -1, 1, 2, 3}, []bool{false, false, false, true, true, true})
	if err != nil || !(sep.A > 0) || math.IsInf(sep.A, 0) || math.IsNaN(sep.A) || math.Abs(sep.B) > 1e-6 {
		t.Errorf("separable classes: %+v, %v", sep, err)
	}
	for _, c := range []struct {
		z    []float64
		live []bool
	}{{[]float64{1, 2}, []bool{true, true}}, {nil, nil}, {[]float64{1}, []bool{true, false}}} {
		if _, err := FitPlatt(c.z, c.live); err == nil {
			t.Errorf("FitPlatt(%v, %v) succeeded", c.z, c.live)
		}
	}
	if _, err := FitPlatt([]float64{1}, []bool{false}); !errors.Is(err, ErrNoLivenessData) {
		t.Errorf("one class: %v, want ErrNoLivenessData", err)
	}
}

func TestFusionScores(t *testing.T) {
	f := Fusion{Models: [3]Platt{{1, 0}, {2, 0}, {3, -6}}, Bias: 1, TraceThreshold: 4}
	// (1 + 2 + (3-6))/3 + 1 = 1.
	if got, want := f.Fuse([3]float64{1, 1, 1}), sigmoid(1); math.Abs(got-want) > 1e-12 {
		t.Errorf("Fuse = %v, want %v", got, want)
	}
	for _, c := range []struct{ mass, want float64 }{{0, 1}, {2, 1}, {4, 0.5}, {5, 0.25}, {6, 0}, {60, 0}} {
		if got := f.TraceScore(c.mass); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("TraceScore(%v) = %v, want %v", c.mass, got, c.want)
		}
	}
}

// TestLivenessRefusesRenderedAttacks: a colour portrait passes; the same
// portrait shown on a screen or printed in halftone and photographed is
// refused, its traces showing the reproduction.
func TestLivenessRefusesRenderedAttacks(t *testing.T) {
	e := newTestEngine(t, 1)
	portrait, screen, print := reproductions(t)
	for _, c := range []struct {
		name string
		img  *gocv.Mat
		live bool
	}{{"portrait", &portrait, true}, {"screen", &screen, false}, {"print", &print, false}} {
		f := detectOne(t, e.det, *c.img)
		r, err := e.Liveness(context.Background(), *c.img, f)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: score %.3f passive %.3f traces %.2f %+v", c.name, r.Score, r.Fused.Passive, r.Fused.TraceScore, r.Fused.Traces)
		if r.Live != c.live || r.Fused.Reproduction == c.live {
			t.Errorf("%s: live %v (%.3f), reproduction %v; want live %v", c.name, r.Live, r.Score, r.Fused.Reproduction, c.live)
		}
	}
}

// TestBlackLevel: the frame's black is the level under its darkest half
// percent, averaged over blackScale pixels (a lone dark pixel does not
// count), and a lifted black caps a colour face's score in the band of
// doubt only from the threshold on.
func TestBlackLevel(t *testing.T) {
	img := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(120, 130, 140, 0), 400, 400, gocv.MatTypeCV8UC3)
	defer img.Close()
	if got := BlackLevel(img); got != 132 { // 0.114*120 + 0.587*130 + 0.299*140
		t.Errorf("flat frame: black %v", got)
	}
	for c := range 3 {
		img.SetUCharAt(10, 30+c, 0) // one black pixel, averaged with 15 others
	}
	if got := BlackLevel(img); got < 120 {
		t.Errorf("one dark pixel: black %v", got)
	}
	dark := img.Region(image.Rect(0, 0, 400, 8)) // 2% of the frame
	dark.SetTo(gocv.NewScalar(20, 20, 20, 0))
	dark.Close()
	if got := BlackLevel(img); got != 20 {
		t.Errorf("a dark band: black %v, want 20", got)
	}
	f := Fusion{BlackThreshold: 30}
	for _, c := range []struct {
		level float64
		mono  bool
		want  float64
	}{{29, false, 1}, {30, false, BlackCap}, {80, false, BlackCap}, {80, true, 1}} {
		if got := f.BlackScore(c.level, c.mono); got != c.want {
			t.Errorf("BlackScore(%v, mono %v) = %v, want %v", c.level, c.mono, got, c.want)
		}
	}
	if got := (Fusion{}).BlackScore(200, false); got != 1 {
		t.Errorf("without a threshold: %v", got)
	}
	if !(BlackCap >= 0.25 && BlackCap < DefaultLiveThreshold) {
		t.Errorf("BlackCap %v is outside the default band of doubt", BlackCap)
	}
}

func TestNewMiniFASRejectsWrongModels(t *testing.T) {
	testenv.ORT(t)
	for _, c := range []struct {
		name, model string
		scale       float64
	}{
		{"suri's model", "minifasnet-v2se", 2.7},
		{"the detector", "yunet", 4},
		{"no crop scale", "minifasnet-v2-2.7", 0},
	} {
		if m, err := NewMiniFAS(testenv.Model(t, c.model), c.scale, ort.Options{}); err == nil {
			m.Close()
			t.Errorf("%s: loaded", c.name)
		}
	}
}

// TestFRLivenessOnMinivisionSamples: faceplugin's model, alone, scores
// minivision's live sample live and its print and screen photos spoof.
func TestFRLivenessOnMinivisionSamples(t *testing.T) {
	testenv.ORT(t)
	m, err := NewFRLiveness(testenv.Model(t, "fr-liveness"), ort.Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	d := newTestDetector(t)
	for file, live := range map[string]bool{"image_T1.jpg": true, "image_F1.jpg": false, "image_F2.jpg": false} {
		img := readImage(t, "liveness", "minivision_samples", file)
		z, err := m.LiveLogit(context.Background(), img, detectOne(t, d, img).Box)
		if err != nil || (z > 0) != live {
			t.Errorf("%s: live log-odds %.2f, %v; want live=%v", file, z, err, live)
		}
	}
	if _, err := m.LiveLogit(context.Background(), readImage(t, "liveness", "minivision_samples", "image_T1.jpg"), Box{X: 5000, Y: 10, W: 50, H: 50}); err == nil {
		t.Error("a face box outside the image was scored")
	}
}

// TestFRLivenessRect checks the crop against alignLivenessImage's
// arithmetic, worked by hand.
func TestFRLivenessRect(t *testing.T) {
	for _, c := range []struct {
		name string
		w, h int
		b    Box
		want image.Rectangle
	}{
		// 2.7 x (40x50) = 108x135 about (120, 125): 66..174, 57.5..192.5,
		// so x 66 wide 108, y 57 tall 135.
		{"inside", 640, 480, Box{X: 100, Y: 100, W: 40, H: 50}, image.Rect(66, 57, 174, 192)},
		// 2.7 x 60 = 162 about (40, 50): shifted to start at 0.
		{"top-left corner", 640, 480, Box{X: 10, Y: 20, W: 60, H: 60}, image.Rect(0, 0, 162, 162)},
		// 162 about (620, 460): shifted to end at 639 and 479.
		{"bottom-right corner", 640, 480, Box{X: 590, Y: 430, W: 60, H: 60}, image.Rect(477, 317, 639, 479)},
		// The scale shrinks to (480-1)/200: 479 tall from 0.
		{"large face", 640, 480, Box{X: 220, Y: 140, W: 200, H: 200}, image.Rect(80, 0, 559, 479)},
	} {
		got, err := frLivenessRect(c.w, c.h, c.b)
		if err != nil || got != c.want {
			t.Errorf("%s: %v %v, want %v", c.name, got, err, c.want)
		}
	}
	for _, b := range []Box{{0, 0, 0, 10}, {700, 10, 20, 20}} {
		if _, err := frLivenessRect(640, 480, b); err == nil {
			t.Errorf("box %+v gave a crop", b)
		}
	}
}

func TestNewFRLivenessRejectsWrongModels(t *testing.T) {
	testenv.ORT(t)
	for _, name := range []string{"minifasnet-v2-2.7", "minifasnet-v2se"} {
		if m, err := NewFRLiveness(testenv.Model(t, name), ort.Options{}); err == nil {
			m.Close()
			t.Errorf("%s: loaded", name)
		}
	}
}

// TestLivenessCropAtImageBorder scores a face whose 1.5x crop leaves the
// image on every side: reflection must fill it rather than fail.
func TestLivenessCropAtImageBorder(t *testing.T) {
	img := bbt(t, "leonard1") // the face fills most of the 150x150 photo
	for _, b := range []Box{{0, 0, 150, 150}, {-10, -10, 60, 60}, {120, 120, 40, 40}} {
		crop, err := livenessCrop(img, b)
		if err != nil {
			t.Errorf("box %+v: %v", b, err)
			continue
		}
		if crop.Rows() != livenessSide || crop.Cols() != livenessSide {
			t.Errorf("box %+v: crop %dx%d", b, crop.Cols(), crop.Rows())
		}
		crop.Close()
	}
	for _, b := range []Box{{0, 0, 0, 0}, {1000, 1000, 20, 20}} {
		if _, err := livenessCrop(img, b); err == nil {
			t.Errorf("box %+v outside the image gave a crop", b)
		}
	}
}

// BenchmarkBlackLevel is the black level's share of BenchmarkLiveness: the
// same 1280x720 selfie.
func BenchmarkBlackLevel(b *testing.B) {
	selfie, _ := benchImages(b)
	testenv.ReportCPU(b)
	reportP50(b, func() error {
		if BlackLevel(selfie) < 0 {
			return errors.New("negative black level")
		}
		return nil
	})
}

// TestMonochrome: a face is monochrome when it has no colour once its
// cast is taken out, as a grey picture shown on a colour screen tinted by
// the display's white point has (it was colour under the raw channels'
// spread alone, and minivision's pair, trained on colour, accepted such
// screens), while live colour faces, as taken or filmed by the simulated
// camera, and colour reproductions keep their colour. A monochrome face is
// never accepted passively.
func TestMonochrome(t *testing.T) {
	e := newTestEngine(t, 1)
	portrait, screen, _ := reproductions(t)
	grey := gocv.NewMat()
	defer grey.Close()
	gocv.CvtColor(portrait, &grey, gocv.ColorBGRToGray)
	gocv.CvtColor(grey, &grey, gocv.ColorGrayToBGR)
	render := func(m gocv.Mat) gocv.Mat {
		t.Cleanup(func() { m.Close() })
		return m
	}
	// The eval's sweep of screens (renderAttacks): a warm and a cool
	// display, between its pitches.
	greyScreen := func(tint float64, seed uint64) gocv.Mat {
		return render(synth.ScreenPhoto(grey, synth.ScreenOptions{Pitch: 0.9, Angle: 2, Blur: 0.5, Brightness: 0.95, Tint: tint, Noise: 2, JPEGQuality: 90, Seed: seed}))
	}
	for _, c := range []struct {
		name string
		img  gocv.Mat
		mono bool
	}{
		{"interfaces_cc0 portrait", portrait, false},
		{"minivision live sample", readImage(t, "liveness", "minivision_samples", "image_T1.jpg"), false},
		{"portrait filmed by the simulated camera", render(synth.CameraPhoto(portrait, synth.CameraOptions{Blur: 0.6, Exposure: 0.9, Flare: 0.005, Noise: 2, Sharpen: 0.4, JPEGQuality: 90, Seed: 3})), false},
		{"colour screen", screen, false},
		{"AT&T still", readImage(t, "faces", "att_faces", "s1", "1.pgm"), true},
		{"portrait made grey", grey, true},
		{"grey photo on a warm screen", greyScreen(-0.04, 5), true},
		{"grey photo on a cool screen", greyScreen(0.05, 6), true},
		{"grey print", render(synth.PrintPhoto(grey, synth.PrintOptions{Period: 3, Blur: 0.4, Paper: 0.9, Noise: 2, JPEGQuality: 90, Seed: 7})), true},
	} {
		f := detectOne(t, e.det, c.img)
		r, err := e.Liveness(context.Background(), c.img, f)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: cast chroma %.2f, score %.3f", c.name, castChroma(c.img, f.Box), r.Score)
		if r.Fused.Monochrome != c.mono {
			t.Errorf("%s: monochrome %v (cast chroma %.2f), want %v", c.name, r.Fused.Monochrome, castChroma(c.img, f.Box), c.mono)
		}
		if c.mono && r.Score > MonochromeCap {
			t.Errorf("%s: monochrome, score %.3f above %v", c.name, r.Score, MonochromeCap)
		}
	}
}
