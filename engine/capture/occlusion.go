package capture

import (
	"errors"
	"math"
	"sort"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/document/locate"
)

// Occlusion: a document's outline is an edge all the way round, its card
// on one side and the desk or hand holding it on the other. A finger over
// the edge covers both sides with the same skin, so the edge vanishes
// there, and what lies just inside is no longer the card's rim. A stretch
// of outline where the edge is missing but the inside still looks like
// the rim is only a background that matches the card, not an obstruction.
//
// The measure is the visible share of the outline, not of the area: the
// seed's "95% of the document visible" is applied to the outline, where
// fingers holding a card actually sit. An object over the middle of the
// document that does not reach its edge is not seen.
const (
	outlineSamples  = 48   // per side
	outlineCorner   = 0.06 // of a side's length, left out at each corner
	outlineOffset   = 0.02 // sampling distance from the outline, of the document's shorter side
	outlineContrast = 24   // grey levels (largest channel difference) that make an edge
	rimTolerance    = 40   // colour distance within which the inside still looks like the rim
	patchRadius     = 2
)

type sample struct {
	in, out [3]float64
}

// outlineVisible returns the share of the quad's outline not covered.
func outlineVisible(img gocv.Mat, q locate.Quad) (float64, error) {
	if img.Type() != gocv.MatTypeCV8UC3 {
		return 0, errors.New("measuring occlusion: want an 8-bit BGR frame")
	}
	if !img.IsContinuous() {
		img = img.Clone()
		defer img.Close()
	}
	data, err := img.DataPtrUint8()
	if err != nil {
		return 0, err
	}
	w, h := img.Cols(), img.Rows()
	short := math.Min(math.Min(dist(q[0], q[1]), dist(q[2], q[3])), math.Min(dist(q[1], q[2]), dist(q[3], q[0])))
	off := math.Max(3, outlineOffset*short)
	patch := func(x, y float64) ([3]float64, bool) {
		cx, cy := int(math.Round(x)), int(math.Round(y))
		if cx-patchRadius < 0 || cy-patchRadius < 0 || cx+patchRadius >= w || cy+patchRadius >= h {
			return [3]float64{}, false
		}
		var s [3]float64
		for yy := cy - patchRadius; yy <= cy+patchRadius; yy++ {
			row := data[(yy*w+cx-patchRadius)*3:]
			for k := 0; k < 2*patchRadius+1; k++ {
				s[0] += float64(row[3*k])
				s[1] += float64(row[3*k+1])
				s[2] += float64(row[3*k+2])
			}
		}
		n := float64((2*patchRadius + 1) * (2*patchRadius + 1))
		return [3]float64{s[0] / n, s[1] / n, s[2] / n}, true
	}
	var samples []sample
	for i := 0; i < 4; i++ {
		a, b := q[i], q[(i+1)%4]
		l := dist(a, b)
		if l == 0 {
			continue
		}
		// Corners run clockwise in image coordinates, so (dy, -dx) points out.
		nx, ny := (b.Y-a.Y)/l, -(b.X-a.X)/l
		for k := 0; k < outlineSamples; k++ {
			t := outlineCorner + (1-2*outlineCorner)*(float64(k)+0.5)/outlineSamples
			x, y := a.X+(b.X-a.X)*t, a.Y+(b.Y-a.Y)*t
			in, ok1 := patch(x-nx*off, y-ny*off)
			out, ok2 := patch(x+nx*off, y+ny*off)
			if ok1 && ok2 {
				samples = append(samples, sample{in, out})
			}
		}
	}
	if len(samples) == 0 {
		return 0, nil
	}
	rim := medianColour(samples)
	covered := make([]bool, len(samples))
	for i, s := range samples {
		covered[i] = colourDist(s.in, s.out) < outlineContrast && colourDist(s.in, rim) > rimTolerance
	}
	// A lone covered sample is noise (a speck, a printed line at the rim).
	n := 0
	for i := range covered {
		prev, next := covered[(i+len(covered)-1)%len(covered)], covered[(i+1)%len(covered)]
		if covered[i] && (prev || next) {
			n++
		}
	}
	return 1 - float64(n)/float64(len(samples)), nil
}

func dist(a, b locate.Point) float64 { return math.Hypot(a.X-b.X, a.Y-b.Y) }

// colourDist is the largest channel difference.
func colourDist(a, b [3]float64) float64 {
	return math.Max(math.Abs(a[0]-b[0]), math.Max(math.Abs(a[1]-b[1]), math.Abs(a[2]-b[2])))
}

func medianColour(s []sample) [3]float64 {
	var m [3]float64
	v := make([]float64, len(s))
	for c := 0; c < 3; c++ {
		for i := range s {
			v[i] = s[i].in[c]
		}
		sort.Float64s(v)
		m[c] = v[len(v)/2]
	}
	return m
}
