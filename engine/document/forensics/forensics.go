// Package forensics inspects a captured ID document image for signs of
// digital tampering (authenticity) and for signs that the camera saw a
// reproduction rather than the physical document (document liveness).
//
// Every check returns a score in [0,1], where 1 means "looks genuine" or
// "looks physical", together with the numbers (and image regions) behind
// it, so a reviewer can see why a document was flagged. The JPEG checks
// read the original file bytes; the others work on the decoded pixels.
//
// Analyze runs the checks of the page as a whole. The document pipeline
// adds those that need the page read: AnalyzePortrait (portrait
// substitution: noise, sharpness, paste boundary, JPEG quantisation and
// resampling traces of the portrait against the page around it), AnalyzeGhost
// (the ghost image against the portrait), AnalyzeGlyphs (characters
// cloned within the page) and PageCoverage (whether the located outline
// is the whole document, and so which region was examined). Every
// threshold is a field of Options, documented with what it was measured
// at.
package forensics

import (
	"context"
	"errors"
	"fmt"
	"image"
	"strings"
	"sync"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/imageio"
)

// ErrTooSmall is returned for an image too small to analyse: the spectral
// and block statistics need at least MinSide pixels on each side.
var ErrTooSmall = errors.New("image too small for forensics")

// MinSide is the smallest width or height Analyze accepts.
const MinSide = 64

// MaxAspect bounds how many times its short side an image's long side may
// be: no document photo comes near, and the copy-move check's ORB aborted
// the process on the strip a 64x65500 photo is shrunk to.
const MaxAspect = 10

// Narrow reports whether an image of w x h pixels is one Analyze refuses
// as too small: under MinSide on a side, or longer than MaxAspect times
// its short side.
func Narrow(w, h int) bool {
	return min(w, h) < MinSide || max(w, h) > MaxAspect*min(w, h)
}

// Check names, as they appear in the report.
const (
	CheckELA          = "error_level"
	CheckDoubleJPEG   = "jpeg_double_compression"
	CheckBlockGrid    = "jpeg_block_grid"
	CheckMetadata     = "editing_software"
	CheckCopyMove     = "copy_move"
	CheckScreen       = "screen_replay"
	CheckPrint        = "printed_copy"
	CheckPhotocopy    = "photocopy"
	CheckPrintDither  = "printed_dither"
	AttackScreen      = "screen"
	AttackPrint       = "print"
	AttackPhotocopy   = "photocopy"
	attackNone        = ""
	notApplicableNote = "reason"
)

