package forgery

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode/utf8"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/document/mrz"
	"github.com/openkyc/kyc/internal/synth"
)

// gen renders every category of one specimen.
type gen struct {
	s      *specimen
	rng    *rand.Rand
	dir    string
	set    *Set
	specs  []*specimen
	donors []string
	donor  string // the photo pasted last, for the samples written until the next swap
}

func (g *gen) u(lo, hi float64) float64 { return lo + (hi-lo)*g.rng.Float64() }

func (g *gen) skip(c Category, why string) {
	g.set.Skipped = append(g.set.Skipped, Skipped{Specimen: g.s.name, Category: c, Why: why})
}

// write saves data as the sample of category c.
func (g *gen) write(c Category, data []byte, ext, note string) error {
	// The file name whole (passport-td2.jpg and passport-td2.png are two
	// specimens: each needs its own samples).
	stem := strings.ReplaceAll(g.s.name, ".", "-")
	slug := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(c.Name))
	path := filepath.Join(g.dir, fmt.Sprintf("%s__%s__%s%s", stem, strings.ReplaceAll(string(c.Group), " ", ""), slug, ext))
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return err
	}
	smp := Sample{Specimen: g.s.name, Category: c, Calibration: g.s.calib, Path: path, Note: note}
	if c.Group == GroupPortrait || c.Group == GroupFull {
		smp.Donor = g.donor
	}
	g.set.Samples = append(g.set.Samples, smp)
	return nil
}

// saveJPEG writes img as a JPEG of each quality in turn (a re-save chain).
func (g *gen) saveJPEG(c Category, img gocv.Mat, note string, qs ...int) error {
	data, err := jpegChain(img, qs...)
	if err != nil {
		return err
	}
	return g.write(c, data, ".jpg", note)
}

func jpegChain(img gocv.Mat, qs ...int) ([]byte, error) {
	cur := img.Clone()
	defer func() { cur.Close() }()
	var data []byte
	for i, q := range qs {
		buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, cur, []int{gocv.IMWriteJpegQuality, q})
		if err != nil {
			return nil, err
		}
		data = append([]byte(nil), buf.GetBytes()...)
		buf.Close()
		if i+1 < len(qs) {
			next, err := gocv.IMDecode(data, gocv.IMReadColor)
			if err != nil {
				return nil, err
			}
			cur.Close()
			cur = next
		}
	}
	return data, nil
}

func pngBytes(img gocv.Mat) ([]byte, error) {
	buf, err := gocv.IMEncode(gocv.PNGFileExt, img)
	if err != nil {
		return nil, err
	}
	defer buf.Close()
	return append([]byte(nil), buf.GetBytes()...), nil
}

