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

// TestShortWords reads short field values and labels, as cut from a card,
// in four typefaces: the recogniser's minimum width must not cost them.
func TestShortWords(t *testing.T) {
	e := newEngine(t, false)
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
	defer func() {
		for _, c := range crops {
			c.Close()
		}
	}()
	lines, err := e.ReadCrops(context.Background(), crops, DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	errs, n, wrong := 0, 0, 0
	for i, l := range lines {
		got := strings.ReplaceAll(l.Text, " ", "")
		want := strings.ReplaceAll(truth[i], " ", "")
		d := editDistance(got, want)
		errs += d
		n += len([]rune(want))
		if d > 0 {
			wrong++
			t.Logf("%q read as %q", truth[i], l.Text)
		}
	}
	cer := float64(errs) / float64(n)
	t.Logf("CER %.2f%% (%d/%d), %d of %d words wrong", 100*cer, errs, n, wrong, len(lines))
	if cer > 0.015 || wrong > len(lines)/20 {
		t.Errorf("CER %.2f%%, %d words wrong: short words read worse than at PaddleOCR's own width", 100*cer, wrong)
	}
}