// Options holds the thresholds. Each "Threshold" is the value of the
// check's statistic at which its score crosses 0.5; the score falls
// linearly from 1 at half the threshold to 0 at one and a half times it.
// Zero fields take the defaults of DefaultOptions.
type Options struct {
	// Region is where in img the document lies (its bounding box); the
	// checks look only there, so a cluttered desk around a card neither
	// costs time nor raises alarms. It is widened to the 8-pixel JPEG grid,
	// which the JPEG checks need kept. Empty means the whole image.
	Region image.Rectangle
	// GridOrigin is where the JPEG file's 8x8 grid starts in the picture
	// AnalyzePortrait reads (GridOrigin of the file: not the zero point
	// when its EXIF orientation turned it). Analyze reads the file itself.
	GridOrigin image.Point
	// TextTurn is the clockwise turn (0, 90, 180 or 270 degrees) that
	// brings the text of the picture AnalyzeGlyphs reads upright.
	TextTurn int

	// MaxPixels bounds the grey re-decode of the JPEG bytes
	// (default imageio.DefaultMaxPixels).
	MaxPixels int

	// ELAQuality is the re-encoding quality for error level analysis when
	// the file's own quality is unknown (not a JPEG). Default 90: JPEG
	// re-compression is nearly idempotent at the quality a region was last
	// saved with, so the file's own quality is used when known.
	ELAQuality int
	// ELABlock is the side of the square blocks whose error levels are
	// compared. Default 16 pixels (two JPEG blocks).
	ELABlock int
	// ELAZ is the robust z-score (against blocks of similar texture) above
	// which a block's error level counts as anomalous. Default 3.
	ELAZ float64
	// ELAThreshold applies to the anomaly mass of the strongest connected
	// anomalous region: its mean z-score times the square root of its
	// block count. Default 25 (a region of ~40 blocks at z 4).
	ELAThreshold float64

	// BlockGridThreshold applies to the anomaly mass (as for ELAThreshold,
	// with z-scores above ELAZ) of the strongest connected region of
	// windows whose JPEG block grid is offset from the file's: a pasted
	// piece of another JPEG. Default 22: the tuning seeds' genuine cards
	// measured at most 16.8, their off-grid photo swaps at least 27.8.
	BlockGridThreshold float64

	// DoubleQuantThreshold applies to the median excess variance of the
	// normalised DCT coefficient histograms beyond Poisson noise. A single
	// compression leaves a smooth histogram (excess near 0); a second
	// compression with a coarser first table leaves periodic gaps (excess
	// of order 1). Default 0.15: the tuning seeds measured at most 0.035
	// single and at least 2.5 after quality 70 then 90.
	DoubleQuantThreshold float64

	// Editors are lower-case substrings of software names that mean the
	// file passed through an image editor (default: knownEditors).
	Editors []string

	// CopyMoveFeatures is the number of ORB keypoints. Default 4000 (the
	// setting the copy-move threshold was chosen with); the self-match
	// costs their square.
	CopyMoveFeatures int
	// CopyMoveMaxHamming is the largest descriptor distance (of 256 bits)
	// for two keypoints to count as copies. Default 40.
	CopyMoveMaxHamming int
	// CopyMoveRatio is the Lowe ratio between the best and second-best
	// non-self match; repeated patterns (guilloche, filler characters)
	// have many equally good matches and fail it. Default 0.7.
	CopyMoveRatio float64
	// CopyMoveMinShift is the smallest displacement, as a fraction of the
	// working image's diagonal, for a pair to count. Default 0.04.
	CopyMoveMinShift float64
	// CopyMoveThreshold applies to the size of the largest cluster of pairs
	// sharing one displacement. Default 26 distinct pairs: text repeated
	// on the tuning seeds' genuine cards formed clusters of up to 19, a
	// copied 220x110 block at least 34.
	CopyMoveThreshold float64
	// WorkLongSide is the long side of the downscaled copy used by the
	// copy-move check. Default 1024.
	WorkLongSide int

	// ScreenThreshold applies to the summed prominence (natural log of the
	// peak-to-background power ratio) of all strong periodic spectral
	// peaks at periods of 2 to 24 pixels: a display's pixel grid and the
	// moire it makes with the camera's grid. Default 8 (two strong peaks);
	// the synthetic genuine cards of the tuning seeds had none.
	ScreenThreshold float64
	// PrintThreshold applies to the part of that prominence carried more
	// by luminance than by chroma: halftone dots of ink on white paper.
	// Default 24; the tuning seeds' screen replays reached 14, their
	// halftone prints at least 34.
	PrintThreshold float64
	// DocScreenThreshold applies, on a document (Analyze), to the
	// prominence of the peaks stronger in chroma than in luminance alone:
	// a guilloche's fine lines are luminance and no sign of a screen.
	// Default 6: screen replays of the PassportEye specimens measured 6.5
	// to 27, genuine specimens 0 (one, 62_pass-aus.png, 42 to 150: its
	// picture shows a colour moire). ScreenThreshold stays the faces'
	// (Reproduction), on the whole prominence.
	DocScreenThreshold float64
	// DocPrintThreshold applies, on a document, to the prominence of the
	// peaks stronger in luminance (PrintThreshold stays the faces').
	// Default 14: a genuine guilloche measured up to 9.5, halftone prints
	// of the specimens 4.7 to 71 (most above 14).
	DocPrintThreshold float64
	// DocScreenMinTiles is the number of tiles (of 9) whose own spectrum
	// must show a chroma peak for DocScreenThreshold to count it: a
	// display's grid covers the document, a printed picture's colour moire
	// does not. Default 5, a majority: on the calibration half of the
	// forgery benchmark the simulated screen replays showed their chroma
	// peaks in at least 7 tiles and no genuine specimen showed one at all.
	// On a small image (under twice the 256-pixel tile) the tiles overlap
	// and a part of the page is in most of them.
	DocScreenMinTiles int
	// DitherThreshold applies to the fine luminance noise of the page's
	// flat areas (median absolute difference from the 3x3 mean, Lab L):
	// an inkjet's error-diffused droplets, which leave no periodic peak.
	// Default 7.5: genuine specimens measured up to 6.3, inkjet prints of
	// them (error-diffused at twice the photo's resolution) 3.9 to 10.
	DitherThreshold float64
	// DitherMidtoneThreshold applies to how far the fine noise of the
	// whole image's flat mid-tone areas (grey 64 to 191) exceeds that of
	// its flat paper (192 and up), each over at least 1000 sampled pixels:
	// an inkjet's droplets are in its tints, not on the bare paper, where
	// a camera's noise is on both. It catches the inkjet print of a page
	// of mostly white paper, whose overall median stays low. Default 3.5:
	// on the benchmark's calibration half (session 36) genuine documents
	// measured at most 1.67 (33_id-usa re-saved at q90), inkjet prints of
	// its white-paper pages 5.67 to 5.89, of its photographed pages -7.2
	// to 0.4 (their paper is inked too, and fineNoise reads them).
	DitherMidtoneThreshold float64
	// GreyscaleSpread: below this chroma spread the image has no colour
	// at all (a greyscale file) and the photocopy check is not applicable.
	// Default 0.16: greyscale specimens measured 0 to 0.14, prints of them
	// photographed 0.18 and more.
	GreyscaleSpread float64
	// PeakProminence is the smallest log power ratio of a spectral peak
	// over its neighbourhood. Default 4 (55 times the background): the
	// printed content of the tuning seeds' genuine cards peaked near 3.
	PeakProminence float64
	// ColourThreshold applies to the chroma spread (standard deviation of
	// the two Lab chroma channels, in Lab units) below which a colour
	// document looks like a greyscale copy. Default 5: the tuning seeds'
	// copies measured 1.7 to 2.4, their colour cards 8.5 or more.
	ColourThreshold float64
	// CastThreshold applies to the chroma spread left once the mean
	// chroma of each lightness level is removed. A grey copy's remaining
	// colour is the light's cast, a function of lightness; a genuine
	// low-colour document still has inks whose hue does not follow
	// lightness. The photocopy check needs both spreads low. Default 1:
	// the tuning seeds' copies measured at most 0.79, the same cards
	// printed in faint colours at least 1.2.
	CastThreshold float64
	// MonochromeDocument says the document is legitimately printed without
	// colour; the photocopy check is then not applicable.
	MonochromeDocument bool
	// LivenessThreshold: a liveness check scoring below it names the
	// attack. Default 0.5.
	LivenessThreshold float64

	// Portrait substitution (AnalyzePortrait), each statistic measured
	// between the portrait and the page around it.
	//
	// PortraitNoiseThreshold applies to |ln| of the ratio of the two noise
	// floors (portraitNoise). Default 3: genuine PassportEye specimens,
	// as made and saved again at JPEG q75-q95, measured up to 2.7 (digital
	// specimens whose portrait was composited by the issuer).
	PortraitNoiseThreshold float64
	// PortraitSharpnessThreshold applies to |ln| of the ratio of the share
	// of fine-scale detail (portraitSharpness), each share at least
	// portraitSharpFloor. Default 1.5: genuine specimens measured up to
	// 1.43.
	PortraitSharpnessThreshold float64
	// PortraitBoundaryThreshold applies to the sharp-step excess of the
	// portrait's two strongest sides over that of the page's own straight
	// lines beside it (portraitBoundary). Default 6: the calibration half
	// of the forgery benchmark's genuine documents measured up to 3.9 once
	// a step that runs on past the portrait is taken off (9.1 before: the
	// Dutch specimen's laminate edge), and 6 is the largest threshold that
	// catches as many of that half's portrait swaps (5 of 36) as any lower
	// one; faces pasted measure 0.5 to 30. The same threshold applies to
	// the third strongest side's excess alone: that half's genuine
	// documents measured up to 3.8 (Czech, a page with lines along its
	// portrait) and 6 keeps the margin of 1.5 over it that the first
	// reading has over its 3.9; the check then catches 10 of that half's
	// 36 swaps (5 before). The weakest of four sides counts twice
	// (boundaryFourthWeight): that half's genuine documents measured up to
	// 2.07 there. Since each side's step is taken where it stands out most
	// once what runs on past the portrait is taken off (session 27), that
	// half's genuine documents measure up to 4.30 (the Dutch page's webcam
	// frame); the check catches 14 of the 36.
	PortraitBoundaryThreshold float64
	// PortraitQuantThreshold applies to the page's compatibility with its
	// own old JPEG quantisation less the portrait's (portraitQuant).
	// Default 0.1: genuine specimens as made and saved again measured at
	// most 0.020 on the calibration half of the forgery benchmark
	// (internal/forgery), but a synthetic card photographed on a desk and
	// saved at q75 or q90 (engine/document's TestPageChecks) 0.048 to 0.087:
	// where the page shows no older quantisation than its last save's,
	// the steps found are that save's, to which page and portrait both
	// fit, flat paper more closely than a face. Faces pasted into a JPEG
	// page and saved losslessly or at q90 measured 0.1 to 0.94 (a final
	// save coarser than the page's own hides it).
	PortraitQuantThreshold float64
	// PortraitResamplingThreshold applies to the strongest periodic peak
	// of the portrait's p-map spectra over the page's near its frequency
	// (portraitResampling). Default 4: on the calibration half of the
	// forgery benchmark (internal/forgery) the 71 genuine documents whose
	// portrait was found measured up to 3.27 (the Luxembourg specimen as
	// made, and passport-td3, a digital specimen whose portrait its
	// designer resized: a harmonic of its own trace), and 4 keeps a margin
	// of a fifth over it; that half's 36 swaps measured 0.85 to 14.2, 8
	// above 4 (faces enlarged 1.5x to 5.8x from another document's
	// portrait; a photo made smaller leaves no period to read). The report
	// half (session 13): its genuine documents up to 5.0 (100_visa-polx,
	// a period of 12 pixels in its own portrait: 1 of 104 flagged), 5 of
	// its 48 swaps above 4.
	PortraitResamplingThreshold float64

	// GhostMinCorrelation is the correlation between the ghost image and
	// the main portrait (AnalyzeGhost) below which the ghost shows another
	// photo. Default 0.25: the Czech specimens' ghosts (21 to 31 pixels
	// wide) correlated 0.33 to 0.57 with their portraits through every
	// save, 0.01 to 0.19 once the portrait was swapped.
	GhostMinCorrelation float64
	// GhostMinSimilarity is the cosine similarity of the face engine's
	// embeddings of the ghost and the main portrait (GhostIdentity) below
	// which the ghost shows another person. Default 0.2: between the
	// lowest of a person's own simulated ghosts at 40 pixels and more
	// (0.14 at 40, 0.25 at 48) and the 99th percentile of another
	// person's (0.24-0.27); see GhostEmbedMinSide.
	GhostMinSimilarity float64
	// PortraitSexThreshold is the probability of the sex the MRZ does not
	// state (PortraitSex) above which the portrait contradicts it.
	// Default 0.9: of 490 labelled faces outside the forgery benchmark
	// (AT&T, faceapi_bbt, interfaces_cc0) none was judged the wrong sex
	// above 0.872, and the calibration half's genuine portraits reach 0.32.
	PortraitSexThreshold float64

	// CoverageAspectTolerance is the largest relative difference between
	// an outline's aspect and a known document's (ID-1 1.586, TD2 1.419,
	// TD3 1.42) for the outline to count as the whole document
	// (PageCoverage). Default 0.09, the locator's own.
	CoverageAspectTolerance float64

	// Cloned characters (AnalyzeGlyphs).
	//
	// GlyphCloneDiff is the largest difference (mean absolute grey
	// difference over the box, over the box's contrast) at which two
	// characters count as copies of one another. Default 0.012: genuine
	// specimens' closest repeats measured 0.015 and more (photographed or
	// scanned print; one scan 0.007 where the ratio below decides),
	// characters cloned 0 to 0.019 through the saves.
	GlyphCloneDiff float64
	// GlyphCloneRatio: a copy must also differ by at most this fraction of
	// the page's own closest repeats (the 10th percentile of each
	// character's nearest match). Default 0.45: genuine repeats of
	// characters GlyphMinHeight high or more measured 0.5 of it and more,
	// clones 0 to 0.45.
	GlyphCloneRatio float64
	// GlyphNoiseRatio: a copy must also differ, unsmoothed, by at most
	// this fraction of the page's closest repeats unsmoothed (each
	// character's nearest match once smoothed, its 10th percentile): a
	// copy repeats its source's noise, a genuine repeat has its own.
	GlyphNoiseRatio float64
	// GlyphCloneThreshold applies to the number of such pairs. Default 0.5:
	// one pair is a clone.
	GlyphCloneThreshold float64
	// GlyphMinHeight is the least height (pixels of ink) of a character
	// whose copies count: smaller print repeats too closely. Default 9: at
	// 8 one genuine specimen of 25 showed a pair (saved at q90), and a
	// third more of the clones on the small specimens were caught.
	GlyphMinHeight int
	// GlyphMax bounds the characters compared. Default 3000.
	GlyphMax int
	// GlyphDigitalPairs is the most near-identical pairs a page may show
	// and still be examined: more is a page whose text a computer drew,
	// repeating its characters exactly (the check is then not applicable).
	// Default 6.
	GlyphDigitalPairs int
	// GlyphDigitalRepeats: a page whose own closest repeats (see
	// GlyphCloneRatio) differ by less than this was drawn by a computer,
	// and the check is not applicable. Default 0.01: digital specimens
	// measured 0.002 to 0.007, photographed or scanned ones 0.019 or more.
	GlyphDigitalRepeats float64
}

