package forensics

import (
	"context"
	"fmt"
	"image"
	"math"
	"slices"

	"gocv.io/x/gocv"
)

// Portrait substitution checks. The commonest ID forgery replaces the
// printed portrait with another face: a photo pasted over the page. The
// page and its portrait were printed (or scanned, or photographed) in one
// go, so they share one noise floor, one sharpness and one print
// texture; a pasted photo brings its own, and its rectangle leaves a step
// one pixel wide along straight lines, where the printed page's edges are
// as soft as its text.
//
// Each check compares the portrait with a ring of the page around it, so
// that the page's own texture (guilloche, a scan's grain, a photo's
// blur) sets the scale.
const (
	CheckPortraitNoise     = "portrait_noise"
	CheckPortraitSharpness = "portrait_sharpness"
	CheckPortraitBoundary  = "portrait_boundary"
	CheckPortraitQuant     = "portrait_jpeg_quantisation"
	// CheckPortraitMissing: no face found on a page that must carry the
	// holder's portrait (the document pipeline decides which).
	CheckPortraitMissing = "portrait_missing"
)

// PortraitRect is where the printed portrait lies around the face the
// detector found on the page: a passport or ID photo is framed head and
// shoulders, the face about half its width and height. The rectangle is
// clipped to the page.
func PortraitRect(face image.Rectangle, page image.Point) image.Rectangle {
	w, h := face.Dx(), face.Dy()
	r := image.Rect(face.Min.X-w*2/5, face.Min.Y-h*2/5, face.Max.X+w*2/5, face.Max.Y+h*2/5)
	return r.Intersect(image.Rectangle{Max: page})
}

// Heatmap is a coarse map of a check's statistic over a region, row by
// row, for a console to draw over the document.
type Heatmap struct {
	Region Region    `json:"region"`
	Cols   int       `json:"cols"`
	Rows   int       `json:"rows"`
	Values []float64 `json:"values"`
}

// portraitBlock is the side of the blocks whose residual noise is
// measured (one JPEG block).
const portraitBlock = 8

// AnalyzePortrait runs the portrait substitution checks on img, a page
// (the rectified document or the photo) on which face is the printed
// portrait's face. It returns the checks in img's coordinates, or an error
// when the face is too small (under 24 pixels) or img is not BGR. img is
// not modified.
func AnalyzePortrait(ctx context.Context, img gocv.Mat, face image.Rectangle, opts Options) ([]Check, error) {
	opts = opts.withDefaults()
	if img.Type() != gocv.MatTypeCV8UC3 {
		return nil, fmt.Errorf("forensics: want an 8-bit BGR image, got %d channels of type %v", img.Channels(), img.Type())
	}
	page := image.Pt(img.Cols(), img.Rows())
	face = face.Intersect(image.Rectangle{Max: page})
	if face.Dx() < 24 || face.Dy() < 24 {
		return nil, fmt.Errorf("forensics: %w: face %v", ErrTooSmall, face)
	}
	por := PortraitRect(face, page)
	// The ring: the page around the portrait, as wide as half the
	// portrait, without the portrait.
	m := max(por.Dx(), por.Dy()) / 2
	ring := image.Rect(por.Min.X-m, por.Min.Y-m, por.Max.X+m, por.Max.Y+m).Intersect(image.Rectangle{Max: page})

	sub := img.Region(ring)
	grey := gocv.NewMat()
	gocv.CvtColor(sub, &grey, gocv.ColorBGRToGray)
	sub.Close()
	defer grey.Close()
	w, h := grey.Cols(), grey.Rows()
	g := grey.ToBytes()
	// Coordinates within the ring's crop.
	in := por.Sub(ring.Min)
	// The face itself: its skin, hair and eyes are content the page has
	// nowhere else, so the noise and sharpness inside are read on the
	// portrait around it (background, shoulders) and on the face alike.
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("forensics: %w", err)
	}
	checks := []Check{
		portraitNoise(g, w, h, in, ring.Min, opts),
		portraitSharpness(g, w, h, in, opts),
		portraitBoundary(g, w, h, in, ring.Min, opts),
		portraitQuant(g, w, h, in, ring.Min, opts),
		portraitResampling(g, w, h, in, ring.Min, opts),
	}
	for i := range checks {
		checks[i].Evidence["portrait_region"] = regionOf(por)
	}
	return checks, nil
}

