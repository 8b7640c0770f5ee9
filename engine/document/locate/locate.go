// Package locate finds an identity document in a photo (the best
// quadrilateral among edge and region contours, robust to cluttered
// backgrounds and to perspective up to about 30 degrees), and rectifies it
// to its format's aspect: an ID-1 card (85.6 x 54 mm) or a passport data
// page (125 x 88 mm). Capture guidance runs Find on every frame, so it works
// on a downscaled copy and stays within a few milliseconds.
package locate

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"sort"

	"gocv.io/x/gocv"
)

// Format is a document's physical format.
type Format string

// Known formats and their aspect ratios (long side / short side).
const (
	FormatID1      Format = "id1"      // ISO/IEC 7810 ID-1: national ID cards, driving licences, KTP
	FormatPassport Format = "passport" // ICAO TD3 passport data page
	FormatUnknown  Format = "unknown"
)

// Aspect returns the format's long/short side ratio.
func (f Format) Aspect() float64 {
	switch f {
	case FormatID1:
		return 85.6 / 54
	case FormatPassport:
		return 125.0 / 88
	}
	return 0
}

// ErrEmptyImage is returned for an empty Mat, or one that is not 8-bit
// BGR (OpenCV's edge detector aborts the process on another depth).
var ErrEmptyImage = errors.New("empty image, or not 8-bit BGR")

// Point is a sub-pixel image position.
type Point struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// Quad is a document outline in the original image: top-left, top-right,
// bottom-right, bottom-left, as the document is seen (not yet rotated).
type Quad [4]Point

// Bounds is the smallest integer rectangle holding the quad.
func (q Quad) Bounds() image.Rectangle {
	x0, y0, x1, y1 := q[0].X, q[0].Y, q[0].X, q[0].Y
	for _, p := range q[1:] {
		x0, y0, x1, y1 = min(x0, p.X), min(y0, p.Y), max(x1, p.X), max(y1, p.Y)
	}
	return image.Rect(int(math.Floor(x0)), int(math.Floor(y0)), int(math.Ceil(x1)), int(math.Ceil(y1)))
}

// Result is what Find reports.
type Result struct {
	Found bool `json:"found"`
	Quad  Quad `json:"quad"`
	// Score in [0,1]: how much the outline looks like a document.
	Score float64 `json:"score"`
	// Format guessed from the outline's rectified aspect.
	Format Format `json:"format"`
	// Aspect is the estimated long/short side ratio of the document.
	Aspect float64 `json:"aspect"`
	// Tilt is the angle in degrees between the document's long side and the
	// image's horizontal, in (-90, 90].
	Tilt float64 `json:"tilt_deg"`
	// Skew is the largest deviation of a corner angle from 90 degrees: how
	// far the document is turned away from the camera's plane.
	Skew float64 `json:"skew_deg"`
	// WidthFraction is the document's horizontal extent over the image width.
	WidthFraction float64 `json:"width_fraction"`
	// AreaFraction is the outline's area over the image area.
	AreaFraction float64 `json:"area_fraction"`
	// Portrait is true when the document's long side runs vertically in the
	// image (a 90-degree turn that Rectify undoes).
	Portrait bool `json:"portrait"`
}

// Options tune Find.
type Options struct {
	// WorkWidth is the width the image is reduced to for the search.
	WorkWidth int
	// MinArea is the smallest outline area, as a fraction of the image.
	MinArea float64
	// MaxSkew is the largest corner deviation from 90 degrees accepted
	// (perspective): about 30 degrees of tilt towards the camera.
	MaxSkew float64
	// MinScore is the score below which nothing is reported found.
	MinScore float64
}

// DefaultOptions are the settings Find uses when given a zero Options.
func DefaultOptions() Options {
	return Options{WorkWidth: 480, MinArea: 0.08, MaxSkew: 35, MinScore: 0.6}
}