func (g *gen) all() error {
	img := g.s.img
	g.set.Samples = append(g.set.Samples, Sample{Specimen: g.s.name, Category: CatUnchanged, Calibration: g.s.calib, Path: g.s.path})
	for _, c := range []struct {
		cat Category
		q   []int
	}{{CatQ75, []int{75}}, {CatQ80, []int{80}}, {CatQ85, []int{85}}, {CatQ90, []int{90}}, {CatQ95, []int{95}}, {CatQ95Q75, []int{95, 75}}} {
		if err := g.saveJPEG(c.cat, img, "", c.q...); err != nil {
			return err
		}
	}
	if err := g.webcam(); err != nil {
		return err
	}

	// Portrait substitution.
	if g.s.layout.portrait.Empty() {
		for _, c := range []Category{CatPhotoHard, CatPhotoBlend, CatDocHard, CatDocBlend} {
			g.skip(c, "no portrait found")
		}
	} else {
		for _, c := range []struct {
			cat          Category
			doc, blended bool
		}{{CatPhotoHard, false, false}, {CatPhotoBlend, false, true}, {CatDocHard, true, false}, {CatDocBlend, true, true}} {
			out := img.Clone()
			note, err := g.swapPortrait(&out, c.doc, c.blended)
			if err == nil {
				err = g.saveJPEG(c.cat, out, note, 90)
			} else if err == errNoDonor {
				g.skip(c.cat, err.Error())
				err = nil
			}
			out.Close()
			if err != nil {
				return err
			}
		}
	}

	// Field edits.
	yy, vizOK, mrzOK := g.newExpiryYear()
	for _, c := range []Category{CatVIZClone, CatMRZClone, CatPastedField} {
		out := img.Clone()
		var note string
		ok := false
		switch c {
		case CatVIZClone:
			note, ok = g.cloneVIZYear(&out, yy, vizOK)
		case CatMRZClone:
			note, ok = g.cloneMRZExpiry(&out, yy, mrzOK)
		case CatPastedField:
			note, ok = g.pasteVIZYear(&out, yy)
		}
		var err error
		if ok {
			err = g.saveJPEG(c, out, note, 90)
		} else {
			g.skip(c, note)
		}
		out.Close()
		if err != nil {
			return err
		}
	}

	// The full forgery: portrait from a photo (blended), expiry year in the
	// visual zone and the MRZ, check digits recomputed.
	if err := g.full(yy, vizOK && mrzOK); err != nil {
		return err
	}

	// Reproductions (simulated).
	seed := g.rng.Uint64()
	ht := synth.PrintPhoto(img, synth.PrintOptions{Period: g.u(2.5, 5), Angle: g.u(-2, 2), Blur: 0.5, Paper: 0.93, Light: g.u(0, 0.2), Noise: 1.5, JPEGQuality: 90, Seed: seed})
	err := g.saveJPEG(CatPrintHalftone, ht, "", 92)
	ht.Close()
	if err != nil {
		return err
	}
	ij := inkjetPhoto(img, seed)
	err = g.saveJPEG(CatPrintInkjet, ij, "", 90)
	ij.Close()
	if err != nil {
		return err
	}
	pc := photocopy(img, seed)
	err = g.saveJPEG(CatPhotocopy, pc, "", 90)
	pc.Close()
	if err != nil {
		return err
	}
	sc := synth.ScreenPhoto(img, synth.ScreenOptions{Pitch: g.u(1.1, 1.6), Angle: g.u(-3, 3), Blur: 0.4, Brightness: 0.85, Tint: g.u(-0.04, 0.04), Noise: 1.5, JPEGQuality: 90, Seed: seed})
	err = g.saveJPEG(CatScreenReplayed, sc, "", 92)
	sc.Close()
	return err
}

func (g *gen) full(yy string, ok bool) error {
	if g.s.layout.portrait.Empty() || !ok {
		why := "no portrait found"
		if !ok {
			why = "no expiry year whose glyphs the page has in both the visual zone and the MRZ"
		}
		for _, c := range []Category{CatFullPNG, CatFullQ90, CatFullQ95Q75} {
			g.skip(c, why)
		}
		return nil
	}
	out := g.s.img.Clone()
	defer out.Close()
	n1, err := g.swapPortrait(&out, false, true)
	if err != nil {
		return err
	}
	n2, _ := g.cloneVIZYear(&out, yy, true)
	n3, _ := g.cloneMRZExpiry(&out, yy, true)
	note := n1 + "; " + n2 + "; " + n3
	data, err := pngBytes(out)
	if err != nil {
		return err
	}
	if err := g.write(CatFullPNG, data, ".png", note); err != nil {
		return err
	}
	if err := g.saveJPEG(CatFullQ90, out, note, 90); err != nil {
		return err
	}
	return g.saveJPEG(CatFullQ95Q75, out, note, 95, 75)
}

