package forensics

import (
	"context"
	"image"
	"maps"
	"math"

	"gocv.io/x/gocv"
)

const (
	// specTiles is the tile grid (per side) whose power spectra are
	// averaged; nine tiles cut the periodogram's noise by three.
	specTiles = 3
	// specMinPeriod and specMaxPeriod bound (in pixels) the periods of
	// the peaks considered: longer periods are layout (text lines), not
	// a pixel grid or a dot screen.
	specMaxPeriod = 24.0
	// specAxisBand is the half-width (bins) of the bands along the axes
	// left out of a document: straight edges and text lines put their
	// energy there.
	specAxisBand = 2
	// specBackground is the side of the box window estimating the local
	// background of the log spectrum.
	specBackground = 11
	// colourSide is the long side of the copy the colour check reads.
	colourSide = 256
	// castLevels is the number of lightness levels whose mean chroma is
	// taken as the light's cast.
	castLevels = 32
)

// peak is a periodic component of the image.
type peak struct {
	fx, fy       int // frequency bins, fy >= 0
	n            int // tile size: frequency fx/n cycles per pixel
	luma, chroma float64
	// tiles is the number of tiles (of specTiles squared) whose own
	// chroma spectrum shows the peak (tileProminence): a display's grid
	// covers the whole document, a moire in a printed picture one part.
	tiles int
}

func (p peak) prominence() float64 { return max(p.luma, p.chroma) }

func (p peak) period() float64 { return float64(p.n) / math.Hypot(float64(p.fx), float64(p.fy)) }

// angle is the orientation of the peak modulo 90 degrees: the members of
// one square lattice (a pixel grid, one ink's dot screen) share it.
func (p peak) angle() float64 {
	a := math.Atan2(float64(p.fy), float64(p.fx)) * 180 / math.Pi
	return math.Mod(a+360, 90)
}

func livenessChecks(ctx context.Context, img gocv.Mat, opts Options) []Check {
	peaks, n := spectralPeaks(ctx, img, opts.PeakProminence, specAxisBand)
	cs := documentPeriodicChecks(peaks, n, opts)
	luma, chroma, ok := fineNoise(img)
	mid := midtoneNoise(img)
	cs = append(cs, colourCheck(img, opts), ditherCheck(luma, chroma, ok, mid, opts))
	return cs
}

// documentPeriodicChecks are the screen and print checks of a document.
// A document's own print has periodic structure too: a guilloche's fine
// lines are luminance, like halftone dots. So the screen check scores only
// the peaks stronger in chroma (a display's sub-pixel stripes and their
// moire; DocScreenThreshold), the print check only those stronger in
// luminance (DocPrintThreshold); a guilloche stays under the latter.
//
// A display's grid also covers the whole document, where a colour moire
// printed in the document's picture (or scanned from it) covers a part: the
// screen check counts only the peaks that most tiles show on their own
// (DocScreenMinTiles).
func documentPeriodicChecks(peaks []peak, n int, opts Options) []Check {
	chroma, luma, ev := latticeStats(peaks)
	var spread []peak
	for _, p := range peaks {
		if p.tiles >= opts.DocScreenMinTiles {
			spread = append(spread, p)
		}
	}
	chromaSpread, _, _ := latticeStats(spread)
	ev["tile"] = n
	ev["chroma_peak_mass"], ev["luma_peak_mass"] = round3(chroma), round3(luma)
	evS, evP := map[string]any{"threshold": opts.DocScreenThreshold, "chroma_peak_mass_page_wide": round3(chromaSpread),
		"min_tiles": opts.DocScreenMinTiles}, map[string]any{"threshold": opts.DocPrintThreshold}
	for k, v := range ev {
		evS[k], evP[k] = v, v
	}
	return []Check{
		{Name: CheckScreen, Score: ramp(chromaSpread, opts.DocScreenThreshold), Applicable: true, Evidence: evS},
		{Name: CheckPrint, Score: ramp(luma, opts.DocPrintThreshold), Applicable: true, Evidence: evP},
	}
}

