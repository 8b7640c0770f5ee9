package document

import (
	"context"
	"errors"
	"testing"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/document/forensics"
)

// TestAnalyzeRefusesTinyPhotos: a photo, front or back, narrower than
// forensics needs on a side (a thumbnail, a 1-pixel strip) or a strip
// over forensics.MaxAspect times as long as wide is refused from its size,
// before any stage runs: the context, cancelled here, is never looked at,
// where the whole page used to be read first (seconds of OCR; a 64x65500
// strip was scaled up to 600x614000 to look for the MRZ, and aborted the
// process in the copy-move check).
func TestAnalyzeRefusesTinyPhotos(t *testing.T) {
	a := newAnalyzer(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	mat := func(w, h int) gocv.Mat {
		m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(128, 128, 128, 0), h, w, gocv.MatTypeCV8UC3)
		t.Cleanup(func() { m.Close() })
		return m
	}
	page := Image{Mat: mat(640, 400)}
	for _, c := range []struct {
		name  string
		front Image
		back  *Image
	}{
		{"1x1 front", Image{Mat: mat(1, 1)}, nil},
		{"600x1 front", Image{Mat: mat(600, 1)}, nil},
		{"1x600 front", Image{Mat: mat(1, 600)}, nil},
		{"63-pixel front", Image{Mat: mat(400, forensics.MinSide-1)}, nil},
		{"64x65500 front", Image{Mat: mat(64, 65500)}, nil},
		{"1000x64 front", Image{Mat: mat(1000, 64)}, nil},
		{"1x600 back", page, &Image{Mat: mat(1, 600)}},
	} {
		res, err := a.Analyze(ctx, c.front, c.back, nil)
		if !errors.Is(err, forensics.ErrTooSmall) {
			t.Errorf("%s: Analyze = %v, want ErrTooSmall", c.name, err)
		}
		if res != nil {
			res.Close()
		}
	}
}
