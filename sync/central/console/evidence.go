package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"strconv"
	"strings"

	"github.com/openkyc/kyc/engine/imageio"
)

// Where the engine's evidence lies (engine/document, engine/document/
// forensics):
//
//   - The tampering and reproduction checks (forensics.Analyze) run on the
//     front photo as decoded, or on the part of it inside the document's
//     outline (Options.Region), and move their regions back to the whole
//     photo's coordinates (offsetEvidence): copy_move's pairs
//     [[x1,y1,x2,y2]...] and source/target regions, jpeg_block_grid's
//     region, page_coverage's outline/examined, the heatmaps' regions.
//   - The portrait and glyph checks (pageChecks) run on the photo too, the
//     face and lines mapped back from the rectified page: portrait_region
//     is in the photo's coordinates.
//   - document.portrait.box alone is on the rectified page: the photo
//     inside document.front.quad (the outline, corners clockwise from the
//     top left) warped by locate.Rectify onto a rectifyWidth-wide
//     rectangle of the format's aspect (the long side the top edge), then
//     turned by document.front.rotation. It is mapped into the photo
//     through the homography from that rectangle to the quad (pageQuad).
//
// So every drawn shape is in the photo's pixels, the frame of the SVG
// overlay's viewBox: the photo's size as its header gives it, turned by
// its EXIF orientation as the engine's decoder turns it
// (imageio.Orientation, OpenCV's reading of the tag).

// rectifyWidth is the rectified page's width (engine/document's default
// Config.RectifyWidth).
const rectifyWidth = 800

// sideView is what the report says of where the front was found.
type sideView struct {
	Found    bool     `json:"found"`
	Quad     []ptView `json:"quad"`
	Format   string   `json:"format"`
	Rotation int      `json:"rotation"`
}

type ptView struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// homography is a plane projective map, row-major 3x3 with m[8] = 1.
type homography [9]float64

// rectToQuad is the homography taking the rectangle (0,0)-(w,h) to the
// quadrilateral q, corner to corner: (0,0)→q[0], (w,0)→q[1], (w,h)→q[2],
// (0,h)→q[3] (Heckbert's square-to-quad, scaled). ok is false for a
// degenerate rectangle or quadrilateral.
func rectToQuad(w, h float64, q [4]ptView) (homography, bool) {
	if !(w > 0) || !(h > 0) {
		return homography{}, false
	}
	x0, y0, x1, y1, x2, y2, x3, y3 := q[0].X, q[0].Y, q[1].X, q[1].Y, q[2].X, q[2].Y, q[3].X, q[3].Y
	sx, sy := x0-x1+x2-x3, y0-y1+y2-y3
	var a, b, c, d, e, f, g, hh float64
	if sx == 0 && sy == 0 { // a parallelogram: affine
		a, b, c = x1-x0, x3-x0, x0
		d, e, f = y1-y0, y3-y0, y0
	} else {
		dx1, dx2, dy1, dy2 := x1-x2, x3-x2, y1-y2, y3-y2
		det := dx1*dy2 - dx2*dy1
		if det == 0 {
			return homography{}, false
		}
		g = (sx*dy2 - dx2*sy) / det
		hh = (dx1*sy - sx*dy1) / det
		a, b, c = x1-x0+g*x1, x3-x0+hh*x3, x0
		d, e, f = y1-y0+g*y1, y3-y0+hh*y3, y0
	}
	m := homography{a / w, b / h, c, d / w, e / h, f, g / w, hh / h, 1}
	for _, v := range m {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return homography{}, false
		}
	}
	// A singular map flattens the rectangle (three corners in a line).
	if det := m[0]*(m[4]*m[8]-m[5]*m[7]) - m[1]*(m[3]*m[8]-m[5]*m[6]) + m[2]*(m[3]*m[7]-m[4]*m[6]); math.Abs(det) < 1e-12 {
		return homography{}, false
	}
	return m, true
}

// apply maps (x, y); ok is false on the line sent to infinity.
func (m homography) apply(x, y float64) (float64, float64, bool) {
	w := m[6]*x + m[7]*y + m[8]
	if math.Abs(w) < 1e-12 {
		return 0, 0, false
	}
	return (m[0]*x + m[1]*y + m[2]) / w, (m[3]*x + m[4]*y + m[5]) / w, true
}

// formatAspects are locate.Format.Aspect's long/short ratios.
var formatAspects = map[string]float64{"id1": 85.6 / 54, "passport": 125.0 / 88}