// webcam is the specimen held in front of a webcam: scaled to fit a
// 1280x720 frame, a little blur and sensor noise, the camera's MJPEG frame
// (quality 80), saved again at 90 by the capture application.
func (g *gen) webcam() error {
	img := g.s.img
	frame := img.Clone()
	defer frame.Close()
	if s := math.Min(1280/float64(img.Cols()), 720/float64(img.Rows())); s < 1 {
		gocv.Resize(img, &frame, image.Pt(int(float64(img.Cols())*s), int(float64(img.Rows())*s)), 0, 0, gocv.InterpolationArea)
	}
	gocv.GaussianBlur(frame, &frame, image.Pt(0, 0), 0.6, 0.6, gocv.BorderReflect)
	addNoise(&frame, 2, g.rng.Uint64())
	return g.saveJPEG(CatWebcam, frame, "", 80, 90)
}

func addNoise(m *gocv.Mat, sigma float64, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 3))
	p, _ := m.DataPtrUint8()
	for i := range p {
		p[i] = uint8(min(max(float64(p[i])+sigma*rng.NormFloat64()+0.5, 0), 255))
	}
}

var errNoDonor = fmt.Errorf("no donor portrait")

// swapPortrait replaces the printed portrait with a face from a photo or
// from another specimen (of the same half), hard-edged as cut, or blended:
// its colours matched to the page's and its edge feathered.
func (g *gen) swapPortrait(img *gocv.Mat, fromDoc, blended bool) (string, error) {
	dst := g.s.layout.portrait
	var donor gocv.Mat
	var note string
	g.donor = ""
	if fromDoc {
		var cands []*specimen
		stem := func(n string) string { return strings.TrimSuffix(n, filepath.Ext(n)) }
		for _, o := range g.specs {
			if o.calib == g.s.calib && stem(o.name) != stem(g.s.name) && !o.layout.portrait.Empty() {
				cands = append(cands, o)
			}
		}
		if len(cands) == 0 {
			return "", errNoDonor
		}
		o := cands[g.rng.IntN(len(cands))]
		r := o.img.Region(o.layout.portrait)
		donor = r.Clone()
		r.Close()
		note = "portrait of " + o.name
	} else {
		f := g.donors[g.rng.IntN(len(g.donors))]
		src := gocv.IMRead(f, gocv.IMReadColor)
		if src.Empty() {
			return "", fmt.Errorf("cannot read %s", f)
		}
		// The portraits are square crops around the face: a centred
		// window of the page portrait's aspect.
		h := int(0.85 * float64(src.Rows()))
		w := min(src.Cols(), int(float64(h)*float64(dst.Dx())/float64(dst.Dy())))
		r := image.Rect((src.Cols()-w)/2, (src.Rows()-h)/2, (src.Cols()-w)/2+w, (src.Rows()-h)/2+h)
		reg := src.Region(r)
		donor = reg.Clone()
		reg.Close()
		src.Close()
		note = "face of " + filepath.Base(f)
		g.donor = f
	}
	defer donor.Close()
	fit := gocv.NewMat()
	defer fit.Close()
	gocv.Resize(donor, &fit, dst.Size(), 0, 0, gocv.InterpolationArea)
	target := img.Region(dst)
	defer target.Close()
	if !blended {
		fit.CopyTo(&target)
		return note + ", hard edge", nil
	}
	matchColours(&fit, target)
	// A mask of 1 inside, falling to 0 over the outer eighth.
	mask := gocv.NewMatWithSize(dst.Dy(), dst.Dx(), gocv.MatTypeCV32F)
	defer mask.Close()
	f := max(3, min(dst.Dx(), dst.Dy())/8)
	inner := mask.Region(image.Rect(f, f, dst.Dx()-f, dst.Dy()-f))
	inner.SetTo(gocv.NewScalar(1, 0, 0, 0))
	inner.Close()
	gocv.GaussianBlur(mask, &mask, image.Pt(0, 0), float64(f)/2, float64(f)/2, gocv.BorderConstant)
	mp, _ := mask.DataPtrFloat32()
	dp, _ := fit.DataPtrUint8()
	out := target.Clone()
	defer out.Close()
	op, _ := out.DataPtrUint8()
	for i, a := range mp {
		for c := 0; c < 3; c++ {
			k := 3*i + c
			op[k] = uint8(float64(a)*float64(dp[k]) + (1-float64(a))*float64(op[k]) + 0.5)
		}
	}
	out.CopyTo(&target)
	return note + ", blended", nil
}