// knownEditors are substrings (lower case) of software names written by
// image editors into EXIF Software, XMP CreatorTool or history, and
// comments.
var knownEditors = []string{
	"photoshop", "adobe photoshop", "lightroom", "gimp", "paint.net",
	"pixelmator", "affinity", "snapseed", "canva", "picsart", "photopea",
	"paintshop", "corel", "krita", "fotor", "befunky", "facetune",
	"meitu", "photoscape", "photodirector", "luminar", "acdsee",
	// Named by issue 16 as missed: web and bundled editors.
	"pixlr", "adobe express", "microsoft photos",
}

// DefaultOptions returns the documented defaults.
func DefaultOptions() Options {
	return Options{
		MaxPixels:              imageio.DefaultMaxPixels,
		ELAQuality:             90,
		ELABlock:               16,
		ELAZ:                   3,
		ELAThreshold:           25,
		DoubleQuantThreshold:   0.15,
		BlockGridThreshold:     22,
		Editors:                knownEditors,
		CopyMoveFeatures:       4000,
		CopyMoveMaxHamming:     40,
		CopyMoveRatio:          0.7,
		CopyMoveMinShift:       0.04,
		CopyMoveThreshold:      26,
		WorkLongSide:           1024,
		ScreenThreshold:        8,
		PrintThreshold:         24,
		PeakProminence:         4,
		DocScreenThreshold:     6,
		DocPrintThreshold:      14,
		DocScreenMinTiles:      5,
		DitherThreshold:        7.5,
		DitherMidtoneThreshold: 3.5,
		GreyscaleSpread:        0.16,
		ColourThreshold:        5,
		CastThreshold:          1,
		LivenessThreshold:      0.5,

		PortraitNoiseThreshold:      3,
		PortraitSharpnessThreshold:  1.5,
		PortraitBoundaryThreshold:   6,
		PortraitQuantThreshold:      0.1,
		PortraitResamplingThreshold: 4,

		GhostMinCorrelation:     0.25,
		GhostMinSimilarity:      0.2,
		PortraitSexThreshold:    0.9,
		CoverageAspectTolerance: 0.09,

		GlyphCloneDiff:      0.012,
		GlyphCloneRatio:     0.45,
		GlyphCloneThreshold: 0.5,
		GlyphNoiseRatio:     0.7,
		GlyphMinHeight:      9,
		GlyphMax:            3000,
		GlyphDigitalPairs:   6,
		GlyphDigitalRepeats: 0.01,
	}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	set := func(v *float64, def float64) {
		if *v <= 0 {
			*v = def
		}
	}
	seti := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	seti(&o.MaxPixels, d.MaxPixels)
	seti(&o.ELAQuality, d.ELAQuality)
	seti(&o.ELABlock, d.ELABlock)
	set(&o.ELAZ, d.ELAZ)
	set(&o.ELAThreshold, d.ELAThreshold)
	set(&o.DoubleQuantThreshold, d.DoubleQuantThreshold)
	set(&o.BlockGridThreshold, d.BlockGridThreshold)
	if o.Editors == nil {
		o.Editors = d.Editors
	}
	seti(&o.CopyMoveFeatures, d.CopyMoveFeatures)
	seti(&o.CopyMoveMaxHamming, d.CopyMoveMaxHamming)
	set(&o.CopyMoveRatio, d.CopyMoveRatio)
	set(&o.CopyMoveMinShift, d.CopyMoveMinShift)
	set(&o.CopyMoveThreshold, d.CopyMoveThreshold)
	seti(&o.WorkLongSide, d.WorkLongSide)
	set(&o.ScreenThreshold, d.ScreenThreshold)
	set(&o.PrintThreshold, d.PrintThreshold)
	set(&o.PeakProminence, d.PeakProminence)
	set(&o.DocScreenThreshold, d.DocScreenThreshold)
	set(&o.DocPrintThreshold, d.DocPrintThreshold)
	seti(&o.DocScreenMinTiles, d.DocScreenMinTiles)
	set(&o.DitherThreshold, d.DitherThreshold)
	set(&o.DitherMidtoneThreshold, d.DitherMidtoneThreshold)
	set(&o.GreyscaleSpread, d.GreyscaleSpread)
	set(&o.ColourThreshold, d.ColourThreshold)
	set(&o.CastThreshold, d.CastThreshold)
	set(&o.LivenessThreshold, d.LivenessThreshold)
	set(&o.PortraitNoiseThreshold, d.PortraitNoiseThreshold)
	set(&o.PortraitSharpnessThreshold, d.PortraitSharpnessThreshold)
	set(&o.PortraitBoundaryThreshold, d.PortraitBoundaryThreshold)
	set(&o.PortraitQuantThreshold, d.PortraitQuantThreshold)
	set(&o.PortraitResamplingThreshold, d.PortraitResamplingThreshold)
	set(&o.GhostMinCorrelation, d.GhostMinCorrelation)
	set(&o.GhostMinSimilarity, d.GhostMinSimilarity)
	set(&o.PortraitSexThreshold, d.PortraitSexThreshold)
	set(&o.CoverageAspectTolerance, d.CoverageAspectTolerance)
	set(&o.GlyphCloneDiff, d.GlyphCloneDiff)
	set(&o.GlyphCloneRatio, d.GlyphCloneRatio)
	set(&o.GlyphCloneThreshold, d.GlyphCloneThreshold)
	set(&o.GlyphNoiseRatio, d.GlyphNoiseRatio)
	seti(&o.GlyphMinHeight, d.GlyphMinHeight)
	seti(&o.GlyphMax, d.GlyphMax)
	seti(&o.GlyphDigitalPairs, d.GlyphDigitalPairs)
	set(&o.GlyphDigitalRepeats, d.GlyphDigitalRepeats)
	return o
}

