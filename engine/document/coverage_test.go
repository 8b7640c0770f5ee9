package document

import (
	"context"
	"image"
	"testing"

	"github.com/openkyc/kyc/engine/document/forensics"
	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/internal/testenv"
)

// TestOutlineWithoutText pastes a photo, hard-edged, over the portrait of
// the Egyptian specimen (a 268x188 page), as the forgery benchmark does:
// the pasted rectangle has a card's aspect and the locator takes it for
// the document, on which no face is found. No text is read inside it, so
// the photo is examined whole, and the portrait checks run there and catch
// the paste; the genuine page, saved alike, passes them.
func TestOutlineWithoutText(t *testing.T) {
	a, faces := newFaceAnalyzer(t)
	page, err := imageio.ReadFile(testenv.Data(t, "mrz", "passporteye", "24_pass-egy.jpg"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer page.Close()
	donor, err := imageio.ReadFile(testenv.Data(t, "liveness", "interfaces_cc0", "027.jpg"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer donor.Close()
	// As the forgery benchmark pastes a photo: the portrait's frame around
	// the face, the donor's centred crop of its aspect.
	fs, err := faces.Detect(context.Background(), page)
	if err != nil {
		t.Fatal(err)
	}
	f, err := face.Largest(fs)
	if err != nil {
		t.Fatal(err)
	}
	b := f.Box
	frame := image.Rect(int(b.X-0.22*b.W), int(b.Y-0.3*b.H), int(b.X+1.22*b.W), int(b.Y+1.25*b.H)).
		Intersect(image.Rect(0, 0, page.Cols(), page.Rows()))
	dh := donor.Rows() * 85 / 100
	dw := min(donor.Cols(), dh*frame.Dx()/frame.Dy())
	x0, y0 := (donor.Cols()-dw)/2, (donor.Rows()-dh)/2
	swapped := page.Clone()
	defer swapped.Close()
	pasteResized(&swapped, frame, donor, image.Rect(x0, y0, x0+dw, y0+dh))
	cal := forensics.DefaultCalibration()
	for _, c := range []struct {
		name  string
		paste bool
	}{{"genuine", false}, {"photo pasted", true}} {
		src := page
		if c.paste {
			src = swapped
		}
		res, err := analyzeRaw(t, a, jpegBytes(t, src, 90))
		if err != nil {
			t.Fatal(err)
		}
		var ran bool
		var fired []string
		for _, ch := range res.Forensics.Checks {
			if ch.Name == forensics.CheckPageCoverage {
				t.Logf("%s: %v; lines %d, portrait %v", c.name, ch.Evidence, res.Front.Lines, res.Portrait)
			}
			if ch.Name == forensics.CheckPortraitBoundary {
				ran = ch.Applicable
			}
			if cal.Fired(ch) {
				fired = append(fired, ch.Name)
			}
		}
		res.Close()
		if !ran {
			t.Errorf("%s: the portrait was not examined", c.name)
		}
		if (len(fired) > 0) != c.paste {
			t.Errorf("%s: checks fired %v", c.name, fired)
		}
	}
}
