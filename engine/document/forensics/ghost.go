package forensics

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"math"

	"gocv.io/x/gocv"
)

// CheckPortraitGhost compares the ghost image (the second, smaller and
// fainter print of the holder's portrait that many passports and cards
// carry) with the main portrait. Both are printed from one photo: a forger
// who replaces the main portrait leaves the ghost showing the old one.
const CheckPortraitGhost = "portrait_ghost"

// FaceMarks is a face on the page: its box and its five landmarks in
// YuNet's order (the subject's right eye, left eye, nose tip, right and
// left mouth corners).
type FaceMarks struct {
	Box   image.Rectangle
	Marks [5]image.Point
}

// GhostMinSide is the smallest ghost face (pixels a side) compared: a
// smaller one keeps too little of the photo (a 18x24 face on the Egyptian
// specimen did not correlate with its own portrait).
const GhostMinSide = 20

// ghostSide is the side of the canonical face both are warped to: about a
// ghost's size, so that neither is compared at a detail the other lacks.
const ghostSide = 40

// ghostCoarse is the sigma (canonical pixels) of the shading removed.
const ghostCoarse = 4

// ghostTemplate is where the five landmarks go in the canonical face
// (ArcFace's template, scaled to ghostSide).
var ghostTemplate = func() [5]gocv.Point2f {
	t := [5][2]float32{{38.2946, 51.6963}, {73.5318, 51.5014}, {56.0252, 71.7366}, {41.5493, 92.3655}, {70.7299, 92.2041}}
	var out [5]gocv.Point2f
	for i, p := range t {
		out[i] = gocv.Point2f{X: p[0] * ghostSide / 112, Y: p[1] * ghostSide / 112}
	}
	return out
}()

// AnalyzeGhost compares the ghost with the main portrait on img: both
// faces are warped by their landmarks onto one canonical face, ghostSide
// pixels a side, in grey, smoothed alike, each normalised to zero mean
// and unit variance (the ghost is printed fainter, often in one tint);
// the statistic is one less their correlation, scored against
// 1-GhostMinCorrelation. A genuine ghost correlates highly with its
// portrait (the same photo); another person's, or the same person's
// from another photo, far less. img is not modified.
func AnalyzeGhost(ctx context.Context, img gocv.Mat, main, ghost FaceMarks, opts Options) (Check, error) {
	opts = opts.withDefaults()
	if img.Empty() || img.Type() != gocv.MatTypeCV8UC3 {
		return Check{}, fmt.Errorf("forensics: want an 8-bit BGR image")
	}
	if ghost.Box.Dx() < GhostMinSide || ghost.Box.Dy() < GhostMinSide {
		return Check{}, fmt.Errorf("forensics: %w: ghost %v", ErrTooSmall, ghost.Box)
	}
	grey := gocv.NewMat()
	defer grey.Close()
	gocv.CvtColor(img, &grey, gocv.ColorBGRToGray)
	a, err := canonicalFace(grey, main)
	if err != nil {
		return Check{}, err
	}
	b, err := canonicalFace(grey, ghost)
	if err != nil {
		return Check{}, err
	}
	if err := ctx.Err(); err != nil {
		return Check{}, fmt.Errorf("forensics: %w", err)
	}
	corr := 0.0
	for i := range a {
		corr += a[i] * b[i]
	}
	corr /= float64(len(a))
	stat := 1 - corr
	return Check{Name: CheckPortraitGhost, Applicable: true, Score: ramp(stat, 1-opts.GhostMinCorrelation), Evidence: map[string]any{
		"correlation":     round3(corr),
		"min_correlation": opts.GhostMinCorrelation,
		"portrait_face":   regionOf(main.Box),
		"ghost_face":      regionOf(ghost.Box),
	}}, nil
}

