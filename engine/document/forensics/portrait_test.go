package forensics_test

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/document/forensics"
	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/engine/ort"
	"github.com/openkyc/kyc/internal/testenv"
)

// portraitSpecimens are the PassportEye specimens whose printed portrait
// the face detector finds (the others show none, or a ghost only).
var portraitSpecimens = []string{
	"100_id-rou.jpg", "100_pass-bdr.jpg", "100_pass-cze.jpg", "100_pass-cze2.jpg", "100_pass-hrv.jpg",
	"100_pass-isl.png", "100_pass-lux.jpg", "100_pass-polx.jpg", "100_pass2-uto.jpg", "100_visa-polx.jpg",
	"24_pass-egy.jpg", "25_pass-uto.jpg", "33_id-usa.jpg", "43_pass-fra.jpg", "62_pass-aus.png",
	"79_pass-can.jpg", "98_pass-nld.jpg", "passport-td2.png", "passport-td3.png",
}

// saves are how a file reaches the verification: as made, or saved again
// by a phone, a messenger or a capture app.
var saves = []struct {
	name string
	save func(testing.TB, gocv.Mat) []byte
}{
	{"png", func(t testing.TB, m gocv.Mat) []byte {
		return encode(t, m, gocv.PNGFileExt, []int{gocv.IMWritePngCompression, 1})
	}},
	{"q90", func(t testing.TB, m gocv.Mat) []byte { return jpeg(t, m, 90) }},
	{"q95-q75", func(t testing.TB, m gocv.Mat) []byte {
		first := decode(t, jpeg(t, m, 95))
		defer first.Close()
		return jpeg(t, first, 75)
	}},
}

func encode(t testing.TB, m gocv.Mat, ext gocv.FileExt, params []int) []byte {
	t.Helper()
	buf, err := gocv.IMEncodeWithParams(ext, m, params)
	if err != nil {
		t.Fatal(err)
	}
	defer buf.Close()
	return append([]byte(nil), buf.GetBytes()...)
}

func jpeg(t testing.TB, m gocv.Mat, q int) []byte {
	return encode(t, m, gocv.JPEGFileExt, []int{gocv.IMWriteJpegQuality, q})
}

func decode(t testing.TB, raw []byte) gocv.Mat {
	t.Helper()
	m, err := imageio.Decode(raw, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func readSpecimen(t testing.TB, name string) gocv.Mat {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testenv.Data(t, "mrz", "passporteye"), name))
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, raw)
}

var (
	yunet     *face.YuNet
	yunetErr  error
	yunetOnce = make(chan struct{})
)

func detector(t testing.TB) *face.YuNet {
	t.Helper()
	select {
	case <-yunetOnce:
	default:
		testenv.ORT(t)
		yunet, yunetErr = face.NewYuNet(testenv.Model(t, "yunet"), face.YuNetConfig{}, ort.Options{})
		close(yunetOnce)
	}
	if yunetErr != nil {
		t.Fatal(yunetErr)
	}
	return yunet
}