// matchColours moves each channel of m to the mean and spread of ref's.
func matchColours(m *gocv.Mat, ref gocv.Mat) {
	mm, ms := gocv.NewMat(), gocv.NewMat()
	rm, rs := gocv.NewMat(), gocv.NewMat()
	defer mm.Close()
	defer ms.Close()
	defer rm.Close()
	defer rs.Close()
	gocv.MeanStdDev(*m, &mm, &ms)
	gocv.MeanStdDev(ref, &rm, &rs)
	p, _ := m.DataPtrUint8()
	var a, b [3]float64
	for c := 0; c < 3; c++ {
		sd := math.Max(ms.GetDoubleAt(c, 0), 1)
		a[c] = math.Min(rs.GetDoubleAt(c, 0)/sd, 2)
		b[c] = rm.GetDoubleAt(c, 0) - a[c]*mm.GetDoubleAt(c, 0)
	}
	for i := range p {
		c := i % 3
		p[i] = uint8(min(max(a[c]*float64(p[i])+b[c]+0.5, 0), 255))
	}
}

// vizYear finds the expiry year printed in the visual zone: the line, the
// rune index of the year's last two digits, and the century printed before
// them ("20" in 2031, "" in 15 APR 31). A four-digit year is looked for
// first, then the day and the two-digit year with a month between.
func (g *gen) vizYear() (textLine, int, string, bool) {
	z := g.s.layout.mrz
	if z == nil {
		return textLine{}, 0, "", false
	}
	line, at, _, _, _, _, ok := mrzPositions(z)
	if !ok {
		return textLine{}, 0, "", false
	}
	exp := z.lines[line].text[at : at+6]
	century := "20"
	if exp[:2] > "60" {
		century = "19"
	}
	four := regexp.MustCompile(`(^|\D)` + century + exp[:2] + `(\D|$)`)
	short := regexp.MustCompile(`(^|\D)` + exp[4:6] + `[^0-9]{1,12}(?:` + exp[2:4] + `[^0-9]{1,3})?(` + exp[:2] + `)(\D|$)`)
	for _, pass := range []int{0, 1} {
		for _, tl := range g.s.layout.lines {
			if isMRZLine(z, tl) {
				continue
			}
			var byteAt int
			prefix := ""
			if pass == 0 {
				m := four.FindStringIndex(tl.text)
				if m == nil {
					continue
				}
				byteAt = strings.Index(tl.text[m[0]:], century+exp[:2]) + m[0] + 2
				prefix = century
			} else {
				m := short.FindStringSubmatchIndex(tl.text)
				if m == nil {
					continue
				}
				byteAt = m[4]
			}
			ri := utf8.RuneCountInString(tl.text[:byteAt])
			if ri+2 <= len(tl.cells) && ri-len(prefix) >= 0 && !tl.cells[ri].Empty() && !tl.cells[ri+1].Empty() && !tl.cells[ri-len(prefix)].Empty() {
				return tl, ri, prefix, true
			}
		}
	}
	return textLine{}, 0, "", false
}

func isMRZLine(z *zone, tl textLine) bool {
	for _, l := range z.lines {
		if l.box == tl.box {
			return true
		}
	}
	return false
}

