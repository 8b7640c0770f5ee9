package forensics

import (
	"context"
	"fmt"
	"image"
	"maps"
	"math"
	"slices"

	"gocv.io/x/gocv"
)

// CheckClonedGlyphs is the name of the cloned-character check.
const CheckClonedGlyphs = "cloned_glyphs"

// CheckIdenticalGlyphs is the name AnalyzeGlyphs gives its check on a page
// drawn by a computer and saved as a JPEG since (see exactCopies): bit-
// identical characters. Review only (ReviewOnly): it was measured on the
// few digital pages of the forgery benchmark.
const CheckIdenticalGlyphs = "identical_glyphs"

// Glyph cloning: a field edited by copying characters from elsewhere on
// the same page (a date's digits, a check digit of the MRZ) leaves two
// characters that are the same pixels. Printed and photographed or
// scanned characters never repeat exactly: the paper's fibres, the ink's
// spread and the sensor's noise differ from one to the next, and so do
// the positions of the characters on the pixel grid. Copy-move on
// keypoints needs blocks far larger than a character; this compares the
// characters themselves.
//
// Characters are the dark connected components of the text lines
// (Otsu's threshold within each line), of a text's size. Two characters
// whose boxes have about the same size are compared pixel by pixel in
// grey, smoothed a little: their difference is the mean absolute
// difference over the box, divided by the box's contrast (the 90th less
// the 10th percentile of its grey levels). A clone measures near 0 (as
// made, or a few grey levels through a JPEG save); genuine repeats of one
// character differ along their edges.

// glyph is one character candidate.
type glyph struct {
	box      image.Rectangle // in the grey image
	contrast float64
	line     int
	// soft is the box grown by a pixel, smoothed by a 3x3 binomial
	// within it alone (a copy of the box smooths to the same values
	// wherever it was pasted): a JPEG save puts its own noise on each
	// copy, at its own phase of the JPEG grid, which the smoothing evens
	// out, while genuine repeats differ in where their edges fall.
	soft []int32
}

// glyphPair is a near-identical pair.
type glyphPair struct {
	A    Region  `json:"a"`
	B    Region  `json:"b"`
	Diff float64 `json:"diff"`
}

// AnalyzeGlyphs looks for cloned characters in img within lines (text line
// boxes in img's coordinates, as the OCR found them; empty means the whole
// image as one region). img is the photo as decoded, ideally: a rectified
// copy resamples each clone at its own sub-pixel phase. It returns the
// check with the near-identical pairs as evidence: cloned_glyphs, or on a
// page drawn by a computer and saved as a JPEG since, identical_glyphs
// (see exactCopies). img is not modified.
// Characters are read upright: when img's text does not run across it
// (opts.TextTurn), img is turned, losslessly, and the evidence turned back.
func AnalyzeGlyphs(ctx context.Context, img gocv.Mat, lines []image.Rectangle, opts Options) (Check, error) {
	o := map[int]int{90: 6, 180: 3, 270: 8}[opts.TextTurn]
	if o == 0 {
		return analyzeGlyphs(ctx, img, lines, opts)
	}
	w, h := img.Cols(), img.Rows()
	turned := gocv.NewMat()
	defer turned.Close()
	gocv.Rotate(img, &turned, map[int]gocv.RotateFlag{6: gocv.Rotate90Clockwise, 3: gocv.Rotate180Clockwise, 8: gocv.Rotate90CounterClockwise}[o])
	upright := make([]image.Rectangle, len(lines))
	for i, l := range lines {
		upright[i] = orientRect(o, l.Intersect(image.Rect(0, 0, w, h)), w, h)
	}
	c, err := analyzeGlyphs(ctx, turned, upright, opts)
	if err != nil {
		return c, err
	}
	back := func(r Region) Region {
		return regionOf(orientRect(inverseOrientation(o), image.Rect(r.X, r.Y, r.X+r.W, r.Y+r.H), turned.Cols(), turned.Rows()))
	}
	if pairs, ok := c.Evidence["pairs"].([]glyphPair); ok {
		for i := range pairs {
			pairs[i].A, pairs[i].B = back(pairs[i].A), back(pairs[i].B)
		}
	}
	return c, nil
}

