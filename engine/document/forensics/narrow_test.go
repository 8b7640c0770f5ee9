package forensics

import (
	"context"
	"errors"
	"testing"

	"gocv.io/x/gocv"
)

// TestAnalyzeRefusesStrips: an image over MaxAspect times as long as wide
// is refused as too small before any check runs: the copy-move check's
// ORB aborted the process on the 1x1024 strip a 64x65500 image shrinks to.
func TestAnalyzeRefusesStrips(t *testing.T) {
	for _, sz := range []struct{ w, h int }{{64, 65500}, {65500, 64}, {MaxAspect*100 + 1, 100}} {
		m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(200, 200, 200, 0), sz.h, sz.w, gocv.MatTypeCV8UC3)
		if _, err := Analyze(context.Background(), nil, m, Options{}); !errors.Is(err, ErrTooSmall) {
			t.Errorf("%dx%d: Analyze = %v, want ErrTooSmall", sz.w, sz.h, err)
		}
		m.Close()
	}
}

// TestDownscaleGreyKeepsAPixel: a side that scales to under half a pixel
// keeps one (OpenCV's resize asserts on an empty size, and aborts).
func TestDownscaleGreyKeepsAPixel(t *testing.T) {
	m := gocv.NewMatWithSize(140000, 64, gocv.MatTypeCV8UC3)
	defer m.Close()
	small, _ := downscaleGrey(m, 1024)
	defer small.Close()
	if small.Cols() != 1 || small.Rows() != 1024 {
		t.Errorf("downscaled to %dx%d, want 1x1024", small.Cols(), small.Rows())
	}
}