// ditherCheck looks for an inkjet's error-diffused droplets: a print with
// no dot screen, so no periodic peak, but a scatter of droplets the camera
// sees as fine luminance noise in the page's flat areas (fineNoise), far
// above a camera's own at a document's distance (DitherThreshold). The
// droplets are only where there is ink, so a page of mostly white paper
// keeps that median low: the noise of the whole image's flat tints in
// excess of its flat paper's is read too (midtoneNoise,
// DitherMidtoneThreshold), and the check scores the stronger sign.
func ditherCheck(luma, chroma float64, ok bool, mid midtone, opts Options) Check {
	if !ok && !mid.ok {
		return notApplicable(CheckPrintDither, "too few flat pixels")
	}
	score := 1.0
	ev := map[string]any{"threshold": opts.DitherThreshold, "midtone_threshold": opts.DitherMidtoneThreshold,
		"midtone_pixels": mid.n, "paper_pixels": mid.paperN}
	if ok {
		score = ramp(luma, opts.DitherThreshold)
		ev["luma_noise"], ev["chroma_noise"] = round3(luma), round3(chroma)
	}
	if mid.ok {
		score = min(score, ramp(mid.excess(), opts.DitherMidtoneThreshold))
		ev["midtone_noise"], ev["paper_noise"] = round3(mid.noise), round3(mid.paper)
	}
	return Check{Name: CheckPrintDither, Score: score, Applicable: true, Evidence: ev}
}

// spectralPeaks averages the power spectra of tiles of the luminance and
// of the two chroma channels, and returns the local maxima that stand out
// from their neighbourhood by at least minProm (natural log of the power
// ratio), away from DC, the bands of axisBand bins along the axes and the
// JPEG 8-pixel grid harmonics.
func spectralPeaks(ctx context.Context, img gocv.Mat, minProm float64, axisBand int) ([]peak, int) {
	n := 256
	for n > 32 && (img.Cols() < n || img.Rows() < n) {
		n /= 2
	}
	window := hann(n)
	// The spectra of real planes are symmetric (OpenCV fills one half with
	// the other's conjugates, so to the bit: TestSpectrumSymmetric): rows
	// 0 to n/2 are summed, the others copied once at the end.
	half := (n/2 + 1) * n
	powL := make([]float64, n*n)
	powC := make([]float64, n*n)
	tileC := make([][]float64, 0, specTiles*specTiles)
	lab := gocv.NewMat()
	defer lab.Close()
	sp := newSpectrum(n)
	defer sp.close()
	planes := [3][]byte{make([]byte, n*n), make([]byte, n*n), make([]byte, n*n)}
	for ty := 0; ty < specTiles; ty++ {
		for tx := 0; tx < specTiles; tx++ {
			if ctx.Err() != nil {
				return nil, n
			}
			r := image.Rect(0, 0, n, n).Add(image.Pt((img.Cols()-n)*tx/(specTiles-1), (img.Rows()-n)*ty/(specTiles-1)))
			// Converting only the tiles keeps the costly Lab conversion to
			// a fraction of the image.
			tile := img.Region(r)
			gocv.CvtColor(tile, &lab, gocv.ColorBGRToLab)
			tile.Close()
			px := pixels(lab)
			for i := range planes[0] {
				planes[0][i], planes[1][i], planes[2][i] = px[3*i], px[3*i+1], px[3*i+2]
			}
			tc := make([]float64, half)
			for c, plane := range planes {
				dst := tc
				if c == 0 {
					dst = powL[:half]
				}
				sp.addPower(plane, window, dst)
			}
			for i, v := range tc {
				powC[i] += v
			}
			tileC = append(tileC, tc)
		}
	}
	mirrorSpectrum(powL, n)
	mirrorSpectrum(powC, n)
	lgL, bgL := logBackground(powL, n)
	lgC, bgC := logBackground(powC, n)
	var peaks []peak
	jpegStep := n / 8
	for fy := 0; fy <= n/2; fy++ {
		for fx := -n / 2; fx < n/2; fx++ {
			if absInt(fx) <= axisBand || fy <= axisBand {
				continue
			}
			if float64(n)/math.Hypot(float64(fx), float64(fy)) > specMaxPeriod {
				continue
			}
			if d := absInt(fx) % jpegStep; d <= 1 || d == jpegStep-1 {
				continue
			}
			if d := fy % jpegStep; d <= 1 || d == jpegStep-1 {
				continue
			}
			i := idx(fx, fy, n)
			pl, pc := lgL[i]-bgL[i], lgC[i]-bgC[i]
			if max(pl, pc) < minProm {
				continue
			}
			if !localMax(powL, fx, fy, n) && !localMax(powC, fx, fy, n) {
				continue
			}
			tiles := 0
			for _, tc := range tileC {
				if tileProminence(tc, fx, fy, n) >= tilePeakProminence {
					tiles++
				}
			}
			peaks = append(peaks, peak{fx: fx, fy: fy, n: n, luma: pl, chroma: pc, tiles: tiles})
		}
	}
	return peaks, n
}

