package face

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"sort"
	"sync"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/ort"
)

// Detector finds faces in a BGR image, largest first.
type Detector interface {
	Detect(ctx context.Context, img gocv.Mat) ([]Face, error)
}

// ErrBadImage is returned for a Mat the engine cannot take: empty, or not
// 8-bit 3-channel BGR.
var ErrBadImage = errors.New("image must be a non-empty 8-bit BGR matrix")

func checkImage(img gocv.Mat) error {
	if img.Empty() || img.Type() != gocv.MatTypeCV8UC3 {
		return ErrBadImage
	}
	return nil
}

// YuNet defaults (OpenCV's FaceDetectorYN uses the same NMS overlap).
const (
	DefaultYuNetMinScore   = 0.6
	DefaultYuNetNMS        = 0.3
	DefaultYuNetMaxUpscale = 1
	yunetSide              = 640
)

var yunetStrides = [3]int{8, 16, 32}

// YuNetConfig tunes the detector; zero fields take the defaults.
type YuNetConfig struct {
	MinScore float64 // minimum sqrt(cls*obj) of a face
	NMS      float64 // IoU above which the weaker of two faces is dropped
	// MaxUpscale bounds how much a small image is enlarged to fill the
	// input: blown-up thumbnails make the network see faces in single
	// features.
	MaxUpscale float64
}

// YuNet is the YuNet 2023mar detector (640x640 input) run in ONNX Runtime
// and decoded here: OpenCV 4.6 cannot load this model. It is safe for
// concurrent use.
type YuNet struct {
	sess *ort.Session
	cfg  YuNetConfig
	// input is the 4.9 MB input tensor, kept from run to run: allocated
	// afresh, its 1,200 pages were faulted in and zeroed on every run
	// (some 2 ms of a 10 ms detection). A run that finds it in use
	// allocates its own.
	inputMu sync.Mutex
	input   ort.Tensor
}

// NewYuNet loads the YuNet model at path.
func NewYuNet(path string, cfg YuNetConfig, opt ort.Options) (*YuNet, error) {
	if cfg.MinScore <= 0 {
		cfg.MinScore = DefaultYuNetMinScore
	}
	if cfg.MaxUpscale <= 0 {
		cfg.MaxUpscale = DefaultYuNetMaxUpscale
	}
	if cfg.NMS <= 0 {
		cfg.NMS = DefaultYuNetNMS
	}
	s, err := ort.NewSession(path, opt)
	if err != nil {
		return nil, fmt.Errorf("loading face detector: %w", err)
	}
	if in := s.Inputs(); len(in) != 1 || len(s.Outputs()) != 12 || fmt.Sprint(in[0].Shape) != fmt.Sprint([]int64{1, 3, yunetSide, yunetSide}) {
		s.Close()
		return nil, fmt.Errorf("loading face detector %s: not a YuNet 2023mar model (want one 1x3x640x640 input and 12 outputs)", path)
	}
	return &YuNet{sess: s, cfg: cfg}, nil
}

// Close releases the model.
func (d *YuNet) Close() error { return d.sess.Close() }

// Detect letterboxes img into the 640x640 input (scaled to fit, padded at
// the right and bottom), runs the network and returns the faces in image
// coordinates, largest first.
func (d *YuNet) Detect(ctx context.Context, img gocv.Mat) ([]Face, error) {
	if err := checkImage(img); err != nil {
		return nil, err
	}
	w, h := img.Cols(), img.Rows()
	scale := math.Min(d.cfg.MaxUpscale, math.Min(float64(yunetSide)/float64(w), float64(yunetSide)/float64(h)))
	rw, rh := max(1, min(yunetSide, int(math.Round(float64(w)*scale)))), max(1, min(yunetSide, int(math.Round(float64(h)*scale))))
	var in ort.Tensor
	if d.inputMu.TryLock() {
		defer d.inputMu.Unlock()
		if d.input.Data == nil {
			d.input = ort.NewNCHW(1, 3, yunetSide, yunetSide)
		}
		in = d.input
	} else {
		in = ort.NewNCHW(1, 3, yunetSide, yunetSide)
	}
	if err := letterbox(img, rw, rh, in); err != nil {
		return nil, err
	}
	out, err := d.sess.Run(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("detecting faces: %w", err)
	}
	// Outputs come as cls_8,16,32, obj_*, bbox_*, kps_*.
	var faces []Face
	for si, stride := range yunetStrides {
		cls, obj, bbox, kps := out[si].Data, out[3+si].Data, out[6+si].Data, out[9+si].Data
		cols := yunetSide / stride
		s := float64(stride)
		for i := range cls {
			score := math.Sqrt(clamp01(float64(cls[i])) * clamp01(float64(obj[i])))
			if score < d.cfg.MinScore {
				continue
			}
			row, col := float64(i/cols), float64(i%cols)
			b := bbox[i*4 : i*4+4]
			cx, cy := (col+float64(b[0]))*s, (row+float64(b[1]))*s
			bw, bh := math.Exp(float64(b[2]))*s, math.Exp(float64(b[3]))*s
			f := Face{Box: Box{X: (cx - bw/2) / scale, Y: (cy - bh/2) / scale, W: bw / scale, H: bh / scale}, Score: score}
			k := kps[i*10 : i*10+10]
			for n := range f.Landmarks {
				f.Landmarks[n] = Point{X: (float64(k[2*n]) + col) * s / scale, Y: (float64(k[2*n+1]) + row) * s / scale}
			}
			faces = append(faces, f)
		}
	}
	return FinishFaces(faces, d.cfg.NMS, w, h), nil
}

// FinishFaces is the common end of a detector: it suppresses overlapping
// faces (keeping the higher score), clips boxes to the w x h image and orders
// the faces largest first.
func FinishFaces(faces []Face, iou float64, w, h int) []Face {
	sort.SliceStable(faces, func(i, j int) bool { return faces[i].Score > faces[j].Score })
	faces = nms(faces, iou)
	for i := range faces {
		faces[i].Box = clipBox(faces[i].Box, w, h)
	}
	sort.SliceStable(faces, func(i, j int) bool { return faces[i].Box.Area() > faces[j].Box.Area() })
	return faces
}

func clipBox(b Box, w, h int) Box {
	x1, y1 := math.Max(0, b.X), math.Max(0, b.Y)
	x2, y2 := math.Min(float64(w), b.X+b.W), math.Min(float64(h), b.Y+b.H)
	return Box{X: x1, Y: y1, W: math.Max(0, x2-x1), H: math.Max(0, y2-y1)}
}

func clamp01(v float64) float64 { return math.Min(1, math.Max(0, v)) }

// letterbox resizes img to rw x rh, writes it into the top-left corner of
// the 1x3xHxW input tensor t and zeroes the rest, YuNet's padding (t may
// hold the previous run's image).
func letterbox(img gocv.Mat, rw, rh int, t ort.Tensor) error {
	resized := gocv.NewMat()
	defer resized.Close()
	gocv.Resize(img, &resized, image.Pt(rw, rh), 0, 0, gocv.InterpolationLinear)
	// Read in place: a copy (ToBytes) was another 0.7 MB a run.
	pix, err := resized.DataPtrUint8()
	if err != nil {
		return err
	}
	if err := t.SetImage(0, pix, rh, rw, ort.Raw); err != nil {
		return err
	}
	tw := int(t.Shape[3])
	plane := int(t.Shape[2]) * tw
	for c := range 3 {
		p := t.Data[c*plane : (c+1)*plane]
		for y := range rh {
			clear(p[y*tw+rw : (y+1)*tw])
		}
		clear(p[rh*tw:])
	}
	return nil
}
