package locate

import (
	"math"
	"sort"

	"gocv.io/x/gocv"
)

// refine moves each side of a quad found on the reduced image onto the
// strongest colour edge near it in the full-resolution image, then
// intersects the refitted sides. The search on the reduced image is off by
// up to a few of its pixels (its morphology and the reduction itself),
// which at full size is a percent of the frame: enough to cut the edge of
// a field off the rectified card.
func refine(img gocv.Mat, q Quad, radius float64) Quad {
	// The pixels are read as one array: a region of a larger image (its
	// rows apart in memory) is copied first, else it went unrefined.
	if !img.IsContinuous() {
		c := img.Clone()
		defer c.Close()
		img = c
	}
	w, h := img.Cols(), img.Rows()
	pix, err := img.DataPtrUint8()
	if err != nil || len(pix) < w*h*3 {
		return q
	}
	var lines [4]line
	for i := 0; i < 4; i++ {
		a, b := q[i], q[(i+1)%4]
		l, ok := fitSide(pix, w, h, a, b, radius)
		if !ok {
			return q
		}
		lines[i] = l
	}
	var out Quad
	for i := 0; i < 4; i++ {
		// Corner i joins side i-1 (ending at it) and side i (starting at it).
		x, y, ok := intersect(lines[(i+3)%4], lines[i])
		if !ok || math.Hypot(x-q[i].X, y-q[i].Y) > 2*radius {
			return q
		}
		out[i] = Point{x, y}
	}
	return out
}

// fitSide samples the side a->b, finds the strongest step across it within
// radius pixels at each sample, and fits a line to those edge points,
// dropping outliers (a finger, a glare spot) once.
func fitSide(pix []byte, w, h int, a, b Point, radius float64) (line, bool) {
	dx, dy := b.X-a.X, b.Y-a.Y
	length := math.Hypot(dx, dy)
	if length < 8 {
		return line{}, false
	}
	ux, uy := dx/length, dy/length
	nx, ny := -uy, ux
	const samples = 48
	steps := int(math.Ceil(radius))
	var xs, ys []float64
	profile := make([]float64, 2*steps+1)
	for k := 0; k < samples; k++ {
		// Stay clear of the corners, which are often rounded.
		t := 0.1 + 0.8*(float64(k)+0.5)/samples
		cx, cy := a.X+dx*t, a.Y+dy*t
		ok := true
		for j := -steps; j <= steps; j++ {
			x, y := int(math.Round(cx+nx*float64(j))), int(math.Round(cy+ny*float64(j)))
			if x < 0 || y < 0 || x >= w || y >= h {
				ok = false
				break
			}
			o := (y*w + x) * 3
			profile[j+steps] = float64(pix[o]) + float64(pix[o+1]) + float64(pix[o+2])
		}
		if !ok {
			continue
		}
		// The outermost strong step, not the strongest: printed cards have
		// a band or frame just inside their rim whose edge can outshine the
		// card's own against a busy desk. The normal points inwards (the
		// quad runs clockwise), so the profile starts outside.
		best := 0.0
		for j := 1; j < len(profile)-1; j++ {
			best = math.Max(best, math.Abs(profile[j+1]-profile[j-1]))
		}
		if best < 30 { // no edge worth the name here (3 channels, about 5 grey levels each)
			continue
		}
		bestJ := 0
		for j := 1; j < len(profile)-1; j++ {
			if d := math.Abs(profile[j+1] - profile[j-1]); d >= 0.5*best {
				// Climb to the local peak of this step.
				for j+2 < len(profile) && math.Abs(profile[j+2]-profile[j]) > d {
					j++
					d = math.Abs(profile[j+1] - profile[j-1])
				}
				bestJ = j
				break
			}
		}
		off := float64(bestJ - steps)
		xs = append(xs, cx+nx*off)
		ys = append(ys, cy+ny*off)
	}
	if len(xs) < samples/3 {
		return line{}, false
	}
	l := fitLine(xs, ys)
	// One round of outlier rejection: keep points within 1.5 px of the
	// median distance band.
	d := make([]float64, len(xs))
	for i := range xs {
		d[i] = math.Abs(l.nx*xs[i] + l.ny*ys[i] - l.d)
	}
	sorted := append([]float64(nil), d...)
	sort.Float64s(sorted)
	limit := sorted[len(sorted)/2] + 1.5
	var kx, ky []float64
	for i := range xs {
		if d[i] <= limit {
			kx, ky = append(kx, xs[i]), append(ky, ys[i])
		}
	}
	if len(kx) < samples/3 {
		return line{}, false
	}
	return fitLine(kx, ky), true
}

// fitLine is the total-least-squares line through the points.
func fitLine(xs, ys []float64) line {
	n := float64(len(xs))
	var mx, my float64
	for i := range xs {
		mx += xs[i] / n
		my += ys[i] / n
	}
	var sxx, sxy, syy float64
	for i := range xs {
		x, y := xs[i]-mx, ys[i]-my
		sxx += x * x
		sxy += x * y
		syy += y * y
	}
	// Direction of largest spread; the normal is perpendicular to it.
	theta := 0.5 * math.Atan2(2*sxy, sxx-syy)
	nx, ny := -math.Sin(theta), math.Cos(theta)
	return line{nx: nx, ny: ny, d: nx*mx + ny*my, theta: theta}
}