// tilePeakProminence is the least prominence (log power ratio) at which
// one tile's spectrum counts as showing a peak: one tile's periodogram is
// three times noisier than the nine tiles' mean, so the bar is below
// PeakProminence.
const tilePeakProminence = 2.5

// tileProminence is the log power of the strongest bin within one of
// (fx, fy) over the mean log power of its specBackground-wide
// neighbourhood, in one tile's spectrum p (its rows 0 to n/2).
func tileProminence(p []float64, fx, fy, n int) float64 {
	top := 0.0
	for dy := -1; dy <= 1; dy++ {
		for dx := -1; dx <= 1; dx++ {
			top = max(top, p[halfIdx(fx+dx, fy+dy, n)])
		}
	}
	h := specBackground / 2
	var bg float64
	for dy := -h; dy <= h; dy++ {
		for dx := -h; dx <= h; dx++ {
			bg += math.Log(p[halfIdx(fx+dx, fy+dy, n)] + 1e-9)
		}
	}
	return math.Log(top+1e-9) - bg/float64(specBackground*specBackground)
}

// idx maps a signed frequency to the index in an unshifted n x n spectrum.
func idx(fx, fy, n int) int { return ((fy+n)%n)*n + (fx+n)%n }

// halfIdx is idx in a spectrum of which only rows 0 to n/2 are kept: the
// power at (fx, fy) is the power at (-fx, -fy).
func halfIdx(fx, fy, n int) int {
	x, y := (fx+n)%n, (fy+n)%n
	if y > n/2 {
		x, y = (n-x)%n, n-y
	}
	return y*n + x
}

// mirrorSpectrum fills rows n/2+1 to n-1 of the power spectrum p (or of
// its logarithm) from the others.
func mirrorSpectrum(p []float64, n int) {
	for y := n/2 + 1; y < n; y++ {
		row, src := p[y*n:(y+1)*n], p[(n-y)*n:(n-y+1)*n]
		row[0] = src[0]
		for x := 1; x < n; x++ {
			row[x] = src[n-x]
		}
	}
}

func localMax(p []float64, fx, fy, n int) bool {
	v := p[idx(fx, fy, n)]
	for dy := -1; dy <= 1; dy++ {
		for dx := -1; dx <= 1; dx++ {
			if (dx != 0 || dy != 0) && p[idx(fx+dx, fy+dy, n)] > v {
				return false
			}
		}
	}
	return true
}

func hann(n int) []float64 {
	w := make([]float64, n)
	for i := range w {
		w[i] = 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n-1))
	}
	return w
}

// spectrum holds the buffers of addPower, reused from tile to tile.
type spectrum struct {
	in, out gocv.Mat
}

func newSpectrum(n int) *spectrum {
	return &spectrum{in: gocv.NewMatWithSize(n, n, gocv.MatTypeCV32F), out: gocv.NewMat()}
}

func (s *spectrum) close() {
	s.in.Close()
	s.out.Close()
}

