package face

import (
	"image"
	"image/color"
	"math"
	"slices"
	"testing"

	"gocv.io/x/gocv"
)

func TestPoseOfTemplateAndRotations(t *testing.T) {
	y, p, r := Pose(ArcFaceTemplate)
	if math.Abs(y) > 2 || math.Abs(p) > 2 || math.Abs(r) > 1 {
		t.Errorf("frontal template pose = %.1f %.1f %.1f, want about 0", y, p, r)
	}
	for _, deg := range []float64{-40, -10, 15, 60} {
		rad := deg * math.Pi / 180
		s := Similarity{A: 1.7 * math.Cos(rad), B: 1.7 * math.Sin(rad), TX: 100, TY: 50}
		var lm [5]Point
		for i, q := range ArcFaceTemplate {
			lm[i] = s.Apply(q)
		}
		y, p, r := Pose(lm)
		if math.Abs(r-deg) > 1 || math.Abs(y) > 2 || math.Abs(p) > 2 {
			t.Errorf("template rotated %v degrees: pose %.1f %.1f %.1f", deg, y, p, r)
		}
	}
	// Nose shifted towards the image's left: the subject turned that way.
	turned := ArcFaceTemplate
	turned[NoseTip].X -= 12
	if y, _, _ := Pose(turned); y < 20 {
		t.Errorf("nose shifted 12 px gives yaw %.1f, want a clear turn", y)
	}
}

// TestQualityFlagsDegradedCaptures degrades a good photo in one way at a
// time and checks exactly that failure is named.
func TestQualityFlagsDegradedCaptures(t *testing.T) {
	e := newTestEngine(t, 1)
	d := e.det
	src := bbt(t, "leonard1")
	degrade := map[string]func(gocv.Mat) gocv.Mat{
		"none": func(m gocv.Mat) gocv.Mat { return m.Clone() },
		FailBlurry: func(m gocv.Mat) gocv.Mat {
			out := gocv.NewMat()
			gocv.GaussianBlur(m, &out, image.Pt(0, 0), 4, 4, gocv.BorderDefault)
			return out
		},
		FailTooDark: func(m gocv.Mat) gocv.Mat {
			out := gocv.NewMat()
			m.ConvertToWithParams(&out, gocv.MatTypeCV8UC3, 0.25, 0)
			return out
		},
		FailTooBright: func(m gocv.Mat) gocv.Mat {
			out := gocv.NewMat()
			m.ConvertToWithParams(&out, gocv.MatTypeCV8UC3, 0.25, 205)
			return out
		},
		FailFaceTooSmall: func(m gocv.Mat) gocv.Mat {
			small := gocv.NewMat()
			defer small.Close()
			gocv.Resize(m, &small, image.Pt(55, 55), 0, 0, gocv.InterpolationArea)
			c := compose(t, 200, 200, placed{small, 1, image.Pt(70, 70)})
			return c.Clone()
		},
	}
	for want, f := range degrade {
		img := f(src)
		face := detectOne(t, d, img)
		al, err := Align(img, face.Landmarks)
		if err != nil {
			t.Fatal(err)
		}
		q := AssessQuality(face, al, DefaultQuality)
		al.Close()
		img.Close()
		if want == "none" {
			if !q.OK {
				t.Errorf("clean photo failed quality: %+v", q)
			}
			continue
		}
		if !slices.Contains(q.Failures, want) {
			t.Errorf("%s: failures %v (quality %+v)", want, q.Failures, q)
		}
	}
}

func TestQualityFlagsCoveredEyes(t *testing.T) {
	e := newTestEngine(t, 1)
	src := bbt(t, "leonard1")
	img := src.Clone()
	defer img.Close()
	f := detectOne(t, e.det, img)
	// Dark glasses: a flat black band over both eyes.
	lm := f.Landmarks
	iod := lm[LeftEye].X - lm[RightEye].X
	band := image.Rect(int(lm[RightEye].X-iod/2), int(lm[RightEye].Y-iod/4), int(lm[LeftEye].X+iod/2), int(lm[LeftEye].Y+iod/4))
	gocv.Rectangle(&img, band, colorBlack, -1)
	al, err := Align(img, lm)
	if err != nil {
		t.Fatal(err)
	}
	defer al.Close()
	if q := AssessQuality(f, al, DefaultQuality); !slices.Contains(q.Failures, FailEyesNotVisible) {
		t.Errorf("covered eyes not flagged: %+v", q)
	}
}

var colorBlack = color.RGBA{}