// Find looks for the document in an 8-bit BGR image.
func Find(img gocv.Mat, opt Options) (Result, error) {
	if img.Empty() || img.Type() != gocv.MatTypeCV8UC3 {
		return Result{}, ErrEmptyImage
	}
	if opt == (Options{}) {
		opt = DefaultOptions()
	}
	scale := 1.0
	work := img
	if img.Cols() > opt.WorkWidth {
		scale = float64(opt.WorkWidth) / float64(img.Cols())
		small := gocv.NewMat()
		defer small.Close()
		gocv.Resize(img, &small, image.Pt(opt.WorkWidth, int(math.Round(float64(img.Rows())*scale))), 0, 0, gocv.InterpolationArea)
		work = small
	}
	cands, edges, support := candidates(work, opt)
	defer edges.Close()
	defer support.Close()
	imgArea := float64(work.Cols() * work.Rows())
	best := Result{Format: FormatUnknown}
	consider := func(quads []Quad) {
		for _, q := range quads {
			if onBorder(q, work.Cols(), work.Rows()) {
				continue // the frame itself, or a document cut off by it
			}
			r := measure(q, work.Cols(), imgArea)
			if r.AreaFraction < opt.MinArea || r.Skew > opt.MaxSkew {
				continue
			}
			// Edge support scales the score: between two outlines of the
			// same shape, the one whose sides are edges all the way round
			// wins (the card's rim rather than its printed portrait frame).
			r.Score = score(r, opt) * edgeSupport(q, support)
			if r.Score > best.Score+0.02 || (r.Score > best.Score-0.02 && r.AreaFraction > best.AreaFraction) {
				best = r
			}
		}
	}
	// Straight-line candidates rescue a document whose outline contours
	// could not close (a dark card on a dark desk, clutter touching it).
	// Skipping them when a contour already scores well was measured: it
	// saves a third of the time and lets a card's inner frame win.
	consider(append(cands, lineQuads(edges)...))
	if best.Score < opt.MinScore {
		return Result{Format: FormatUnknown, Score: best.Score}, nil
	}
	best.Found = true
	for i := range best.Quad {
		best.Quad[i].X /= scale
		best.Quad[i].Y /= scale
	}
	if scale < 1 {
		best.Quad = refine(img, best.Quad, 4/scale+2)
		refined := measure(best.Quad, img.Cols(), float64(img.Cols()*img.Rows()))
		refined.Score, refined.Found = best.Score, true
		best = refined
	}
	return best, nil
}

// candidates collects four-sided outlines from several edge and region
// maps: a document can stand out by its edges (Canny), by brightness
// (Otsu), or by colour against a plain table (saturation).
func candidates(bgr gocv.Mat, opt Options) (quads []Quad, edges, support gocv.Mat) {
	gray := gocv.NewMat()
	defer gray.Close()
	gocv.CvtColor(bgr, &gray, gocv.ColorBGRToGray)
	blur := gocv.NewMat()
	defer blur.Close()
	gocv.GaussianBlur(gray, &blur, image.Pt(5, 5), 0, 0, gocv.BorderDefault)

	kernel := gocv.GetStructuringElement(gocv.MorphRect, image.Pt(5, 5))
	defer kernel.Close()
	add := func(bin gocv.Mat) {
		quads = append(quads, quadsFromMask(bin, opt)...)
	}
	for _, th := range [][2]float32{{30, 90}, {60, 180}} {
		edges := gocv.NewMat()
		gocv.Canny(blur, &edges, th[0], th[1])
		gocv.MorphologyEx(edges, &edges, gocv.MorphClose, kernel)
		add(edges)
		edges.Close()
	}
	// Per-channel edges: a dark blue card on a dark grey desk differs in
	// colour more than in brightness.
	colour := gocv.NewMat()
	defer colour.Close()
	gocv.GaussianBlur(bgr, &colour, image.Pt(5, 5), 0, 0, gocv.BorderDefault)
	channels := gocv.Split(colour)
	union := gocv.NewMatWithSize(bgr.Rows(), bgr.Cols(), gocv.MatTypeCV8U) // returned as edges
	for _, ch := range channels {
		e := gocv.NewMat()
		gocv.Canny(ch, &e, 20, 60)
		gocv.BitwiseOr(union, e, &union)
		e.Close()
		ch.Close()
	}
	gocv.MorphologyEx(union, &union, gocv.MorphClose, kernel)
	add(union)
	small := gocv.GetStructuringElement(gocv.MorphRect, image.Pt(5, 5))
	defer small.Close()
	support = gocv.NewMat()
	gocv.Dilate(union, &support, small)
	otsu := gocv.NewMat()
	gocv.Threshold(blur, &otsu, 0, 255, gocv.ThresholdBinary|gocv.ThresholdOtsu)
	add(otsu)
	gocv.BitwiseNot(otsu, &otsu)
	add(otsu)
	otsu.Close()
	return quads, union, support
}

