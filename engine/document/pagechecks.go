package document

import (
	"context"
	"image"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/document/forensics"
	"github.com/openkyc/kyc/engine/document/locate"
	"github.com/openkyc/kyc/engine/document/mrz"
	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/internal/timing"
)

// portraitFillsPage is the share of the outline's area above which the
// portrait's face means the locator took the photo on the page for the
// page: on an ID-1 card or a passport page the face is under a tenth.
const portraitFillsPage = 0.2

// pageChecks runs the forensics that need the page read: the portrait
// substitution checks around the printed face, and the cloned-character
// check on the text lines. Both run on the photo as decoded (its pixels
// and JPEG grid untouched by the rectification), the face and the lines
// mapped back from the rectified page.
//
// The portrait is looked for on the photo itself when the outline does not
// cover the page (covers false) and no portrait was found on it (the
// locator may have taken the part of the page without it), and when the
// portrait found on the page could not be examined there (no noise check,
// which AnalyzePortrait always reports: say, too small once rectified).
// There, too, only an upright face is taken: the photo is searched turned
// a quarter at a time until one is found.
func (a *Analyzer) pageChecks(ctx context.Context, photo gocv.Mat, loc locate.Result, covers bool, p *page, opts forensics.Options, t *timing.Recorder) []forensics.Check {
	toPhoto := pageToPhoto(loc, image.Pt(p.img.Cols(), p.img.Rows()), p.side.Rotation)
	var (
		wg       sync.WaitGroup
		portrait = p.portraitChecks
		glyphs   forensics.Check
	)
	examined := slices.ContainsFunc(p.portraitChecks, func(c forensics.Check) bool { return c.Name == forensics.CheckPortraitNoise })
	if (p.portrait == nil && !covers || p.portrait != nil && !examined) && loc.Found && a.cfg.Faces != nil {
		wg.Go(func() {
			s := time.Now()
			pr, crop, g, err := a.findUprightPortrait(ctx, photo, []int{0, 90, 180, 270}, 0)
			if err == nil && pr != nil {
				crop.Image.Close()
				b := pr.Box
				box := image.Rect(int(b.X), int(b.Y), int(math.Ceil(b.X+b.W)), int(math.Ceil(b.Y+b.H)))
				if cs, err := forensics.AnalyzePortrait(ctx, photo, box, opts); err == nil {
					portrait = cs
				}
				portrait = append(portrait, g...)
			}
			t.Since("forensics_portrait_photo", s)
		})
	}
	if len(p.lines) > 0 {
		wg.Go(func() {
			s := time.Now()
			lines := make([]image.Rectangle, 0, len(p.lines))
			for _, l := range p.lines {
				lines = append(lines, toPhoto(l.Box.Bounds()))
			}
			opts := opts
			opts.TextTurn = textTurn(toPhoto, image.Pt(p.img.Cols(), p.img.Rows()))
			c, err := forensics.AnalyzeGlyphs(ctx, photo, lines, opts)
			if err == nil {
				glyphs = c
			}
			t.Since("forensics_glyphs", s)
		})
	}
	wg.Wait()
	out := portrait
	if glyphs.Name != "" {
		out = append(out, glyphs)
	}
	return out
}

// portraitChecks runs the portrait substitution checks on the photo for
// the portrait found on the page of the given size (the rectified page
// turned clockwise by rot degrees), with the ghost image's check when the
// page shows one, every region in the photo's coordinates.
func (a *Analyzer) portraitChecks(ctx context.Context, photo gocv.Mat, loc locate.Result, size image.Point, p *page, rot int, opts forensics.Options) []forensics.Check {
	toPhoto := pageToPhoto(loc, size, rot)
	b := p.portrait.Box
	box := toPhoto(image.Rect(int(b.X), int(b.Y), int(math.Ceil(b.X+b.W)), int(math.Ceil(b.Y+b.H))))
	out, err := forensics.AnalyzePortrait(ctx, photo, box, opts)
	if err != nil {
		out = nil
	}
	for _, g := range p.ghost {
		ev := maps.Clone(g.Evidence)
		for _, k := range []string{"portrait_face", "ghost_face"} {
			if r, ok := ev[k].(forensics.Region); ok {
				pr := toPhoto(image.Rect(r.X, r.Y, r.X+r.W, r.Y+r.H))
				ev[k] = forensics.Region{X: pr.Min.X, Y: pr.Min.Y, W: pr.Dx(), H: pr.Dy()}
			}
		}
		g.Evidence = ev
		out = append(out, g)
	}
	return out
}

