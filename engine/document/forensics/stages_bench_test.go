package forensics

import (
	"context"
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
	} {
		b.Run(s.name, func(b *testing.B) {
			testenv.ReportCPU(b)
			for b.Loop() {
				s.f()
			}
		})
	}
}