func quadsFromMask(mask gocv.Mat, opt Options) []Quad {
	minArea := opt.MinArea * float64(mask.Rows()*mask.Cols())
	out := quadsFromContours(mask, gocv.RetrievalList, minArea)
	// Lines and shapes touching the document join its outline and spoil its
	// four corners: fill the large outlines, open away anything thinner
	// than the kernel, and look again.
	contours := gocv.FindContours(mask, gocv.RetrievalExternal, gocv.ChainApproxSimple)
	defer contours.Close()
	filled := gocv.NewMatWithSize(mask.Rows(), mask.Cols(), gocv.MatTypeCV8U)
	defer filled.Close()
	for i := 0; i < contours.Size(); i++ {
		if gocv.ContourArea(contours.At(i)) >= minArea*0.8 {
			gocv.DrawContours(&filled, contours, i, color.RGBA{255, 255, 255, 255}, -1)
		}
	}
	k := max(5, mask.Cols()/40)
	kernel := gocv.GetStructuringElement(gocv.MorphEllipse, image.Pt(k, k))
	defer kernel.Close()
	gocv.MorphologyEx(filled, &filled, gocv.MorphOpen, kernel)
	return append(out, quadsFromContours(filled, gocv.RetrievalExternal, minArea)...)
}

func quadsFromContours(mask gocv.Mat, mode gocv.RetrievalMode, minArea float64) []Quad {
	contours := gocv.FindContours(mask, mode, gocv.ChainApproxSimple)
	defer contours.Close()
	var out []Quad
	for i := 0; i < contours.Size(); i++ {
		c := contours.At(i)
		if gocv.ContourArea(c) < minArea*0.8 {
			continue
		}
		if q, ok := fourCorners(c); ok {
			out = append(out, q)
		}
	}
	return out
}

// fourCorners reduces a contour to four corners: the polygon approximation
// when it has four vertices, else the convex hull approximated with a
// growing tolerance (a finger or glare cuts a corner; rounded card corners
// add vertices).
func fourCorners(c gocv.PointVector) (Quad, bool) {
	hullIdx := gocv.NewMat()
	defer hullIdx.Close()
	gocv.ConvexHull(c, &hullIdx, false, false)
	pts := c.ToPoints()
	var hull []image.Point
	for i := 0; i < hullIdx.Rows(); i++ {
		hull = append(hull, pts[hullIdx.GetIntAt(i, 0)])
	}
	if len(hull) < 4 {
		return Quad{}, false
	}
	hv := gocv.NewPointVectorFromPoints(hull)
	defer hv.Close()
	peri := gocv.ArcLength(hv, true)
	for _, eps := range []float64{0.02, 0.03, 0.045, 0.06, 0.08} {
		approx := gocv.ApproxPolyDP(hv, eps*peri, true)
		p := approx.ToPoints()
		approx.Close()
		if len(p) == 4 {
			return order(p), true
		}
		if len(p) < 4 {
			break
		}
	}
	return Quad{}, false
}

