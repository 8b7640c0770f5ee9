package mrzread

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/ocr"
	"github.com/openkyc/kyc/internal/testenv"
)

// compareReaders turns on TestMRZReaders, a measurement of minutes.
var compareReaders = flag.Bool("mrz.compare", false, "TestMRZReaders: compare every MRZ recogniser and Tesseract")

// compareOnly limits TestMRZReaders to these readers (comma-separated);
// empty compares all.
var compareOnly = flag.String("mrz.only", "", "TestMRZReaders: only these readers (ch-v4,en-v3,en-v4,en-number,product,tesseract)")

// newReaderWith is newReader reading the zone with the given recogniser
// alone.
func newReaderWith(t testing.TB, model, keys string, height int) *Reader {
	t.Helper()
	testenv.ORT(t)
	e, err := ocr.New(ocr.Config{
		DetModel: testenv.Model(t, "ppocr-det"), RecModel: testenv.Model(t, "ppocr-rec-en-number"), Keys: testenv.Model(t, "ppocr-keys-en"), RecHeight: 32,
		MRZ:     []ocr.Recognizer{{Model: testenv.Model(t, model), Keys: testenv.Model(t, keys), Height: height}},
		Threads: 2, MaxSide: 640,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	r := New(e)
	r.Now = func() time.Time { return specimenDate }
	return r
}

// tesseract reads each box of img as one line with Tesseract 5 and the MRZ
// traineddata (the peer), limited to the MRZ alphabet.
func tesseract(t testing.TB) func(ctx context.Context, img gocv.Mat, boxes []ocr.Quad, _ ocr.DecodeOptions) ([]ocr.Line, error) {
	bin, err := exec.LookPath("tesseract")
	if err != nil {
		t.Skip("tesseract not installed (apt-get install tesseract-ocr)")
	}
	tessdata := filepath.Dir(testenv.Model(t, "mrz-tessdata"))
	dir := t.TempDir()
	return func(ctx context.Context, img gocv.Mat, boxes []ocr.Quad, _ ocr.DecodeOptions) ([]ocr.Line, error) {
		lines := make([]ocr.Line, len(boxes))
		for i, q := range boxes {
			crop := cutQuad(img, q)
			path := filepath.Join(dir, "line.png")
			ok := gocv.IMWrite(path, crop)
			crop.Close()
			if !ok {
				return nil, errors.New("writing a line image")
			}
			text, err := tesseractLine(ctx, bin, tessdata, path)
			if err != nil {
				return nil, err
			}
			lines[i] = ocr.Line{Text: text, Box: q}
		}
		return lines, nil
	}
}

// tesseractLine runs Tesseract on one line image.
func tesseractLine(ctx context.Context, bin, tessdata, path string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, path, "stdout", "--tessdata-dir", tessdata, "-l", "mrz", "--psm", "7",
		"-c", "tessedit_char_whitelist="+ocr.MRZAlphabet)
	cmd.Env = append(os.Environ(), "OMP_THREAD_LIMIT=1")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("tesseract: %v: %s", err, stderr.String())
	}
	return strings.Join(strings.Fields(out.String()), ""), nil
}

// cutQuad cuts q out of img as an upright rectangle.
func cutQuad(img gocv.Mat, q ocr.Quad) gocv.Mat {
	w, h := max(1, int(q.Width())), max(1, int(q.Height()))
	src := gocv.NewPoint2fVectorFromPoints([]gocv.Point2f{
		{X: float32(q[0].X), Y: float32(q[0].Y)}, {X: float32(q[1].X), Y: float32(q[1].Y)},
		{X: float32(q[2].X), Y: float32(q[2].Y)}, {X: float32(q[3].X), Y: float32(q[3].Y)},
	})
	defer src.Close()
	dst := gocv.NewPoint2fVectorFromPoints([]gocv.Point2f{{X: 0, Y: 0}, {X: float32(w), Y: 0}, {X: float32(w), Y: float32(h)}, {X: 0, Y: float32(h)}})
	defer dst.Close()
	m := gocv.GetPerspectiveTransform2f(src, dst)
	defer m.Close()
	out := gocv.NewMat()
	gocv.WarpPerspectiveWithParams(img, &out, m, image.Pt(w, h), gocv.InterpolationCubic, gocv.BorderReplicate, color.RGBA{})
	return out
}