// pageToPhoto maps a rectangle on the page (the rectified document, or the
// photo itself when no outline was found, turned clockwise by rot degrees
// and then of the given size) to the bounding box of its place in the
// photo.
func pageToPhoto(loc locate.Result, size image.Point, rot int) func(image.Rectangle) image.Rectangle {
	turned, size := size, unturnedSize(size, rot)
	var h [9]float64 // page -> photo homography, row-major
	identity := !loc.Found
	if loc.Found {
		// As locate.Rectify maps the outline onto the page.
		q := loc.Quad
		if loc.Portrait {
			q = locate.Quad{q[3], q[0], q[1], q[2]}
		}
		src := gocv.NewPoint2fVectorFromPoints([]gocv.Point2f{
			{X: 0, Y: 0}, {X: float32(size.X), Y: 0}, {X: float32(size.X), Y: float32(size.Y)}, {X: 0, Y: float32(size.Y)},
		})
		dst := gocv.NewPoint2fVectorFromPoints([]gocv.Point2f{
			{X: float32(q[0].X), Y: float32(q[0].Y)}, {X: float32(q[1].X), Y: float32(q[1].Y)},
			{X: float32(q[2].X), Y: float32(q[2].Y)}, {X: float32(q[3].X), Y: float32(q[3].Y)},
		})
		m := gocv.GetPerspectiveTransform2f(src, dst)
		for i := range h {
			h[i] = m.GetDoubleAt(i/3, i%3)
		}
		m.Close()
		src.Close()
		dst.Close()
	}
	return func(r image.Rectangle) image.Rectangle {
		if rot != 0 {
			u := turnRect(rect{float64(r.Min.X), float64(r.Min.Y), float64(r.Max.X), float64(r.Max.Y)}, turned, 360-rot)
			r = image.Rect(int(math.Floor(u.x0)), int(math.Floor(u.y0)), int(math.Ceil(u.x1)), int(math.Ceil(u.y1)))
		}
		if identity {
			return r
		}
		x0, y0, x1, y1 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
		for _, c := range [4]image.Point{r.Min, {r.Max.X, r.Min.Y}, r.Max, {r.Min.X, r.Max.Y}} {
			x, y := float64(c.X), float64(c.Y)
			w := h[6]*x + h[7]*y + h[8]
			if w == 0 {
				continue
			}
			px, py := (h[0]*x+h[1]*y+h[2])/w, (h[3]*x+h[4]*y+h[5])/w
			x0, y0, x1, y1 = min(x0, px), min(y0, py), max(x1, px), max(y1, py)
		}
		if math.IsInf(x0, 0) {
			return image.Rectangle{}
		}
		return image.Rect(int(math.Floor(x0)), int(math.Floor(y0)), int(math.Ceil(x1)), int(math.Ceil(y1)))
	}
}