// newExpiryYear picks the forged expiry's two-digit year, one that makes
// the document valid again: 2027 to 2040 (tried in a seeded order; the
// benchmark does not depend on today's date), preferring one whose digits
// the page offers as glyphs both in the visual zone and the MRZ (with the
// new check digits). The ok flags say which zones can take it.
func (g *gen) newExpiryYear() (yy string, vizOK, mrzOK bool) {
	z := g.s.layout.mrz
	if z == nil {
		return "", false, false
	}
	line, at, _, _, _, _, ok := mrzPositions(z)
	if !ok {
		return "", false, false
	}
	old := z.lines[line].text[at : at+2]
	if old[0] < '0' || old[0] > '9' || old[1] < '0' || old[1] > '9' {
		return "", false, false
	}
	best := ""
	bestV, bestM := false, false
	for _, k := range g.rng.Perm(14) {
		cand := fmt.Sprintf("%02d", 27+k)
		if cand == old {
			continue
		}
		v := g.vizGlyphsFor(cand)
		m := g.mrzGlyphsFor(cand)
		if v && m {
			return cand, true, true
		}
		if best == "" || (m && !bestM) || (v && !bestV && !bestM) {
			best, bestV, bestM = cand, v, m
		}
	}
	return best, bestV, bestM
}

// mrzEdit is the zone after the expiry's year is changed to yy: the
// positions that change and their new characters.
type edit struct {
	line, col int
	to        rune
}

func (g *gen) mrzEdits(yy string) ([]edit, bool) {
	z := g.s.layout.mrz
	line, at, ck, cl, cc, comp, ok := mrzPositions(z)
	if !ok {
		return nil, false
	}
	texts := make([]string, len(z.lines))
	for i, l := range z.lines {
		texts[i] = l.text
	}
	b := []byte(texts[line])
	b[at], b[at+1] = yy[0], yy[1]
	d, err := mrz.CheckDigit(string(b[at : at+6]))
	if err != nil {
		return nil, false
	}
	b[ck] = byte('0' + d)
	texts[line] = string(b)
	cd, err := mrz.CheckDigit(comp(texts))
	if err != nil {
		return nil, false
	}
	c := []byte(texts[cl])
	c[cc] = byte('0' + cd)
	texts[cl] = string(c)
	var es []edit
	for i, l := range z.lines {
		for j := range l.text {
			if texts[i][j] != l.text[j] {
				es = append(es, edit{i, j, rune(texts[i][j])})
			}
		}
	}
	return es, true
}

// glyphSource finds a cell among lines showing r, not one of the edited.
func glyphSource(lines []textLine, r rune, edited map[[2]int]bool, near image.Rectangle) (image.Rectangle, bool) {
	best, found := image.Rectangle{}, false
	bestD := math.Inf(1)
	for i, l := range lines {
		for j, c := range []rune(l.text) {
			if c != r || j >= len(l.cells) || l.cells[j].Empty() || edited[[2]int{i, j}] {
				continue
			}
			cell := l.cells[j]
			d := math.Hypot(float64(cell.Min.X-near.Min.X), 4*float64(cell.Min.Y-near.Min.Y))
			if d < bestD {
				best, bestD, found = cell, d, true
			}
		}
	}
	return best, found
}

func (g *gen) mrzGlyphsFor(yy string) bool {
	es, ok := g.mrzEdits(yy)
	if !ok {
		return false
	}
	z := g.s.layout.mrz
	edited := map[[2]int]bool{}
	for _, e := range es {
		edited[[2]int{e.line, e.col}] = true
	}
	for _, e := range es {
		if _, ok := g.findGlyph(z.lines, e.to, edited, z.lines[e.line].cells[e.col], true); !ok {
			return false
		}
	}
	return true
}

// vizLines are the visual zone's lines of about the height of l.
func (g *gen) vizLines(l textLine) []textLine {
	var out []textLine
	for _, o := range g.s.layout.lines {
		if g.s.layout.mrz != nil && isMRZLine(g.s.layout.mrz, o) {
			continue
		}
		r := float64(o.box.Dy()) / float64(l.box.Dy())
		if r > 0.8 && r < 1.25 {
			out = append(out, o)
		}
	}
	return out
}