// Region is a rectangle in the coordinates of the analysed image (the
// whole image, not Options.Region).
type Region struct {
	X int `json:"x"`
	Y int `json:"y"`
	W int `json:"w"`
	H int `json:"h"`
}

// offsetEvidence moves the regions in the checks' evidence by d: from the
// analysed region's coordinates to the whole image's.
func offsetEvidence(cs []Check, d image.Point) []Check {
	if d == (image.Point{}) {
		return cs
	}
	for _, c := range cs {
		for k, v := range c.Evidence {
			if r, ok := v.(Region); ok {
				r.X, r.Y = r.X+d.X, r.Y+d.Y
				c.Evidence[k] = r
			}
		}
	}
	return cs
}

// gridAligned widens r to multiples of 8, the JPEG block size.
func gridAligned(r image.Rectangle) image.Rectangle {
	down := func(v int) int { return v &^ 7 }
	up := func(v int) int { return (v + 7) &^ 7 }
	return image.Rect(down(max(r.Min.X, 0)), down(max(r.Min.Y, 0)), up(r.Max.X), up(r.Max.Y))
}

func regionOf(r image.Rectangle) Region {
	return Region{X: r.Min.X, Y: r.Min.Y, W: r.Dx(), H: r.Dy()}
}

// Check is the result of one test. A check that cannot run on this input
// (a JPEG test on a PNG) has Applicable false, Score 1, and is left out of
// the aggregate.
type Check struct {
	Name       string  `json:"name"`
	Score      float64 `json:"score"`
	Applicable bool    `json:"applicable"`
	// Advisory checks are reported for the operator but left out of the
	// aggregate: their false-alarm rate on genuine documents is not yet
	// low enough for them to reject anyone on their own.
	Advisory bool           `json:"advisory,omitempty"`
	Evidence map[string]any `json:"evidence"`
}

