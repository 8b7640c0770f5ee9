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
	z, err := l.LiveLogit(ctx, img, face)
	if err != nil {
		return 0, err
	}
	return sigmoid(z), nil
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

// LiveLogit returns the log-odds of a live face: the model's real logit
// minus its spoof logit.
func (l *Liveness) LiveLogit(ctx context.Context, img gocv.Mat, face Box) (float64, error) {
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
	return float64(out[0].Data[0]) - float64(out[0].Data[1]), nil
}

// MiniFAS runs one of minivision's Silent-Face-Anti-Spoofing models
// (MiniFASNetV2 at crop scale 2.7, MiniFASNetV1SE at 4.0) on one face. It
// is safe for concurrent use.
type MiniFAS struct {
	sess  *ort.Session
	scale float64
}

// miniFASSide is the side of the models' input.
const miniFASSide = 80

// NewMiniFAS loads the minivision model at path, which was trained on
// crops of scale times the face box.
func NewMiniFAS(path string, scale float64, opt ort.Options) (*MiniFAS, error) {
	if !(scale >= 1) {
		return nil, fmt.Errorf("loading liveness model %s: crop scale %v, want at least 1", path, scale)
	}
	s, err := ort.NewSession(path, opt)
	if err != nil {
		return nil, fmt.Errorf("loading liveness model: %w", err)
	}
	in, out := s.Inputs(), s.Outputs()
	if len(in) != 1 || len(out) != 1 || fmt.Sprint(in[0].Shape[1:]) != fmt.Sprint([]int64{3, miniFASSide, miniFASSide}) || out[0].Shape[len(out[0].Shape)-1] != 3 {
		s.Close()
		return nil, fmt.Errorf("loading liveness model %s: want one 3x80x80 input and three output logits (a minivision MiniFASNet)", path)
	}
	return &MiniFAS{sess: s, scale: scale}, nil
}

// Close releases the model.
func (m *MiniFAS) Close() error { return m.sess.Close() }

// LiveLogit returns the log-odds of a live face against the two spoof
// classes: log p(live) - log(p(spoof 0) + p(spoof 2)) of the softmax over
// the model's three logits, index 1 being live. Preprocessing as
// minivision's: the BGR crop (miniFASCrop) with raw 0..255 values.
func (m *MiniFAS) LiveLogit(ctx context.Context, img gocv.Mat, face Box) (float64, error) {
	if err := checkImage(img); err != nil {
		return 0, err
	}
	crop, err := miniFASCrop(img, face, m.scale)
	if err != nil {
		return 0, err
	}
	defer crop.Close()
	in := ort.NewNCHW(1, 3, miniFASSide, miniFASSide)
	if err := in.SetImage(0, crop.ToBytes(), miniFASSide, miniFASSide, ort.Raw); err != nil {
		return 0, fmt.Errorf("scoring liveness: %w", err)
	}
	out, err := m.sess.Run(ctx, in)
	if err != nil {
		return 0, fmt.Errorf("scoring liveness: %w", err)
	}
	l := out[0].Data
	return float64(l[1]) - logSumExp(float64(l[0]), float64(l[2])), nil
}

// miniFASCrop cuts minivision's crop (miniFASRect) of face b from img,
// resized to 80x80.
func miniFASCrop(img gocv.Mat, b Box, scale float64) (gocv.Mat, error) {
	r, err := miniFASRect(img.Cols(), img.Rows(), b, scale)
	if err != nil {
		return gocv.NewMat(), err
	}
	roi := img.Region(r)
	defer roi.Close()
	out := gocv.NewMat()
	gocv.Resize(roi, &out, image.Pt(miniFASSide, miniFASSide), 0, 0, gocv.InterpolationLinear)
	return out, nil
}

// miniFASRect is minivision's CropImage box in a w x h image (cropBox),
// the corners truncated to integers as Python's int() does and taken
// inclusive. It keeps the box's aspect, so the crop is not square.
func miniFASRect(w, h int, b Box, scale float64) (image.Rectangle, error) {
	x0, y0, x1, y1, err := cropBox(w, h, b, scale)
	if err != nil {
		return image.Rectangle{}, err
	}
	return image.Rect(int(x0), int(y0), int(x1)+1, int(y1)+1).Intersect(image.Rect(0, 0, w, h)), nil
}

