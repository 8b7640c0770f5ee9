package document

import (
	"context"
	"errors"
	"os"
	"testing"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/engine/ocr"
	"github.com/openkyc/kyc/internal/testenv"
)

// TestAnalyzeRefusesOtherDepths: a side whose pixels are not 8-bit BGR (a
// 16-bit photo a caller decoded as such, a float one) is ocr.ErrBadImage,
// front or back; OpenCV aborted the whole process on it (the outline's
// edge detector), which no recover catches.
func TestAnalyzeRefusesOtherDepths(t *testing.T) {
	a := newAnalyzer(t)
	raw, err := os.ReadFile(testenv.Data(t, "mrz", "passporteye", "100_pass-cze.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := imageio.Decode(raw, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, c := range []struct {
		name string
		typ  gocv.MatType
		back bool
	}{
		{"16-bit front", gocv.MatTypeCV16UC3, false},
		{"float front", gocv.MatTypeCV32FC3, false},
		{"signed 8-bit front", gocv.MatTypeCV8SC3, false},
		{"16-bit back", gocv.MatTypeCV16UC3, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			other := gocv.NewMat()
			defer other.Close()
			m.ConvertTo(&other, c.typ)
			front, back := Image{Raw: raw, Mat: other}, (*Image)(nil)
			if c.back {
				front, back = Image{Raw: raw, Mat: m}, &Image{Mat: other}
			}
			res, err := a.Analyze(context.Background(), front, back, nil)
			if !errors.Is(err, ocr.ErrBadImage) {
				t.Errorf("Analyze = %v, want ocr.ErrBadImage", err)
			}
			res.Close()
		})
	}
}