// pageQuad gives the map from a point of the upright rectified page to
// the photo, as engine/document builds the page (locate.Rectify, then the
// turn by rotation degrees clockwise); ok is false when the report has no
// outline (the page is then the photo itself, which the caller handles).
func pageQuad(s *sideView) (func(x, y float64) (float64, float64, bool), bool) {
	if s == nil || !s.Found || len(s.Quad) != 4 {
		return nil, false
	}
	q := [4]ptView(s.Quad)
	dist := func(a, b ptView) float64 { return math.Hypot(a.X-b.X, a.Y-b.Y) }
	horiz := (dist(q[0], q[1]) + dist(q[2], q[3])) / 2
	vert := (dist(q[1], q[2]) + dist(q[3], q[0])) / 2
	aspect := formatAspects[s.Format]
	if vert > horiz {
		// locate.Rectify: the long side becomes the top edge.
		q = [4]ptView{q[3], q[0], q[1], q[2]}
		horiz, vert = vert, horiz
	}
	if aspect == 0 && vert > 0 {
		aspect = horiz / vert
	}
	if aspect < 1 || aspect > 3 {
		return nil, false
	}
	w, h := float64(rectifyWidth), math.Round(rectifyWidth/aspect)
	m, ok := rectToQuad(w, h, q)
	if !ok {
		return nil, false
	}
	// The page was turned clockwise after rectifying: undo the turn.
	var unturn func(u, v float64) (float64, float64)
	switch ((s.Rotation % 360) + 360) % 360 {
	case 0:
		unturn = func(u, v float64) (float64, float64) { return u, v }
	case 90: // (x,y) → (h-y, x)
		unturn = func(u, v float64) (float64, float64) { return v, h - u }
	case 180:
		unturn = func(u, v float64) (float64, float64) { return w - u, h - v }
	case 270: // (x,y) → (y, w-x)
		unturn = func(u, v float64) (float64, float64) { return w - v, u }
	default:
		return nil, false
	}
	return func(x, y float64) (float64, float64, bool) { return m.apply(unturn(x, y)) }, true
}

// portraitShape draws the printed portrait's box (on the rectified page)
// as its quadrilateral in the photo.
func portraitShape(doc *documentView) (shape, bool) {
	if doc == nil || doc.Portrait == nil || doc.Portrait.Box.W <= 0 || doc.Portrait.Box.H <= 0 {
		return shape{}, false
	}
	b := doc.Portrait.Box
	corners := [4][2]float64{{b.X, b.Y}, {b.X + b.W, b.Y}, {b.X + b.W, b.Y + b.H}, {b.X, b.Y + b.H}}
	toPhoto := func(x, y float64) (float64, float64, bool) { return x, y, true }
	if doc.Front != nil && doc.Front.Found {
		f, ok := pageQuad(doc.Front)
		if !ok {
			return shape{}, false
		}
		toPhoto = f
	}
	pts := make([]string, 0, 4)
	for _, c := range corners {
		x, y, ok := toPhoto(c[0], c[1])
		if !ok {
			return shape{}, false
		}
		pts = append(pts, strconv.FormatFloat(roundTenth(x), 'f', -1, 64)+","+strconv.FormatFloat(roundTenth(y), 'f', -1, 64))
	}
	return shape{Kind: "poly", Points: strings.Join(pts, " "), Label: "portrait", Class: "portrait"}, true
}

// evidenceItem is one line of the overlay's text alternative.
type evidenceItem struct {
	Check string
	Key   string // i18n key: case.ev_<kind>
	Text  string // numbers, language-neutral
}

// evidenceItems describes the shapes in words, a line per region, per
// check's pairs and per heatmap.
func evidenceItems(shapes []shape) []evidenceItem {
	var out []evidenceItem
	pairs := map[string]int{}
	heat := map[string]int{}
	var order []string
	for _, s := range shapes {
		switch s.Kind {
		case "line":
			if pairs[s.Label] == 0 {
				order = append(order, "pairs:"+s.Label)
			}
			pairs[s.Label]++
		case "cell":
			if heat[s.Label] == 0 {
				order = append(order, "heat:"+s.Label)
			}
			heat[s.Label]++
		case "rect":
			out = append(out, evidenceItem{Check: s.Label, Key: "case.ev_" + s.Class,
				Text: fmt.Sprintf("x %g, y %g, %g×%g px", s.X, s.Y, s.W, s.H)})
		case "poly":
			out = append(out, evidenceItem{Check: s.Label, Key: "case.ev_portrait", Text: s.Points})
		}
	}
	for _, o := range order {
		kind, name, _ := strings.Cut(o, ":")
		if kind == "pairs" {
			out = append(out, evidenceItem{Check: name, Key: "case.ev_pairs", Text: strconv.Itoa(pairs[name])})
		} else {
			out = append(out, evidenceItem{Check: name, Key: "case.ev_heat", Text: strconv.Itoa(heat[name])})
		}
	}
	return out
}

