package forensics

import (
	"math"

	"gocv.io/x/gocv"
)

// dqPositions are the low-frequency AC coefficients (u horizontal, v
// vertical) whose histograms are examined: they have enough non-zero
// values in any document photo to show periodic gaps or peaks.
var dqPositions = [...][2]int{{1, 0}, {0, 1}, {1, 1}, {2, 0}, {0, 2}, {2, 1}, {1, 2}, {3, 0}, {0, 3}}

const (
	// dqMaxBlocks caps the 8x8 blocks transformed; 12000 blocks give
	// histograms with thousands of non-zero values per coefficient.
	dqMaxBlocks = 12000
	// dqMaxBin is the largest |quantised value| histogrammed.
	dqMaxBin = 40
	// dqMinCount is the smallest local mean count for a bin to be judged:
	// below it Poisson noise swamps the shape.
	dqMinCount = 20
	// dqMinBins is the fewest judged bins for a coefficient to count.
	dqMinBins = 4
)

// dctBasis[u][x] = C(u)/2 cos((2x+1)u pi/16), the orthonormal 8-point
// DCT-II basis JPEG uses.
var dctBasis = func() (b [4][8]float64) {
	for u := range b {
		c := 0.5
		if u == 0 {
			c = 0.5 / math.Sqrt2
		}
		for x := range b[u] {
			b[u][x] = c * math.Cos(float64(2*x+1)*float64(u)*math.Pi/16)
		}
	}
	return b
}()

// doubleQuantCheck transforms the 8x8 blocks of the file's own grid, divides
// each coefficient by the file's quantisation step and histograms the
// quantised values. A single compression leaves a smooth, Laplacian-like
// histogram. A second compression with a different table re-quantises
// values that were already quantised, so some bins are never reached
// (periodic gaps) or collect two source bins (periodic peaks). The
// statistic is the variance of the histogram around its local mean beyond
// what counting noise explains.
func doubleQuantCheck(grey gocv.Mat, table *[64]uint16, jpg jpegInfo, opts Options) Check {
	quality, exact := estimateQuality(table)
	ev := map[string]any{"quality": quality, "standard_table": exact, "progressive": jpg.progressive}
	w, h := grey.Cols(), grey.Rows()
	bw, bh := w/8, h/8
	if bw*bh < 64 {
		ev[notApplicableNote] = "fewer than 64 blocks"
		return Check{Name: CheckDoubleJPEG, Score: 1, Evidence: ev}
	}
	stride := 1
	for (bw/stride)*(bh/stride) > dqMaxBlocks {
		stride++
	}
	pix := pixels(grey)
	var hist [len(dqPositions)][dqMaxBin + 3]float64
	var rows [4][8]float64
	for by := 0; by < bh; by += stride {
		for bx := 0; bx < bw; bx += stride {
			// Row pass for the four horizontal frequencies needed.
			for y := 0; y < 8; y++ {
				line := pix[(by*8+y)*w+bx*8:]
				for u := range rows {
					s := 0.0
					for x := 0; x < 8; x++ {
						s += dctBasis[u][x] * float64(line[x])
					}
					rows[u][y] = s
				}
			}
			for p, uv := range dqPositions {
				f := 0.0
				for y := 0; y < 8; y++ {
					f += dctBasis[uv[1]][y] * rows[uv[0]][y]
				}
				step := float64(table[uv[1]*8+uv[0]])
				k := int(math.Abs(math.Round(f / step)))
				if k <= dqMaxBin+2 {
					hist[p][k]++
				}
			}
		}
	}
	var excesses []float64
	for p := range hist {
		if e, ok := histExcess(hist[p][:]); ok {
			excesses = append(excesses, round3(e))
		}
	}
	ev["blocks"] = (bw / stride) * (bh / stride)
	ev["coefficients"] = len(excesses)
	if len(excesses) < 3 {
		ev[notApplicableNote] = "too few non-zero DCT coefficients"
		return Check{Name: CheckDoubleJPEG, Score: 1, Evidence: ev}
	}
	stat := median(excesses)
	ev["excess_variance"] = excesses
	ev["median_excess"] = round3(stat)
	return Check{Name: CheckDoubleJPEG, Score: ramp(stat, opts.DoubleQuantThreshold), Applicable: true, Evidence: ev}
}

// histExcess returns the mean over judged bins of (r-1)^2 - 1/m, where m is
// the five-bin local mean and r = h/m; counting noise alone gives about 0.
// Bins 0 and 1 are left out: the zero bin holds every flat block and would
// dominate the local mean of its neighbours.
func histExcess(h []float64) (float64, bool) {
	sum, n := 0.0, 0
	for k := 3; k+2 < len(h); k++ {
		m := (h[k-2] + h[k-1] + h[k] + h[k+1] + h[k+2]) / 5
		if m < dqMinCount {
			continue
		}
		r := h[k] / m
		sum += (r-1)*(r-1) - 1/m
		n++
	}
	if n < dqMinBins {
		return 0, false
	}
	return sum / float64(n), true
}
