package mrzread

import (
	"math"
	"testing"

	"github.com/openkyc/kyc/engine/ocr"
)

// box is a detector quad of the given corners' y at x0 and x1 (top edge)
// and height h: a piece of text tilted by the slope of its top edge.
func box(x0, y0, x1, y1, h float64) ocr.Quad {
	return ocr.Quad{{X: x0, Y: y0}, {X: x1, Y: y1}, {X: x1, Y: y1 + h}, {X: x0, Y: y0 + h}}
}

// TestBandCandidates is a two-line zone as the detector saw one in a
// photo (62_pass-aus): the name line's text without its run of fillers
// (aspect 9.5), and the data line in two pieces far apart, tilted opposite
// ways. The band gives one candidate per line, each across the zone.
func TestBandCandidates(t *testing.T) {
	boxes := []ocr.Quad{
		box(65, 74, 336, 66.5, 28),     // "P<AUSCITIZEN<<JANE"
		box(65, 130, 497, 119, 30),     // "PA09404097AUS8406077F1"
		box(722, 130, 1007, 134.6, 23), // "34P<<<<08"
	}
	extent := [2]float64{63, 1037}
	cands := lineCandidates(boxes, extent)
	if len(cands) != 2 {
		t.Fatalf("%d candidates, want 2: %v", len(cands), cands)
	}
	for i, want := range []float64{88, 138} { // the lines' centres
		c := cands[i]
		if y := c.Center().Y; math.Abs(y-want) > 8 {
			t.Errorf("line %d centred at y=%.1f, want about %.0f", i+1, y, want)
		}
		if c.Width() < 0.95*(extent[1]-extent[0]) {
			t.Errorf("line %d is %.0f wide, want the zone's %.0f", i+1, c.Width(), extent[1]-extent[0])
		}
		// Both along the zone's direction: the data line's, not the short
		// name piece's own tilt.
		if d := math.Abs((c[1].Y - c[0].Y) - (cands[1][1].Y - cands[1][0].Y)); d > 1 {
			t.Errorf("line %d tilts %.1f pixels apart from the data line", i+1, d)
		}
	}
	// Outside a band the same pieces stay apart, and the short one is no
	// line: a page's other text must not be joined across the page.
	if got := lineCandidates(boxes, [2]float64{}); len(got) != 2 {
		t.Errorf("outside a band: %d candidates, want the two data-line pieces", len(got))
	}
}