// reproductionVerdict is a document-liveness check in words, shown beside
// the drawing.
type reproductionVerdict struct {
	Name       string
	Applicable bool
	Suspect    bool
}

func reproductionVerdicts(l *checksView) []reproductionVerdict {
	if l == nil {
		return nil
	}
	out := make([]reproductionVerdict, 0, len(l.Checks))
	for _, c := range l.Checks {
		out = append(out, reproductionVerdict{Name: c.Name, Applicable: c.Applicable, Suspect: c.Applicable && c.Score < 0.5})
	}
	return out
}

// Error level analysis. The front comes from the device: its size is read
// from the header before anything is decoded, and the work is bounded by
// maxELAPixels and by the console's decode slots (frontToDecode).
const (
	maxELAPixels = 16_000_000 // a 16 MP phone photo
	elaQuality   = 90
	elaGain      = 16 // the differences are a few levels: amplified to be seen
)

// errNotELA: the image is not a JPEG the console analyses.
var errNotELA = errors.New("not a JPEG the console analyses")

// jpegSize reads a JPEG's size from its header; ok is false for another
// format or a size out of bounds.
func jpegSize(data []byte) (w, h int, ok bool) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || format != "jpeg" || cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > maxELAPixels {
		return 0, 0, false
	}
	return cfg.Width, cfg.Height, true
}

// elaPNG computes the error level analysis of a JPEG: decoded, encoded
// again at quality elaQuality and decoded, the absolute difference of each
// pixel's channels amplified by elaGain, as a PNG of the image's size.
// Regions saved at another quality, or pasted in, differ from the rest.
func elaPNG(ctx context.Context, data []byte) ([]byte, error) {
	if _, _, ok := jpegSize(data); !ok {
		return nil, errNotELA
	}
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, errNotELA
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: elaQuality}); err != nil {
		return nil, fmt.Errorf("re-encoding: %w", err)
	}
	again, err := jpeg.Decode(&buf)
	if err != nil {
		return nil, fmt.Errorf("decoding the re-encoded image: %w", err)
	}
	// The map is turned as the front is shown (EXIF orientation), to lie
	// beside it the same way up.
	b := img.Bounds()
	o, w, h := imageio.Orientation(data), b.Dx(), b.Dy()
	ow, oh := w, h
	if o >= 5 {
		ow, oh = h, w
	}
	out := image.NewRGBA(image.Rect(0, 0, ow, oh))
	amp := func(a, c uint8) uint8 {
		d := int(a) - int(c)
		if d < 0 {
			d = -d
		}
		return uint8(min(255, d*elaGain))
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		if y%256 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		for x := b.Min.X; x < b.Max.X; x++ {
			r0, g0, b0 := rgb8(img, x, y)
			r1, g1, b1 := rgb8(again, x, y)
			i := out.PixOffset(oriented(o, x-b.Min.X, y-b.Min.Y, w, h))
			out.Pix[i], out.Pix[i+1], out.Pix[i+2], out.Pix[i+3] = amp(r0, r1), amp(g0, g1), amp(b0, b1), 255
		}
	}
	buf.Reset()
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, out); err != nil {
		return nil, fmt.Errorf("encoding the ELA map: %w", err)
	}
	return buf.Bytes(), nil
}

// oriented is where pixel (x, y) of a w×h picture goes once turned by
// the EXIF orientation o.
func oriented(o, x, y, w, h int) (int, int) {
	switch o {
	case 2:
		return w - 1 - x, y
	case 3:
		return w - 1 - x, h - 1 - y
	case 4:
		return x, h - 1 - y
	case 5:
		return y, x
	case 6:
		return h - 1 - y, x
	case 7:
		return h - 1 - y, w - 1 - x
	case 8:
		return y, w - 1 - x
	}
	return x, y
}

// rgb8 reads a pixel as 8-bit RGB, without the interface allocation of
// At for the decoder's usual types.
func rgb8(img image.Image, x, y int) (uint8, uint8, uint8) {
	switch m := img.(type) {
	case *image.YCbCr:
		yi, ci := m.YOffset(x, y), m.COffset(x, y)
		return color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
	case *image.Gray:
		v := m.Pix[m.PixOffset(x, y)]
		return v, v, v
	}
	r, g, b, _ := img.At(x, y).RGBA()
	return uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)
}
