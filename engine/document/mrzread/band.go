package mrzread

import (
	"image"
	"image/color"
	"math"
	"slices"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/ocr"
)

const (
	// bandWidth is the width the page is scaled to while looking for the
	// zone; the morphology kernels below are sized for it.
	bandWidth = 600
	// minBandLength is the least length of a zone candidate as a share of
	// the page's longer side: a zone spans its document, and the document
	// fills a good part of a usable photo.
	minBandLength = 0.25
	// maxBands bounds the zone candidates read before falling back to the whole
	// page.
	maxBands = 3
	// cropWidth is the width a zone candidate is cut out at: its characters
	// are then about 20 pixels tall, where the detector and the recogniser
	// both read well, whatever the photo's resolution.
	cropWidth = 1100
)

// findBands returns the regions of img that look like a machine readable
// zone, longest first, as quads in reading order (text direction left to
// right, or right to left when the page is upside down). It is the classic
// MRZ localisation: dark text on light paper lights up under a black-hat
// transform and closing joins the characters of a line into one long thin
// blob. Lines are grouped into zones by hand rather than by a further
// closing, which on a tilted or cluttered page joins the zone to the
// portrait or the text above it.
func findBands(img gocv.Mat) []ocr.Quad {
	s := float64(bandWidth) / float64(img.Cols())
	grey := gocv.NewMat()
	defer grey.Close()
	gocv.CvtColor(img, &grey, gocv.ColorBGRToGray)
	interp := gocv.InterpolationArea
	if s > 1 {
		interp = gocv.InterpolationLinear
	}
	gocv.Resize(grey, &grey, image.Pt(bandWidth, max(1, int(math.Round(float64(img.Rows())*s)))), 0, 0, interp)
	gocv.GaussianBlur(grey, &grey, image.Pt(3, 3), 0, 0, gocv.BorderDefault)

	rect := gocv.GetStructuringElement(gocv.MorphRect, image.Pt(13, 5))
	defer rect.Close()
	m := gocv.NewMat()
	defer m.Close()
	gocv.MorphologyEx(grey, &m, gocv.MorphBlackhat, rect)
	gocv.MorphologyEx(m, &m, gocv.MorphClose, rect)
	gocv.Threshold(m, &m, 0, 255, gocv.ThresholdBinary|gocv.ThresholdOtsu)

	contours := gocv.FindContours(m, gocv.RetrievalExternal, gocv.ChainApproxSimple)
	defer contours.Close()
	minLen := minBandLength * float64(max(m.Cols(), m.Rows()))
	var lines []bandLine
	for i := 0; i < contours.Size(); i++ {
		r := gocv.MinAreaRect(contours.At(i))
		q, l, thick := bandQuad(r.Points)
		if l < minLen || l < minLineAspect*max(thick, 1) {
			continue
		}
		lines = append(lines, bandLine{q, l})
	}
	slices.SortFunc(lines, func(a, b bandLine) int { return cmpDesc(a.len, b.len) })
	var out []ocr.Quad
	used := make([]bool, len(lines))
	for i := range lines {
		if used[i] || len(out) == maxBands {
			continue
		}
		q := zoneOf(lines, i, used)
		for j := range q {
			q[j].X /= s
			q[j].Y /= s
		}
		out = append(out, q)
	}
	return out
}

// bandLine is one long thin blob: a candidate MRZ line.
type bandLine struct {
	q   ocr.Quad
	len float64
}

// zoneOf is the rectangle, along line i, covering it and the other unused
// lines parallel to it, about as long, and close enough above or below to
// be lines of the same zone; those lines are marked used.
func zoneOf(lines []bandLine, i int, used []bool) ocr.Quad {
	seed := lines[i]
	q := seed.q
	ax := axes{(q[1].X - q[0].X) / seed.len, (q[1].Y - q[0].Y) / seed.len}
	u, v := ax.along, ax.across
	minU, maxU, minV, maxV := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	add := func(q ocr.Quad) {
		for _, p := range q {
			minU, maxU = math.Min(minU, u(p)), math.Max(maxU, u(p))
			minV, maxV = math.Min(minV, v(p)), math.Max(maxV, v(p))
		}
	}
	add(q)
	used[i] = true
	c := seed.q.Center()
	for j, o := range lines {
		if used[j] {
			continue
		}
		oc := o.q.Center()
		ox, oy := (o.q[1].X-o.q[0].X)/o.len, (o.q[1].Y-o.q[0].Y)/o.len
		// Parallel (within about 6 degrees either way up), at least half as
		// long, overlapping along the text, and within two line pitches of
		// a TD1 card (30 characters: a pitch is about a twelfth of the line).
		if math.Abs(ox*ax.ux+oy*ax.uy) < 0.995 || o.len < seed.len/2 ||
			math.Abs(u(oc)-u(c)) > seed.len/2 || math.Abs(v(oc)-v(c)) > seed.len/5 {
			continue
		}
		add(o.q)
		used[j] = true
	}
	return ax.rect(minU, maxU, minV, maxV)
}