func (g *gen) vizGlyphsFor(yy string) bool {
	tl, at, _, ok := g.vizYear()
	if !ok {
		return false
	}
	edited := map[[2]int]bool{}
	lines := g.vizLines(tl)
	li := lineIndex(lines, tl)
	edited[[2]int{li, at}], edited[[2]int{li, at + 1}] = true, true
	rs := []rune(tl.text)
	for k := 0; k < 2; k++ {
		if rune(yy[k]) == rs[at+k] {
			continue
		}
		if _, ok := g.findGlyph(lines, rune(yy[k]), edited, tl.cells[at+k], false); !ok {
			return false
		}
	}
	return true
}

func lineIndex(lines []textLine, l textLine) int {
	for i, o := range lines {
		if o.box == l.box {
			return i
		}
	}
	return -1
}

// glyph is where a character to clone is found: on the page itself, or,
// when the page does not print it, on another specimen of the same half
// (the same zone: MRZ or visual zone).
type glyph struct {
	from *specimen // nil: the page being forged
	rect image.Rectangle
}

// findGlyph looks for r on the page's lines, then on the other
// specimens' lines of the same zone.
func (g *gen) findGlyph(lines []textLine, r rune, edited map[[2]int]bool, near image.Rectangle, mrzZone bool) (glyph, bool) {
	if rect, ok := glyphSource(lines, r, edited, near); ok {
		return glyph{rect: rect}, true
	}
	stem := func(n string) string { return strings.TrimSuffix(n, filepath.Ext(n)) }
	for _, o := range g.specs {
		if o.calib != g.s.calib || stem(o.name) == stem(g.s.name) {
			continue
		}
		var ls []textLine
		if mrzZone {
			if o.layout.mrz == nil {
				continue
			}
			ls = o.layout.mrz.lines
		} else {
			for _, l := range o.layout.lines {
				if o.layout.mrz == nil || !isMRZLine(o.layout.mrz, l) {
					ls = append(ls, l)
				}
			}
		}
		if rect, ok := glyphSource(ls, r, nil, image.Rectangle{}); ok {
			return glyph{from: o, rect: rect}, true
		}
	}
	return glyph{}, false
}

func (gl glyph) origin() string {
	if gl.from == nil {
		return ""
	}
	return " (glyph from " + gl.from.name + ")"
}

// paste copies the glyph over dst: from the page, the window of dst's size
// centred on it (pixel-identical, background included); from another
// document, its cell scaled to dst.
func (g *gen) paste(img *gocv.Mat, src glyph, dst image.Rectangle) {
	if src.from == nil {
		cloneGlyph(img, src.rect, dst)
		return
	}
	dst = dst.Intersect(image.Rect(0, 0, img.Cols(), img.Rows()))
	r := src.rect.Intersect(image.Rect(0, 0, src.from.img.Cols(), src.from.img.Rows()))
	if dst.Empty() || r.Empty() {
		return
	}
	from := src.from.img.Region(r)
	scaled := gocv.NewMat()
	gocv.Resize(from, &scaled, dst.Size(), 0, 0, gocv.InterpolationArea)
	from.Close()
	to := img.Region(dst)
	scaled.CopyTo(&to)
	to.Close()
	scaled.Close()
}

// cloneGlyph copies the window of dst's size centred on src over dst.
func cloneGlyph(img *gocv.Mat, src, dst image.Rectangle) {
	b := image.Rect(0, 0, img.Cols(), img.Rows())
	dst = dst.Inset(-1).Intersect(b)
	c := image.Pt((src.Min.X+src.Max.X)/2, (src.Min.Y+src.Max.Y)/2)
	s := image.Rectangle{Min: c.Sub(image.Pt(dst.Dx()/2, dst.Dy()/2))}
	s.Max = s.Min.Add(dst.Size())
	if !s.In(b) || dst.Empty() {
		return
	}
	synth.CopyMove(img, s, dst)
}