// addPower adds the windowed power spectrum of the n x n plane src (n the
// window's length) to dst, as far as dst reaches (its first rows).
func (s *spectrum) addPower(src []byte, window []float64, dst []float64) {
	n := len(window)
	sum := 0
	for _, v := range src[:n*n] {
		sum += int(v)
	}
	meanV := float64(sum) / float64(n*n)
	// The pixel less the mean, per grey level.
	var centred [256]float64
	for v := range centred {
		centred[v] = float64(v) - meanV
	}
	data, _ := s.in.DataPtrFloat32()
	for y := 0; y < n; y++ {
		wy := window[y]
		row, out := src[y*n:(y+1)*n], data[y*n:(y+1)*n]
		for x, v := range row {
			out[x] = float32(centred[v] * window[x] * wy)
		}
	}
	gocv.DFT(s.in, &s.out, gocv.DftComplexOutput)
	c, _ := s.out.DataPtrFloat32()
	c = c[:2*len(dst)]
	for i := range dst {
		re, im := float64(c[2*i]), float64(c[2*i+1])
		dst[i] += re*re + im*im
	}
}

// logBackground returns the log spectrum and its box-filtered copy
// (periodic borders), the level a peak is measured against. Running sums
// keep it linear in the spectrum size.
func logBackground(p []float64, n int) (lg, bg []float64) {
	// Half the logarithms: the spectrum is symmetric (mirrorSpectrum).
	lg = make([]float64, len(p))
	for i, v := range p[:(n/2+1)*n] {
		lg[i] = math.Log(v + 1e-9)
	}
	mirrorSpectrum(lg, n)
	tmp := boxRows(lg, n, 1, n)
	// The vertical pass is the horizontal one on strided elements.
	return lg, boxRows(tmp, 1, n, n)
}

// boxRows averages, along n lines of n elements (line l, element k at
// l*lineStep+k*elemStep), each element with its specBackground-wide
// periodic neighbourhood.
func boxRows(v []float64, lineStep, elemStep, n int) []float64 {
	h := specBackground / 2
	out := make([]float64, len(v))
	for l := 0; l < n; l++ {
		base := l * lineStep
		at := func(k int) float64 { return v[base+((k+n)%n)*elemStep] }
		s := 0.0
		for d := -h; d <= h; d++ {
			s += at(d)
		}
		for k := 0; k < n; k++ {
			out[base+k*elemStep] = s / specBackground
			s += at(k+h+1) - at(k-h)
		}
	}
	return out
}

// colourCheck measures the chroma spread of the document: a colour ID
// card photographed has clearly varying hues, a black-and-white copy has
// almost none (a colour cast from the light shifts the mean, not the
// spread).
func colourCheck(img gocv.Mat, opts Options) Check {
	if opts.MonochromeDocument {
		return notApplicable(CheckPhotocopy, "document is printed without colour")
	}
	small := gocv.NewMat()
	defer small.Close()
	scale := float64(colourSide) / float64(max(img.Cols(), img.Rows()))
	gocv.Resize(img, &small, image.Pt(max(1, int(float64(img.Cols())*scale)), max(1, int(float64(img.Rows())*scale))), 0, 0, gocv.InterpolationArea)
	lab := gocv.NewMat()
	defer lab.Close()
	gocv.CvtColor(small, &lab, gocv.ColorBGRToLab)
	px := pixels(lab)
	var sa, sb, saa, sbb float64
	// Per lightness level: pixel count and chroma sums.
	var lv [castLevels][5]float64
	cnt := float64(len(px) / 3)
	for i := 0; i+2 < len(px); i += 3 {
		a, b := float64(px[i+1]), float64(px[i+2])
		sa, sb, saa, sbb = sa+a, sb+b, saa+a*a, sbb+b*b
		l := &lv[int(px[i])*castLevels/256]
		l[0], l[1], l[2], l[3], l[4] = l[0]+1, l[1]+a, l[2]+b, l[3]+a*a, l[4]+b*b
	}
	spread := math.Sqrt(spreadOf(cnt, sa, sb, saa, sbb))
	residual := 0.0
	for _, l := range lv {
		if l[0] > 0 {
			residual += l[0] * spreadOf(l[0], l[1], l[2], l[3], l[4])
		}
	}
	residual = math.Sqrt(residual / cnt)
	// Flagged only when both are low: little colour, and what there is
	// follows lightness like a cast.
	score := 1 - min(ramp(spread, opts.ColourThreshold), ramp(residual, opts.CastThreshold))
	ev := map[string]any{
		"chroma_spread":   round3(spread),
		"residual_spread": round3(residual),
		"mean_a":          round3(sa/cnt - 128),
		"mean_b":          round3(sb/cnt - 128),
	}
	if spread < opts.GreyscaleSpread {
		// No colour at all, not even a light's cast or a sensor's chroma
		// noise: a greyscale file (a scan in grey, a converted image),
		// whose colour says nothing about a copy.
		c := notApplicable(CheckPhotocopy, "a greyscale image: no colour to judge")
		maps.Copy(c.Evidence, ev)
		c.Evidence["greyscale_file"] = true
		return c
	}
	return Check{Name: CheckPhotocopy, Score: score, Applicable: true, Evidence: ev}
}

