package ocr

import (
	"context"
	"fmt"
	"image"
	"math"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/ort"
)

// detNorm is ImageNet's mean and deviation applied to the BGR bytes in
// their stored order, as PaddleOCR does.
var detNorm = ort.Normalize{
	Mean:  [3]float32{0.485 * 255, 0.456 * 255, 0.406 * 255},
	Scale: [3]float32{1 / (0.229 * 255), 1 / (0.224 * 255), 1 / (0.225 * 255)},
}

// maxCandidates bounds the contours examined per image, as PaddleOCR does:
// a noise texture can produce tens of thousands.
const maxCandidates = 1000

// minBoxSide is the shortest side, in detector pixels, of a box worth
// reading.
const minBoxSide = 3

// Detect returns the text boxes in a BGR image, in image coordinates and
// reading order.
func (e *Engine) Detect(ctx context.Context, img gocv.Mat) ([]Quad, error) {
	if err := checkImage(img); err != nil {
		return nil, fmt.Errorf("detecting text: %w", err)
	}
	h, w := img.Rows(), img.Cols()
	scale := min(1, float64(e.cfg.MaxSide)/float64(max(h, w)))
	// DB downsamples by 32, so both sides must be multiples of it.
	rh := max(32, int(math.Round(float64(h)*scale/32))*32)
	rw := max(32, int(math.Round(float64(w)*scale/32))*32)
	resized := gocv.NewMat()
	defer resized.Close()
	gocv.Resize(img, &resized, image.Pt(rw, rh), 0, 0, gocv.InterpolationLinear)
	in := ort.NewNCHW(1, 3, rh, rw)
	if err := in.SetImage(0, resized.ToBytes(), rh, rw, detNorm); err != nil {
		return nil, fmt.Errorf("detecting text: %w", err)
	}
	out, err := e.det.Run(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("detecting text: %w", err)
	}
	prob := out[0]
	if len(prob.Data) != rh*rw {
		return nil, fmt.Errorf("detecting text: probability map has shape %v, want %dx%d", prob.Shape, rh, rw)
	}
	rects, err := e.dbBoxes(prob.Data, rw, rh)
	if err != nil {
		return nil, fmt.Errorf("detecting text: %w", err)
	}
	sx, sy := float64(w)/float64(rw), float64(h)/float64(rh)
	boxes := make([]Quad, 0, len(rects))
	for _, r := range rects {
		q := r.corners()
		for i := range q {
			q[i].X = math.Min(math.Max(q[i].X*sx, 0), float64(w))
			q[i].Y = math.Min(math.Max(q[i].Y*sy, 0), float64(h))
		}
		boxes = append(boxes, q)
	}
	sortReadingOrder(boxes)
	return boxes, nil
}

// dbBoxes turns DB's probability map into text rectangles: threshold it,
// take each connected region's minimum-area rectangle, keep those whose mean
// probability is high enough, and grow them by the unclip distance
// (area x ratio / perimeter) that DB's training shrank them by.
func (e *Engine) dbBoxes(prob []float32, w, h int) ([]rotRect, error) {
	bin := make([]byte, len(prob))
	for i, p := range prob {
		if p > e.cfg.PixelThreshold {
			bin[i] = 255
		}
	}
	mask, err := gocv.NewMatFromBytes(h, w, gocv.MatTypeCV8UC1, bin)
	if err != nil {
		return nil, err
	}
	defer mask.Close()
	contours := gocv.FindContours(mask, gocv.RetrievalList, gocv.ChainApproxSimple)
	defer contours.Close()
	var out []rotRect
	for i := 0; i < min(contours.Size(), maxCandidates); i++ {
		r := minAreaRect(contours.At(i).ToPoints())
		if min(r.w, r.h) < minBoxSide {
			continue
		}
		if boxScore(prob, w, h, r) < e.cfg.BoxThreshold {
			continue
		}
		d := r.w * r.h * e.cfg.UnclipRatio / (2 * (r.w + r.h))
		r.w += 2 * d
		r.h += 2 * d
		if min(r.w, r.h) < minBoxSide+2 {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// boxScore is the mean probability of the map's pixels inside r.
func boxScore(prob []float32, w, h int, r rotRect) float32 {
	b := r.corners().Bounds()
	// Bounds is exclusive at its far edges; the rectangle includes them.
	b.Max = b.Max.Add(image.Pt(1, 1))
	b = b.Intersect(image.Rect(0, 0, w, h))
	var sum float64
	n := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if r.contains(Point{float64(x), float64(y)}) {
				sum += float64(prob[y*w+x])
				n++
			}
		}
	}
	if n == 0 {
		return 0
	}
	return float32(sum / float64(n))
}
