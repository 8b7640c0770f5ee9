package forensics

import (
	"image"
	"math"
	"slices"
)

// CheckPortraitResampling: the portrait carries the periodic traces of
// interpolation that the page around it lacks (portraitResampling).
const CheckPortraitResampling = "portrait_resampling"

// Resampling traces (Popescu and Farid 2005; the fast variant of Kirchner
// 2008). A photo enlarged to fit the portrait's frame is made of
// interpolated pixels, each a fixed mix of its neighbours, at positions
// that repeat with the scale's period along each axis: the residual of a
// fixed linear predictor is near zero on those, and the p-map (how well
// each pixel is predicted) is periodic. A page printed and captured in one
// go has no such period. The predictor here is directional (a pixel less
// the mean of its two neighbours along the axis), as a resize is
// separable; the p-map is averaged across the axis, which keeps the
// period (the interpolated columns are the same on every row) and
// averages the content away, and the spectrum of that profile is read
// for its strongest peak.
//
// The page's own periods are taken off: the JPEG grid (multiples of 1/8,
// on the portrait and the page alike) is not searched, and a peak is
// divided by the strongest peak near its frequency on the page's strips
// above and below the portrait (left and right for the vertical axis).
const (
	// resampSigma scales the p-map, exp(-e^2/resampSigma) for a residual
	// e in grey levels: 16 lets the p-map see through a q90 save's error
	// (measured against 1 and 4, which read the traces less well after
	// JPEG, and |e|, about as well).
	resampSigma = 16
	// The spectra are sampled from resampFMin to 0.5 cycles per pixel
	// every resampFStep and normalised by their median there.
	resampFMin  = 0.04
	resampFStep = 0.0025
	// The peaks are searched between resampSearchMin and resampSearchMax.
	// Below 0.06 (periods over 16 pixels) the face's own content decides.
	// Above 0.45 lie scales within a tenth of 2x, and the calibration half
	// of the forgery benchmark's digital specimen (passport-td3, whose
	// portrait its designer enlarged by about 2) carried its own trace
	// there: 17.6 on the PNG as made, 9.6 on the JPEG, above every paste.
	resampSearchMin = 0.06
	resampSearchMax = 0.45
	// resampMinSide is the least inner side (the portrait less an eighth
	// on each side, where a blended paste is feathered) that is read.
	resampMinSide = 32
	// resampMaxLen bounds a profile's length (its middle is kept): the
	// spectra's cost grows with it, and 512 pixels hold tens of periods.
	resampMaxLen = 512
)

var resampFreqs = func() []float64 {
	var f []float64
	for i := 0; ; i++ {
		x := resampFMin + float64(i)*resampFStep
		if x > 0.5+1e-9 {
			return f
		}
		f = append(f, x)
	}
}()

// resampLUT[2e+510] is exp(-e^2/resampSigma) for e = g - (a+b)/2 of
// 8-bit pixels (2e in [-510, 510]).
var resampLUT = func() [1021]float32 {
	var t [1021]float32
	for i := range t {
		e := float64(i-510) / 2
		t[i] = float32(math.Exp(-e * e / resampSigma))
	}
	return t
}()

// resampProfile is the p-map of the directional predictor over r, averaged
// across the axis: a signal over x (alongX) or over y. r must lie a pixel
// inside the w x h image g.
func resampProfile(g []byte, w int, r image.Rectangle, alongX bool) []float64 {
	if alongX {
		out := make([]float64, r.Dx())
		for y := r.Min.Y; y < r.Max.Y; y++ {
			row := g[y*w : (y+1)*w]
			for x := r.Min.X; x < r.Max.X; x++ {
				out[x-r.Min.X] += float64(resampLUT[2*int(row[x])-int(row[x-1])-int(row[x+1])+510])
			}
		}
		for i := range out {
			out[i] /= float64(r.Dy())
		}
		return out
	}
	out := make([]float64, r.Dy())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		up, row, down := g[(y-1)*w:y*w], g[y*w:(y+1)*w], g[(y+1)*w:(y+2)*w]
		var s float64
		for x := r.Min.X; x < r.Max.X; x++ {
			s += float64(resampLUT[2*int(row[x])-int(up[x])-int(down[x])+510])
		}
		out[y-r.Min.Y] = s / float64(r.Dx())
	}
	return out
}

// resampSpectrum is the magnitude of the DFT of sig (its middle
// resampMaxLen samples, mean removed, Hann window) on resampFreqs, over
// its median there.
func resampSpectrum(sig []float64) []float64 {
	if len(sig) > resampMaxLen {
		o := (len(sig) - resampMaxLen) / 2
		sig = sig[o : o+resampMaxLen]
	}
	n := len(sig)
	var mean float64
	for _, v := range sig {
		mean += v
	}
	mean /= float64(n)
	x := make([]float64, n)
	for i, v := range sig {
		x[i] = (v - mean) * (0.5 - 0.5*math.Cos(2*math.Pi*(float64(i)+0.5)/float64(n)))
	}
	out := make([]float64, len(resampFreqs))
	for k, f := range resampFreqs {
		// The DFT at f by rotation: one complex product a sample.
		c, s := math.Cos(2*math.Pi*f), math.Sin(2*math.Pi*f)
		re, im, cr, ci := 0.0, 0.0, 1.0, 0.0
		for _, v := range x {
			re += v * cr
			im -= v * ci
			cr, ci = cr*c-ci*s, cr*s+ci*c
		}
		out[k] = math.Hypot(re, im)
	}
	med := median(slices.Clone(out))
	if med <= 0 {
		med = 1
	}
	for i := range out {
		out[i] /= med
	}
	return out
}

