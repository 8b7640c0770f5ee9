package ocr

import (
	"context"
	"image"
	"image/color"
	"math/rand/v2"
	"strings"
	"testing"

	"gocv.io/x/gocv"
)

// shortWords are short field values and labels, as cut from a card, in
// four typefaces, and their truth; the images are closed when the test
// ends.
func shortWords(t testing.TB) ([]gocv.Mat, []string) {
	t.Helper()
	words := []string{"ISLAM", "WNI", "L", "A", "PEREMPUAN", "LAKI-LAKI", "004/007", "05-08-1990", "KAWIN", "SEUMUR HIDUP", "O+", "JAKARTA", "NIK", "Nama", "Agama", "RT/RW", "2031", "P", "UTO", "ANNA", "12", "KRISTEN", "BUDDHA", "PELAJAR", "D4", "Sex/Sexe", "F", "M", "Surname", "NL", "IDN", "1974"}
	fonts := []gocv.HersheyFont{gocv.FontHersheySimplex, gocv.FontHersheyDuplex, gocv.FontHersheyComplex, gocv.FontHersheyTriplex}
	rng := rand.New(rand.NewPCG(9, 9))
	var crops []gocv.Mat
	var truth []string
	for _, w := range words {
		for _, f := range fonts {
			scale := 0.5 + rng.Float64()*0.4
			sz := gocv.GetTextSize(w, f, scale, 1)
			img := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(200+rng.Float64()*50, 200+rng.Float64()*50, 200, 0), sz.Y+12, sz.X+10, gocv.MatTypeCV8UC3)
			gocv.PutText(&img, w, image.Pt(5, sz.Y+5), f, scale, color.RGBA{20, 20, 40, 0}, 1)
			gocv.GaussianBlur(img, &img, image.Pt(3, 3), 0.6, 0.6, gocv.BorderDefault)
			crops = append(crops, img)
			truth = append(truth, w)
		}
	}
	t.Cleanup(func() {
		for _, c := range crops {
			c.Close()
		}
	})
	return crops, truth
}

// wordErrors is the character error rate in percent of lines read against
// truth, spaces ignored, and how many lines hold an error.
func wordErrors(lines []Line, truth []string) (cer float64, wrong int) {
	errs, n := 0, 0
	for i, l := range lines {
		want := strings.ReplaceAll(truth[i], " ", "")
		d := editDistance(strings.ReplaceAll(l.Text, " ", ""), want)
		errs += d
		n += len([]rune(want))
		if d > 0 {
			wrong++
		}
	}
	return 100 * float64(errs) / float64(n), wrong
}

// TestShortWords reads short field values and labels, as cut from a card,
// in four typefaces: the recogniser's minimum width must not cost them.
func TestShortWords(t *testing.T) {
	e := newEngine(t, false)
	crops, truth := shortWords(t)
	lines, err := e.ReadCrops(context.Background(), crops, DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range lines {
		if strings.ReplaceAll(l.Text, " ", "") != strings.ReplaceAll(truth[i], " ", "") {
			t.Logf("%q read as %q", truth[i], l.Text)
		}
	}
	cer, wrong := wordErrors(lines, truth)
	t.Logf("CER %.2f%%, %d of %d words wrong", cer, wrong, len(lines))
	if cer > 1.5 || wrong > len(lines)/20 {
		t.Errorf("CER %.2f%%, %d words wrong: short words read worse than at PaddleOCR's own width", cer, wrong)
	}
}