func cmpDesc(a, b float64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// bandQuad orders a rotated rectangle's corners for reading along its
// longer side (left to right as seen, whichever way up the text is) and
// returns its length and thickness.
func bandQuad(pts []image.Point) (ocr.Quad, float64, float64) {
	if len(pts) != 4 {
		return ocr.Quad{}, 0, 0
	}
	var q ocr.Quad
	for i, p := range pts {
		q[i] = ocr.Point{X: float64(p.X), Y: float64(p.Y)}
	}
	// Start the corners at the long side's first point.
	if dist(q[0], q[1]) < dist(q[1], q[2]) {
		q = ocr.Quad{q[1], q[2], q[3], q[0]}
	}
	// Make q[0]->q[1] run left to right and q[0]->q[3] down the page.
	if q[1].X < q[0].X {
		q = ocr.Quad{q[2], q[3], q[0], q[1]}
	}
	if cross := (q[1].X-q[0].X)*(q[3].Y-q[0].Y) - (q[1].Y-q[0].Y)*(q[3].X-q[0].X); cross < 0 {
		q = ocr.Quad{q[3], q[2], q[1], q[0]}
	}
	return q, dist(q[0], q[1]), dist(q[0], q[3])
}

func dist(a, b ocr.Point) float64 { return math.Hypot(a.X-b.X, a.Y-b.Y) }

// cutBand warps the band q, grown by a margin for the characters the
// morphology eroded and the detector's own margin, out of img as an upright
// image cropWidth wide.
//
// It also returns where the band's lines start and end along the crop's
// width.
func cutBand(img gocv.Mat, q ocr.Quad) (gocv.Mat, [2]float64) {
	l, thick := dist(q[0], q[1]), dist(q[0], q[3])
	ux, uy := (q[1].X-q[0].X)/l, (q[1].Y-q[0].Y)/l
	vx, vy := (q[3].X-q[0].X)/thick, (q[3].Y-q[0].Y)/thick
	// A line the blobs missed (joined to a neighbour, or too faint) may lie
	// a line pitch, about a sixteenth of the zone's length, above or below.
	mu, mv := 0.04*l+thick/4, max(thick/3, l/16)+4
	grow := func(p ocr.Point, su, sv float64) gocv.Point2f {
		return gocv.Point2f{X: float32(p.X + su*mu*ux + sv*mv*vx), Y: float32(p.Y + su*mu*uy + sv*mv*vy)}
	}
	src := gocv.NewPoint2fVectorFromPoints([]gocv.Point2f{
		grow(q[0], -1, -1), grow(q[1], 1, -1), grow(q[2], 1, 1), grow(q[3], -1, 1),
	})
	defer src.Close()
	w := float32(cropWidth)
	h := float32(math.Round(cropWidth * (thick + 2*mv) / (l + 2*mu)))
	dst := gocv.NewPoint2fVectorFromPoints([]gocv.Point2f{{X: 0, Y: 0}, {X: w, Y: 0}, {X: w, Y: h}, {X: 0, Y: h}})
	defer dst.Close()
	m := gocv.GetPerspectiveTransform2f(src, dst)
	defer m.Close()
	out := gocv.NewMat()
	gocv.WarpPerspectiveWithParams(img, &out, m, image.Pt(int(w), int(h)), gocv.InterpolationCubic,
		gocv.BorderReplicate, color.RGBA{})
	lead := mu * cropWidth / (l + 2*mu)
	return out, [2]float64{lead, cropWidth - lead}
}
