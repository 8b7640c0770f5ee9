package document

import (
	"context"
	"image"
	"path/filepath"
	"strings"
	"testing"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/document/forensics"
	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/internal/testenv"
)

func jpegBytes(t testing.TB, m gocv.Mat, q int) []byte {
	t.Helper()
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, m, []int{gocv.IMWriteJpegQuality, q})
	if err != nil {
		t.Fatal(err)
	}
	defer buf.Close()
	return append([]byte(nil), buf.GetBytes()...)
}

func largestFace(t testing.TB, d face.Detector, img gocv.Mat) image.Rectangle {
	t.Helper()
	fs, err := d.Detect(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	f, err := face.Largest(fs)
	if err != nil {
		t.Fatal("no face on the photo")
	}
	return image.Rect(int(f.Box.X), int(f.Box.Y), int(f.Box.X+f.Box.W), int(f.Box.Y+f.Box.H))
}

// swapFace returns page with the head and shoulders around donor's face
// pasted over those around the page's portrait (a portrait swapped by
// hand); the caller closes it.
func swapFace(t testing.TB, faces face.Detector, page, donor gocv.Mat) gocv.Mat {
	t.Helper()
	headAndShoulders := func(f image.Rectangle) image.Rectangle {
		w, h := f.Dx(), f.Dy()
		return image.Rect(f.Min.X-w/3, f.Min.Y-h/3, f.Max.X+w/3, f.Max.Y+h/4)
	}
	out := page.Clone()
	src := headAndShoulders(largestFace(t, faces, donor)).Intersect(image.Rect(0, 0, donor.Cols(), donor.Rows()))
	pasteResized(&out, headAndShoulders(largestFace(t, faces, page)), donor, src)
	return out
}

// pasteResized pastes src's rectangle from over dst's rectangle to, resized
// to fit (a portrait swapped by hand).
func pasteResized(dst *gocv.Mat, to image.Rectangle, src gocv.Mat, from image.Rectangle) {
	reg := src.Region(from)
	fitted := gocv.NewMat()
	gocv.Resize(reg, &fitted, to.Size(), 0, 0, gocv.InterpolationArea)
	reg.Close()
	roi := dst.Region(to)
	fitted.CopyTo(&roi)
	roi.Close()
	fitted.Close()
}

// TestPageChecks runs the whole document pipeline on real and synthetic
// pages: the portrait checks must look at the portrait where it is in the
// photo (the rectified page's face mapped back, also on a card held upside
// down), a genuine page must pass them and the cloned-character check, and
// a page whose portrait was swapped must not.
func TestPageChecks(t *testing.T) {
	a, faces := newFaceAnalyzer(t)

	lux, err := imageio.ReadFile(filepath.Join(testenv.Data(t, "mrz", "passporteye"), "100_pass-lux.jpg"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lux.Close()
	luxFace := largestFace(t, faces, lux)
	swapped := lux.Clone()
	defer swapped.Close()
	{
		donor, err := imageio.ReadFile(filepath.Join(testenv.Data(t, "liveness", "interfaces_cc0"), "001.jpg"), 0)
		if err != nil {
			t.Fatal(err)
		}
		w, h := luxFace.Dx(), luxFace.Dy()
		r := image.Rect(luxFace.Min.X-w/3, luxFace.Min.Y-h/3, luxFace.Max.X+w/3, luxFace.Max.Y+h/4)
		pasteResized(&swapped, r, donor, image.Rect(80, 0, 560, 640*r.Dy()/r.Dx()*480/640))
		donor.Close()
	}
	// A page with a ghost image, and the same page with its portrait
	// swapped (the ghost left as it was).
	cze, err := imageio.ReadFile(filepath.Join(testenv.Data(t, "mrz", "passporteye"), "100_pass-cze.jpg"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer cze.Close()
	czeSwapped := cze.Clone()
	defer czeSwapped.Close()
	{
		f := largestFace(t, faces, cze)
		donor, err := imageio.ReadFile(testenv.Data(t, "faces", "faceapi_bbt", "sheldon", "sheldon1.png"), 0)
		if err != nil {
			t.Fatal(err)
		}
		w, h := f.Dx(), f.Dy()
		r := image.Rect(f.Min.X-w/4, f.Min.Y-h/4, f.Max.X+w/4, f.Max.Y+h/5)
		pasteResized(&czeSwapped, r, donor, image.Rect(0, 0, donor.Cols(), donor.Rows()))
		donor.Close()
	}
	ktp, turned := ktpUpsideDown(t)

	for _, c := range []struct {
		name    string
		img     gocv.Mat
		swapped bool
		turned  bool
	}{
		{"passport q90", lux, false, false},
		{"passport, portrait swapped, q90", swapped, true, false},
		{"KTP on a desk", ktp, false, false},
		{"KTP on a desk, upside down", turned, false, true},
		{"passport with a ghost image", cze, false, false},
		{"passport with a ghost image, portrait swapped", czeSwapped, true, false},
	} {
		raw := jpegBytes(t, c.img, 90)
		img, err := imageio.Decode(raw, 0)
		if err != nil {
			t.Fatal(err)
		}
		res, err := a.Analyze(context.Background(), Image{Raw: raw, Mat: img}, nil, nil)
		if err != nil {
			img.Close()
			t.Fatal(err)
		}
		var want image.Rectangle
		if c.turned {
			// The detector does not find faces upside down: the upright
			// card's, turned.
			u := largestFace(t, faces, ktp)
			want = image.Rect(ktp.Cols()-u.Max.X, ktp.Rows()-u.Max.Y, ktp.Cols()-u.Min.X, ktp.Rows()-u.Min.Y)
		} else {
			want = largestFace(t, faces, img)
		}
		img.Close()
		res.Close()
		got := map[string]forensics.Check{}
		for _, chk := range res.Forensics.Checks {
			got[chk.Name] = chk
		}
		for _, name := range []string{forensics.CheckPortraitNoise, forensics.CheckPortraitBoundary, forensics.CheckPortraitQuant, forensics.CheckClonedGlyphs, forensics.CheckPageCoverage} {
			if _, ok := got[name]; !ok {
				t.Errorf("%s: no %s check", c.name, name)
			}
		}
		// The portrait examined is where the face is in the photo.
		if pr, ok := got[forensics.CheckPortraitNoise].Evidence["portrait_region"].(forensics.Region); ok {
			r := image.Rect(pr.X, pr.Y, pr.X+pr.W, pr.Y+pr.H)
			centre := want.Min.Add(want.Max).Div(2)
			if !centre.In(r) {
				t.Errorf("%s: portrait examined at %v, the face is at %v in the photo", c.name, r, want)
			}
		}
		var flags []string
		for _, chk := range res.Forensics.Checks {
			if chk.Applicable && chk.Score < 0.5 && !chk.Advisory && (strings.HasPrefix(chk.Name, "portrait_") || chk.Name == forensics.CheckClonedGlyphs) {
				flags = append(flags, chk.Name)
			}
		}
		if strings.Contains(c.name, "ghost") {
			g, ok := got[forensics.CheckPortraitGhost]
			if !ok {
				t.Errorf("%s: no ghost check", c.name)
			} else if flagged := g.Score < 0.5; flagged != c.swapped {
				t.Errorf("%s: ghost flagged %v: %v", c.name, flagged, g.Evidence)
			}
		}
		t.Logf("%-34s coverage %v, flags %v, timings portrait %.0f ms glyphs %.0f ms", c.name, got[forensics.CheckPageCoverage].Evidence["examined"], flags, res.TimingsMS["forensics_portrait"], res.TimingsMS["forensics_glyphs"])
		if c.swapped != (len(flags) > 0) {
			t.Errorf("%s: flagged by %v", c.name, flags)
		}
	}
}