func notApplicable(name, reason string) Check {
	return Check{Name: name, Score: 1, Evidence: map[string]any{notApplicableNote: reason}}
}

// Authenticity aggregates the tampering checks.
type Authenticity struct {
	// Score is the lowest applicable check score: one convincing trace of
	// editing is enough to distrust the document.
	Score  float64 `json:"score"`
	Checks []Check `json:"checks"`
}

// Liveness aggregates the reproduction checks.
type Liveness struct {
	// Score is the lowest applicable check score.
	Score float64 `json:"score"`
	// Attack names the reproduction the weakest check points to ("screen",
	// "print", "photocopy"), or "" when every check passes.
	Attack string  `json:"attack"`
	Checks []Check `json:"checks"`
}

// Report is the result of Analyze.
type Report struct {
	Authenticity Authenticity `json:"authenticity"`
	Liveness     Liveness     `json:"liveness"`
}

// Analyze runs every check. raw is the file as captured (may be nil when
// only pixels exist; the JPEG and metadata checks are then not
// applicable); img is its decoded BGR image (as imageio.Decode returns it,
// or the rectified document). img is not modified or closed.
func Analyze(ctx context.Context, raw []byte, img gocv.Mat, opts Options) (Report, error) {
	opts = opts.withDefaults()
	if img.Empty() {
		return Report{}, fmt.Errorf("forensics: %w: empty image", ErrTooSmall)
	}
	if Narrow(img.Cols(), img.Rows()) {
		return Report{}, fmt.Errorf("forensics: %w: %dx%d, need %d on each side and at most %d times as long as wide",
			ErrTooSmall, img.Cols(), img.Rows(), MinSide, MaxAspect)
	}
	if img.Type() != gocv.MatTypeCV8UC3 {
		// OpenCV aborts the process on another depth (its colour
		// conversions assert 8 bits or float).
		return Report{}, fmt.Errorf("forensics: want an 8-bit BGR image, got %d channels of type %v", img.Channels(), img.Type())
	}

	if err := ctx.Err(); err != nil {
		return Report{}, fmt.Errorf("forensics: %w", err)
	}
	full := image.Rect(0, 0, img.Cols(), img.Rows())
	region := full
	if r := gridAligned(opts.Region).Intersect(full); !opts.Region.Empty() && r.Dx() >= MinSide && r.Dy() >= MinSide {
		region = r
	}
	if region != full {
		// A copy: a region shares its rows with img, and the checks read
		// pixels as one continuous buffer.
		sub := img.Region(region)
		img = sub.Clone()
		sub.Close()
		defer img.Close()
	}
	jpg, jpgErr := parseJPEG(raw)
	// The checks are independent and read img only, so they run side by
	// side; each returns early once ctx is done, and all have ended before
	// Analyze returns (the caller may close img right after).
	steps := [...]func() []Check{
		func() []Check { return jpegChecks(ctx, raw, jpg, jpgErr, img, full, region, opts) },
		func() []Check { return []Check{metadataCheck(raw, jpg, jpgErr, opts)} },
		func() []Check { return offsetEvidence([]Check{copyMoveCheck(ctx, img, opts)}, region.Min) },
		func() []Check { return offsetEvidence(livenessChecks(ctx, img, opts), region.Min) },
	}
	var results [len(steps)][]Check
	var wg sync.WaitGroup
	for i, step := range steps {
		wg.Go(func() { results[i] = step() })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return Report{}, fmt.Errorf("forensics: %w", err)
	}
	var all []Check
	for _, r := range results {
		all = append(all, r...)
	}
	var rep Report
	for _, c := range all {
		switch c.Name {
		case CheckScreen, CheckPrint, CheckPhotocopy, CheckPrintDither:
			rep.Liveness.Checks = append(rep.Liveness.Checks, c)
		default:
			rep.Authenticity.Checks = append(rep.Authenticity.Checks, c)
		}
	}
	rep.Authenticity.Score = minScore(rep.Authenticity.Checks)
	rep.Liveness.Score = minScore(rep.Liveness.Checks)
	rep.Liveness.Attack = attackOf(rep.Liveness.Checks, opts.LivenessThreshold)
	return rep, nil
}