// residualNoise is, for each 8x8 block, the mean absolute difference
// between each pixel and the mean of its four neighbours (a Laplacian
// residual): the print's grain, the sensor's noise and the JPEG's
// quantisation error, with the smooth content removed.
func residualNoise(g []byte, w, h int) ([]float64, int, int) {
	bw, bh := w/portraitBlock, h/portraitBlock
	out := make([]float64, bw*bh)
	for by := 0; by < bh; by++ {
		for bx := 0; bx < bw; bx++ {
			var s float64
			n := 0
			for y := by * portraitBlock; y < (by+1)*portraitBlock; y++ {
				if y == 0 || y == h-1 {
					continue
				}
				for x := bx * portraitBlock; x < (bx+1)*portraitBlock; x++ {
					if x == 0 || x == w-1 {
						continue
					}
					i := y*w + x
					lap := 4*int(g[i]) - int(g[i-1]) - int(g[i+1]) - int(g[i-w]) - int(g[i+w])
					s += math.Abs(float64(lap))
					n++
				}
			}
			if n > 0 {
				out[by*bw+bx] = s / float64(n) / 4
			}
		}
	}
	return out, bw, bh
}

// insideOutside splits block values into those inside r (blocks wholly
// within, r in pixels) and those wholly outside r grown by a block.
func insideOutside(v []float64, bw, bh int, r image.Rectangle) (inside, outside []float64) {
	grown := r.Inset(-portraitBlock)
	for by := 0; by < bh; by++ {
		for bx := 0; bx < bw; bx++ {
			b := image.Rect(bx*portraitBlock, by*portraitBlock, (bx+1)*portraitBlock, (by+1)*portraitBlock)
			switch {
			case b.In(r):
				inside = append(inside, v[by*bw+bx])
			case !b.Overlaps(grown):
				outside = append(outside, v[by*bw+bx])
			}
		}
	}
	return inside, outside
}

// quantile of a copy of v (q in [0,1]).
func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s)-1)+0.5))]
}

// portraitNoise compares the noise floor of the portrait with the
// page's. The floor is a low quantile of the blocks' residual noise: the
// flattest blocks, where only grain and noise are left, whatever the
// content. A portrait printed with the page has the page's floor; a photo
// pasted into a scan has that photo's (smoother after resizing, or
// noisier from another camera). The statistic is the absolute natural log
// of the ratio of the two floors (each at least half a grey level, below
// which a floor is quantisation alone).
func portraitNoise(g []byte, w, h int, in image.Rectangle, at image.Point, opts Options) Check {
	v, bw, bh := residualNoise(g, w, h)
	inside, outside := insideOutside(v, bw, bh, in)
	if len(inside) < 16 || len(outside) < 16 {
		return notApplicable(CheckPortraitNoise, "portrait or its surroundings too small")
	}
	const q = 0.2
	fi, fo := max(quantile(inside, q), 0.5), max(quantile(outside, q), 0.5)
	stat := math.Abs(math.Log(fi / fo))
	return Check{
		// Advisory: at a threshold that passes every genuine specimen
		// (composited digitally, whose portraits have their own noise) it
		// caught none of the pasted faces on its own.
		Name: CheckPortraitNoise, Applicable: true, Advisory: true, Score: ramp(stat, opts.PortraitNoiseThreshold),
		Evidence: map[string]any{
			"noise_floor_portrait": round3(fi),
			"noise_floor_page":     round3(fo),
			"log_ratio":            round3(stat),
			"threshold":            opts.PortraitNoiseThreshold,
			"heatmap":              heatmapOf(v, bw, bh, at),
		},
	}
}

// heatmapOf shrinks a block map to at most 32 cells a side.
func heatmapOf(v []float64, bw, bh int, at image.Point) Heatmap {
	step := max(1, (max(bw, bh)+31)/32)
	cw, ch := (bw+step-1)/step, (bh+step-1)/step
	out := make([]float64, cw*ch)
	n := make([]int, cw*ch)
	for y := 0; y < bh; y++ {
		for x := 0; x < bw; x++ {
			i := (y/step)*cw + x/step
			out[i] += v[y*bw+x]
			n[i]++
		}
	}
	for i := range out {
		if n[i] > 0 {
			out[i] = round3(out[i] / float64(n[i]))
		}
	}
	return Heatmap{Region: Region{X: at.X, Y: at.Y, W: bw * portraitBlock, H: bh * portraitBlock}, Cols: cw, Rows: ch, Values: out}
}

