// Package mrzread finds and reads the machine readable zone of a document
// photo: the OCR detector's boxes shaped like MRZ lines are read with the
// recogniser limited to the MRZ alphabet and handed to package mrz, which
// picks the zone, repairs OCR confusions and checks the check digits.
package mrzread

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/document/mrz"
	"github.com/openkyc/kyc/engine/ocr"
)

// ErrNoMRZ is returned by Read when the image holds no readable machine
// readable zone; it wraps mrz.ErrNoMRZ, so either sentinel matches. A photo
// without a zone is an expected outcome, not a failure of the reader.
var ErrNoMRZ = fmt.Errorf("mrzread: %w", mrz.ErrNoMRZ)

const (
	// minLineAspect is the least width/height ratio of a box worth reading:
	// the shortest MRZ line, 30 OCR-B characters at a 2.54 mm pitch, is
	// about 30 times as wide as its text is tall, and 20 times once the
	// detector's margin is added; half of that allows for a line cut in two
	// by a reflection before merging, or seen at an angle.
	minLineAspect = 10
	// maxAdded bounds the characters the length repair may insert into a
	// line: the same three the parser accepts a line to be off by, plus one.
	maxAdded = 4
	// retryScore is the share of valid check digits below which the zone
	// is read upside down as well, in case the page was: anything short of
	// a perfect reading, since an upside-down zone can still validate a
	// check digit or two by chance.
	retryScore = 100
)

// mrzDecode reads MRZ lines with the engine's MRZ recognisers: only their
// alphabet, only their lengths, at full width (neither
// DecodeOptions.MaxWidth nor the default squeeze): at 3 frames a character
// a blurred TD1 line lost characters. Reading the English recognisers'
// lower-case classes as capitals (DecodeOptions.Alias) was measured and
// made more errors on the doubango lines, not fewer.
var mrzDecode = ocr.DecodeOptions{Kind: ocr.MRZLines, Allow: ocr.MRZAlphabet, Lengths: []int{30, 36, 44}, MaxAdded: maxAdded, FullWidth: true}

// Reader reads machine readable zones. It is safe for concurrent use when
// its OCR engine is.
type Reader struct {
	ocr *ocr.Engine
	// recognize reads the zone's line boxes; nil is ocr.Recognize. Tests
	// put a peer reader here to compare it on the same boxes.
	recognize func(ctx context.Context, img gocv.Mat, boxes []ocr.Quad, opt ocr.DecodeOptions) ([]ocr.Line, error)
	// Now gives the date that decides two-digit centuries and expiry; nil
	// means time.Now.
	Now func() time.Time
}

// New returns a Reader that uses engine for detection and recognition.
func New(engine *ocr.Engine) *Reader { return &Reader{ocr: engine} }