// attackOf names the attack of the failing liveness check with the lowest
// score; on a tie, in order of specificity: halftone dots (print) also
// make periodic peaks, so print comes before screen, and the photocopy
// (colour alone) last. The dither check is read only when none of those
// fails: it finds a print's scattered ink, which a photocopier's toner
// also leaves, so alone it says print, but beside a photocopy's colour
// evidence it would misname the photocopy.
func attackOf(cs []Check, thr float64) string {
	lowest := func(wants ...[2]string) string {
		best, bestScore := attackNone, thr
		for _, want := range wants {
			for _, c := range cs {
				if c.Name == want[0] && c.Applicable && c.Score < bestScore {
					best, bestScore = want[1], c.Score
				}
			}
		}
		return best
	}
	if a := lowest([2]string{CheckPrint, AttackPrint}, [2]string{CheckScreen, AttackScreen}, [2]string{CheckPhotocopy, AttackPhotocopy}); a != attackNone {
		return a
	}
	return lowest([2]string{CheckPrintDither, AttackPrint})
}

func minScore(cs []Check) float64 {
	s := 1.0
	for _, c := range cs {
		if c.Applicable && !c.Advisory {
			s = min(s, c.Score)
		}
	}
	return s
}

// ramp maps a statistic to a score: 1 up to thr/2, 0 from 1.5*thr, linear
// in between (0.5 at thr).
func ramp(x, thr float64) float64 {
	lo, hi := thr/2, thr*1.5
	switch {
	case x <= lo:
		return 1
	case x >= hi:
		return 0
	}
	return (hi - x) / (hi - lo)
}

func isEditor(s string, editors []string) bool {
	s = strings.ToLower(s)
	for _, e := range editors {
		if strings.Contains(s, e) {
			return true
		}
	}
	return false
}