// portraitSharpFloor is the least coarse share portraitSharpness compares:
// a digital page steps in one pixel (shares of 0.006 to 0.020 on the
// calibration half's digital specimens, against 0.05 and more once
// photographed), and below that the ratio of a portrait's share to its
// page's measures how pixel-exact each was drawn, not how either was
// printed: one such genuine page, saved again, crossed the threshold.
const portraitSharpFloor = 0.02

// portraitSharpness compares how much of the detail sits at the finest
// scale, inside the portrait and on the page: the share of the energy of
// the one-pixel Laplacian that is left once the image is blurred by a
// pixel's sigma. A photo resampled to fit the portrait's frame lost its
// finest detail (or, sharpened, has too much), where the printed page and
// its portrait went through one optical path. Measured on the blocks of
// most detail (the top quarter) on each side, so that flat paper and a
// flat photo background do not decide it.
func portraitSharpness(g []byte, w, h int, in image.Rectangle, opts Options) Check {
	src, err := gocv.NewMatFromBytes(h, w, gocv.MatTypeCV8U, g)
	if err != nil {
		return notApplicable(CheckPortraitSharpness, err.Error())
	}
	defer src.Close()
	blur := gocv.NewMat()
	defer blur.Close()
	gocv.GaussianBlur(src, &blur, image.Pt(0, 0), 1.0, 1.0, gocv.BorderReflect101)
	b := blur.ToBytes()
	bw, bh := w/portraitBlock, h/portraitBlock
	ratio := make([]float64, bw*bh)
	energy := make([]float64, bw*bh)
	for by := 0; by < bh; by++ {
		for bx := 0; bx < bw; bx++ {
			var fine, coarse float64
			for y := max(1, by*portraitBlock); y < min(h-1, (by+1)*portraitBlock); y++ {
				for x := max(1, bx*portraitBlock); x < min(w-1, (bx+1)*portraitBlock); x++ {
					i := y*w + x
					l := float64(4*int(g[i]) - int(g[i-1]) - int(g[i+1]) - int(g[i-w]) - int(g[i+w]))
					lb := float64(4*int(b[i]) - int(b[i-1]) - int(b[i+1]) - int(b[i-w]) - int(b[i+w]))
					fine += l * l
					coarse += lb * lb
				}
			}
			energy[by*bw+bx] = fine
			ratio[by*bw+bx] = (coarse + 1) / (fine + 1)
		}
	}
	pick := func(r image.Rectangle, inside bool) float64 {
		var e, v []float64
		grown := r.Inset(-portraitBlock)
		for by := 0; by < bh; by++ {
			for bx := 0; bx < bw; bx++ {
				blk := image.Rect(bx*portraitBlock, by*portraitBlock, (bx+1)*portraitBlock, (by+1)*portraitBlock)
				if (inside && blk.In(r)) || (!inside && !blk.Overlaps(grown)) {
					e = append(e, energy[by*bw+bx])
					v = append(v, ratio[by*bw+bx])
				}
			}
		}
		if len(e) < 16 {
			return math.NaN()
		}
		cut := quantile(e, 0.75)
		var s float64
		n := 0
		for i := range e {
			if e[i] >= cut {
				s += v[i]
				n++
			}
		}
		return s / float64(n)
	}
	ri, ro := pick(in, true), pick(in, false)
	if math.IsNaN(ri) || math.IsNaN(ro) {
		return notApplicable(CheckPortraitSharpness, "portrait or its surroundings too small")
	}
	stat := math.Abs(math.Log(max(ri, portraitSharpFloor) / max(ro, portraitSharpFloor)))
	return Check{
		Name: CheckPortraitSharpness, Applicable: true, Score: ramp(stat, opts.PortraitSharpnessThreshold),
		Evidence: map[string]any{
			"coarse_share_portrait": round3(ri),
			"coarse_share_page":     round3(ro),
			"log_ratio":             round3(stat),
			"threshold":             opts.PortraitSharpnessThreshold,
		},
	}
}