func (g *gen) cloneMRZExpiry(img *gocv.Mat, yy string, ok bool) (string, bool) {
	if !ok || yy == "" {
		return "no MRZ read, or no glyphs for a new expiry", false
	}
	z := g.s.layout.mrz
	es, _ := g.mrzEdits(yy)
	edited := map[[2]int]bool{}
	for _, e := range es {
		edited[[2]int{e.line, e.col}] = true
	}
	var parts []string
	for _, e := range es {
		dst := z.lines[e.line].cells[e.col]
		src, _ := g.findGlyph(z.lines, e.to, edited, dst, true)
		g.paste(img, src, dst)
		parts = append(parts, fmt.Sprintf("MRZ line %d col %d: %c -> %c%s", e.line+1, e.col+1, z.lines[e.line].text[e.col], e.to, src.origin()))
	}
	return strings.Join(parts, ", "), true
}

func (g *gen) cloneVIZYear(img *gocv.Mat, yy string, ok bool) (string, bool) {
	if !ok || yy == "" {
		return "no expiry year found in the visual zone, or no glyphs for a new one", false
	}
	tl, at, _, _ := g.vizYear()
	lines := g.vizLines(tl)
	li := lineIndex(lines, tl)
	edited := map[[2]int]bool{{li, at}: true, {li, at + 1}: true}
	rs := []rune(tl.text)
	var parts []string
	for k := 0; k < 2; k++ {
		if rune(yy[k]) == rs[at+k] {
			continue
		}
		dst := tl.cells[at+k]
		src, _ := g.findGlyph(lines, rune(yy[k]), edited, dst, false)
		g.paste(img, src, dst)
		parts = append(parts, fmt.Sprintf("%q: %c -> %c%s", tl.text, rs[at+k], yy[k], src.origin()))
	}
	return "visual zone " + strings.Join(parts, ", "), true
}

// pasteVIZYear covers the expiry year with a flat patch of the paper's
// colour and prints the new year on it in another typeface: a field
// pasted from elsewhere.
func (g *gen) pasteVIZYear(img *gocv.Mat, yy string) (string, bool) {
	tl, at, prefix, ok := g.vizYear()
	if !ok || yy == "" {
		return "no expiry year found in the visual zone", false
	}
	r := tl.cells[at-len(prefix)].Union(tl.cells[at+1]).Inset(-2).Intersect(image.Rect(0, 0, img.Cols(), img.Rows()))
	reg := img.Region(r)
	defer reg.Close()
	grey := gocv.NewMat()
	defer grey.Close()
	gocv.CvtColor(reg, &grey, gocv.ColorBGRToGray)
	mask := gocv.NewMat()
	defer mask.Close()
	gocv.Threshold(grey, &mask, 0, 255, gocv.ThresholdBinary|gocv.ThresholdOtsu)
	paper := reg.MeanWithMask(mask)
	inv := gocv.NewMat()
	defer inv.Close()
	gocv.BitwiseNot(mask, &inv)
	ink := reg.MeanWithMask(inv)
	reg.SetTo(gocv.NewScalar(paper.Val1, paper.Val2, paper.Val3, 0))
	text := prefix + yy
	font := gocv.FontHersheySimplex
	sz := gocv.GetTextSize(text, font, 1, 2)
	scale := math.Min(float64(r.Dx())/float64(sz.X), float64(r.Dy()-4)/float64(sz.Y))
	th := max(1, int(scale*2))
	sz = gocv.GetTextSize(text, font, scale, th)
	org := image.Pt(r.Min.X+(r.Dx()-sz.X)/2, r.Max.Y-(r.Dy()-sz.Y)/2-1)
	gocv.PutTextWithParams(img, text, org, font, scale, color.RGBA{uint8(ink.Val3), uint8(ink.Val2), uint8(ink.Val1), 0}, th, gocv.LineAA, false)
	return fmt.Sprintf("visual zone %q: year pasted as %s", tl.text, text), true
}