// order sorts four points into top-left, top-right, bottom-right,
// bottom-left by angle around their centre.
func order(p []image.Point) Quad {
	var cx, cy float64
	for _, v := range p {
		cx += float64(v.X) / 4
		cy += float64(v.Y) / 4
	}
	pts := make([]Point, 4)
	for i, v := range p {
		pts[i] = Point{float64(v.X), float64(v.Y)}
	}
	sort.Slice(pts, func(i, j int) bool {
		return math.Atan2(pts[i].Y-cy, pts[i].X-cx) < math.Atan2(pts[j].Y-cy, pts[j].X-cx)
	})
	// Angles from -pi: the first point is the one up-left of the centre
	// when the quad is not rotated past 45 degrees; start at the corner with
	// the smallest x+y to be exact.
	start := 0
	for i := range pts {
		if pts[i].X+pts[i].Y < pts[start].X+pts[start].Y {
			start = i
		}
	}
	var q Quad
	for i := 0; i < 4; i++ {
		q[i] = pts[(start+i)%4]
	}
	return q
}

// onBorder reports whether two or more corners sit on the image's edge.
func onBorder(q Quad, w, h int) bool {
	n := 0
	for _, p := range q {
		if p.X <= 2 || p.Y <= 2 || p.X >= float64(w-3) || p.Y >= float64(h-3) {
			n++
		}
	}
	return n >= 2
}

func dist(a, b Point) float64 { return math.Hypot(a.X-b.X, a.Y-b.Y) }

func measure(q Quad, width int, imgArea float64) Result {
	top, right, bottom, left := dist(q[0], q[1]), dist(q[1], q[2]), dist(q[2], q[3]), dist(q[3], q[0])
	horiz, vert := (top+bottom)/2, (left+right)/2
	r := Result{Quad: q}
	long, short := horiz, vert
	r.Portrait = vert > horiz
	if r.Portrait {
		long, short = vert, horiz
	}
	if short > 0 {
		r.Aspect = long / short
	}
	if a, ok := trueAspect(q, float64(width), imgArea/float64(width)); ok {
		r.Aspect = a
	}
	r.Format = formatFor(r.Aspect)
	// Tilt of the long side.
	a, b := q[0], q[1]
	if r.Portrait {
		a, b = q[0], q[3]
	}
	r.Tilt = math.Atan2(b.Y-a.Y, b.X-a.X) * 180 / math.Pi
	if r.Portrait {
		r.Tilt -= 90
	}
	for i := 0; i < 4; i++ {
		p, c, n := q[(i+3)%4], q[i], q[(i+1)%4]
		v1x, v1y, v2x, v2y := p.X-c.X, p.Y-c.Y, n.X-c.X, n.Y-c.Y
		cos := (v1x*v2x + v1y*v2y) / (math.Hypot(v1x, v1y)*math.Hypot(v2x, v2y) + 1e-9)
		ang := math.Acos(math.Max(-1, math.Min(1, cos))) * 180 / math.Pi
		r.Skew = math.Max(r.Skew, math.Abs(ang-90))
	}
	minX, maxX := q[0].X, q[0].X
	for _, p := range q {
		minX, maxX = math.Min(minX, p.X), math.Max(maxX, p.X)
	}
	r.WidthFraction = (maxX - minX) / float64(width)
	// Shoelace area.
	var area float64
	for i := 0; i < 4; i++ {
		area += q[i].X*q[(i+1)%4].Y - q[(i+1)%4].X*q[i].Y
	}
	r.AreaFraction = math.Abs(area) / 2 / imgArea
	return r
}

func formatFor(aspect float64) Format {
	best, bestErr := FormatUnknown, 0.09
	for _, f := range []Format{FormatID1, FormatPassport} {
		if e := math.Abs(aspect-f.Aspect()) / f.Aspect(); e < bestErr {
			best, bestErr = f, e
		}
	}
	return best
}

// score weighs how document-like an outline is: square corners, an aspect
// near a known format, and size (a larger outline is more likely the
// document than a photo or a text block on it).
func score(r Result, opt Options) float64 {
	corner := 1 - r.Skew/opt.MaxSkew
	aspect := 0.0
	for _, f := range []Format{FormatID1, FormatPassport} {
		e := math.Abs(r.Aspect-f.Aspect()) / f.Aspect()
		// Perspective stretches the apparent aspect by up to 1/cos(30deg):
		// flat within that, falling off beyond.
		aspect = math.Max(aspect, math.Min(1, 1-(e-0.12)/0.2))
	}
	if aspect < 0 {
		aspect = 0
	}
	size := math.Min(1, r.AreaFraction/0.35)
	return 0.35*corner + 0.4*aspect + 0.25*size
}