// boundaryFourthWeight is how much more the weakest of four sides counts
// than the third strongest alone: a rectangle stepping along all four
// sides is a paste whole, where a page's own lines along its portrait do
// not close (the calibration half's genuine documents measure at most 2.07
// on their fourth side, 3.8 on their third; its swaps up to 10.5). At 2 the
// fourth side fires at half the threshold, 3, a margin of 1.45 over that
// maximum, as the other readings keep about 1.5.
const boundaryFourthWeight = 2

// portraitBoundary looks for the straight steps a pasted rectangle leaves.
// For each side of the portrait, over a band of a quarter of the
// portrait's size around it, the mean absolute difference across the side
// (between neighbouring columns for the left and right sides, rows for the
// top and bottom) is profiled along the band, averaged over the side's
// length. A pasted edge is a line along the whole side where that
// difference jumps in one pixel: its peak stands over the profile two
// pixels away on both sides. A printed frame, as soft as the page's text,
// spreads its step over several pixels. The side's statistic is that
// sharp excess over the band's median difference, less the same step
// where the side would continue past the portrait's corners (a pasted edge
// ends there; a laminate's or a frame's edge of the page runs on: the
// Dutch specimen's laminate measured 9.1 without this), at the position in
// the band where that difference is largest. The statistic is the largest
// of three readings:
//   - the sum over the two strongest sides (a paste has four, a crop of
//     the page through the portrait may have one), over the same step
//     measured on the page's own straight lines beside the portrait: on a
//     digitally made page everything steps in one pixel;
//   - the third strongest side alone. A page's lines run along one or two
//     sides of its portrait (a frame line, a laminate's edge), a pasted
//     rectangle steps along three or four, so a third side stepping is a
//     paste's even where the page's own lines are as sharp (a digital
//     page: the Icelandic specimen's lines measure 19.5, which hid a
//     paste whose three sides measured 8.8 to 11.1);
//   - the weakest of four sides, counted boundaryFourthWeight times: a
//     rectangle that steps all round.
func portraitBoundary(g []byte, w, h int, in image.Rectangle, at image.Point, opts Options) Check {
	type side struct {
		Name   string  `json:"name"`
		At     int     `json:"at"`
		Excess float64 `json:"excess"`
		// Continued is the step's excess on the side's continuation past
		// the portrait, taken off Excess.
		Continued float64 `json:"continued"`
	}
	band := max(4, max(in.Dx(), in.Dy())/4)
	// profile returns, for positions p in [lo, hi), the mean over q in
	// [qlo, qhi) of |g(p,q) - g(p-1,q)|, along columns (vertical sides)
	// or rows.
	profile := func(vertical bool, lo, hi, qlo, qhi int) []float64 {
		out := make([]float64, max(0, hi-lo))
		for p := lo; p < hi; p++ {
			var s float64
			for q := qlo; q < qhi; q++ {
				var a, b int
				if vertical {
					a, b = int(g[q*w+p]), int(g[q*w+p-1])
				} else {
					a, b = int(g[p*w+q]), int(g[(p-1)*w+q])
				}
				s += math.Abs(float64(a - b))
			}
			out[p-lo] = s / float64(max(1, qhi-qlo))
		}
		return out
	}
	// stepsOf is, for each position but the first and last two of a
	// profile, its one-pixel step: the difference there over the larger
	// of those two pixels away.
	stepsOf := func(prof []float64) []float64 {
		out := make([]float64, max(0, len(prof)-4))
		for i := range out {
			out[i] = prof[i+2] - max(prof[i], prof[i+4])
		}
		return out
	}
	// Only the middle of each side: corners mix the two directions.
	qx0, qx1 := max(in.Min.X+in.Dx()/8, 0), min(in.Max.X-in.Dx()/8, w)
	qy0, qy1 := max(in.Min.Y+in.Dy()/8, 0), min(in.Max.Y-in.Dy()/8, h)
	type sideSpec struct {
		name       string
		vertical   bool
		pos, limit int
		qlo, qhi   int
		span       [2]int // the portrait's extent along the side
		qlimit     int
	}
	specs := [4]sideSpec{
		{"left", true, in.Min.X, w, qy0, qy1, [2]int{in.Min.Y, in.Max.Y}, h},
		{"right", true, in.Max.X, w, qy0, qy1, [2]int{in.Min.Y, in.Max.Y}, h},
		{"top", false, in.Min.Y, h, qx0, qx1, [2]int{in.Min.X, in.Max.X}, w},
		{"bottom", false, in.Max.Y, h, qx0, qx1, [2]int{in.Min.X, in.Max.X}, w},
	}
	// measure finds one side's step: the position in the band whose sharp
	// step, less the same step on the side's continuation past the
	// portrait's ends, is the largest (a page's line beside the portrait's
	// edge, which runs on, would otherwise hide a paste's edge that does
	// not: the Canadian page's line 30 pixels out of its portrait).
	measure := func(sp sideSpec) (side, float64, bool) {
		// A side must run along at least a third of the portrait within
		// the page to be measured.
		if sp.qhi-sp.qlo < max(in.Dx(), in.Dy())/3 {
			return side{}, 0, false
		}
		lo, hi := max(sp.pos-band, 3), min(sp.pos+band, sp.limit-3)
		if hi-lo < 8 {
			return side{}, 0, false
		}
		prof := profile(sp.vertical, lo-2, hi+2, sp.qlo, sp.qhi)
		base := max(median(prof), 1)
		step := stepsOf(prof)
		// The continuation at both ends, as far from the portrait as an
		// eighth of its side, a quarter of it long.
		cont := make([]float64, len(step))
		a, b := sp.span[0], sp.span[1]
		gap, seg := (b-a)/8, (b-a)/4
		for _, r := range [2][2]int{{a - gap - seg, a - gap}, {b + gap, b + gap + seg}} {
			r0, r1 := max(r[0], 0), min(r[1], sp.qlimit)
			if r1-r0 < seg/2 {
				continue
			}
			for i, c := range stepsOf(profile(sp.vertical, lo-2, hi+2, r0, r1)) {
				cont[i] = max(cont[i], c)
			}
		}
		best, bestCont, bestAt := -1.0, 0.0, lo
		for i, e := range step {
			if net := e - cont[i]; net > best {
				best, bestCont, bestAt = net, cont[i], lo+i
			}
		}
		ex := max(best, 0) / base
		s := side{Name: sp.name, At: bestAt, Excess: round3(ex), Continued: round3(max(bestCont, 0) / base)}
		return s, ex, true
	}
	var sides []side
	var excesses []float64
	for _, sp := range specs {
		s, ex, ok := measure(sp)
		if !ok {
			continue
		}
		if sp.vertical {
			s.At += at.X
		} else {
			s.At += at.Y
		}
		sides = append(sides, s)
		excesses = append(excesses, ex)
	}
	if len(excesses) < 2 {
		return notApplicable(CheckPortraitBoundary, "fewer than two sides of the portrait on the page")
	}
	slices.Sort(excesses)
	// The page's own straight lines beside the portrait, measured alike:
	// a digitally made page (a specimen, a composite) steps in one pixel
	// everywhere, a photographed one nowhere.
	pageLine := func(vertical bool, limit, qlo, qhi, a, b int) float64 {
		if qhi-qlo < 8 {
			return 0
		}
		prof := profile(vertical, 1, limit, qlo, qhi)
		base := max(median(prof), 1)
		best := 0.0
		for i, s := range stepsOf(prof) {
			// The profile starts at position 1 and stepsOf drops its
			// first two entries.
			if p := i + 3; p >= a-band && p <= b+band {
				continue
			}
			best = max(best, s)
		}
		return best / base
	}
	ref := pageLine(true, w, qy0, qy1, in.Min.X, in.Max.X) +
		pageLine(false, h, qx0, qx1, in.Min.Y, in.Max.Y)
	raw := excesses[len(excesses)-1] + excesses[len(excesses)-2]
	stat := raw / max(ref, 2)
	third, fourth := 0.0, 0.0
	if len(excesses) >= 3 {
		third = excesses[len(excesses)-3]
	}
	if len(excesses) == 4 {
		fourth = excesses[0]
	}
	stat = max(stat, third, fourth*boundaryFourthWeight)
	return Check{
		Name: CheckPortraitBoundary, Applicable: true, Score: ramp(stat, opts.PortraitBoundaryThreshold),
		Evidence: map[string]any{
			"sides":              sides,
			"sides_excess":       round3(raw),
			"third_side_excess":  round3(third),
			"fourth_side_excess": round3(fourth),
			"page_lines_excess":  round3(ref),
			"excess":             round3(stat),
			"threshold":          opts.PortraitBoundaryThreshold,
		},
	}
}

