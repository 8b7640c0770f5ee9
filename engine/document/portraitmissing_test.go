package document

import (
	"image"
	"testing"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/document/forensics"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/internal/testenv"
)

// TestPortraitMissing reads passport data pages (TD3) as they are and with
// the portrait painted over in the paper's colour, each saved at JPEG q90:
// the check passes the first and fires on the second. An identity card's
// back (TD1), which carries no portrait, is not judged.
func TestPortraitMissing(t *testing.T) {
	a, faces := newFaceAnalyzer(t)
	for _, c := range []struct {
		name       string
		applicable bool
	}{{"100_pass-isl.png", true}, {"100_pass-bdr.jpg", true}, {"100_id-mac.jpg", false}} {
		page, err := imageio.ReadFile(testenv.Data(t, "mrz", "passporteye", c.name), 0)
		if err != nil {
			t.Fatal(err)
		}
		blank := page.Clone()
		if c.applicable {
			f := largestFace(t, faces, page)
			w, h := f.Dx(), f.Dy()
			r := image.Rect(f.Min.X-w/2, f.Min.Y-h/2, f.Max.X+w/2, f.Max.Y+h/2).Intersect(image.Rect(0, 0, page.Cols(), page.Rows()))
			roi := blank.Region(r)
			roi.SetTo(gocv.NewScalar(235, 235, 235, 0))
			roi.Close()
		}
		for _, v := range []struct {
			name string
			img  gocv.Mat
			fire bool
		}{{"as it is", page, false}, {"portrait painted over", blank, true}} {
			if !c.applicable && v.fire {
				continue
			}
			res, err := analyzeRaw(t, a, jpegBytes(t, v.img, 90))
			if err != nil {
				t.Fatal(err)
			}
			var got *forensics.Check
			for i, ch := range res.Forensics.Checks {
				if ch.Name == forensics.CheckPortraitMissing {
					got = &res.Forensics.Checks[i]
				}
			}
			res.Close()
			switch {
			case !c.applicable && got != nil:
				t.Errorf("%s %s: judged (%v), want no check", c.name, v.name, got.Evidence)
			case c.applicable && (got == nil || !got.Applicable):
				t.Errorf("%s %s: no applicable check (%v)", c.name, v.name, got)
			case c.applicable && (got.Score < 0.5) != v.fire:
				t.Errorf("%s %s: fired %v, want %v: %v", c.name, v.name, got.Score < 0.5, v.fire, got.Evidence)
			}
		}
		page.Close()
		blank.Close()
	}
}