// cropBox is the crop box of minivision's CropImage (and of faceplugin's
// alignLivenessImage, its port) in a w x h image: the face box scaled by
// min(scale, (h-1)/box h, (w-1)/box w) about its centre, shifted back
// inside the image where it leaves it.
func cropBox(w, h int, b Box, scale float64) (x0, y0, x1, y1 float64, err error) {
	fw, fh := float64(w), float64(h)
	if b.W < 1 || b.H < 1 {
		return 0, 0, 0, 0, fmt.Errorf("scoring liveness: face box %+v is empty", b)
	}
	if b.X >= fw || b.Y >= fh || b.X+b.W <= 0 || b.Y+b.H <= 0 {
		return 0, 0, 0, 0, fmt.Errorf("scoring liveness: face box %+v lies outside the %dx%d image", b, w, h)
	}
	s := math.Min(scale, math.Min((fh-1)/b.H, (fw-1)/b.W))
	nw, nh := b.W*s, b.H*s
	cx, cy := b.X+b.W/2, b.Y+b.H/2
	x0, y0, x1, y1 = cx-nw/2, cy-nh/2, cx+nw/2, cy+nh/2
	if x0 < 0 {
		x1 -= x0
		x0 = 0
	}
	if y0 < 0 {
		y1 -= y0
		y0 = 0
	}
	if x1 > fw-1 {
		x0 -= x1 - fw + 1
		x1 = fw - 1
	}
	if y1 > fh-1 {
		y0 -= y1 - fh + 1
		y1 = fh - 1
	}
	return x0, y0, x1, y1, nil
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

// FRLiveness runs faceplugin's passive liveness model (fr_liveness.onnx of
// npm faceplugin-face-recognition-js: a MiniFASNet-like network of
// convolutions and PReLUs with three classes, index 0 live) on one face.
// `kyc eval liveness` measures it beside the fused models; it is not fused,
// having separated none of the simulated attacks the others let through.
// It is safe for concurrent use.
type FRLiveness struct{ sess *ort.Session }

const (
	// frLivenessSide and frLivenessScale are the model's input side and
	// the crop's size in face boxes (fr_liveness.js: alignLivenessImage at
	// 2.7, resized to 128x128).
	frLivenessSide  = 128
	frLivenessScale = 2.7
)

// NewFRLiveness loads faceplugin's liveness model at path.
func NewFRLiveness(path string, opt ort.Options) (*FRLiveness, error) {
	s, err := ort.NewSession(path, opt)
	if err != nil {
		return nil, fmt.Errorf("loading liveness model: %w", err)
	}
	in, out := s.Inputs(), s.Outputs()
	if len(in) != 1 || len(out) != 1 || fmt.Sprint(in[0].Shape[1:]) != fmt.Sprint([]int64{3, frLivenessSide, frLivenessSide}) || out[0].Shape[len(out[0].Shape)-1] != 3 {
		s.Close()
		return nil, fmt.Errorf("loading liveness model %s: want one 3x128x128 input and three output logits (faceplugin's fr_liveness)", path)
	}
	return &FRLiveness{sess: s}, nil
}

// Close releases the model.
func (l *FRLiveness) Close() error { return l.sess.Close() }

// LiveLogit returns the log-odds of a live face against the two spoof
// classes: log p(live) - log(p(spoof 1) + p(spoof 2)) of the softmax over
// the model's three logits. The crop is fr_liveness.js's (frLivenessRect,
// resized bilinearly to 128x128) with raw 0..255 values, but in BGR order:
// the JS feeds RGB (opencv.js reads RGBA), yet on the project's faces BGR,
// the order of the Python training code such networks come from, scores
// live faces far higher (median log-odds 7.3 against 3.7 on
// interfaces_cc0, minivision's live sample 2.3 against -0.1) and separates
// the simulated prints from them better (AUC 0.79 against 0.56).
func (l *FRLiveness) LiveLogit(ctx context.Context, img gocv.Mat, face Box) (float64, error) {
	if err := checkImage(img); err != nil {
		return 0, err
	}
	r, err := frLivenessRect(img.Cols(), img.Rows(), face)
	if err != nil {
		return 0, err
	}
	roi := img.Region(r)
	defer roi.Close()
	crop := gocv.NewMat()
	defer crop.Close()
	gocv.Resize(roi, &crop, image.Pt(frLivenessSide, frLivenessSide), 0, 0, gocv.InterpolationLinear)
	in := ort.NewNCHW(1, 3, frLivenessSide, frLivenessSide)
	if err := in.SetImage(0, crop.ToBytes(), frLivenessSide, frLivenessSide, ort.Raw); err != nil {
		return 0, fmt.Errorf("scoring liveness: %w", err)
	}
	out, err := l.sess.Run(ctx, in)
	if err != nil {
		return 0, fmt.Errorf("scoring liveness: %w", err)
	}
	o := out[0].Data
	return float64(o[0]) - logSumExp(float64(o[1]), float64(o[2])), nil
}

// logSumExp is log(exp(a) + exp(b)), stably.
func logSumExp(a, b float64) float64 {
	hi := math.Max(a, b)
	return hi + math.Log(math.Exp(a-hi)+math.Exp(b-hi))
}

// frLivenessRect is alignLivenessImage's crop in a w x h image: cropBox at
// frLivenessScale, its corner truncated and its size the truncated
// difference of the corners (cv.Rect(x0, y0, x1-x0, y1-y0)).
func frLivenessRect(w, h int, b Box) (image.Rectangle, error) {
	x0, y0, x1, y1, err := cropBox(w, h, b, frLivenessScale)
	if err != nil {
		return image.Rectangle{}, err
	}
	x, y := max(int(x0), 0), max(int(y0), 0)
	r := image.Rect(x, y, x+min(int(x1-x0), w-1), y+min(int(y1-y0), h-1)).Intersect(image.Rect(0, 0, w, h))
	if r.Empty() {
		return image.Rectangle{}, fmt.Errorf("scoring liveness: face box %+v gives an empty crop", b)
	}
	return r, nil
}