func analyzeGlyphs(ctx context.Context, img gocv.Mat, lines []image.Rectangle, opts Options) (Check, error) {
	opts = opts.withDefaults()
	if img.Empty() {
		return Check{}, fmt.Errorf("forensics: %w: empty image", ErrTooSmall)
	}
	grey := gocv.NewMat()
	defer grey.Close()
	if img.Channels() == 3 {
		gocv.CvtColor(img, &grey, gocv.ColorBGRToGray)
	} else {
		img.CopyTo(&grey)
	}
	w, h := grey.Cols(), grey.Rows()
	full := image.Rect(0, 0, w, h)
	if len(lines) == 0 {
		lines = []image.Rectangle{full}
	}
	g := pixels(grey)
	var glyphs []glyph
	for li, l := range lines {
		l = l.Inset(-2).Intersect(full)
		if l.Dx() < 8 || l.Dy() < 6 {
			continue
		}
		glyphs = append(glyphs, lineGlyphs(grey, g, w, l, li, len(lines) == 1 && l == full)...)
		if len(glyphs) > opts.GlyphMax {
			glyphs = glyphs[:opts.GlyphMax]
			break
		}
	}
	if err := ctx.Err(); err != nil {
		return Check{}, fmt.Errorf("forensics: %w", err)
	}
	if len(glyphs) < 2 {
		return notApplicable(CheckClonedGlyphs, "no characters found"), nil
	}
	// Boxes of about one size (a pixel either way: the threshold may take
	// or leave an edge pixel of a copy after a JPEG save), aligned by the
	// best shift of up to a pixel.
	bySize := map[image.Point][]int{}
	for i, gl := range glyphs {
		bySize[gl.box.Size()] = append(bySize[gl.box.Size()], i)
	}
	var cands []glyphCand
	nearest := make([]float64, len(glyphs))
	partner := make([]int, len(glyphs)) // the nearest match's index
	for i := range nearest {
		nearest[i] = math.Inf(1)
	}
	compared := 0
	minDiff := math.Inf(1)
	for i, ga := range glyphs {
		sz := ga.box.Size()
		for dy := 0; dy <= 1; dy++ {
			for dx := -1; dx <= 1; dx++ {
				if dy == 0 && dx < 0 {
					continue
				}
				for _, j := range bySize[sz.Add(image.Pt(dx, dy))] {
					if dx == 0 && dy == 0 && j <= i {
						continue
					}
					gb := glyphs[j]
					if ga.box.Overlaps(gb.box) {
						continue
					}
					compared++
					d := alignedDiff(ga, gb) / max(min(ga.contrast, gb.contrast), 1)
					minDiff = min(minDiff, d)
					if d < nearest[i] {
						nearest[i], partner[i] = d, j
					}
					if d < nearest[j] {
						nearest[j], partner[j] = d, i
					}
					if d <= opts.GlyphCloneDiff {
						cands = append(cands, glyphCand{i, j, d})
					}
				}
			}
		}
	}
	// The page's own repeats: the closest genuine repeats of a character
	// on this page (a low quantile of each character's nearest match). A
	// clone must stand well below them: on a page whose characters are
	// all near copies (a digitally drawn one), none does.
	var near []float64
	for _, d := range nearest {
		if !math.IsInf(d, 1) {
			near = append(near, d)
		}
	}
	baseline := quantile(near, 0.1)
	if baseline < opts.GlyphDigitalRepeats {
		return digitalPage(glyphs, cands, g, w, opts, map[string]any{"page_repeats": round3(baseline)}), nil
	}
	var pairs []glyphPair
	rawBaseline := -1.0 // measured when first needed
	for _, c := range cands {
		// Small characters repeat too closely in print to tell a copy.
		if glyphs[c.a].box.Dy()-2 < opts.GlyphMinHeight {
			continue
		}
		if c.d > opts.GlyphCloneRatio*baseline {
			continue
		}
		// A copy carries the noise of its source: unsmoothed it still
		// differs from it by little more than a JPEG save's rounding.
		// Two repeats of a character the camera caught at one sub-pixel
		// phase (a page drawn by a computer, held before a webcam) may
		// smooth as close as a copy, but each has its own sensor noise.
		if rawBaseline < 0 {
			rawBaseline = rawRepeats(glyphs, nearest, partner, g, w)
		}
		raw := rawDiff(glyphs[c.a], glyphs[c.b], g, w) / max(min(glyphs[c.a].contrast, glyphs[c.b].contrast), 1)
		if raw > opts.GlyphNoiseRatio*rawBaseline {
			continue
		}
		pairs = append(pairs, glyphPair{A: regionOf(glyphs[c.a].box), B: regionOf(glyphs[c.b].box), Diff: round3(c.d)})
	}
	slices.SortFunc(pairs, func(a, b glyphPair) int {
		switch {
		case a.Diff < b.Diff:
			return -1
		case a.Diff > b.Diff:
			return 1
		}
		return 0
	})
	if len(pairs) > opts.GlyphDigitalPairs {
		// Characters drawn by a computer at whole-pixel positions repeat
		// exactly all over the page: a digitally made page (a specimen, a
		// template), on which a clone cannot be told from the rest.
		return digitalPage(glyphs, cands, g, w, opts, map[string]any{"clone_pairs": len(pairs)}), nil
	}
	n := float64(len(pairs))
	ev := map[string]any{
		"glyphs":         len(glyphs),
		"pairs_compared": compared,
		"clone_pairs":    len(pairs),
		"threshold":      opts.GlyphCloneThreshold,
		"max_diff":       opts.GlyphCloneDiff,
		"page_repeats":   round3(baseline),
	}
	if rawBaseline >= 0 {
		ev["page_raw_repeats"] = round3(rawBaseline)
	}
	if !math.IsInf(minDiff, 1) {
		ev["min_diff"] = round3(minDiff)
	}
	if len(pairs) > 8 {
		pairs = pairs[:8]
	}
	ev["pairs"] = pairs
	return Check{Name: CheckClonedGlyphs, Applicable: true, Score: ramp(n, opts.GlyphCloneThreshold), Evidence: ev}, nil
}

