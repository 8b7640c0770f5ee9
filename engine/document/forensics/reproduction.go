package forensics

import (
	"context"
	"fmt"
	"image"

	"gocv.io/x/gocv"
)

// Traces are the periodic traces of a reproduction measured by
// Reproduction: the summed prominence of the strong spectral peaks at
// periods of 2 to 24 pixels, split by whether chroma (a display's sub-pixel
// grid and its moire) or luminance (halftone dots) carries more of each.
type Traces struct {
	ChromaMass float64 `json:"chroma_peak_mass"`
	LumaMass   float64 `json:"luma_peak_mass"`
	Peaks      int     `json:"peaks"`
	// Tile is the side of the tiles whose spectra were averaged.
	Tile int `json:"tile"`
}

// Reproduction runs only the screen and print checks of the document
// liveness on the region r of img (the whole image when r is empty): the
// traces a display or a print leaves on anything photographed from it, a
// face as much as a card. The photocopy check is left out, since a
// greyscale or pale subject is no sign of a copy. The region must be at
// least MinSide on each side; a region under 256 pixels is read in tiles of
// 128 or less, which costs a fraction of the document's 256.
//
// axisBand is the half-width, in frequency bins, of the bands along the
// axes left out: a document's straight edges and text lines need the
// document's 2; a face's centre has neither, and a display's moire at a
// small angle lies close to the axes, so faces take 1. img is not modified.
func Reproduction(ctx context.Context, img gocv.Mat, r image.Rectangle, axisBand int, opts Options) (Liveness, Traces, error) {
	opts = opts.withDefaults()
	full := image.Rect(0, 0, img.Cols(), img.Rows())
	if !r.Empty() {
		full = r.Intersect(full)
	}
	if img.Empty() || full.Dx() < MinSide || full.Dy() < MinSide {
		return Liveness{}, Traces{}, fmt.Errorf("forensics: %w: region %v, need %d on each side", ErrTooSmall, full, MinSide)
	}
	if img.Type() != gocv.MatTypeCV8UC3 {
		return Liveness{}, Traces{}, fmt.Errorf("forensics: want an 8-bit BGR image, got %d channels of type %v", img.Channels(), img.Type())
	}
	// spectralPeaks reads tiles of a continuous buffer: a copy of the
	// region.
	sub := img.Region(full)
	region := sub.Clone()
	sub.Close()
	defer region.Close()
	peaks, n := spectralPeaks(ctx, region, opts.PeakProminence, max(axisBand, 0))
	if err := ctx.Err(); err != nil {
		return Liveness{}, Traces{}, fmt.Errorf("forensics: %w", err)
	}
	checks := offsetEvidence(periodicChecks(peaks, n, opts), full.Min)
	chroma, luma, _ := latticeStats(peaks)
	l := Liveness{Score: minScore(checks), Attack: attackOf(checks, opts.LivenessThreshold), Checks: checks}
	return l, Traces{ChromaMass: chroma, LumaMass: luma, Peaks: len(peaks), Tile: n}, nil
}