// textTurn is the clockwise quarter turn that brings the photo's text
// upright: the upright page's (of the given size) middle line, left to
// right, mapped to the photo by toPhoto, runs across it left to right
// once the photo is so turned.
func textTurn(toPhoto func(image.Rectangle) image.Rectangle, size image.Point) int {
	centre := func(x int) image.Point {
		r := toPhoto(image.Rect(x, size.Y/2, x+1, size.Y/2+1))
		return r.Min.Add(r.Max).Div(2)
	}
	d := centre(size.X * 9 / 10).Sub(centre(size.X / 10))
	switch {
	case abs(d.X) >= abs(d.Y) && d.X >= 0:
		return 0
	case abs(d.X) >= abs(d.Y):
		return 180
	case d.Y > 0: // running down: a quarter turn back
		return 270
	}
	return 90
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// rect is a rectangle in sub-pixel coordinates: x0 <= x1, y0 <= y1.
type rect struct{ x0, y0, x1, y1 float64 }

// turnRect maps r on an image of the given size to the image turned
// clockwise by rot degrees (0, 90, 180 or 270), as locate.Rotate turns it.
func turnRect(r rect, size image.Point, rot int) rect {
	w, h := float64(size.X), float64(size.Y)
	switch ((rot % 360) + 360) % 360 {
	case 90: // (x, y) -> (h-y, x)
		return rect{h - r.y1, r.x0, h - r.y0, r.x1}
	case 180: // (x, y) -> (w-x, h-y)
		return rect{w - r.x1, h - r.y1, w - r.x0, h - r.y0}
	case 270: // (x, y) -> (y, w-x)
		return rect{r.y0, w - r.x1, r.y1, w - r.x0}
	}
	return r
}

// unturnedSize is the size, before it was turned clockwise by rot
// degrees, of an image now of the given size.
func unturnedSize(size image.Point, rot int) image.Point {
	if rot%180 != 0 {
		return image.Pt(size.Y, size.X)
	}
	return size
}

// FaceEmbedder describes a face found on an image (face.Engine does).
type FaceEmbedder interface {
	EmbedFace(ctx context.Context, img gocv.Mat, f face.Face) (face.Embedding, error)
}

// ghostCheck compares the ghost image with the portrait f when the page
// shows one: the largest other face, under half the portrait's area and
// at least forensics.GhostMinSide a side. The pixels are compared
// (AnalyzeGhost) and, for a ghost of forensics.GhostEmbedMinSide pixels
// and more with an embedder at hand, the person (GhostIdentity). nil when
// there is no ghost.
func (a *Analyzer) ghostCheck(ctx context.Context, img gocv.Mat, f face.Face, faces []face.Face) []forensics.Check {
	var ghost *face.Face
	for i, g := range faces {
		if g.Box.Area() < f.Box.Area()/2 && g.Score >= 0.6 && g.Box.W >= forensics.GhostMinSide && g.Box.H >= forensics.GhostMinSide &&
			(ghost == nil || g.Box.Area() > ghost.Box.Area()) {
			ghost = &faces[i]
		}
	}
	if ghost == nil {
		return nil
	}
	var out []forensics.Check
	if c, err := forensics.AnalyzeGhost(ctx, img, marks(f), marks(*ghost), *a.cfg.Forensics); err == nil {
		out = append(out, c)
	}
	if a.cfg.Embedder != nil && ghost.Box.W >= forensics.GhostEmbedMinSide {
		em, err1 := a.cfg.Embedder.EmbedFace(ctx, img, f)
		eg, err2 := a.cfg.Embedder.EmbedFace(ctx, img, *ghost)
		if err1 == nil && err2 == nil {
			out = append(out, forensics.GhostIdentity(marks(f), marks(*ghost), face.Cosine(em, eg), *a.cfg.Forensics))
		}
	}
	return out
}

// AgeGenderEstimator tells a face's apparent age and the probability that
// it is male (face.AgeGender does).
type AgeGenderEstimator interface {
	Predict(ctx context.Context, img gocv.Mat, f face.Face) (age, pMale float64, err error)
}

// portraitSex judges the page's portrait against the sex its MRZ states;
// false when there is no estimator, portrait or MRZ, or the estimate
// fails. The face is judged on the portrait's crop; its region is mapped to
// the photo's coordinates (toPhoto), as the other checks' are.
func (a *Analyzer) portraitSex(ctx context.Context, p *page, z *mrz.Result, toPhoto func(image.Rectangle) image.Rectangle) (forensics.Check, bool) {
	if a.cfg.AgeGender == nil || p.portrait == nil || p.portraitCrop.Image.Ptr() == nil || z == nil {
		return forensics.Check{}, false
	}
	age, pMale, err := a.cfg.AgeGender.Predict(ctx, p.portraitCrop.Image, p.portraitCrop.Face)
	if err != nil {
		return forensics.Check{}, false
	}
	b := p.portrait.Box
	box := toPhoto(image.Rect(int(b.X), int(b.Y), int(math.Ceil(b.X+b.W)), int(math.Ceil(b.Y+b.H))))
	return forensics.PortraitSex(z.Fields.Sex, pMale, age, box, *a.cfg.Forensics), true
}

// portraitMissing reports, on a passport's data page (a TD3 MRZ read on
// the front), whether its portrait was found: ICAO 9303 part 4 puts the
// holder's portrait on that page beside the zone (zone V), so a page on
// which no face is found, on the page or in the photo, had it replaced by
// something the detector does not take for a face, or hides it. Glare or
// a poor photo hide it too, so it sends the case to review
// (forensics.ReviewOnly). Applicable on every TD3 front when a face
// detector is configured; checks are the forensics so far (the
// portrait's, when a face was examined).
func (a *Analyzer) portraitMissing(p *page, checks []forensics.Check) (forensics.Check, bool) {
	if a.cfg.Faces == nil || p.mrz == nil || p.mrz.Format != mrz.TD3 {
		return forensics.Check{}, false
	}
	c := forensics.Check{Name: forensics.CheckPortraitMissing, Applicable: true, Score: 1, Evidence: map[string]any{"mrz_format": string(p.mrz.Format)}}
	found := p.portrait != nil || slices.ContainsFunc(checks, func(c forensics.Check) bool { return c.Name == forensics.CheckPortraitNoise })
	if !found {
		c.Score = 0
		c.Evidence["reason"] = "no face found on a passport's data page, which carries its holder's portrait"
	}
	return c, true
}

func marks(f face.Face) forensics.FaceMarks {
	m := forensics.FaceMarks{Box: image.Rect(int(f.Box.X), int(f.Box.Y), int(math.Ceil(f.Box.X+f.Box.W)), int(math.Ceil(f.Box.Y+f.Box.H)))}
	for i, p := range f.Landmarks {
		m.Marks[i] = image.Pt(int(math.Round(p.X)), int(math.Round(p.Y)))
	}
	return m
}