// glyphCand is a pair of near-identical characters (indices into the
// glyphs) and their smoothed difference.
type glyphCand struct {
	a, b int
	d    float64
}

// digitalPage judges a page that repeats its characters near exactly
// (drawn by a computer), on which cloned_glyphs cannot tell a clone, by
// its bit-identical pairs (exactCopies, the check identical_glyphs): when
// the page's own repeats are bit-identical too, it returns cloned_glyphs
// not applicable. ev is the evidence that found the page digitally made.
func digitalPage(glyphs []glyph, cands []glyphCand, g []byte, w int, opts Options, ev map[string]any) Check {
	ev["glyphs"] = len(glyphs)
	exact, floor, ok := exactCopies(glyphs, cands, g, w, len(g)/w)
	if ok {
		ev["page_floor"] = round3(floor)
	}
	if !ok || floor < exactFloor {
		c := notApplicable(CheckClonedGlyphs, "the page repeats its characters exactly: digitally made")
		maps.Copy(c.Evidence, ev)
		return c
	}
	ev["identical_pairs"] = len(exact)
	ev["threshold"] = opts.GlyphCloneThreshold
	ev["floor_min"] = exactFloor
	if len(exact) > 8 {
		exact = exact[:8]
	}
	ev["pairs"] = exact
	return Check{Name: CheckIdenticalGlyphs, Applicable: true, Score: ramp(float64(len(exact)), opts.GlyphCloneThreshold), Evidence: ev}
}

// lineGlyphs finds the character candidates of one line box l.
func lineGlyphs(grey gocv.Mat, g []byte, w int, l image.Rectangle, line int, page bool) []glyph {
	sub := grey.Region(l)
	defer sub.Close()
	bin := gocv.NewMat()
	defer bin.Close()
	if page {
		// No line boxes: a local threshold, as the page's background
		// changes across it.
		gocv.AdaptiveThreshold(sub, &bin, 255, gocv.AdaptiveThresholdMean, gocv.ThresholdBinaryInv, 25, 15)
	} else {
		gocv.Threshold(sub, &bin, 0, 255, gocv.ThresholdBinaryInv|gocv.ThresholdOtsu)
	}
	labels, stats, cents := gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
	defer labels.Close()
	defer stats.Close()
	defer cents.Close()
	n := gocv.ConnectedComponentsWithStats(bin, &labels, &stats, &cents)
	// A character is at most the line's height and at least a third of
	// it (page mode: between 7 and 60 pixels high).
	minH, maxH := max(7, l.Dy()/3), l.Dy()
	if page {
		minH, maxH = 7, 60
	}
	var out []glyph
	for i := 1; i < n; i++ {
		x, y := int(stats.GetIntAt(i, 0)), int(stats.GetIntAt(i, 1))
		bw, bh, area := int(stats.GetIntAt(i, 2)), int(stats.GetIntAt(i, 3)), int(stats.GetIntAt(i, 4))
		if bh < minH || bh > maxH || bw < 3 || bw > bh*2 || area < 12 || area*10 > bw*bh*9 {
			continue
		}
		box := image.Rect(x-1, y-1, x+bw+1, y+bh+1).Add(l.Min).Intersect(l)
		c := boxContrast(g, w, box)
		if c < 40 {
			continue // faint: background pattern rather than print
		}
		out = append(out, glyph{box: box, contrast: c, line: line, soft: smoothBox(g, w, grey.Rows(), box)})
	}
	return out
}

