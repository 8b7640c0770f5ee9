package synth

import (
	"testing"

	"gocv.io/x/gocv"
)

// TestPasteAt: the subject lands where asked, clipped at every edge, and
// the scene it was pasted on is left as it was.
func TestPasteAt(t *testing.T) {
	bg := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(10, 10, 10, 0), 20, 30, gocv.MatTypeCV8UC3)
	defer bg.Close()
	src := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(200, 200, 200, 0), 8, 6, gocv.MatTypeCV8UC3)
	defer src.Close()
	for _, c := range []struct {
		name   string
		x, y   int
		pasted int // pixels of src in the scene
	}{
		{"inside", 5, 5, 48},
		{"over the left and top", -2, -3, 4 * 5},
		{"over the right and bottom", 27, 16, 3 * 4},
		{"outside", 40, 0, 0},
	} {
		out := PasteAt(bg, src, c.x, c.y)
		grey := gocv.NewMat()
		gocv.CvtColor(out, &grey, gocv.ColorBGRToGray)
		thr := gocv.NewMat()
		gocv.Threshold(grey, &thr, 100, 255, gocv.ThresholdBinary)
		if got := gocv.CountNonZero(thr); got != c.pasted {
			t.Errorf("%s: %d pixels pasted, want %d", c.name, got, c.pasted)
		}
		if c.pasted > 0 && thr.GetUCharAt(max(c.y, 0), max(c.x, 0)) != 255 {
			t.Errorf("%s: the subject's corner is not at (%d, %d)", c.name, c.x, c.y)
		}
		grey.Close()
		thr.Close()
		out.Close()
	}
	if v := bg.GetUCharAt(6, 6*3); v != 10 {
		t.Errorf("the background changed: %d", v)
	}
}