// spreadOf is the summed variance of a and b from n values' sums and sums
// of squares.
func spreadOf(n, sa, sb, saa, sbb float64) float64 {
	va := saa/n - (sa/n)*(sa/n)
	vb := sbb/n - (sb/n)*(sb/n)
	return max(va, 0) + max(vb, 0)
}

// periodicChecks turns the peaks into the screen and print checks. Any
// strong periodic structure means a reproduction (a physical card has none
// at these periods); the screen check scores all of it. Most of it in
// luminance means ink dots: the print check scores that part, and
// attackOf lets it take precedence.
func periodicChecks(peaks []peak, n int, opts Options) []Check {
	chroma, luma, ev := latticeStats(peaks)
	ev["tile"] = n
	ev["chroma_peak_mass"], ev["luma_peak_mass"] = round3(chroma), round3(luma)
	evS := map[string]any{"periodic_mass": round3(chroma + luma)}
	evP := map[string]any{}
	for k, v := range ev {
		evS[k], evP[k] = v, v
	}
	return []Check{
		{Name: CheckScreen, Score: ramp(chroma+luma, opts.ScreenThreshold), Applicable: true, Evidence: evS},
		{Name: CheckPrint, Score: ramp(luma, opts.PrintThreshold), Applicable: true, Evidence: evP},
	}
}

// latticeStats splits the strong periodic peaks by what they modulate. A
// display's sub-pixel stripes alternate colour at nearly constant
// brightness, so its peaks (and the moire they fold into) are stronger in
// chroma than in luminance. Halftone dots are ink on white paper: their
// peaks are strongest in luminance, at one period and several screen
// angles (the rosette).
func latticeStats(peaks []peak) (chromaMass, lumaMass float64, ev map[string]any) {
	angles := map[int]bool{}
	for _, p := range peaks {
		if d := p.chroma - p.luma; d > 0 {
			chromaMass += d
		} else {
			lumaMass -= d
			angles[int(math.Round(p.angle()/5))%18] = true
		}
	}
	var top []map[string]any
	for _, p := range strongest(peaks, 8) {
		top = append(top, map[string]any{"period_px": round3(p.period()), "angle": round3(math.Atan2(float64(p.fy), float64(p.fx)) * 180 / math.Pi), "luma": round3(p.luma), "chroma": round3(p.chroma), "tiles": p.tiles})
	}
	ev = map[string]any{"peaks": len(peaks), "luma_orientations": len(angles), "strongest": top}
	return chromaMass, lumaMass, ev
}

// strongest returns up to k peaks by prominence.
func strongest(ps []peak, k int) []peak {
	out := make([]peak, 0, k)
	used := make([]bool, len(ps))
	for len(out) < k {
		bi := -1
		for i, p := range ps {
			if !used[i] && (bi < 0 || p.prominence() > ps[bi].prominence()) {
				bi = i
			}
		}
		if bi < 0 {
			break
		}
		used[bi] = true
		out = append(out, ps[bi])
	}
	return out
}
