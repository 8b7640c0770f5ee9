package ocr

import (
	"cmp"
	"image"
	"math"
	"slices"
)

// Point is a position in image pixels.
type Point struct{ X, Y float64 }

// Quad is a text box: its four corners in reading order (top-left,
// top-right, bottom-right, bottom-left of the text), which need not be
// axis-aligned.
type Quad [4]Point

// Width is the longer of the top and bottom edges.
func (q Quad) Width() float64 { return max(dist(q[0], q[1]), dist(q[3], q[2])) }

// Height is the longer of the left and right edges.
func (q Quad) Height() float64 { return max(dist(q[0], q[3]), dist(q[1], q[2])) }

// Center is the mean of the corners.
func (q Quad) Center() Point {
	var c Point
	for _, p := range q {
		c.X += p.X / 4
		c.Y += p.Y / 4
	}
	return c
}

// Contains reports whether p lies inside the quad (or on its edge); the
// quad must be convex, as text boxes are, in either winding.
func (q Quad) Contains(p Point) bool {
	var pos, neg bool
	for i := range q {
		a, b := q[i], q[(i+1)%4]
		switch c := (b.X-a.X)*(p.Y-a.Y) - (b.Y-a.Y)*(p.X-a.X); {
		case c > 0:
			pos = true
		case c < 0:
			neg = true
		}
	}
	return !(pos && neg)
}

// Bounds is the smallest integer rectangle holding the quad.
func (q Quad) Bounds() image.Rectangle {
	x0, y0, x1, y1 := q[0].X, q[0].Y, q[0].X, q[0].Y
	for _, p := range q[1:] {
		x0, y0, x1, y1 = min(x0, p.X), min(y0, p.Y), max(x1, p.X), max(y1, p.Y)
	}
	return image.Rect(int(math.Floor(x0)), int(math.Floor(y0)), int(math.Ceil(x1)), int(math.Ceil(y1)))
}

func dist(a, b Point) float64 { return math.Hypot(a.X-b.X, a.Y-b.Y) }

// rotRect is a rotated rectangle: centre, side lengths and the unit vector
// of the side of length w.
type rotRect struct {
	c      Point
	w, h   float64
	ux, uy float64
}

// corners returns the rectangle's corners ordered for reading: the longer
// side is taken as the text direction unless the box is nearly square, in
// which case the more horizontal side is.
func (r rotRect) corners() Quad {
	ux, uy, w, h := r.ux, r.uy, r.w, r.h
	// Text runs along the more horizontal side: DB boxes are lines of text,
	// and a steep line is rarer than a short word.
	if math.Abs(uy) > math.Abs(ux) {
		ux, uy, w, h = -uy, ux, h, w
	}
	if ux < 0 {
		ux, uy = -ux, -uy
	}
	vx, vy := -uy, ux // points down the page
	hw, hh := w/2, h/2
	return Quad{
		{r.c.X - ux*hw - vx*hh, r.c.Y - uy*hw - vy*hh},
		{r.c.X + ux*hw - vx*hh, r.c.Y + uy*hw - vy*hh},
		{r.c.X + ux*hw + vx*hh, r.c.Y + uy*hw + vy*hh},
		{r.c.X - ux*hw + vx*hh, r.c.Y - uy*hw + vy*hh},
	}
}

// contains reports whether p lies inside the rectangle.
func (r rotRect) contains(p Point) bool {
	dx, dy := p.X-r.c.X, p.Y-r.c.Y
	a := dx*r.ux + dy*r.uy
	b := -dx*r.uy + dy*r.ux
	return math.Abs(a) <= r.w/2 && math.Abs(b) <= r.h/2
}

// minAreaRect is the rotated rectangle of least area holding pts, found with
// rotating calipers over the convex hull. It is done here rather than with
// OpenCV because gocv truncates the corners to whole pixels, which costs
// a pixel and more once the detector's map is scaled back to the image.
func minAreaRect(pts []image.Point) rotRect {
	hull := convexHull(pts)
	switch len(hull) {
	case 0:
		return rotRect{ux: 1}
	case 1:
		return rotRect{c: hull[0], ux: 1}
	}
	best := rotRect{}
	bestArea := math.Inf(1)
	for i := range hull {
		a, b := hull[i], hull[(i+1)%len(hull)]
		l := dist(a, b)
		if l == 0 {
			continue
		}
		ux, uy := (b.X-a.X)/l, (b.Y-a.Y)/l
		minU, maxU, minV, maxV := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
		for _, p := range hull {
			u := p.X*ux + p.Y*uy
			v := -p.X*uy + p.Y*ux
			minU, maxU, minV, maxV = min(minU, u), max(maxU, u), min(minV, v), max(maxV, v)
		}
		if area := (maxU - minU) * (maxV - minV); area < bestArea {
			bestArea = area
			cu, cv := (minU+maxU)/2, (minV+maxV)/2
			best = rotRect{
				c:  Point{cu*ux - cv*uy, cu*uy + cv*ux},
				w:  maxU - minU,
				h:  maxV - minV,
				ux: ux, uy: uy,
			}
		}
	}
	return best
}

// convexHull is Andrew's monotone chain; the hull is counter-clockwise in
// image coordinates without repeated points.
func convexHull(in []image.Point) []Point {
	pts := make([]Point, len(in))
	for i, p := range in {
		pts[i] = Point{float64(p.X), float64(p.Y)}
	}
	slices.SortFunc(pts, func(a, b Point) int {
		if a.X != b.X {
			return cmp.Compare(a.X, b.X)
		}
		return cmp.Compare(a.Y, b.Y)
	})
	pts = slices.Compact(pts)
	if len(pts) < 3 {
		return pts
	}
	cross := func(o, a, b Point) float64 { return (a.X-o.X)*(b.Y-o.Y) - (a.Y-o.Y)*(b.X-o.X) }
	hull := make([]Point, 0, 2*len(pts))
	for _, p := range pts {
		for len(hull) >= 2 && cross(hull[len(hull)-2], hull[len(hull)-1], p) <= 0 {
			hull = hull[:len(hull)-1]
		}
		hull = append(hull, p)
	}
	lower := len(hull) + 1
	for i := len(pts) - 2; i >= 0; i-- {
		p := pts[i]
		for len(hull) >= lower && cross(hull[len(hull)-2], hull[len(hull)-1], p) <= 0 {
			hull = hull[:len(hull)-1]
		}
		hull = append(hull, p)
	}
	return hull[:len(hull)-1]
}

// sortReadingOrder orders boxes top to bottom, and left to right within a
// row: boxes whose tops differ by less than half the smaller box height are
// taken as one row.
func sortReadingOrder(qs []Quad) {
	slices.SortStableFunc(qs, func(a, b Quad) int {
		if c := cmp.Compare(a[0].Y, b[0].Y); c != 0 {
			return c
		}
		return cmp.Compare(a[0].X, b[0].X)
	})
	// One bubble pass per box, as rows are short: swap neighbours that sit on
	// the same row but in the wrong horizontal order.
	for i := 1; i < len(qs); i++ {
		for j := i; j > 0; j-- {
			a, b := qs[j-1], qs[j]
			tol := min(a.Height(), b.Height()) / 2
			if math.Abs(b[0].Y-a[0].Y) < tol && b[0].X < a[0].X {
				qs[j-1], qs[j] = b, a
				continue
			}
			break
		}
	}
}
