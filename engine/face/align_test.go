package face

import (
	"math"
	"testing"
)

func TestEstimateSimilarityRecoversTransform(t *testing.T) {
	for _, want := range []Similarity{
		{A: 1, B: 0, TX: 0, TY: 0},
		{A: 0.5, B: 0, TX: 10, TY: -4},
		{A: 2 * math.Cos(0.3), B: 2 * math.Sin(0.3), TX: -30, TY: 7},
	} {
		var src [5]Point
		for i, p := range ArcFaceTemplate {
			src[i] = want.Apply(p)
		}
		got, err := EstimateSimilarity(ArcFaceTemplate, src)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range []float64{got.A - want.A, got.B - want.B, got.TX - want.TX, got.TY - want.TY} {
			if math.Abs(d) > 1e-9 {
				t.Errorf("estimated %+v, want %+v", got, want)
				break
			}
		}
	}
	var same [5]Point
	if _, err := EstimateSimilarity(same, ArcFaceTemplate); err == nil {
		t.Error("coincident landmarks gave a transform")
	}
}

func TestAlignPutsRealLandmarksOnTemplate(t *testing.T) {
	d := newTestDetector(t)
	for _, name := range []string{"leonard1", "penny2", "raj4"} {
		img := bbt(t, name)
		f := detectOne(t, d, img)
		s, err := EstimateSimilarity(f.Landmarks, ArcFaceTemplate)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range f.Landmarks {
			q := s.Apply(p)
			if dist := math.Hypot(q.X-ArcFaceTemplate[i].X, q.Y-ArcFaceTemplate[i].Y); dist > 6 {
				t.Errorf("%s: landmark %d lands %.1f px from the template", name, i, dist)
			}
		}
		al, err := Align(img, f.Landmarks)
		if err != nil {
			t.Fatal(err)
		}
		if al.Rows() != AlignedSize || al.Cols() != AlignedSize || al.Channels() != 3 {
			t.Errorf("%s: aligned crop %dx%dx%d", name, al.Cols(), al.Rows(), al.Channels())
		}
		al.Close()
	}
}
