package document

import (
	"context"
	"image"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/document/fields"
	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/engine/ocr"
	"github.com/openkyc/kyc/engine/ort"
	"github.com/openkyc/kyc/internal/runtimeinfo"
	"github.com/openkyc/kyc/internal/synth"
	"github.com/openkyc/kyc/internal/testenv"
)

func newAnalyzer(t testing.TB) *Analyzer {
	t.Helper()
	testenv.ORT(t)
	keys := testenv.Model(t, "ppocr-keys-en")
	e, err := ocr.New(ocr.Config{
		DetModel: testenv.Model(t, "ppocr-det"),
		RecModel: testenv.Model(t, "ppocr-rec-en-number"), Keys: keys, RecHeight: 32,
		MRZ: []ocr.Recognizer{{Model: testenv.Model(t, "ppocr-rec-en-number"), Keys: keys, Height: 32},
			{Model: testenv.Model(t, "ppocr-rec-en-v4"), Keys: keys},
			{Model: testenv.Model(t, "ppocr-rec"), Keys: testenv.Model(t, "ppocr-keys")}},
		ClsModel: testenv.Model(t, "ppocr-cls"),
		Threads:  1, Workers: 2, RecBatch: 1, MaxSide: 640, // as internal/engines.OCRConfig, but with the detector on two threads (standalone, nothing runs beside it)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	a, err := New(Config{OCR: e, Now: func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// newFaceAnalyzer is newAnalyzer with YuNet to find the portrait; the
// detector is returned too and closed when the test ends.
func newFaceAnalyzer(t testing.TB) (*Analyzer, *face.YuNet) {
	t.Helper()
	a := newAnalyzer(t)
	faces, err := face.NewYuNet(testenv.Model(t, "yunet"), face.YuNetConfig{}, ort.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { faces.Close() })
	a.cfg.Faces = faces
	return a, faces
}

// ktpUpsideDown is a KTP with a portrait on a desk, upright and turned
// 180 degrees; both are closed when the test ends.
func ktpUpsideDown(t testing.TB) (upright, turned gocv.Mat) {
	t.Helper()
	photo, err := imageio.ReadFile(testenv.Data(t, "faces", "faceapi_bbt", "penny", "penny1.png"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer photo.Close()
	upright = synth.KTPOnDesk(1280, 720, 0.6, &photo, 3)
	t.Cleanup(func() { upright.Close() })
	turned = gocv.NewMat()
	t.Cleanup(func() { turned.Close() })
	gocv.Rotate(upright, &turned, gocv.Rotate180Clockwise)
	return upright, turned
}

// TestUpsideDown: a KTP held upside down is read, turned upright as a
// page (not only line by line), so that its portrait is found for the face
// match.
func TestUpsideDown(t *testing.T) {
	a, _ := newFaceAnalyzer(t)
	upright, turned := ktpUpsideDown(t)
	for _, c := range []struct {
		name     string
		img      gocv.Mat
		rotation int
	}{{"upright", upright, 0}, {"upside down", turned, 180}} {
		var seen bool
		res, err := a.Analyze(context.Background(), Image{Mat: c.img}, nil, func(PortraitCrop) { seen = true })
		if err != nil {
			t.Fatal(err)
		}
		if res.Front.Rotation != c.rotation {
			t.Errorf("%s: rotation %d, want %d", c.name, res.Front.Rotation, c.rotation)
		}
		if res.Portrait == nil || !seen {
			t.Errorf("%s: no portrait found", c.name)
		}
		if got := res.Fields[fields.FieldName].Value; got != "SITI RAHAYU" {
			t.Errorf("%s: name %q (text %q)", c.name, got, res.Front.Text)
		}
		res.Close()
	}
}

// knownBelow are the specimens the MRZ reader reads below the reference
// reader (issue 4): a 268x188 thumbnail, and a card read exactly as
// printed whose printed composite check digit is wrong (3 of 4 valid is
// its ceiling; the reference's 77 comes from PassportEye's own score).
// Every other specimen must reach its reference.
var knownBelow = map[string]bool{"24_pass-egy.jpg": true, "77_card-cmw.png": true}

// TestPassportEyeDocuments runs the whole document pipeline, as `kyc
// document` does, on every scored PassportEye specimen: where the outline
// found leaves the zone out (the Luxembourg page's lower edge, the Dutch
// page's inner laminate frame), the zone must still be read.
// analyzeRaw decodes an encoded page and analyzes it as `kyc document`
// does.
func analyzeRaw(t *testing.T, a *Analyzer, raw []byte) (*Result, error) {
	t.Helper()
	img, err := imageio.Decode(raw, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	return a.Analyze(context.Background(), Image{Raw: raw, Mat: img}, nil, nil)
}

func TestPassportEyeDocuments(t *testing.T) {
	a := newAnalyzer(t)
	dir := testenv.Data(t, "mrz", "passporteye")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	scored := regexp.MustCompile(`^(\d+)_`)
	var got, ref int
	for _, e := range entries {
		m := scored.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		want, _ := strconv.Atoi(m[1])
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		res, err := analyzeRaw(t, a, raw)
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		score := 0
		if res.MRZ != nil {
			score = res.MRZ.ValidScore
		}
		// An honest document's dates are all true together.
		for _, c := range res.Forensics.Checks {
			if c.Name == CheckDateLogic && c.Score < 0.5 {
				t.Errorf("%s: %s fired on a genuine specimen: %v", e.Name(), c.Name, c.Evidence)
			}
		}
		res.Close()
		got += score
		ref += want
		t.Logf("%-20s %-9s MRZ %3d%% (reference %3d%%) in %4.0f ms", e.Name(), res.Type, score, want, res.TimingsMS["total"])
		if score < want && !knownBelow[e.Name()] {
			t.Errorf("%s: MRZ check digits %d%% valid, reference reader %d%%", e.Name(), score, want)
		}
	}
	t.Logf("total %d, reference total %d", got, ref)
}

// BenchmarkAnalyze is issue 4's target: a whole `kyc document` (models
// loaded) on 1600x1000 photos: a passport data page (Luxembourg specimen,
// MRZ and 30-odd printed lines) and a synthetic fifteen-line KTP on a desk;
// and the passport photo turned a quarter, as a phone held upright takes a
// landscape page.
func BenchmarkAnalyze(b *testing.B) {
	b.Cleanup(runtimeinfo.TuneGC()) // as kyc runs
	a := newAnalyzer(b)
	lux, err := imageio.ReadFile(filepath.Join(testenv.Data(b, "mrz", "passporteye"), "100_pass-lux.jpg"), 0)
	if err != nil {
		b.Fatal(err)
	}
	defer lux.Close()
	passport := gocv.NewMat()
	defer passport.Close()
	gocv.Resize(lux, &passport, image.Pt(1600, 1000), 0, 0, gocv.InterpolationArea)
	ktp := synth.KTPOnDesk(1600, 1000, 0.7, nil, 4)
	defer ktp.Close()
	turned := gocv.NewMat()
	defer turned.Close()
	gocv.Rotate(passport, &turned, gocv.Rotate90Clockwise)
	for _, c := range []struct {
		name string
		img  gocv.Mat
	}{{"passport", passport}, {"ktp", ktp}, {"passport_turned_90", turned}} {
		buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, c.img, []int{gocv.IMWriteJpegQuality, 92})
		if err != nil {
			b.Fatal(err)
		}
		raw := append([]byte(nil), buf.GetBytes()...)
		buf.Close()
		b.Run(c.name, func(b *testing.B) {
			addStages := testenv.ReportStages(b)
			testenv.ReportCPU(b)
			for b.Loop() {
				res, err := a.Analyze(context.Background(), Image{Raw: raw, Mat: c.img}, nil, nil)
				if err != nil {
					b.Fatal(err)
				}
				addStages(res.TimingsMS)
				res.Close()
			}
		})
	}
}