// TestMRZReaders prints, for each recogniser, for the product's three in
// turn (newReader) and for Tesseract 5 with the
// MRZ traineddata reading the same line boxes, the PassportEye specimens'
// total share of valid check digits against the reference reader's, how
// many specimens fall below their reference, how many synthetic zones read
// exactly, and the time per specimen (the character error rates on the
// doubango lines are package ocr's TestRecognizers). -mrz.compare runs it.
func TestMRZReaders(t *testing.T) {
	if !*compareReaders {
		t.Skip("a measurement of minutes: -mrz.compare")
	}
	dir := testenv.Data(t, "mrz", "passporteye")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var specimens []gocv.Mat
	var refs []int
	ref := 0
	for _, e := range entries {
		m := scoredName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		want, _ := strconv.Atoi(m[1])
		specimens = append(specimens, readImage(t, filepath.Join(dir, e.Name())))
		refs = append(refs, want)
		ref += want
	}
	zones := syntheticZones(t)
	readers := map[string]*Reader{}
	var order []string
	want := func(name string) bool {
		return *compareOnly == "" || slices.Contains(strings.Split(*compareOnly, ","), name)
	}
	for _, rc := range testenv.Recognizers() {
		if !want(rc.Name) {
			continue
		}
		readers[rc.Name] = newReaderWith(t, rc.Model, rc.Keys, rc.Height)
		order = append(order, rc.Name)
	}
	if want("product") {
		readers["product"] = newReader(t, 2)
		order = append(order, "product")
	}
	if want("tesseract") {
		tess := newReaderWith(t, "ppocr-rec-en-v4", "ppocr-keys-en", 0)
		tess.recognize = tesseract(t)
		readers["tesseract"] = tess
		order = append(order, "tesseract")
	}
	ctx := context.Background()
	rows := []string{fmt.Sprintf("%-10s %7s %6s %9s %7s %10s", "reader", "total", "below", "synthetic", "ms/doc", "reference "+strconv.Itoa(ref))}
	for _, name := range order {
		r := readers[name]
		total, below := 0, 0
		start := time.Now()
		for i, img := range specimens {
			score := 0
			res, err := r.Read(ctx, img)
			switch {
			case errors.Is(err, ErrNoMRZ):
			case err != nil:
				t.Fatalf("%s: %v", name, err)
			default:
				score = res.ValidScore
			}
			total += score
			if score < refs[i] {
				below++
			}
		}
		took := time.Since(start) / time.Duration(len(specimens))
		exact := 0
		for _, z := range zones {
			if res, err := r.Read(ctx, z.img); err == nil && strings.Join(res.Lines, "\n") == strings.Join(z.lines, "\n") {
				exact++
			}
		}
		rows = append(rows, fmt.Sprintf("%-10s %7d %3d/%-2d %6d/%-2d %7.0f", name, total, below, len(specimens), exact, len(zones), float64(took.Milliseconds())))
	}
	t.Logf("PassportEye specimens and synthetic zones, MRZ read with:\n%s", strings.Join(rows, "\n"))

}

// syntheticZone is a rendered zone and its text.
type syntheticZone struct {
	img   gocv.Mat
	lines []string
}

// syntheticZones renders TestSyntheticZones' zones in its upright styles.
func syntheticZones(t *testing.T) []syntheticZone {
	zones := [][]string{
		td3(t, "SCHMIDT<<JOHANNA<MARIE", "C01X00T47", "DEU", "850312", "F", "310101", "ZE184226B"),
		td1(t, "I<", "NLD", "SPECI2021", "650310", "M", "300101", "NLD", "DE<BRUIJN<<WILLEKE<LISELOTTE"),
		td3(t, "VAN<DER<BERG<<PIETER<JAN", "X7Y4K2Q09", "NLD", "920229", "M", "330715", "9876543210"),
		td1(t, "ID", "IDN", "B12345678", "010101", "F", "351231", "IDN", "RAHAYU<<SITI"),
	}
	styles := []textStyle{{size: 22}, {size: 22, angle: 4}, {size: 22, angle: -8}, {size: 22, blur: 1.2}, {size: 16, angle: 2, blur: 0.8}, {size: 14, blur: 1}}
	var out []syntheticZone
	for _, lines := range zones {
		for _, st := range styles {
			out = append(out, syntheticZone{renderText(t, lines, st), lines})
		}
	}
	return out
}