// canonicalFace warps f onto the canonical face and returns its pixels,
// smoothed and normalised to zero mean and unit variance, over the
// central oval (the face without its background).
func canonicalFace(grey gocv.Mat, f FaceMarks) ([]float64, error) {
	from := make([]gocv.Point2f, 5)
	for i, p := range f.Marks {
		from[i] = gocv.Point2f{X: float32(p.X), Y: float32(p.Y)}
	}
	src, dst := gocv.NewPoint2fVectorFromPoints(from), gocv.NewPoint2fVectorFromPoints(ghostTemplate[:])
	defer src.Close()
	defer dst.Close()
	m := gocv.EstimateAffinePartial2D(src, dst)
	defer m.Close()
	if m.Empty() {
		return nil, fmt.Errorf("forensics: no transform for face %v", f.Box)
	}
	// Shrinking a large portrait to the canonical size first blurs it as
	// much as the ghost's print is.
	scale := math.Hypot(m.GetDoubleAt(0, 0), m.GetDoubleAt(0, 1))
	warped := gocv.NewMat()
	defer warped.Close()
	interp := gocv.InterpolationLinear
	if scale < 1 {
		interp = gocv.InterpolationArea
	}
	gocv.WarpAffineWithParams(grey, &warped, m, image.Pt(ghostSide, ghostSide), interp, gocv.BorderReplicate, color.RGBA{})
	// A band of detail: what every face shares (the dark eyes, the light
	// forehead) is its coarse shading, which a larger blur takes away; the
	// finest detail is the print's and the scan's, which the smaller one
	// does.
	f32 := gocv.NewMat()
	defer f32.Close()
	warped.ConvertTo(&f32, gocv.MatTypeCV32F)
	fine, coarse := gocv.NewMat(), gocv.NewMat()
	defer fine.Close()
	defer coarse.Close()
	gocv.GaussianBlur(f32, &fine, image.Pt(0, 0), 1, 1, gocv.BorderReflect101)
	gocv.GaussianBlur(f32, &coarse, image.Pt(0, 0), ghostCoarse, ghostCoarse, gocv.BorderReflect101)
	gocv.Subtract(fine, coarse, &fine)
	px, _ := fine.DataPtrFloat32()
	var v []float64
	c := float64(ghostSide) / 2
	for y := 0; y < ghostSide; y++ {
		for x := 0; x < ghostSide; x++ {
			dx, dy := (float64(x)-c)/(0.42*ghostSide), (float64(y)-c*1.1)/(0.5*ghostSide)
			if dx*dx+dy*dy <= 1 {
				v = append(v, float64(px[y*ghostSide+x]))
			}
		}
	}
	mu := mean(v)
	var ss float64
	for _, x := range v {
		ss += (x - mu) * (x - mu)
	}
	sd := math.Sqrt(ss / float64(len(v)))
	if sd < 0.5 {
		return nil, fmt.Errorf("forensics: face %v is flat", f.Box)
	}
	for i := range v {
		v[i] = (v[i] - mu) / sd
	}
	return v, nil
}

// CheckGhostIdentity compares who the ghost image and the main portrait
// show, by the face engine's embeddings: where AnalyzeGhost asks whether
// both were printed from one photo, this asks whether they are one person,
// which survives a ghost printed in another tint, screen or contrast.
const CheckGhostIdentity = "portrait_ghost_identity"

// GhostEmbedMinSide is the smallest ghost face (pixels wide) whose
// embedding is compared. Measured on ghosts rendered from the 50
// interfaces_cc0 portraits (grey, faint, tinted, JPEG q85; the document
// benchmark's specimens were not used): the same person's ghost against
// the portrait at a 120-pixel face scored median cosine 0.36 at 24
// pixels, 0.55 at 32, 0.67 at 40 and 0.76 at 48, its lowest 0.04, 0.08,
// 0.14 and 0.25; another person's, 99th percentile 0.24-0.27 at every
// size. The specimens' own ghosts, 21-31 pixels, measured 0.05-0.25
// against their portraits: below 40 pixels a ghost is someone else as
// often as not.
const GhostEmbedMinSide = 40

// GhostIdentity turns the cosine similarity of the embeddings of the
// ghost image and the main portrait into the check: it fires below
// opts.GhostMinSimilarity. The caller measures the similarity (this
// package runs no models) and calls it only for ghosts of at least
// GhostEmbedMinSide pixels.
func GhostIdentity(main, ghost FaceMarks, similarity float64, opts Options) Check {
	opts = opts.withDefaults()
	// The ramp's statistic grows as the similarity falls: one less it,
	// scored against one less the least similarity.
	return Check{Name: CheckGhostIdentity, Applicable: true, Score: ramp(1-similarity, 1-opts.GhostMinSimilarity), Evidence: map[string]any{
		"similarity":     round3(similarity),
		"min_similarity": opts.GhostMinSimilarity,
		"portrait_face":  regionOf(main.Box),
		"ghost_face":     regionOf(ghost.Box),
	}}
}
