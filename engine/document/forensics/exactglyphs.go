package forensics

import (
	"image"
	"math"
	"slices"
)

// Bit-identical characters on a digitally made page. A page a computer
// drew repeats its characters near exactly, so the cloned-glyph check
// cannot tell a clone from the page's own repeats by how close they are.
// Once such a page has been saved as a JPEG, though (a template or a
// specimen kept as a JPEG), each repeat carries the
// compression's own noise, which depends on where the character sat on the
// 8x8 grid and what shared its blocks: two characters are then never equal
// pixel for pixel, unless the one was copied from the other afterwards. A
// clone saved losslessly (PNG) stays bit for bit its source.
//
// A page whose own repeats are bit-identical too (drawn and kept
// losslessly) shows no such evidence: there the check stays not
// applicable. Once the clone is saved as a JPEG again, it carries new noise
// like everything else, and nothing here tells it apart.

// exactFloor is the least mean absolute grey difference (levels) that a
// page's own near repeats of a character (the low decile of those not
// bit-identical, over their cores) must show for bit-identical pairs to
// count as clones: a page that went through a JPEG save. On the forgery
// benchmark's calibration half the digitally made pages kept as JPEGs
// measure 0.33 (passport-td3.jpg) to 1.85, and its one lossless digital
// page repeats its characters bit for bit (too few pairs differ to read a
// floor); on the report half passport-td2.png, lossless, measures 0.11 and
// passport-td2.jpg 0.87.
const exactFloor = 0.2

// exactMinPairs is the fewest near repeats (not bit-identical) a page must
// show for its floor to be read.
const exactMinPairs = 5

// exactCopies looks, among the candidate pairs of near-identical
// characters, for pairs that are equal pixel for pixel in g (the grey
// image, w by h; see identical), at an offset that is not a multiple of 8 both ways
// (a JPEG's blocks repeat with that period, so a repeat aligned with it
// may be genuine). It returns those pairs, the page's floor (see
// exactFloor) and whether the floor could be read.
func exactCopies(glyphs []glyph, cands []glyphCand, g []byte, w, h int) ([]glyphPair, float64, bool) {
	var exact []glyphPair
	var rest []float64
	for _, c := range cands {
		// The character's core: its box less the pixel of paper around
		// the ink and the ink's outer pixel, which a tight paste may
		// leave out (the threshold then takes the page's own pixels
		// beside it).
		a, b := glyphs[c.a].box.Inset(2), glyphs[c.b].box.Inset(2)
		if a.Empty() || b.Empty() {
			continue
		}
		if a.Size() == b.Size() {
			if mad := boxMAD(g, w, a, b.Min); mad > 0 {
				rest = append(rest, mad)
			}
		}
		if off := b.Min.Sub(a.Min); off.X%8 == 0 && off.Y%8 == 0 {
			continue
		}
		if identical(g, w, h, a, b) {
			exact = append(exact, glyphPair{A: regionOf(glyphs[c.a].box), B: regionOf(glyphs[c.b].box), Diff: round3(c.d)})
		}
	}
	if len(rest) < exactMinPairs {
		return nil, 0, false
	}
	slices.Sort(rest)
	return exact, rest[len(rest)/10], true
}

// identical reports whether the boxes a and b (about one size: the
// threshold may take or leave an edge pixel of a copy) hold the same grey
// levels over their common size, b shifted by up to a pixel each way.
func identical(g []byte, w, h int, a, b image.Rectangle) bool {
	cw, ch := min(a.Dx(), b.Dx()), min(a.Dy(), b.Dy())
	for sy := -1; sy <= 1; sy++ {
	shift:
		for sx := -1; sx <= 1; sx++ {
			bx, by := b.Min.X+sx, b.Min.Y+sy
			if bx < 0 || by < 0 || bx+cw > w || by+ch > h {
				continue
			}
			for y := 0; y < ch; y++ {
				ra, rb := (a.Min.Y+y)*w+a.Min.X, (by+y)*w+bx
				if string(g[ra:ra+cw]) != string(g[rb:rb+cw]) {
					continue shift
				}
			}
			return true
		}
	}
	return false
}

// boxMAD is the mean absolute difference of g's grey levels over a and
// the box of a's size at b.
func boxMAD(g []byte, w int, a image.Rectangle, b image.Point) float64 {
	s := 0
	for y := 0; y < a.Dy(); y++ {
		ra, rb := (a.Min.Y+y)*w+a.Min.X, (b.Y+y)*w+b.X
		for x, v := range g[ra : ra+a.Dx()] {
			d := int(v) - int(g[rb+x])
			s += (d ^ (d >> 31)) - (d >> 31)
		}
	}
	return float64(s) / math.Max(float64(a.Dx()*a.Dy()), 1)
}
