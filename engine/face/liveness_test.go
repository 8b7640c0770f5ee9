package face

import (
	"context"
	"testing"
)

// TestLivenessOnMinivisionSamples: image_T1 is a live face, F1 and F2 are
// a print and a screen replay.
func TestLivenessOnMinivisionSamples(t *testing.T) {
	e := newTestEngine(t, 1)
	for _, c := range []struct {
		file string
		live bool
	}{
		{"image_T1.jpg", true},
		{"image_F1.jpg", false},
		{"image_F2.jpg", false},
	} {
		img := readImage(t, "liveness", "minivision_samples", c.file)
		f := detectOne(t, e.det, img)
		r, err := e.Liveness(context.Background(), img, f)
		if err != nil {
			t.Fatal(err)
		}
		if r.Live != c.live || r.Score < 0 || r.Score > 1 {
			t.Errorf("%s: live=%v (p=%.3f), want live=%v", c.file, r.Live, r.Score, c.live)
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
