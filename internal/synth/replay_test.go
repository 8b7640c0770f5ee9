package synth

import (
	"image"
	"image/color"
	"math"
	"testing"

	"gocv.io/x/gocv"
)

// TestCameraPhotoKeepsTheScene: the camera's Bayer mosaic and demosaicing
// give a flat colour back (the mosaic's naming in OpenCV is easy to get
// wrong), the sRGB round trip keeps its grey, and noise follows the seed.
func TestCameraPhotoKeepsTheScene(t *testing.T) {
	src := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(60, 120, 200, 0), 96, 128, gocv.MatTypeCV8UC3) // BGR: orange
	defer src.Close()
	a := CameraPhoto(src, CameraOptions{Noise: 2, Seed: 1})
	defer a.Close()
	b := CameraPhoto(src, CameraOptions{Noise: 2, Seed: 1})
	defer b.Close()
	c := CameraPhoto(src, CameraOptions{Noise: 2, Seed: 2})
	defer c.Close()
	if a.Cols() != 128 || a.Rows() != 96 || a.Type() != gocv.MatTypeCV8UC3 {
		t.Fatalf("%dx%d type %v", a.Cols(), a.Rows(), a.Type())
	}
	inner := a.Region(image.Rect(8, 8, 120, 88))
	m := inner.Mean()
	inner.Close()
	for i, want := range []float64{60, 120, 200} {
		if got := []float64{m.Val1, m.Val2, m.Val3}[i]; math.Abs(got-want) > 3 {
			t.Errorf("channel %d: mean %.1f, want %v", i, got, want)
		}
	}
	if diffSum(a, b) != 0 || diffSum(a, c) == 0 {
		t.Error("the noise does not follow the seed alone")
	}
}

// TestScreenReplayShowsTheDisplay: the room's reflected black lifts the
// picture's black, the panel's white point tints its white, and a glare
// brightens the side it lies on, each by about what it was told.
func TestScreenReplayShowsTheDisplay(t *testing.T) {
	src := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(235, 235, 235, 0), 160, 240, gocv.MatTypeCV8UC3)
	defer src.Close()
	gocv.Rectangle(&src, image.Rect(0, 0, 120, 160), color.RGBA{0, 0, 0, 255}, -1) // black left half
	mean := func(m gocv.Mat, r image.Rectangle) [3]float64 {
		roi := m.Region(r)
		defer roi.Close()
		s := roi.Mean()
		return [3]float64{s.Val1, s.Val2, s.Val3}
	}
	left, right := image.Rect(20, 40, 100, 120), image.Rect(140, 40, 220, 120)
	plain := ScreenReplay(src, ReplayOptions{Pitch: 1, Camera: CameraOptions{Seed: 1}})
	defer plain.Close()
	lifted := ScreenReplay(src, ReplayOptions{Pitch: 1, Black: 0.01, Tint: 0.05, Camera: CameraOptions{Seed: 1}})
	defer lifted.Close()
	glared := ScreenReplay(src, ReplayOptions{Pitch: 1, Glare: 0.1, GlareSize: 0.2, GlareAt: [2]float64{0.25, 0.5}, Camera: CameraOptions{Seed: 1}})
	defer glared.Close()
	// Black 1% of white: the sRGB curve puts it at about 25 grey levels.
	if b := mean(plain, left); b[1] > 3 {
		t.Errorf("black without a reflection: %.1f", b[1])
	}
	if b := mean(lifted, left); b[1] < 20 || b[1] > 30 {
		t.Errorf("black under a 1%% reflection: %.1f, want about 25", b[1])
	}
	if w := mean(lifted, right); !(w[0] > w[2]+5) {
		t.Errorf("white of a blue panel: BGR %.1f", w)
	}
	if g, p := mean(glared, left), mean(plain, left); g[1] < p[1]+40 {
		t.Errorf("glare on the black half: %.1f against %.1f", g[1], p[1])
	}
	if g, p := mean(glared, right), mean(plain, right); math.Abs(g[1]-p[1]) > 12 {
		t.Errorf("glare reached the far half: %.1f against %.1f", g[1], p[1])
	}
	// The screen's edge at 3/4 of the width: a black bezel of 5%, then a
	// wall of linear 0.2 (about 124 grey levels), the picture's white
	// before them.
	edged := ScreenReplay(src, ReplayOptions{Pitch: 1, Edge: 0.25, Bezel: 0.05, Wall: 0.2, Camera: CameraOptions{Seed: 1}})
	defer edged.Close()
	if s, b, w := mean(edged, image.Rect(140, 40, 170, 120)), mean(edged, image.Rect(183, 40, 189, 120)), mean(edged, image.Rect(200, 40, 240, 120)); s[1] < 200 || b[1] > 10 || w[1] < 110 || w[1] > 140 {
		t.Errorf("screen, bezel, wall: %.0f %.0f %.0f", s[1], b[1], w[1])
	}
}

func diffSum(a, b gocv.Mat) float64 {
	d := gocv.NewMat()
	defer d.Close()
	gocv.AbsDiff(a, b, &d)
	s := d.Sum()
	return s.Val1 + s.Val2 + s.Val3
}