// onJPEGGrid reports whether f lies within d of a multiple of 1/8.
func onJPEGGrid(f, d float64) bool {
	k := math.Round(f * 8)
	return k >= 1 && math.Abs(f-k/8) < d
}

// resampPeak is the strongest periodic trace found on one axis.
type resampPeak struct {
	Axis string
	// Stat is Portrait over max(1, Ring).
	Stat, Portrait, Ring, Freq float64
	// PageMax is the strongest peak of the page's strips in the band, on
	// this axis.
	PageMax float64
}

// portraitResampling looks for the periodic traces of a resize in the
// portrait that the page around it lacks. g is the grey crop (w x h) of
// the page around the portrait, in the portrait's rectangle in it. The
// statistic is the strongest peak of the portrait's spectra, on either
// axis, off the JPEG grid, over the page's own near its frequency.
func portraitResampling(g []byte, w, h int, in image.Rectangle, at image.Point, opts Options) Check {
	crop := image.Rect(1, 1, w-1, h-1)
	gx, gy := in.Dx()/8, in.Dy()/8
	inner := image.Rect(in.Min.X+gx, in.Min.Y+gy, in.Max.X-gx, in.Max.Y-gy).Intersect(crop)
	if inner.Dx() < resampMinSide || inner.Dy() < resampMinSide {
		return notApplicable(CheckPortraitResampling, "portrait too small")
	}
	// strip builds a rectangle as given (image.Rect would swap inverted
	// bounds), empty when inverted, within the crop.
	strip := func(x0, y0, x1, y1 int) image.Rectangle {
		if x1 <= x0 || y1 <= y0 {
			return image.Rectangle{}
		}
		return image.Rectangle{Min: image.Pt(x0, y0), Max: image.Pt(x1, y1)}.Intersect(crop)
	}
	var best *resampPeak
	pageMax := 0.0
	for _, alongX := range []bool{true, false} {
		var strips []image.Rectangle
		var n int
		axis := "x"
		if alongX {
			n = inner.Dx()
			strips = []image.Rectangle{
				strip(crop.Min.X, crop.Min.Y, crop.Max.X, in.Min.Y-gy),
				strip(crop.Min.X, in.Max.Y+gy, crop.Max.X, crop.Max.Y),
			}
		} else {
			axis = "y"
			n = inner.Dy()
			strips = []image.Rectangle{
				strip(crop.Min.X, crop.Min.Y, in.Min.X-gx, crop.Max.Y),
				strip(in.Max.X+gx, crop.Min.Y, crop.Max.X, crop.Max.Y),
			}
		}
		ring := make([]float64, len(resampFreqs))
		pageStrips := 0
		for _, s := range strips {
			// A strip as long as the inner portrait along the axis and
			// 8 pixels across at least.
			along, across := s.Dx(), s.Dy()
			if !alongX {
				along, across = across, along
			}
			if along < resampMinSide || across < 8 {
				continue
			}
			sp := resampSpectrum(resampProfile(g, w, s, alongX))
			for i := range ring {
				ring[i] = max(ring[i], sp[i])
			}
			pageStrips++
		}
		if pageStrips == 0 {
			continue
		}
		por := resampSpectrum(resampProfile(g, w, inner, alongX))
		// Half the Hann window's main lobe: a peak's width.
		d := 1.5 / float64(min(n, resampMaxLen))
		dk := int(math.Ceil(d / resampFStep))
		p := resampPeak{Axis: axis}
		for i, f := range resampFreqs {
			if f < resampSearchMin || f > resampSearchMax || onJPEGGrid(f, d) {
				continue
			}
			near := 0.0
			for j := max(0, i-dk); j <= min(len(ring)-1, i+dk); j++ {
				near = max(near, ring[j])
			}
			p.PageMax = max(p.PageMax, ring[i])
			if v := por[i] / max(1, near); v > p.Stat {
				p.Stat, p.Portrait, p.Ring, p.Freq = v, por[i], near, f
			}
		}
		pageMax = max(pageMax, p.PageMax)
		if best == nil || p.Stat > best.Stat {
			best = &p
		}
	}
	if best == nil {
		return notApplicable(CheckPortraitResampling, "no page around the portrait to compare")
	}
	// The scales a period of 1/f pixels comes from: enlarged by 1/f, or
	// (aliased) by 1/(1-f). None when no peak stood out (a flat portrait).
	scales := []float64{}
	if best.Freq > 0 {
		scales = []float64{round3(1 / (1 - best.Freq)), round3(1 / best.Freq)}
	}
	return Check{
		Name: CheckPortraitResampling, Applicable: true, Score: ramp(best.Stat, opts.PortraitResamplingThreshold),
		Evidence: map[string]any{
			"peak_portrait":    round3(best.Portrait),
			"peak_page":        round3(best.Ring),
			"page_peak_max":    round3(pageMax),
			"peak_frequency":   round3(best.Freq),
			"peak_axis":        best.Axis,
			"scale_candidates": scales,
			"excess":           round3(best.Stat),
			"threshold":        opts.PortraitResamplingThreshold,
			"inner_region":     regionOf(inner.Add(at)),
		},
	}
}