// quantFreqs are the DCT frequencies (u, v) whose quantisation the
// portraitQuant check reads: the low ones, which survive in every save
// and carry coefficients large enough to show their step.
var quantFreqs = [...][2]int{{0, 1}, {1, 0}, {1, 1}, {0, 2}, {2, 0}, {1, 2}, {2, 1}, {2, 2}, {0, 3}, {3, 0}}

// lowDCTBasis[k][y*8+x] is the JPEG (orthonormal) DCT basis of quantFreqs[k].
var lowDCTBasis = func() [len(quantFreqs)][64]float64 {
	var b [len(quantFreqs)][64]float64
	alpha := func(u int) float64 {
		if u == 0 {
			return 1 / math.Sqrt2
		}
		return 1
	}
	for k, f := range quantFreqs {
		u, v := f[0], f[1]
		for y := 0; y < 8; y++ {
			for x := 0; x < 8; x++ {
				b[k][y*8+x] = alpha(u) * alpha(v) / 4 *
					math.Cos(float64(2*x+1)*float64(u)*math.Pi/16) * math.Cos(float64(2*y+1)*float64(v)*math.Pi/16)
			}
		}
	}
	return b
}()

// portraitQuant looks for the page's old JPEG quantisation missing from the
// portrait. A page decoded from a JPEG has DCT coefficients, on the file's
// 8x8 grid, near multiples of that JPEG's quantisation steps, and keeps
// them through a lossless save or a finer JPEG one. A face resized into
// the portrait's frame has coefficients anywhere. The step of each low
// frequency is the largest period the page's coefficients show (the mean
// of cos(2 pi c / q) over them, at least quantPeriodicity); a block's
// compatibility is that mean over its coefficients (those of at least half
// a step: a zero fits any step). The statistic is the page's mean
// compatibility less the portrait's; a genuine page went through the same
// saves as its portrait (near 0). img must be the image as decoded, its
// grid starting at opts.GridOrigin: at is the crop's place in it.
func portraitQuant(g []byte, w, h int, in image.Rectangle, at image.Point, opts Options) Check {
	// Blocks on the image's grid, within the crop.
	x0, y0 := (8-(at.X-opts.GridOrigin.X)&7)&7, (8-(at.Y-opts.GridOrigin.Y)&7)&7
	bw, bh := (w-x0)/8, (h-y0)/8
	if bw < 4 || bh < 4 {
		return notApplicable(CheckPortraitQuant, "portrait or its surroundings too small")
	}
	coef := make([][len(quantFreqs)]float64, bw*bh)
	inside := make([]int8, bw*bh) // 1 inside, -1 outside, 0 neither
	grown := in.Inset(-portraitBlock)
	var px [64]float64
	for by := 0; by < bh; by++ {
		for bx := 0; bx < bw; bx++ {
			r := image.Rect(x0+bx*8, y0+by*8, x0+bx*8+8, y0+by*8+8)
			switch {
			case r.In(in):
				inside[by*bw+bx] = 1
			case !r.Overlaps(grown):
				inside[by*bw+bx] = -1
			default:
				continue
			}
			for y := 0; y < 8; y++ {
				row := (r.Min.Y+y)*w + r.Min.X
				for x := 0; x < 8; x++ {
					px[y*8+x] = float64(g[row+x]) - 128
				}
			}
			for k := range quantFreqs {
				var s float64
				for i := range px {
					s += px[i] * lowDCTBasis[k][i]
				}
				coef[by*bw+bx][k] = s
			}
		}
	}
	// The page's step per frequency, read on at most quantSample of its
	// blocks.
	var pageBlocks []int
	for i, in := range inside {
		if in == -1 {
			pageBlocks = append(pageBlocks, i)
		}
	}
	if stride := len(pageBlocks)/quantSample + 1; stride > 1 {
		sub := pageBlocks[:0]
		for i := 0; i < len(pageBlocks); i += stride {
			sub = append(sub, pageBlocks[i])
		}
		pageBlocks = sub
	}
	var steps [len(quantFreqs)]int
	used := 0
	vals := make([]float64, len(pageBlocks))
	for k := range quantFreqs {
		for j, i := range pageBlocks {
			vals[j] = coef[i][k]
		}
		if q := quantStep(vals); q > 0 {
			steps[k] = q
			used++
		}
	}
	if used < 2 {
		return notApplicable(CheckPortraitQuant, "the page shows no JPEG quantisation")
	}
	compat := make([]float64, bw*bh)
	var sum [2]float64
	var cnt [2]int
	for i, c := range coef {
		if inside[i] == 0 {
			continue
		}
		var s float64
		n := 0
		for k, q := range steps {
			if q == 0 || math.Abs(c[k]) < float64(q)/2 {
				continue
			}
			s += math.Cos(2 * math.Pi * c[k] / float64(q))
			n++
		}
		if n == 0 {
			continue
		}
		compat[i] = s / float64(n)
		side := 0
		if inside[i] == 1 {
			side = 1
		}
		sum[side] += s
		cnt[side] += n
	}
	if cnt[0] < 64 || cnt[1] < 32 {
		return notApplicable(CheckPortraitQuant, "too few coefficients off zero")
	}
	page, portrait := sum[0]/float64(cnt[0]), sum[1]/float64(cnt[1])
	stat := page - portrait
	hm := heatmapOf(compat, bw, bh, at.Add(image.Pt(x0, y0)))
	return Check{
		Name: CheckPortraitQuant, Applicable: true, Score: ramp(stat, opts.PortraitQuantThreshold),
		Evidence: map[string]any{
			"compatibility_page":     round3(page),
			"compatibility_portrait": round3(portrait),
			"excess":                 round3(stat),
			"steps":                  steps[:],
			"threshold":              opts.PortraitQuantThreshold,
			"heatmap":                hm,
		},
	}
}

