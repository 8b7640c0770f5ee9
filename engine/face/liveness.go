package face

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"math"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/ort"
)

// DefaultLiveThreshold is the probability of a live face at or above which
// a face is taken as live (the model's own argmax point).
const DefaultLiveThreshold = 0.5

const (
	livenessSide = 128
	// livenessContext is how much wider than the face box the crop is: the
	// model was trained on faces with this much surrounding context.
	livenessContext = 1.5
)

// Liveness runs MiniFASNetV2-SE passive liveness (presentation-attack
// detection) on one face. It is safe for concurrent use.
type Liveness struct{ sess *ort.Session }

// NewLiveness loads the MiniFASNetV2-SE model at path.
func NewLiveness(path string, opt ort.Options) (*Liveness, error) {
	s, err := ort.NewSession(path, opt)
	if err != nil {
		return nil, fmt.Errorf("loading liveness model: %w", err)
	}
	if out := s.Outputs(); len(s.Inputs()) != 1 || len(out) != 1 || out[0].Shape[len(out[0].Shape)-1] != 2 {
		s.Close()
		return nil, fmt.Errorf("loading liveness model %s: want one input and two output logits", path)
	}
	return &Liveness{sess: s}, nil
}

// Close releases the model.
func (l *Liveness) Close() error { return l.sess.Close() }

// Score returns the probability that face is a live person rather than a
// print or a screen: the softmax of the model's [real, spoof] logits.
func (l *Liveness) Score(ctx context.Context, img gocv.Mat, face Box) (float64, error) {
	if err := checkImage(img); err != nil {
		return 0, err
	}
	crop, err := livenessCrop(img, face)
	if err != nil {
		return 0, err
	}
	defer crop.Close()
	in := ort.NewNCHW(1, 3, livenessSide, livenessSide)
	norm := ort.Normalize{Scale: [3]float32{1.0 / 255, 1.0 / 255, 1.0 / 255}, SwapRB: true}
	if err := in.SetImage(0, crop.ToBytes(), livenessSide, livenessSide, norm); err != nil {
		return 0, fmt.Errorf("scoring liveness: %w", err)
	}
	out, err := l.sess.Run(ctx, in)
	if err != nil {
		return 0, fmt.Errorf("scoring liveness: %w", err)
	}
	real, spoof := float64(out[0].Data[0]), float64(out[0].Data[1])
	return 1 / (1 + math.Exp(spoof-real)), nil
}

// livenessCrop cuts the square of side 1.5 x max(w, h) centred on the face,
// reflecting the image where the square leaves it, resized to 128x128.
func livenessCrop(img gocv.Mat, b Box) (gocv.Mat, error) {
	side := livenessContext * math.Max(b.W, b.H)
	if side < 1 {
		return gocv.NewMat(), fmt.Errorf("scoring liveness: face box %+v is empty", b)
	}
	cx, cy := b.X+b.W/2, b.Y+b.H/2
	x0, y0 := int(math.Round(cx-side/2)), int(math.Round(cy-side/2))
	s := int(math.Round(side))
	w, h := img.Cols(), img.Rows()
	left, top := max(0, -x0), max(0, -y0)
	right, bottom := max(0, x0+s-w), max(0, y0+s-h)
	if max(0, x0) >= min(w, x0+s) || max(0, y0) >= min(h, y0+s) {
		return gocv.NewMat(), fmt.Errorf("scoring liveness: face box %+v lies outside the %dx%d image", b, w, h)
	}
	inside := img.Region(image.Rect(max(0, x0), max(0, y0), min(w, x0+s), min(h, y0+s)))
	defer inside.Close()
	padded := gocv.NewMat()
	defer padded.Close()
	gocv.CopyMakeBorder(inside, &padded, top, bottom, left, right, gocv.BorderReflect101, color.RGBA{})
	out := gocv.NewMat()
	gocv.Resize(padded, &out, image.Pt(livenessSide, livenessSide), 0, 0, gocv.InterpolationLinear)
	return out, nil
}
