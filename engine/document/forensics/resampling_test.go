package forensics_test

import (
	"encoding/json"
	"image"
	"testing"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/document/forensics"
)

// pasteScaled pastes donor's centre over the portrait's frame r. At
// scale 1 it is cut at r's size and pasted as it is; otherwise cut at r's
// aspect, made smaller (area) to r's size divided by scale, a small
// portrait a forger has, then enlarged to r with interp.
func pasteScaled(t *testing.T, page gocv.Mat, r image.Rectangle, donor gocv.Mat, scale float64, interp gocv.InterpolationFlags) gocv.Mat {
	t.Helper()
	cw, ch := r.Dx(), r.Dy()
	if scale != 1 {
		// The largest centred crop of r's aspect.
		if donor.Cols()*ch > donor.Rows()*cw {
			cw, ch = donor.Rows()*cw/ch, donor.Rows()
		} else {
			cw, ch = donor.Cols(), donor.Cols()*ch/cw
		}
	}
	if cw > donor.Cols() || ch > donor.Rows() {
		t.Fatalf("donor (%dx%d) smaller than the crop %dx%d", donor.Cols(), donor.Rows(), cw, ch)
	}
	crop := donor.Region(image.Rect((donor.Cols()-cw)/2, (donor.Rows()-ch)/2, (donor.Cols()-cw)/2+cw, (donor.Rows()-ch)/2+ch))
	defer crop.Close()
	fitted := crop.Clone()
	defer fitted.Close()
	if scale != 1 {
		small := gocv.NewMat()
		defer small.Close()
		gocv.Resize(crop, &small, image.Pt(int(float64(r.Dx())/scale+0.5), int(float64(r.Dy())/scale+0.5)), 0, 0, gocv.InterpolationArea)
		gocv.Resize(small, &fitted, r.Size(), 0, 0, interp)
	}
	return pasted(page, r, fitted)
}

// TestPortraitResampling: a portrait enlarged to fit the portrait's frame
// carries the period of its interpolation, which the page around it
// lacks; the genuine page saved again, and a portrait pasted at its own
// scale, do not.
func TestPortraitResampling(t *testing.T) {
	page, fc := specimenFace(t, "100_pass-hrv.jpg")
	frame := forensics.PortraitRect(fc, image.Pt(page.Cols(), page.Rows()))
	// The donor: another passport's portrait (the Luxembourg specimen's,
	// 622x581, large enough to be cut at this one's size).
	other, ofc := specimenFace(t, "100_pass-lux.jpg")
	oreg := other.Region(forensics.PortraitRect(ofc, image.Pt(other.Cols(), other.Rows())))
	donor := oreg.Clone()
	oreg.Close()
	defer donor.Close()
	for _, c := range []struct {
		name   string
		scale  float64 // 0: the genuine page
		interp gocv.InterpolationFlags
		fails  bool
	}{
		{"genuine page, q90", 0, 0, false},
		{"another portrait pasted at scale 1", 1, 0, false},
		{"face enlarged 1.5x (area, as the benchmark)", 1.5, gocv.InterpolationArea, true},
		{"face enlarged 2.5x (area)", 2.5, gocv.InterpolationArea, true},
		{"face enlarged 3.3x (bilinear)", 3.3, gocv.InterpolationLinear, true},
		// Blind spots, measured: a period of 2 pixels is the JPEG grid's
		// fourth harmonic and outside the band searched, and a photo made
		// smaller keeps no interpolated pixels to find.
		{"face enlarged 2x (area): not seen", 2, gocv.InterpolationArea, false},
		{"face made smaller 0.5x (area): not seen", 0.5, gocv.InterpolationArea, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := page.Clone()
			if c.scale > 0 {
				img.Close()
				img = pasteScaled(t, page, frame, donor, c.scale, c.interp)
			}
			saved := decode(t, jpeg(t, img, 90))
			img.Close()
			defer saved.Close()
			ch := portraitCheck(t, saved, fc, forensics.CheckPortraitResampling)
			if !ch.Applicable {
				t.Fatalf("not applicable: %v", ch.Evidence)
			}
			if fired := ch.Score < 0.5; fired != c.fails {
				t.Errorf("fired %v, want %v: %v", fired, c.fails, ch.Evidence)
			}
		})
	}
}

// TestPortraitResamplingFlat: a portrait of one grey on a page of another
// has no peak; the check passes and its evidence stays finite (JSON).
func TestPortraitResamplingFlat(t *testing.T) {
	page := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(200, 200, 200, 0), 600, 800, gocv.MatTypeCV8UC3)
	defer page.Close()
	fc := image.Rect(300, 200, 400, 330)
	roi := page.Region(forensics.PortraitRect(fc, image.Pt(800, 600)))
	roi.SetTo(gocv.NewScalar(90, 100, 110, 0))
	roi.Close()
	c := portraitCheck(t, page, fc, forensics.CheckPortraitResampling)
	if c.Score < 0.5 {
		t.Errorf("flat portrait fired: %v", c.Evidence)
	}
	if _, err := json.Marshal(c); err != nil {
		t.Errorf("evidence not JSON: %v (%v)", err, c.Evidence)
	}
}
