package face

import (
	"context"
	"image"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/engine/ort"
	"github.com/openkyc/kyc/internal/synth"
	"github.com/openkyc/kyc/internal/testenv"
)

// newTestEngine loads the engine as the product does: liveness fuses the
// three models and the traces.
func newTestEngine(t testing.TB, threads int) *Engine {
	t.Helper()
	return newEngine(t, Config{
		LivenessModel:    testenv.Model(t, "minifasnet-v2se"),
		MiniFASV2Model:   testenv.Model(t, "minifasnet-v2-2.7"),
		MiniFASV1SEModel: testenv.Model(t, "minifasnet-v1se-4.0"),
		Threads:          threads,
	})
}

// newSingleModelEngine is the previous release's liveness:
// MiniFASNetV2-SE alone.
func newSingleModelEngine(t testing.TB, threads int) *Engine {
	t.Helper()
	return newEngine(t, Config{LivenessModel: testenv.Model(t, "minifasnet-v2se"), Threads: threads})
}

// newEngine loads cfg with the installed detector and embedder.
func newEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	testenv.ORT(t)
	cfg.DetectorModel, cfg.EmbedderModel = testenv.Model(t, "yunet"), testenv.Model(t, "fr-feature")
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func newTestDetector(t testing.TB) *YuNet {
	t.Helper()
	testenv.ORT(t)
	d, err := NewYuNet(testenv.Model(t, "yunet"), YuNetConfig{}, ort.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// readImage loads a shared data image; the test closes it at cleanup.
func readImage(t testing.TB, elem ...string) gocv.Mat {
	t.Helper()
	m, err := imageio.ReadFile(testenv.Data(t, elem...), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// reproductions returns a colour portrait of the report half (015, odd
// index, not of the liveness calibration) and the same portrait shown on
// a screen and printed in halftone, each photographed; the test closes
// them at cleanup.
func reproductions(t testing.TB) (portrait, screen, print gocv.Mat) {
	t.Helper()
	portrait = readImage(t, "liveness", "interfaces_cc0", "015.jpg")
	screen = synth.ScreenPhoto(portrait, synth.ScreenOptions{Pitch: 1.2, Angle: 2, Blur: 0.2, Brightness: 0.65, JPEGQuality: 90, Seed: 1})
	print = synth.PrintPhoto(portrait, synth.PrintOptions{Period: 3, Angle: -1, Blur: 0.3, Light: 0.1, Noise: 2, JPEGQuality: 90, Seed: 1})
	t.Cleanup(func() {
		screen.Close()
		print.Close()
	})
	return portrait, screen, print
}

func bbt(t testing.TB, name string) gocv.Mat {
	t.Helper()
	return readImage(t, "faces", "faceapi_bbt", name[:len(name)-1], name+".png")
}

// compose pastes img, scaled by scale, onto a grey canvas of w x h with its
// top-left corner at (x, y).
func compose(t testing.TB, w, h int, parts ...placed) gocv.Mat {
	t.Helper()
	canvas := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(128, 128, 128, 0), h, w, gocv.MatTypeCV8UC3)
	for _, p := range parts {
		sz := image.Pt(int(float64(p.img.Cols())*p.scale), int(float64(p.img.Rows())*p.scale))
		scaled := gocv.NewMat()
		gocv.Resize(p.img, &scaled, sz, 0, 0, gocv.InterpolationLinear)
		roi := canvas.Region(image.Rect(p.at.X, p.at.Y, p.at.X+sz.X, p.at.Y+sz.Y))
		scaled.CopyTo(&roi)
		roi.Close()
		scaled.Close()
	}
	t.Cleanup(func() { canvas.Close() })
	return canvas
}

type placed struct {
	img   gocv.Mat
	scale float64
	at    image.Point
}

func detectOne(t testing.TB, d Detector, img gocv.Mat) Face {
	t.Helper()
	faces, err := d.Detect(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	if len(faces) == 0 {
		t.Fatal("no face detected")
	}
	return faces[0]
}

// globData lists shared data files matching the pattern elements, as paths
// relative to the data folder, failing when there are none.
func globData(t testing.TB, elem ...string) []string {
	t.Helper()
	root := testenv.Data(t)
	matches, err := filepath.Glob(filepath.Join(append([]string{root}, elem...)...))
	if err != nil || len(matches) == 0 {
		t.Fatalf("no shared data matches %v (%v)", elem, err)
	}
	for i, m := range matches {
		matches[i], _ = filepath.Rel(root, m)
	}
	return matches
}