// Read finds and parses the machine readable zone of a BGR document image.
// It returns ErrNoMRZ when there is none it can read; a zone whose check
// digits fail is still a Result, with a low ValidScore.
//
// The zone is looked for first with morphology, which is cheap, across
// the photo and then down it, and only the regions found are given to the
// text detector; the whole page is detected only when none of them reads
// well.
func (r *Reader) Read(ctx context.Context, img gocv.Mat) (*mrz.Result, error) {
	if img.Empty() || img.Type() != gocv.MatTypeCV8UC3 {
		return nil, fmt.Errorf("reading MRZ: %w", ocr.ErrBadImage)
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	var best *mrz.Result
	var firstErr error
	keep := func(res *mrz.Result, err error) {
		switch {
		case res != nil && (best == nil || res.ValidScore > best.ValidScore):
			best = res
		case err != nil && firstErr == nil:
			firstErr = err
		}
	}
	// readBands reads the zone candidates of src: true when one reads
	// perfectly.
	readBands := func(src gocv.Mat) (bool, error) {
		for _, q := range findBands(src) {
			crop, extent := cutBand(src, q)
			res, err := r.readRegion(ctx, crop, extent, now())
			crop.Close()
			if err != nil && !isNoMRZ(err) {
				return false, err
			}
			keep(res, err)
			if best != nil && best.ValidScore == 100 {
				return true, nil
			}
		}
		return best != nil && best.ValidScore >= retryScore, nil
	}
	done, err := readBands(img)
	if err == nil && !done {
		// A zone running down the photo (a landscape card photographed by
		// a phone held upright) is no band across it; the photo turned by
		// a quarter shows it as one, upside down or not, and bands are
		// read both ways up. Looking costs a few milliseconds; reading,
		// only when a band is found.
		turned := gocv.NewMat()
		defer turned.Close()
		gocv.Rotate(img, &turned, gocv.Rotate90Clockwise)
		done, err = readBands(turned)
	}
	switch {
	case err != nil:
		return nil, err
	case done:
		return best, nil
	}
	res, err := r.readRegion(ctx, img, [2]float64{}, now())
	if err != nil && !isNoMRZ(err) {
		return nil, err
	}
	keep(res, err)
	if best != nil {
		return best, nil
	}
	return nil, firstErr
}

// ReadLines reads the zone of a page whose text has already been read
// (lines, as ocr.Engine.Read returned them for img): the lines that look
// like part of a zone are read again with the MRZ alphabet and lengths,
// upright and, if that reads badly, upside down. It needs no text
// detection, so it costs a fraction of Read; it returns ErrNoMRZ when no
// line looks like part of a zone, and the caller may then try Read.
func (r *Reader) ReadLines(ctx context.Context, img gocv.Mat, lines []ocr.Line) (*mrz.Result, error) {
	if img.Empty() || img.Type() != gocv.MatTypeCV8UC3 {
		return nil, fmt.Errorf("reading MRZ: %w", ocr.ErrBadImage)
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	cands := zoneLines(lines)
	if len(cands) == 0 {
		return nil, fmt.Errorf("%w: no line of the page looks like an MRZ line", ErrNoMRZ)
	}
	return r.readCandidates(ctx, img, cands, now())
}

// zoneLines picks from a page reading the boxes of its zone lines: the
// detector's boxes joined where they continue each other, shaped like MRZ
// lines, and holding at least one piece whose text looks like MRZ text.
func zoneLines(lines []ocr.Line) []ocr.Quad {
	boxes := make([]ocr.Quad, len(lines))
	for i, l := range lines {
		boxes[i] = l.Box
	}
	var out []ocr.Quad
	for _, q := range mergeCollinear(boxes, false) {
		if h := q.Height(); h <= 0 || q.Width()/h < minLineAspect {
			continue
		}
		for _, l := range lines {
			if LooksLikeMRZ(l.Text) && q.Contains(l.Box.Center()) {
				out = append(out, q)
				break
			}
		}
	}
	return alignZone(out, [2]float64{})
}

// LooksLikeMRZ reports whether text, read with the full alphabet, looks
// like part of a machine readable zone: a run of fillers (read as '<' or
// one of its look-alikes), or a long unbroken run of capitals and digits.
func LooksLikeMRZ(text string) bool {
	fillers, other, n := 0, 0, 0
	for _, r := range text {
		n++
		switch {
		case strings.ContainsRune("<‹«＜〈", r):
			fillers++
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		default:
			other++
		}
	}
	return fillers >= 3 || (n >= 28 && other <= n/20)
}

// readRegion detects the lines of img and reads those shaped like MRZ
// lines. Lines are stretched to span at least extent along the image's x
// axis, where the zone was seen to lie; a zero extent stretches nothing.
func (r *Reader) readRegion(ctx context.Context, img gocv.Mat, extent [2]float64, now time.Time) (*mrz.Result, error) {
	boxes, err := r.ocr.Detect(ctx, img)
	if err != nil {
		return nil, fmt.Errorf("reading MRZ: %w", err)
	}
	cands := lineCandidates(boxes, extent)
	if len(cands) == 0 {
		return nil, fmt.Errorf("%w: no text line is shaped like an MRZ line", ErrNoMRZ)
	}
	return r.readCandidates(ctx, img, cands, now)
}

// readCandidates reads the candidate zone lines upright and, when that
// reads badly, upside down.
func (r *Reader) readCandidates(ctx context.Context, img gocv.Mat, cands []ocr.Quad, now time.Time) (*mrz.Result, error) {
	best, err := r.parse(ctx, img, cands, now)
	if best != nil && best.ValidScore >= retryScore {
		return best, nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return nil, fmt.Errorf("reading MRZ: %w", ctxErr)
	}
	// Upside down, the same boxes are read from their opposite corners and
	// in the opposite order: no second detection is needed.
	flipped := make([]ocr.Quad, len(cands))
	for i, q := range cands {
		flipped[len(cands)-1-i] = ocr.Quad{q[2], q[3], q[0], q[1]}
	}
	res, ferr := r.parse(ctx, img, flipped, now)
	switch {
	case res != nil && (best == nil || res.ValidScore > best.ValidScore):
		return res, nil
	case best != nil:
		return best, nil
	case isNoMRZ(err) && isNoMRZ(ferr):
		return nil, fmt.Errorf("%w: %v", ErrNoMRZ, err)
	case !isNoMRZ(err):
		return nil, err
	}
	return nil, ferr
}

// parse reads the boxes as MRZ lines and parses them, asking the engine's
// MRZ recognisers in turn (ocr.Config.MRZ) while the check digits do not
// all hold, and keeps the best zone: the cheapest reads most zones right,
// and each other reads some that the ones before misread (TestMRZReaders).
// The zone's name line is then the surest reading of it (nameLine).
func (r *Reader) parse(ctx context.Context, img gocv.Mat, boxes []ocr.Quad, now time.Time) (*mrz.Result, error) {
	var best *mrz.Result
	var bestLines []ocr.Line
	var reads [][]ocr.Line // every recogniser's reading of the boxes
	var firstErr error
	for op := range r.ocr.MRZOpinions() {
		opt := mrzDecode
		opt.Opinion = op
		lines, res, err := r.parseWith(ctx, img, boxes, opt, now)
		if lines != nil {
			reads = append(reads, lines)
		}
		switch {
		case err != nil && !isNoMRZ(err):
			return nil, err
		case res != nil && (best == nil || res.ValidScore > best.ValidScore):
			best, bestLines = res, lines
		case err != nil && firstErr == nil:
			firstErr = err
		}
		if best != nil && best.ValidScore == 100 {
			break
		}
	}
	if best != nil {
		return nameLine(best, bestLines, reads, now), nil
	}
	return nil, firstErr
}

// nameLine returns the zone best (read as lines) with its name line as
// the recogniser surest of it read it, when another recogniser (others,
// the same boxes) read that line with a higher mean confidence and the
// zone parses the same otherwise. No check digit covers the name line
// (TD1's third, the others' first: the code, the issuer, the name), so a
// zone chosen for its check digits may come with a name line its
// recogniser misread, the fillers as K and C, where another read it
// well: 25_pass-uto's first line "PCUTOERIKSSONSKANNACNARIAKKKKCKK...".
// others may hold lines itself.
func nameLine(best *mrz.Result, lines []ocr.Line, others [][]ocr.Line, now time.Time) *mrz.Result {
	name := 0
	if best.Format == mrz.TD1 {
		name = 2
	}
	if name >= len(best.Lines) {
		return best
	}
	out, conf := best, float32(-1)
	for _, o := range others {
		for k := range min(len(o), len(lines)) {
			if o[k].Text == "" || o[k].Text == lines[k].Text || o[k].Conf <= lines[k].Conf || o[k].Conf <= conf {
				continue
			}
			swapped := append([]ocr.Line(nil), lines...)
			swapped[k] = o[k]
			res, err := parseLines(swapped, now)
			if err != nil || res.Format != best.Format || res.ValidScore < best.ValidScore || !sameBut(res.Lines, best.Lines, name) ||
				!wellFormedName(res.Lines[name], best.Format) {
				continue
			}
			out, conf = res, o[k].Conf
		}
	}
	return out
}

// nameShape is an ICAO 9303 name field: components of letters parted by
// one filler, the primary and secondary identifiers by two, fillers to the
// end.
var nameShape = regexp.MustCompile(`^[A-Z]+(<[A-Z]+)*(<<[A-Z]+(<[A-Z]+)*)?<*$`)

// wellFormedName reports whether the name line of a zone of format f
// holds a name of that shape: another recogniser's surer reading of the
// line is taken only then (100_pass-bdr's "MUSTERMANN<<<ERIKA" is not).
func wellFormedName(line string, f mrz.Format) bool {
	if f != mrz.TD1 {
		if len(line) < 5 {
			return false
		}
		line = line[5:]
	}
	return nameShape.MatchString(line)
}

// sameBut reports whether a and b hold the same lines but at index skip.
func sameBut(a, b []string, skip int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if i != skip && a[i] != b[i] {
			return false
		}
	}
	return true
}

// parseWith reads the boxes with opt and parses them; it returns the
// lines read, the zone and an error.
func (r *Reader) parseWith(ctx context.Context, img gocv.Mat, boxes []ocr.Quad, opt ocr.DecodeOptions, now time.Time) ([]ocr.Line, *mrz.Result, error) {
	recognize := r.ocr.Recognize
	if r.recognize != nil {
		recognize = r.recognize
	}
	lines, err := recognize(ctx, img, boxes, opt)
	if err != nil {
		return nil, nil, fmt.Errorf("reading MRZ: %w", err)
	}
	res, err := parseLines(lines, now)
	return lines, res, err
}

// parseLines parses lines read as an MRZ, with their filler odds.
func parseLines(lines []ocr.Line, now time.Time) (*mrz.Result, error) {
	readings := make([]mrz.Reading, 0, len(lines))
	for _, l := range lines {
		if l.Text != "" {
			readings = append(readings, Reading(l))
		}
	}
	res, err := mrz.ParseReadings(readings, now)
	if err != nil {
		return nil, fmt.Errorf("reading MRZ: %w", err)
	}
	return res, nil
}

// Reading is l with the odds, per character, that the recogniser saw a
// filler where it read a letter (ocr.Line.FillerOdds).
func Reading(l ocr.Line) mrz.Reading {
	return mrz.Reading{Text: l.Text, FillerOdds: l.FillerOdds()}
}

// isNoMRZ reports whether err means the text held no zone, as opposed to
// the reader failing.
func isNoMRZ(err error) bool {
	return errors.Is(err, mrz.ErrNoMRZ) || errors.Is(err, mrz.ErrUnknownFormat)
}

// lineCandidates merges the pieces of lines the detector split and keeps
// the boxes shaped like MRZ lines, in reading order, stretched as
// alignZone does.
//
// Inside a band (extent set) every box is a piece of a zone line: pieces
// on one line are joined however far apart (the detector loses the middle
// of a line as readily as its fillers), and a piece that starts at the
// zone's left edge needs only half the usual aspect, as a name line whose
// run of fillers was lost does ("P<AUSCITIZEN<<JANE" and 26 fillers).
func lineCandidates(boxes []ocr.Quad, extent [2]float64) []ocr.Quad {
	band := extent != [2]float64{}
	merged := mergeCollinear(boxes, band)
	var out []ocr.Quad
	for _, q := range merged {
		h := q.Height()
		if h <= 0 {
			continue
		}
		aspect := q.Width() / h
		atLeft := band && math.Min(q[0].X, q[3].X)-extent[0] <= h
		if aspect >= minLineAspect || (atLeft && aspect >= minLineAspect/2) {
			out = append(out, q)
		}
	}
	return alignZone(out, extent)
}

// alignZone stretches every line to the ends of the longest line of
// similar height, and to the x range extent when it is not zero: the lines
// of a zone all start and end together, and the detector often stops short
// of a long run of fillers at a line's end or loses a faint first
// character.
func alignZone(lines []ocr.Quad, extent [2]float64) []ocr.Quad {
	out := make([]ocr.Quad, len(lines))
	for i, q := range lines {
		out[i] = q
		h := q.Height()
		if h <= 0 || q.Width() == 0 {
			continue
		}
		// The zone's lines: similar height, close above or below. The
		// widest gives the direction, which a short piece's own box
		// estimates poorly.
		zone := []ocr.Quad{}
		dir := q
		own := direction(q)
		for _, o := range lines {
			ho := o.Height()
			if ho <= 0 || math.Max(h, ho) > 1.5*math.Min(h, ho) ||
				math.Abs(own.across(o.Center())-own.across(q.Center())) > 4*math.Max(h, ho) {
				continue
			}
			zone = append(zone, o)
			if o.Width() > dir.Width() {
				dir = o
			}
		}
		ax := direction(dir)
		minU, maxU := ax.span(q)
		c := q.Center()
		if extent != [2]float64{} && ax.ux > 0.9 {
			// The extent's ends as seen along the zone's direction.
			minU = math.Min(minU, ax.along(ocr.Point{X: extent[0], Y: c.Y}))
			maxU = math.Max(maxU, ax.along(ocr.Point{X: extent[1], Y: c.Y}))
		}
		for _, o := range zone {
			// Only lines overlapping this one along the text.
			ol, or := ax.span(o)
			if or < minU || ol > maxU {
				continue
			}
			minU, maxU = math.Min(minU, ol), math.Max(maxU, or)
		}
		vc := ax.across(c)
		out[i] = ax.rect(minU, maxU, vc-h/2, vc+h/2)
	}
	return out
}

// direction is q's text direction, top-left to top-right.
func direction(q ocr.Quad) axes {
	dx, dy := q[1].X-q[0].X, q[1].Y-q[0].Y
	l := math.Hypot(dx, dy)
	if l == 0 {
		return axes{1, 0}
	}
	return axes{dx / l, dy / l}
}

// axes are a text direction (a unit vector) and its normal: coordinates
// along and across a line.
type axes struct{ ux, uy float64 }

func (a axes) along(p ocr.Point) float64  { return p.X*a.ux + p.Y*a.uy }
func (a axes) across(p ocr.Point) float64 { return -p.X*a.uy + p.Y*a.ux }

// point is the image point at these coordinates.
func (a axes) point(along, across float64) ocr.Point {
	return ocr.Point{X: along*a.ux - across*a.uy, Y: along*a.uy + across*a.ux}
}

// span is q's extent along the direction.
func (a axes) span(q ocr.Quad) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, p := range q {
		lo, hi = math.Min(lo, a.along(p)), math.Max(hi, a.along(p))
	}
	return lo, hi
}