// quantSample bounds the page blocks the steps are read on.
const quantSample = 2000

// quantStep is the largest step q from 40 down to 3 that the coefficients
// vals show: the mean of cos(2 pi c / q) over those of at least half a
// step is at least quantPeriodicity, over at least 32 of them; 0 if none.
// The means are summed with periodCos, as math.Cos was most of the
// check's cost; a mean within quantMargin of the bound, where periodCos's
// error could tip the decision, is summed again with math.Cos, so the
// step is the one math.Cos gives. (The compatibilities, which are
// reported, keep math.Cos.)
func quantStep(vals []float64) int {
	for q := 40; q >= 3; q-- {
		half := float64(q) / 2
		var s float64
		n := 0
		for _, c := range vals {
			if math.Abs(c) < half {
				continue
			}
			s += periodCos(2 * math.Pi * c / float64(q))
			n++
		}
		if n < 32 {
			continue
		}
		if math.Abs(s/float64(n)-quantPeriodicity) <= quantMargin {
			s = 0
			for _, c := range vals {
				if math.Abs(c) >= half {
					s += math.Cos(2 * math.Pi * c / float64(q))
				}
			}
		}
		if s/float64(n) >= quantPeriodicity {
			return q
		}
	}
	return 0
}

// quantMargin bounds how far periodCos's mean may lie from math.Cos's: 1e-10
// a term, plus the two sums' rounding (n * 2^-53 on the mean, n at most a few
// thousand), far below it.
const quantMargin = 1e-8

// periodCos is cos(x) within 1e-10 for |x| below 1e4 (the coefficients of
// 8-bit blocks keep 2 pi c / q under 5000): x less the nearest multiple
// of 2 pi (an error under 1e-12 there), then the Taylor series to x^20,
// whose remainder on [-pi, pi] is at most pi^22/22! < 8e-11: about a
// third of math.Cos's time here.
func periodCos(x float64) float64 {
	r := x - 2*math.Pi*math.Floor(x*(1/(2*math.Pi))+0.5)
	z := r * r
	return 1 + z*(-1.0/2+z*(1.0/24+z*(-1.0/720+z*(1.0/40320+z*(-1.0/3628800+z*(1.0/479001600+
		z*(-1.0/87178291200+z*(1.0/20922789888000+z*(-1.0/6402373705728000+z*(1.0/2432902008176640000))))))))))
}

// quantPeriodicity is the mean cos(2 pi c / q) above which the page's
// coefficients count as quantised with step q.
const quantPeriodicity = 0.5
