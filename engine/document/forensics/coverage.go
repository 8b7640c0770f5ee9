package forensics

import (
	"image"
	"math"
)

// CheckPageCoverage reports whether the document's outline, as the locator
// found it, covers the whole document, and so which region the checks
// examined. It is advisory: it tells the reviewer where to look, and is no
// sign of tampering by itself.
const CheckPageCoverage = "page_coverage"

// Known document aspects (long side over short side): ISO/IEC 7810 ID-1
// cards (85.6 x 54 mm) and ICAO TD2 / TD3 passport pages (105 x 74,
// 125 x 88 mm).
const (
	AspectID1 = 85.6 / 54
	AspectTD2 = 105.0 / 74
	AspectTD3 = 125.0 / 88
)

// Outline is what the locator found on the photo.
type Outline struct {
	Found bool
	// Aspect is the outline's long side over its short side, rectified.
	Aspect float64
	// Bounds is the outline's bounding box in the photo.
	Bounds image.Rectangle
	// MRZOutside says the machine readable zone was read on the photo
	// outside the outline (known once the text has been read).
	MRZOutside bool
	// PortraitFills says the printed portrait covers most of the outline
	// (the locator took the photo on the page for the page).
	PortraitFills bool
	// NoText says next to no printed text was read inside the outline
	// (the caller says how little): every identity document prints its
	// holder's data on each side, so the locator took something else for
	// the page (a photo pasted on it, with straight edges of a card's
	// aspect, or the printed portrait's own frame).
	NoText bool
}

// PageCoverage decides whether the outline covers the document: it must
// have a known document's aspect (within opts.CoverageAspectTolerance),
// hold the MRZ when there is one, be more than the portrait and hold text. When it
// does, the checks may look inside it alone; when it does not (the locator
// found the portrait, or a page without its portrait), they must examine
// the photo as a whole, or edits outside the outline go unseen. photo is
// the photo's size. The check's evidence says which region was examined.
func PageCoverage(o Outline, photo image.Point, opts Options) (bool, Check) {
	opts = opts.withDefaults()
	full := image.Rectangle{Max: photo}
	c := Check{Name: CheckPageCoverage, Score: 1, Applicable: true, Advisory: true, Evidence: map[string]any{}}
	if !o.Found {
		c.Evidence["reason"] = "no outline found: the whole photo is the document"
		c.Evidence["examined"] = regionOf(full)
		return false, c
	}
	best, bestAspect := math.Inf(1), 0.0
	for _, a := range []float64{AspectID1, AspectTD2, AspectTD3} {
		if e := math.Abs(o.Aspect-a) / a; e < best {
			best, bestAspect = e, a
		}
	}
	c.Evidence["outline"] = regionOf(o.Bounds)
	c.Evidence["outline_aspect"] = round3(o.Aspect)
	c.Evidence["nearest_aspect"] = round3(bestAspect)
	var reason string
	switch {
	case best > opts.CoverageAspectTolerance:
		reason = "the outline has no known document's aspect"
	case o.MRZOutside:
		reason = "the machine readable zone lies outside the outline"
	case o.PortraitFills:
		reason = "the outline is the portrait, not the page"
	case o.NoText:
		reason = "the outline holds next to no printed text: it is not the page"
	}
	if reason != "" {
		c.Evidence["reason"] = reason
		c.Evidence["examined"] = regionOf(full)
		return false, c
	}
	c.Evidence["examined"] = regionOf(o.Bounds.Intersect(full))
	return true, c
}

// Add appends checks and updates the score.
func (a *Authenticity) Add(cs ...Check) {
	a.Checks = append(a.Checks, cs...)
	a.Score = minScore(a.Checks)
}