// faceBox is the largest face the detector finds on img.
func faceBox(t testing.TB, img gocv.Mat) (image.Rectangle, bool) {
	t.Helper()
	fs, err := detector(t).Detect(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	f, err := face.Largest(fs)
	if err != nil {
		return image.Rectangle{}, false
	}
	return image.Rect(int(f.Box.X), int(f.Box.Y), int(f.Box.X+f.Box.W), int(f.Box.Y+f.Box.H)), true
}

// donors are the faces a forger pastes: colour stock portraits (CC0) and
// grey face crops of other people.
func donors(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, pat := range []string{
		filepath.Join(testenv.Data(t, "liveness", "interfaces_cc0"), "*.jpg"),
		filepath.Join(testenv.Data(t, "faces", "faceapi_bbt"), "*", "*1.png"),
	} {
		ps, _ := filepath.Glob(pat)
		out = append(out, ps...)
	}
	sort.Strings(out)
	if len(out) == 0 {
		t.Skip("no donor faces")
	}
	return out
}

// swapPortrait pastes the donor photo over the printed photo around face
// (head and shoulders: the face grown by a third of its size each way,
// off-centre by jitter pixels), as a forger does: cropped to the frame's
// aspect, resized to it, pasted.
func swapPortrait(t testing.TB, page gocv.Mat, fc image.Rectangle, donorPath string, jitter int) gocv.Mat {
	t.Helper()
	w, h := fc.Dx(), fc.Dy()
	r := image.Rect(fc.Min.X-w/3+jitter, fc.Min.Y-h/3, fc.Max.X+w/3+jitter, fc.Max.Y+h/4).
		Intersect(image.Rect(0, 0, page.Cols(), page.Rows()))
	d, err := imageio.ReadFile(donorPath, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// Crop the donor to the frame's aspect, centred.
	dw, dh := d.Cols(), d.Rows()
	if float64(dw)/float64(dh) > float64(r.Dx())/float64(r.Dy()) {
		cw := dh * r.Dx() / r.Dy()
		dw = cw
	} else {
		dh = dw * r.Dy() / r.Dx()
	}
	crop := d.Region(image.Rect((d.Cols()-dw)/2, (d.Rows()-dh)/2, (d.Cols()-dw)/2+dw, (d.Rows()-dh)/2+dh))
	defer crop.Close()
	fitted := gocv.NewMat()
	defer fitted.Close()
	interp := gocv.InterpolationArea
	if r.Dx() > dw {
		interp = gocv.InterpolationLinear
	}
	gocv.Resize(crop, &fitted, r.Size(), 0, 0, interp)
	return pasted(page, r, fitted)
}

// pasted is a copy of page with m (of r's size) over r.
func pasted(page gocv.Mat, r image.Rectangle, m gocv.Mat) gocv.Mat {
	out := page.Clone()
	roi := out.Region(r)
	m.CopyTo(&roi)
	roi.Close()
	return out
}

func portraitChecks(t testing.TB, img gocv.Mat, fallback image.Rectangle) []forensics.Check {
	t.Helper()
	fc, ok := faceBox(t, img)
	if !ok || fc.Dx() < fallback.Dx()/2 {
		fc = fallback
	}
	cs, err := forensics.AnalyzePortrait(context.Background(), img, fc, forensics.Options{})
	if errors.Is(err, forensics.ErrTooSmall) {
		t.Logf("portrait not analysed: %v", err)
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func anyFlag(cs []forensics.Check) []string {
	var out []string
	for _, c := range cs {
		if c.Applicable && c.Score < 0.5 && !c.Advisory {
			out = append(out, c.Name)
		}
	}
	return out
}

func stat(c forensics.Check) string {
	out := ""
	for _, k := range []string{"log_ratio", "excess", "sides_excess", "page_lines_excess"} {
		if v, ok := c.Evidence[k]; ok {
			if out != "" {
				out += "/"
			}
			out += fmt.Sprint(v)
		}
	}
	if out == "" {
		return "-"
	}
	return out
}

// TestPortraitSubstitution pastes other faces over the portraits of the
// real specimens and saves the result as a forger would (PNG, JPEG q90,
// q95 then q75); the genuine specimens go through the same saves. Every
// genuine page must pass, and at least 80% of the swaps must be flagged.
func TestPortraitSubstitution(t *testing.T) {
	ds := donors(t)
	var genuine, forged, genuineFlagged, forgedFlagged int
	for i, name := range portraitSpecimens {
		page := readSpecimen(t, name)
		fc, ok := faceBox(t, page)
		if !ok {
			page.Close()
			t.Fatalf("%s: no portrait found", name)
		}
		for _, sv := range saves {
			g := decode(t, sv.save(t, page))
			cs := portraitChecks(t, g, fc)
			g.Close()
			genuine++
			line := fmt.Sprintf("%-18s %-8s genuine", name, sv.name)
			for _, c := range cs {
				line += fmt.Sprintf(" %s=%s", c.Name, stat(c))
			}
			if f := anyFlag(cs); len(f) > 0 {
				genuineFlagged++
				t.Errorf("%s: genuine flagged by %v", line, f)
			} else {
				t.Log(line)
			}
			for k := range 2 {
				donor := ds[(i*5+k*23+len(sv.name))%len(ds)]
				sw := swapPortrait(t, page, fc, donor, (k*2-1)*fc.Dx()/12)
				f := decode(t, sv.save(t, sw))
				sw.Close()
				cs := portraitChecks(t, f, fc)
				f.Close()
				forged++
				line := fmt.Sprintf("%-18s %-8s swap %-16s", name, sv.name, filepath.Base(donor))
				for _, c := range cs {
					line += fmt.Sprintf(" %s=%s", c.Name, stat(c))
				}
				if fl := anyFlag(cs); len(fl) > 0 {
					forgedFlagged++
					line += fmt.Sprintf(" CAUGHT %v", fl)
				}
				t.Log(line)
			}
		}
		page.Close()
	}
	t.Logf("genuine flagged %d/%d, swaps caught %d/%d", genuineFlagged, genuine, forgedFlagged, forged)
	// Measured 87/114 at the defaults, which pass every genuine specimen
	// (83 before the boundary check read each side where it stands out
	// once what runs on is taken off, and the fourth side; 61 before it
	// read the third side alone).
	// It was 70 with the portrait JPEG-grid check (the page's block grid
	// stronger than the portrait's), removed: on the forgery benchmark's
	// calibration half it flagged 1.8% of the genuine documents (webcam
	// frames of digital pages) and no forgery the quantisation check
	// missed there; the 9 pastes here were its only catches.
	if forgedFlagged*100 < forged*65 {
		t.Errorf("portrait swaps caught %d/%d, want at least 65%%", forgedFlagged, forged)
	}
}

// BenchmarkPageChecks runs the portrait and cloned-character checks on a
// 1600x1000 photo of a passport page (the Luxembourg specimen), as the
// document pipeline does once the page is read.
func BenchmarkPageChecks(b *testing.B) {
	lux := readSpecimen(b, "100_pass-lux.jpg")
	defer lux.Close()
	page := gocv.NewMat()
	defer page.Close()
	gocv.Resize(lux, &page, image.Pt(1600, 1000), 0, 0, gocv.InterpolationArea)
	img := decode(b, jpeg(b, page, 90))
	defer img.Close()
	fc, ok := faceBox(b, img)
	if !ok {
		b.Fatal("no portrait")
	}
	b.Run("portrait", func(b *testing.B) {
		for b.Loop() {
			if _, err := forensics.AnalyzePortrait(context.Background(), img, fc, forensics.Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("glyphs", func(b *testing.B) {
		for b.Loop() {
			if _, err := forensics.AnalyzeGlyphs(context.Background(), img, nil, forensics.Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// marksOf converts a detected face.
func marksOf(f face.Face) forensics.FaceMarks {
	var m forensics.FaceMarks
	m.Box = image.Rect(int(f.Box.X), int(f.Box.Y), int(f.Box.X+f.Box.W), int(f.Box.Y+f.Box.H))
	for i, p := range f.Landmarks {
		m.Marks[i] = image.Pt(int(math.Round(p.X)), int(math.Round(p.Y)))
	}
	return m
}

// portraitAndGhost finds the main portrait and a ghost image (a second
// face under half its size) on img.
func portraitAndGhost(t testing.TB, img gocv.Mat) (main, ghost face.Face, ok bool) {
	t.Helper()
	fs, err := detector(t).Detect(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	main, err = face.Largest(fs)
	if err != nil {
		return main, ghost, false
	}
	for _, f := range fs {
		if f.Box.Area() < main.Box.Area()/2 && f.Score >= 0.6 && f.Box.W >= forensics.GhostMinSide && f.Box.H >= forensics.GhostMinSide && f.Box.Area() > ghost.Box.Area() {
			ghost, ok = f, true
		}
	}
	return main, ghost, ok
}

// TestGhostImage: on the specimens that carry a ghost image, the ghost
// must match its portrait through every save, and must not once the main
// portrait is swapped for another face.
func TestGhostImage(t *testing.T) {
	ds := donors(t)
	n := 0
	for i, name := range allSpecimens(t) {
		page := readSpecimen(t, name)
		main, _, ok := portraitAndGhost(t, page)
		if !ok {
			page.Close()
			continue
		}
		n++
		fc := marksOf(main).Box
		for _, sv := range saves {
			for _, kind := range []string{"genuine", "swapped"} {
				img := page
				if kind == "swapped" {
					img = swapPortrait(t, page, fc, ds[(i*7)%len(ds)], 0)
				}
				m := decode(t, sv.save(t, img))
				if kind == "swapped" {
					img.Close()
				}
				mf, gf, ok := portraitAndGhost(t, m)
				if !ok {
					t.Logf("%s %s %s: ghost not found again", name, sv.name, kind)
					m.Close()
					continue
				}
				c, err := forensics.AnalyzeGhost(context.Background(), m, marksOf(mf), marksOf(gf), forensics.Options{})
				m.Close()
				if err != nil {
					t.Fatal(err)
				}
				flagged := c.Applicable && c.Score < 0.5
				t.Logf("%-18s %-8s %-8s correlation %v flagged %v", name, sv.name, kind, c.Evidence["correlation"], flagged)
				if flagged != (kind == "swapped") {
					t.Errorf("%s %s %s: flagged %v (correlation %v)", name, sv.name, kind, flagged, c.Evidence["correlation"])
				}
			}
		}
		page.Close()
	}
	if n == 0 {
		t.Fatal("no specimen with a ghost image")
	}
}

// TestPortraitBoundaryPageLine: a laminate's edge, a one-pixel step
// running across the page just past the portrait's bottom and along its
// left side beyond both corners, is the page's, not a paste's: the
// boundary check passes it (before the continuation was taken off, the
// Dutch specimen's laminate measured 9.1); the same page with a face
// pasted hard-edged over the portrait still fails.
func TestPortraitBoundaryPageLine(t *testing.T) {
	page, fc := specimenFace(t, "100_pass-lux.jpg")
	por := forensics.PortraitRect(fc, image.Pt(page.Cols(), page.Rows()))
	// The laminate: everything right of a vertical edge 6 pixels left of
	// the portrait and above a horizontal edge 8 pixels below it, darkened
	// by a quarter, the edges one pixel sharp.
	laminated := page.Clone()
	defer laminated.Close()
	lam := image.Rect(por.Min.X-6, 0, page.Cols(), por.Max.Y+8)
	roi := laminated.Region(lam)
	roi.MultiplyFloat(0.75)
	roi.Close()
	img := decode(t, jpeg(t, laminated, 92))
	defer img.Close()
	if c := portraitCheck(t, img, fc, forensics.CheckPortraitBoundary); !c.Applicable || c.Score < 0.5 {
		t.Errorf("laminated genuine page: boundary applicable %v score %.2f: %v", c.Applicable, c.Score, c.Evidence)
	}
	swapped := swapPortrait(t, laminated, fc, donors(t)[0], 0)
	defer swapped.Close()
	simg := decode(t, jpeg(t, swapped, 92))
	defer simg.Close()
	if c := portraitCheck(t, simg, fc, forensics.CheckPortraitBoundary); !c.Applicable || c.Score >= 0.5 {
		t.Errorf("laminated page, portrait pasted: boundary applicable %v score %.2f: %v", c.Applicable, c.Score, c.Evidence)
	}
}

// specimenFace reads a specimen and finds its portrait's face; the page is
// closed when the test ends.
func specimenFace(t *testing.T, name string) (gocv.Mat, image.Rectangle) {
	t.Helper()
	page := readSpecimen(t, name)
	t.Cleanup(func() { page.Close() })
	fc, ok := faceBox(t, page)
	if !ok {
		t.Fatalf("%s: no face on the specimen", name)
	}
	return page, fc
}

// portraitCheck is the portrait check named name of img around face fc.
func portraitCheck(t *testing.T, img gocv.Mat, fc image.Rectangle, name string) forensics.Check {
	t.Helper()
	cs, err := forensics.AnalyzePortrait(context.Background(), img, fc, forensics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %s check", name)
	return forensics.Check{}
}

// TestPortraitBoundaryDigitalPage: on a digitally made page (the Icelandic
// specimen, a PNG) every printed line steps in one pixel, which hid a face
// pasted hard-edged over the portrait when the portrait's sides were read
// against the page's lines alone. Three sides stepping are a paste's
// wherever the page's own lines are as sharp: the swap fails, the page
// saved again passes.
func TestPortraitBoundaryDigitalPage(t *testing.T) {
	page, fc := specimenFace(t, "100_pass-isl.png")
	img := decode(t, jpeg(t, page, 90))
	defer img.Close()
	if c := portraitCheck(t, img, fc, forensics.CheckPortraitBoundary); !c.Applicable || c.Score < 0.5 {
		t.Errorf("genuine digital page: boundary applicable %v score %.2f: %v", c.Applicable, c.Score, c.Evidence)
	}
	ds := donors(t)
	for _, donor := range ds[len(ds)-3:] {
		swapped := swapPortrait(t, page, fc, donor, 0)
		simg := decode(t, jpeg(t, swapped, 90))
		swapped.Close()
		c := portraitCheck(t, simg, fc, forensics.CheckPortraitBoundary)
		simg.Close()
		third, _ := c.Evidence["third_side_excess"].(float64)
		if !c.Applicable || c.Score >= 0.5 || third < forensics.DefaultOptions().PortraitBoundaryThreshold {
			t.Errorf("digital page, %s pasted: boundary applicable %v score %.2f: %v", filepath.Base(donor), c.Applicable, c.Score, c.Evidence)
		} else {
			t.Logf("%s pasted: third side %v, two sides over the page's lines %v/%v", filepath.Base(donor), c.Evidence["third_side_excess"], c.Evidence["sides_excess"], c.Evidence["page_lines_excess"])
		}
	}
}

// TestPortraitBoundaryFourSides pastes another specimen's portrait,
// hard-edged, over the head and shoulders around the printed face: each
// paste's third strongest side steps less than the third-side reading
// needs, but it steps all round, as no page's own lines do around a
// portrait. The genuine pages, saved again, pass.
func TestPortraitBoundaryFourSides(t *testing.T) {
	// Pastes whose third strongest side measured 3.5 to 5.3, under the
	// threshold of 6, their fourth 3.3 to 5.1.
	cases := []struct{ page, donor string }{
		{"100_pass-polx.jpg", "100_pass-bdr.jpg"},
		{"79_pass-can.jpg", "98_pass-nld.jpg"},
		{"100_visa-polx.jpg", "98_pass-nld.jpg"},
	}
	for _, tc := range cases {
		t.Run(tc.page+"/"+tc.donor, func(t *testing.T) {
			page, fc := specimenFace(t, tc.page)
			img := decode(t, jpeg(t, page, 90))
			defer img.Close()
			if c := portraitCheck(t, img, fc, forensics.CheckPortraitBoundary); !c.Applicable || c.Score < 0.5 {
				t.Errorf("genuine page: boundary applicable %v score %.2f: %v", c.Applicable, c.Score, c.Evidence)
			}
			r := headAndShoulders(fc, page)
			dp, dfc := specimenFace(t, tc.donor)
			donor := dp.Region(headAndShoulders(dfc, dp))
			defer donor.Close()
			fit := gocv.NewMat()
			defer fit.Close()
			gocv.Resize(donor, &fit, r.Size(), 0, 0, gocv.InterpolationArea)
			sw := pasted(page, r, fit)
			simg := decode(t, jpeg(t, sw, 90))
			sw.Close()
			defer simg.Close()
			sfc, ok := faceBox(t, simg)
			if !ok {
				t.Fatal("no face on the swapped page")
			}
			c := portraitCheck(t, simg, sfc, forensics.CheckPortraitBoundary)
			t.Logf("swap: score %.2f, third side %v, fourth %v, sides %v", c.Score, c.Evidence["third_side_excess"], c.Evidence["fourth_side_excess"], c.Evidence["sides"])
			if !c.Applicable || c.Score >= 0.5 {
				t.Errorf("swap not flagged: boundary applicable %v score %.2f: %v", c.Applicable, c.Score, c.Evidence)
			}
		})
	}
}

// headAndShoulders is a portrait's frame around its face fc on page: 22%
// of the face's width either side, 30% of its height above, a quarter
// below.
func headAndShoulders(fc image.Rectangle, page gocv.Mat) image.Rectangle {
	w, h := fc.Dx(), fc.Dy()
	return image.Rect(fc.Min.X-w*22/100, fc.Min.Y-h*3/10, fc.Max.X+w*22/100, fc.Max.Y+h/4).
		Intersect(image.Rect(0, 0, page.Cols(), page.Rows()))
}