// boxContrast is the 90th less the 10th percentile of the grey levels in r.
func boxContrast(g []byte, w int, r image.Rectangle) float64 {
	var hist [256]int
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			hist[g[y*w+x]]++
			n++
		}
	}
	at := func(q float64) int {
		c := 0
		for v, k := range hist {
			c += k
			if float64(c) >= q*float64(n) {
				return v
			}
		}
		return 255
	}
	return float64(at(0.9) - at(0.1))
}

// alignedDiff is the least mean absolute difference between the smoothed
// boxes of a and b over their common size, b shifted by up to a pixel
// each way (the unshifted alignment first; a shift stops once it is worse
// than the best so far).
func alignedDiff(a, b glyph) float64 {
	aw := a.box.Dx() + 2
	bw := b.box.Dx() + 2
	cw, ch := min(a.box.Dx(), b.box.Dx()), min(a.box.Dy(), b.box.Dy())
	best := int32(math.MaxInt32)
	for k := 0; k < 9; k++ {
		sx, sy := (k+1)%3, ((k/3)+1)%3 // (1,1) first
		if sx+cw > bw || sy+ch > b.box.Dy()+2 {
			continue
		}
		var s int32
		for y := 0; y < ch && s < best; y++ {
			ra, rb := (y+1)*aw+1, (y+sy)*bw+sx
			pa, pb := a.soft[ra:ra+cw], b.soft[rb:rb+cw]
			for x, v := range pa {
				d := v - pb[x]
				s += (d ^ (d >> 31)) - (d >> 31)
			}
		}
		best = min(best, s)
	}
	return float64(best) / softScale / float64(cw*ch)
}

// rawRepeats is the page's closest repeats unsmoothed: the 10th
// percentile, over the characters, of the raw difference (rawDiff) from
// the match nearest once smoothed.
func rawRepeats(glyphs []glyph, nearest []float64, partner []int, g []byte, w int) float64 {
	var raw []float64
	for i, d := range nearest {
		if math.IsInf(d, 1) {
			continue
		}
		a, b := glyphs[i], glyphs[partner[i]]
		raw = append(raw, rawDiff(a, b, g, w)/max(min(a.contrast, b.contrast), 1))
	}
	return quantile(raw, 0.1)
}

// rawDiff is the least mean absolute difference of the grey levels of a
// and b as found (not smoothed) over their common size, b shifted by up
// to a pixel each way within the image.
func rawDiff(a, b glyph, g []byte, w int) float64 {
	h := len(g) / w
	cw, ch := min(a.box.Dx(), b.box.Dx()), min(a.box.Dy(), b.box.Dy())
	best := math.MaxInt
	for k := 0; k < 9; k++ {
		sx, sy := k%3-1, k/3-1
		x0, y0 := b.box.Min.X+sx, b.box.Min.Y+sy
		if x0 < 0 || y0 < 0 || x0+cw > w || y0+ch > h {
			continue
		}
		s := 0
		for y := 0; y < ch && s < best; y++ {
			pa := g[(a.box.Min.Y+y)*w+a.box.Min.X:][:cw]
			pb := g[(y0+y)*w+x0:][:cw]
			for x, v := range pa {
				s += absInt(int(v) - int(pb[x]))
			}
		}
		best = min(best, s)
	}
	if best == math.MaxInt {
		return math.Inf(1)
	}
	return float64(best) / float64(cw*ch)
}

// softScale is the fixed-point scale of the smoothed boxes.
const softScale = 16

// smoothBox is r grown by a pixel (clamped to the image), smoothed by a
// 3x3 binomial kernel within it, edge pixels repeated.
func smoothBox(g []byte, w, h int, r image.Rectangle) []int32 {
	pw, ph := r.Dx()+2, r.Dy()+2
	at := func(x, y int) float32 {
		x = min(max(x, 0), pw-1)
		y = min(max(y, 0), ph-1)
		gx := min(max(r.Min.X-1+x, 0), w-1)
		gy := min(max(r.Min.Y-1+y, 0), h-1)
		return float32(g[gy*w+gx])
	}
	tmp := make([]float32, pw*ph)
	for y := 0; y < ph; y++ {
		for x := 0; x < pw; x++ {
			tmp[y*pw+x] = (at(x-1, y) + 2*at(x, y) + at(x+1, y)) / 4
		}
	}
	out := make([]int32, pw*ph)
	for y := 0; y < ph; y++ {
		for x := 0; x < pw; x++ {
			up, down := tmp[max(y-1, 0)*pw+x], tmp[min(y+1, ph-1)*pw+x]
			out[y*pw+x] = int32(math.Round(float64((up + 2*tmp[y*pw+x] + down) / 4 * softScale)))
		}
	}
	return out
}
