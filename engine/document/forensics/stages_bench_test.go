package forensics

import (
	"context"
	"fmt"
	"image"
	"testing"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/internal/testenv"
)

// BenchmarkStages times the page analysis' costliest stages one by one on
// the 1600x1000 capture of BenchmarkAnalyze (which runs them side by side),
// with the CPU each takes: where the time goes, for profiling one alone.
func BenchmarkStages(b *testing.B) {
	card := renderCard(b, 42, 1600, 1000)
	defer card.Close()
	raw := encodeJPEG(b, card, 90)
	img := decodeBGR(b, raw)
	defer img.Close()
	grey, err := gocv.IMDecode(raw, gocv.IMReadGrayScale)
	if err != nil {
		b.Fatal(err)
	}
	defer grey.Close()
	ctx, opts := context.Background(), DefaultOptions()
	for _, s := range []struct {
		name string
		f    func()
	}{
		{"error_level", func() { elaCheck(ctx, grey, 90, opts) }},
		{"block_grid", func() { blockGridCheck(ctx, pixels(grey), grey.Cols(), grey.Rows(), opts) }},
		{"copy_move", func() { copyMoveCheck(ctx, img, opts) }},
		{"spectral_peaks", func() { spectralPeaks(ctx, img, opts.PeakProminence, specAxisBand) }},
		{"liveness", func() { livenessChecks(ctx, img, opts) }},
		{"midtone_noise", func() { midtoneNoise(img) }},
	} {
		b.Run(s.name, func(b *testing.B) {
			testenv.ReportCPU(b)
			for b.Loop() {
				s.f()
			}
		})
	}
}

// BenchmarkPortraitResampling times the portrait resampling check alone on
// the 1600x1000 capture, for a portrait of 300x400 pixels (an ID card's
// filling the photo's height) and of 620x480 (the Luxembourg passport's
// filling the photo's width, the largest in the benchmarks).
func BenchmarkPortraitResampling(b *testing.B) {
	card := renderCard(b, 42, 1600, 1000)
	defer card.Close()
	img := decodeBGR(b, encodeJPEG(b, card, 90))
	defer img.Close()
	grey := gocv.NewMat()
	defer grey.Close()
	gocv.CvtColor(img, &grey, gocv.ColorBGRToGray)
	g, w, h := grey.ToBytes(), grey.Cols(), grey.Rows()
	opts := DefaultOptions()
	for _, por := range []image.Rectangle{image.Rect(300, 300, 600, 700), image.Rect(200, 300, 820, 780)} {
		b.Run(fmt.Sprintf("%dx%d", por.Dx(), por.Dy()), func(b *testing.B) {
			m := max(por.Dx(), por.Dy()) / 2
			ring := image.Rect(por.Min.X-m, por.Min.Y-m, por.Max.X+m, por.Max.Y+m).Intersect(image.Rect(0, 0, w, h))
			crop := make([]byte, 0, ring.Dx()*ring.Dy())
			for y := ring.Min.Y; y < ring.Max.Y; y++ {
				crop = append(crop, g[y*w+ring.Min.X:y*w+ring.Max.X]...)
			}
			testenv.ReportCPU(b)
			for b.Loop() {
				portraitResampling(crop, ring.Dx(), ring.Dy(), por.Sub(ring.Min), ring.Min, opts)
			}
		})
	}
}