// rect is the rectangle with these bounds along and across.
func (a axes) rect(minU, maxU, minV, maxV float64) ocr.Quad {
	return ocr.Quad{a.point(minU, minV), a.point(maxU, minV), a.point(maxU, maxV), a.point(minU, maxV)}
}

// mergeCollinear joins boxes that continue each other on one text line:
// similar height, centres on one line along the text direction and a gap
// of at most two heights. The detector splits an MRZ line where glare or a
// long run of fillers thins it out.
//
// With anyGap, pieces at any distance are joined, along the mean of their
// directions (one short piece's own direction drifts by a line's height
// over the width of a zone).
func mergeCollinear(boxes []ocr.Quad, anyGap bool) []ocr.Quad {
	out := append([]ocr.Quad(nil), boxes...)
	for merged := true; merged; {
		merged = false
		for i := 0; i < len(out) && !merged; i++ {
			for j := i + 1; j < len(out); j++ {
				if q, ok := join(out[i], out[j], anyGap); ok {
					out[i] = q
					out = append(out[:j], out[j+1:]...)
					merged = true
					break
				}
			}
		}
	}
	return out
}

// join returns the box covering a and b when they are pieces of one line.
func join(a, b ocr.Quad, anyGap bool) (ocr.Quad, bool) {
	ha, hb := a.Height(), b.Height()
	if ha <= 0 || hb <= 0 || math.Max(ha, hb) > 1.5*math.Min(ha, hb) {
		return ocr.Quad{}, false
	}
	// The text direction of a (with anyGap, of a and b), as a unit vector.
	dx, dy := a[1].X-a[0].X, a[1].Y-a[0].Y
	if anyGap {
		dx, dy = dx+b[1].X-b[0].X, dy+b[1].Y-b[0].Y
	}
	l := math.Hypot(dx, dy)
	if l == 0 {
		return ocr.Quad{}, false
	}
	ax := axes{dx / l, dy / l}
	ca, cb := a.Center(), b.Center()
	along := ax.along(cb) - ax.along(ca)
	across := ax.across(cb) - ax.across(ca)
	h := math.Max(ha, hb)
	if math.Abs(across) > h/2 {
		return ocr.Quad{}, false
	}
	gap := math.Abs(along) - (a.Width()+b.Width())/2
	if gap > 2*h && !anyGap {
		return ocr.Quad{}, false
	}
	// The union, as a rectangle along the direction; far apart, across
	// it only the two centre lines and the taller height, since the
	// pieces' own tilts would inflate it.
	minU, maxU, minV, maxV := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, q := range []ocr.Quad{a, b} {
		for _, p := range q {
			minU, maxU = math.Min(minU, ax.along(p)), math.Max(maxU, ax.along(p))
			minV, maxV = math.Min(minV, ax.across(p)), math.Max(maxV, ax.across(p))
		}
	}
	if anyGap {
		va, vb := ax.across(ca), ax.across(cb)
		minV, maxV = math.Min(va, vb)-h/2, math.Max(va, vb)+h/2
	}
	return ax.rect(minU, maxU, minV, maxV), true
}
