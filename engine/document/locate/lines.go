package locate

import (
	"image"
	"math"
	"sort"

	"gocv.io/x/gocv"
)

// line is an infinite line in normal form: nx*x + ny*y = d, with theta the
// direction angle in [0, pi) and support the summed length of the edge
// segments that voted for it.
type line struct {
	nx, ny, d, theta, support float64
}

// lineQuads finds the document's sides as straight edge lines and forms
// quadrilaterals from two roughly parallel pairs. Unlike contours, lines
// survive a side with a gap (a dark card on a dark desk) and clutter that
// touches the card.
func lineQuads(edges gocv.Mat) []Quad {
	w, h := edges.Cols(), edges.Rows()
	minDim := float64(min(w, h))
	segs := gocv.NewMat()
	defer segs.Close()
	gocv.HoughLinesPWithParams(edges, &segs, 1, math.Pi/180, 30, float32(0.12*minDim), 8)
	type seg struct {
		x1, y1, x2, y2, length float64
	}
	var ss []seg
	for i := 0; i < segs.Rows(); i++ {
		v := segs.GetVeciAt(i, 0)
		s := seg{float64(v[0]), float64(v[1]), float64(v[2]), float64(v[3]), 0}
		s.length = math.Hypot(s.x2-s.x1, s.y2-s.y1)
		ss = append(ss, s)
	}
	sort.Slice(ss, func(i, j int) bool { return ss[i].length > ss[j].length })
	var lines []line
	for _, s := range ss {
		theta := math.Atan2(s.y2-s.y1, s.x2-s.x1)
		if theta < 0 {
			theta += math.Pi
		}
		if theta >= math.Pi {
			theta -= math.Pi
		}
		nx, ny := -math.Sin(theta), math.Cos(theta)
		d := nx*s.x1 + ny*s.y1
		merged := false
		for i := range lines {
			l := &lines[i]
			dt := angleDiff(theta, l.theta)
			// Lines near 0 and near pi are the same direction with opposite
			// normals: compare distances with the matching sign.
			dd := d - l.d
			if math.Abs(theta-l.theta) > math.Pi/2 {
				dd = -d - l.d
			}
			if dt < 4*math.Pi/180 && math.Abs(dd) < 6 {
				l.support += s.length
				merged = true
				break
			}
		}
		if !merged && len(lines) < 16 {
			lines = append(lines, line{nx, ny, d, theta, s.length})
		}
	}
	type pair struct {
		a, b  line
		theta float64
	}
	var pairs []pair
	for i := 0; i < len(lines); i++ {
		for j := i + 1; j < len(lines); j++ {
			a, b := lines[i], lines[j]
			if angleDiff(a.theta, b.theta) > 25*math.Pi/180 {
				continue
			}
			// Distance between the lines at the image centre.
			cx, cy := float64(w)/2, float64(h)/2
			sep := math.Abs(signed(a, cx, cy) - signed(b, cx, cy))
			if sep < 0.15*minDim {
				continue
			}
			pairs = append(pairs, pair{a, b, a.theta})
		}
	}
	var quads []Quad
	for i := 0; i < len(pairs); i++ {
		for j := i + 1; j < len(pairs); j++ {
			p, q := pairs[i], pairs[j]
			if math.Abs(angleDiff(p.theta, q.theta)-math.Pi/2) > 40*math.Pi/180 {
				continue
			}
			var pts []image.Point
			ok := true
			for _, c := range [][2]line{{p.a, q.a}, {p.a, q.b}, {p.b, q.b}, {p.b, q.a}} {
				x, y, fine := intersect(c[0], c[1])
				if !fine || x < -2 || y < -2 || x > float64(w+1) || y > float64(h+1) {
					ok = false
					break
				}
				pts = append(pts, image.Pt(int(math.Round(x)), int(math.Round(y))))
			}
			if ok {
				quads = append(quads, order(pts))
			}
		}
	}
	return quads
}

// signed is the signed distance of (x, y) from l, with the normal flipped
// so that lines of the same direction compare consistently.
func signed(l line, x, y float64) float64 {
	return l.nx*x + l.ny*y - l.d
}

func angleDiff(a, b float64) float64 {
	d := math.Abs(a - b)
	if d > math.Pi/2 {
		d = math.Pi - d
	}
	return d
}

func intersect(a, b line) (float64, float64, bool) {
	det := a.nx*b.ny - a.ny*b.nx
	if math.Abs(det) < 1e-6 {
		return 0, 0, false
	}
	return (a.d*b.ny - a.ny*b.d) / det, (a.nx*b.d - a.d*b.nx) / det, true
}

// edgeSupport is the fraction of points along the quad's sides that lie on
// an edge (of a dilated edge map): a real document's outline is an edge
// all the way round; a quad made up from clutter is not.
func edgeSupport(q Quad, dilated gocv.Mat) float64 {
	w, h := dilated.Cols(), dilated.Rows()
	pix, err := dilated.DataPtrUint8()
	if err != nil || len(pix) < w*h {
		return 0
	}
	const perSide = 48
	hit, n := 0, 0
	for i := 0; i < 4; i++ {
		a, b := q[i], q[(i+1)%4]
		for k := 0; k < perSide; k++ {
			t := (float64(k) + 0.5) / perSide
			x, y := int(a.X+(b.X-a.X)*t), int(a.Y+(b.Y-a.Y)*t)
			n++
			if x >= 0 && y >= 0 && x < w && y < h && pix[y*w+x] > 0 {
				hit++
			}
		}
	}
	return float64(hit) / float64(n)
}
