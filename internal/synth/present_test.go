package synth

import (
	"image"
	"image/color"
	"testing"

	"gocv.io/x/gocv"
)

// TestPresentationAttacks: both renderers keep the picture's size, follow
// their seed alone, and keep its brightness about where they are told to
// (a display's, a paper's white).
func TestPresentationAttacks(t *testing.T) {
	src := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(200, 200, 200, 0), 240, 320, gocv.MatTypeCV8UC3)
	defer src.Close()
	gocv.Circle(&src, image.Pt(160, 120), 60, color.RGBA{40, 90, 160, 255}, -1)
	for _, c := range []struct {
		name   string
		render func(seed uint64) gocv.Mat
		grey   [2]float64 // the white background's mean grey, within
	}{
		{"screen", func(seed uint64) gocv.Mat {
			return ScreenPhoto(src, ScreenOptions{Pitch: 1.5, Angle: 2, Brightness: 0.8, Noise: 2, JPEGQuality: 90, Seed: seed})
		}, [2]float64{0.7 * 200, 0.9 * 200}},
		{"print", func(seed uint64) gocv.Mat {
			return PrintPhoto(src, PrintOptions{Period: 3, Angle: -2, Paper: 0.9, Noise: 2, JPEGQuality: 90, Seed: seed})
		}, [2]float64{0.6 * 200, 0.95 * 230}},
	} {
		a, b, other := c.render(1), c.render(1), c.render(2)
		if a.Cols() != src.Cols() || a.Rows() != src.Rows() || a.Type() != gocv.MatTypeCV8UC3 {
			t.Errorf("%s: %dx%d type %v", c.name, a.Cols(), a.Rows(), a.Type())
		}
		diff := gocv.NewMat()
		gocv.AbsDiff(a, b, &diff)
		if s := diff.Sum(); s.Val1+s.Val2+s.Val3 != 0 {
			t.Errorf("%s: the same seed rendered two pictures", c.name)
		}
		gocv.AbsDiff(a, other, &diff)
		if s := diff.Sum(); s.Val1+s.Val2+s.Val3 == 0 {
			t.Errorf("%s: two seeds rendered one picture", c.name)
		}
		diff.Close()
		corner := a.Region(image.Rect(0, 0, 60, 60))
		if m := corner.Mean(); (m.Val1+m.Val2+m.Val3)/3 < c.grey[0] || (m.Val1+m.Val2+m.Val3)/3 > c.grey[1] {
			t.Errorf("%s: background grey %.0f, want %v", c.name, (m.Val1+m.Val2+m.Val3)/3, c.grey)
		}
		corner.Close()
		a.Close()
		b.Close()
		other.Close()
	}
}