// inkjetPhoto prints img with an inkjet's error diffusion (Floyd-Steinberg
// on each of C, M, Y and K at twice the photo's resolution), spreads the
// ink a little and photographs it (blur, noise, JPEG at the caller).
func inkjetPhoto(img gocv.Mat, seed uint64) gocv.Mat {
	const up = 2
	w, h := img.Cols()*up, img.Rows()*up
	big := gocv.NewMat()
	defer big.Close()
	gocv.Resize(img, &big, image.Pt(w, h), 0, 0, gocv.InterpolationLinear)
	p, _ := big.DataPtrUint8()
	var inks [4][]float32
	for c := range inks {
		inks[c] = make([]float32, w*h)
	}
	for i := 0; i < w*h; i++ {
		b, gg, r := float64(p[3*i])/255, float64(p[3*i+1])/255, float64(p[3*i+2])/255
		k := 1 - max(r, gg, b)
		inks[3][i] = float32(k)
		if k < 1 {
			inks[0][i] = float32((1 - r - k) / (1 - k))
			inks[1][i] = float32((1 - gg - k) / (1 - k))
			inks[2][i] = float32((1 - b - k) / (1 - k))
		}
	}
	for c := range inks {
		diffuse(inks[c], w, h)
	}
	out := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3)
	op, _ := out.DataPtrUint8()
	const paper = 0.95
	for i := 0; i < w*h; i++ {
		k := 1 - inks[3][i]
		op[3*i+2] = uint8(255 * paper * (1 - inks[0][i]) * k)
		op[3*i+1] = uint8(255 * paper * (1 - inks[1][i]) * k)
		op[3*i] = uint8(255 * paper * (1 - inks[2][i]) * k)
	}
	gocv.GaussianBlur(out, &out, image.Pt(0, 0), 0.9, 0.9, gocv.BorderReflect)
	shot := gocv.NewMat()
	gocv.Resize(out, &shot, image.Pt(img.Cols(), img.Rows()), 0, 0, gocv.InterpolationArea)
	out.Close()
	addNoise(&shot, 1.5, seed)
	return shot
}

// diffuse turns v (0..1) into dots (0 or 1) by Floyd-Steinberg error
// diffusion along serpentine rows.
func diffuse(v []float32, w, h int) {
	for y := 0; y < h; y++ {
		l2r := y%2 == 0
		for k := 0; k < w; k++ {
			x, dx := k, 1
			if !l2r {
				x, dx = w-1-k, -1
			}
			i := y*w + x
			old := v[i]
			var nv float32
			if old >= 0.5 {
				nv = 1
			}
			v[i] = nv
			e := old - nv
			if x+dx >= 0 && x+dx < w {
				v[i+dx] += e * 7 / 16
			}
			if y+1 < h {
				if x-dx >= 0 && x-dx < w {
					v[i+w-dx] += e * 3 / 16
				}
				v[i+w] += e * 5 / 16
				if x+dx >= 0 && x+dx < w {
					v[i+w+dx] += e * 1 / 16
				}
			}
		}
	}
}

// photocopy is a black-and-white copy photographed, as the forensics
// tests render one: grey, harder contrast, toner noise, a slightly warm
// light.
func photocopy(img gocv.Mat, seed uint64) gocv.Mat {
	rng := rand.New(rand.NewPCG(seed, 13))
	grey := gocv.NewMat()
	defer grey.Close()
	gocv.CvtColor(img, &grey, gocv.ColorBGRToGray)
	gp, _ := grey.DataPtrUint8()
	out := gocv.NewMatWithSize(img.Rows(), img.Cols(), gocv.MatTypeCV8UC3)
	op, _ := out.DataPtrUint8()
	for i, v := range gp {
		l := min(max(1.4*float64(v)-50+rng.NormFloat64()*5, 0), 255)
		op[3*i], op[3*i+1], op[3*i+2] = uint8(l*0.92), uint8(l*0.97), uint8(l)
	}
	return out
}