// Rectify warps the outlined document to a fronto-parallel image whose
// width is width pixels and whose height follows the format's aspect (the
// measured aspect for an unknown format). A document standing on its side
// is turned so its long side is horizontal; telling 90 from 270 degrees, or
// 0 from 180, needs the content (the MRZ, the portrait) and is the
// caller's job (imageio.Turn).
func Rectify(img gocv.Mat, r Result, width int) (gocv.Mat, error) {
	if img.Empty() {
		return gocv.NewMat(), ErrEmptyImage
	}
	if !r.Found {
		return gocv.NewMat(), errors.New("rectify: no document outline")
	}
	aspect := r.Format.Aspect()
	if aspect == 0 {
		aspect = r.Aspect
	}
	if aspect < 1 || aspect > 3 {
		return gocv.NewMat(), fmt.Errorf("rectify: implausible aspect %.2f", aspect)
	}
	height := int(math.Round(float64(width) / aspect))
	q := r.Quad
	if r.Portrait {
		// Make the long side the top edge: start from the bottom-left corner.
		q = Quad{q[3], q[0], q[1], q[2]}
	}
	src := gocv.NewPoint2fVectorFromPoints([]gocv.Point2f{
		{X: float32(q[0].X), Y: float32(q[0].Y)}, {X: float32(q[1].X), Y: float32(q[1].Y)},
		{X: float32(q[2].X), Y: float32(q[2].Y)}, {X: float32(q[3].X), Y: float32(q[3].Y)},
	})
	defer src.Close()
	dst := gocv.NewPoint2fVectorFromPoints([]gocv.Point2f{
		{X: 0, Y: 0}, {X: float32(width), Y: 0}, {X: float32(width), Y: float32(height)}, {X: 0, Y: float32(height)},
	})
	defer dst.Close()
	m := gocv.GetPerspectiveTransform2f(src, dst)
	defer m.Close()
	out := gocv.NewMat()
	gocv.WarpPerspective(img, &out, m, image.Pt(width, height))
	return out, nil
}

// trueAspect estimates the document's real long/short ratio from its
// perspective outline (Zhang and He, "Whiteboard scanning and image
// enhancement", 2007), with the principal point at the image centre and
// square pixels. ok is false for a degenerate outline.
func trueAspect(q Quad, w, h float64) (float64, bool) {
	u0, v0 := w/2, h/2
	m := func(p Point) [3]float64 { return [3]float64{p.X - u0, p.Y - v0, 1} }
	m1, m2, m3, m4 := m(q[0]), m(q[1]), m(q[3]), m(q[2]) // TL, TR, BL, BR
	cross := func(a, b [3]float64) [3]float64 {
		return [3]float64{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
	}
	dot := func(a, b [3]float64) float64 { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }
	k2 := dot(cross(m1, m4), m3) / dot(cross(m2, m4), m3)
	k3 := dot(cross(m1, m4), m2) / dot(cross(m3, m4), m2)
	n2 := [3]float64{k2*m2[0] - m1[0], k2*m2[1] - m1[1], k2*m2[2] - m1[2]}
	n3 := [3]float64{k3*m3[0] - m1[0], k3*m3[1] - m1[1], k3*m3[2] - m1[2]}
	// The focal length could be estimated from the corners too, but from
	// four corners found to a pixel or two that estimate swings wildly, and
	// it is undefined when a pair of sides is parallel in the image (a card
	// tilted about one axis). Assume a webcam's: about one image width.
	f2 := w * w
	wlen := n2[0]*n2[0] + n2[1]*n2[1] + n2[2]*n2[2]*f2
	hlen := n3[0]*n3[0] + n3[1]*n3[1] + n3[2]*n3[2]*f2
	if wlen <= 0 || hlen <= 0 {
		return 0, false
	}
	a := math.Sqrt(wlen / hlen)
	if a < 1 {
		a = 1 / a
	}
	return a, true
}
