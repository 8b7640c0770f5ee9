package face

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/ort"
	"github.com/openkyc/kyc/engine/ort/onnxgraph"
)

// AgeGenderSize is the side of the age and gender network's input.
const AgeGenderSize = 112

// AgeGender is face-api.js's age and gender network: a TinyXception with two
// main blocks, an age regression head and a two-class gender head. The
// product has no TensorFlow runtime, so NewAgeGender rebuilds the network
// as an ONNX graph from the TFJS weights and runs it in ONNX Runtime: a
// plain Go forward pass took 40 ms of CPU per face, ONNX Runtime takes
// under 2 ms. It is safe for concurrent use.
type AgeGender struct{ sess *ort.Session }

// NewAgeGender loads the network from its TFJS weights manifest and the
// weights file it lists (installed as two entries, so passed separately).
func NewAgeGender(manifestPath, weightsPath string, opt ort.Options) (*AgeGender, error) {
	w, err := readTFJS(manifestPath, weightsPath)
	if err != nil {
		return nil, fmt.Errorf("loading age and gender model: %w", err)
	}
	model, err := ageGenderGraph(w)
	if err != nil {
		return nil, fmt.Errorf("loading age and gender model %s: %w", manifestPath, err)
	}
	sess, err := ort.NewSessionFromBytes(manifestPath, model, opt)
	if err != nil {
		return nil, fmt.Errorf("loading age and gender model %s: %w", manifestPath, err)
	}
	return &AgeGender{sess: sess}, nil
}

// Close releases the model.
func (a *AgeGender) Close() error { return a.sess.Close() }

// Predict estimates the age in years and the probability that the face is
// male. The crop is face-api's for a given box: f.Box, padded to a square
// with black, the face centred, resized to 112x112.
func (a *AgeGender) Predict(ctx context.Context, img gocv.Mat, f Face) (age, pMale float64, err error) {
	if err := checkImage(img); err != nil {
		return 0, 0, err
	}
	in, err := ageGenderInput(img, f.Box)
	if err != nil {
		return 0, 0, err
	}
	out, err := a.sess.Run(ctx, ort.Tensor{Shape: []int64{1, 3, AgeGenderSize, AgeGenderSize}, Data: in})
	if err != nil {
		return 0, 0, fmt.Errorf("age and gender: %w", err)
	}
	if len(out) != 2 || len(out[0].Data) != 1 || len(out[1].Data) != 2 {
		return 0, 0, fmt.Errorf("age and gender: unexpected outputs")
	}
	return float64(out[0].Data[0]), float64(out[1].Data[0]), nil
}

// ageGenderMean is the network's per-channel RGB mean; inputs are then
// divided by 255.
var ageGenderMean = [3]float32{122.782, 117.001, 104.298}

// ageGenderInput crops b from img as face-api does for a tensor input
// (extractFaceTensors, then NetInput.toBatchTensor): the box clipped to the
// image and floored, zero-padded to a square with the face centred, resized
// bilinearly without half-pixel centres (TF's legacy resizeBilinear), and
// normalised; NCHW, RGB.
func ageGenderInput(img gocv.Mat, b Box) ([]float32, error) {
	W, H := float64(img.Cols()), float64(img.Rows())
	x0, y0 := math.Max(b.X, 0), math.Max(b.Y, 0)
	w := math.Floor(math.Min(b.X+b.W-x0, W-x0))
	h := math.Floor(math.Min(b.Y+b.H-y0, H-y0))
	x0, y0 = math.Floor(x0), math.Floor(y0)
	if w < 1 || h < 1 || math.IsNaN(w+h) {
		return nil, fmt.Errorf("%w: box %+v is outside the %dx%d image", ErrNoFace, b, img.Cols(), img.Rows())
	}
	cw, ch := int(w), int(h)
	// padToSquare(centred): round(diff/2) after, the rest before.
	side, offX, offY := cw, 0, 0
	if ch > cw {
		side, offX = ch, (ch-cw)-int(math.Round(float64(ch-cw)*0.5))
	} else if cw > ch {
		offY = (cw - ch) - int(math.Round(float64(cw-ch)*0.5))
	}
	if !img.IsContinuous() {
		c := img.Clone()
		defer c.Close()
		img = c
	}
	data, err := img.DataPtrUint8()
	if err != nil {
		return nil, err
	}
	stride, ix, iy := img.Cols()*3, int(x0), int(y0)
	// pixel returns channel c (RGB) of the padded square at (x, y).
	pixel := func(x, y, c int) float32 {
		x, y = x-offX, y-offY
		if x < 0 || y < 0 || x >= cw || y >= ch {
			return 0
		}
		return float32(data[(iy+y)*stride+(ix+x)*3+2-c])
	}
	const n = AgeGenderSize
	out := make([]float32, n*n*3)
	scale := float32(side) / n
	for oy := 0; oy < n; oy++ {
		sy := float32(oy) * scale
		y1 := int(sy)
		y2 := min(y1+1, side-1)
		dy := sy - float32(y1)
		for ox := 0; ox < n; ox++ {
			sx := float32(ox) * scale
			x1 := int(sx)
			x2 := min(x1+1, side-1)
			dx := sx - float32(x1)
			for c := 0; c < 3; c++ {
				top := pixel(x1, y1, c) + (pixel(x2, y1, c)-pixel(x1, y1, c))*dx
				bot := pixel(x1, y2, c) + (pixel(x2, y2, c)-pixel(x1, y2, c))*dx
				v := top + (bot-top)*dy
				out[(c*n+oy)*n+ox] = (v - ageGenderMean[c]) / 255
			}
		}
	}
	return out, nil
}

// ageGenderGraph writes face-api's TinyXception (xception/TinyXception.ts
// and ageGenderNet/AgeGenderNet.ts) as an ONNX model: input "x" 1x3x112x112,
// outputs "age" and "gender" (softmax, male first). TF's "same" padding
// with stride 2 on even sides pads only after, so those pads are
// asymmetric; a separable convolution is a depthwise Conv then a 1x1 Conv
// with the bias.
func ageGenderGraph(w map[string]tfjsTensor) ([]byte, error) {
	b := &weightGraph{w: w}
	conv := func(x, prefix string, k, in, out, stride int) string {
		wt := b.take(prefix+"/filters", k, k, in, out)
		pad := int64(0)
		if k == 3 {
			pad = 1
		}
		return b.Node("Conv", []string{x, b.Const(ohwi(wt, k, in, out), out, in, k, k), b.Const(b.take(prefix+"/bias", out), out)},
			onnxgraph.IntsAttr("strides", int64(stride), int64(stride)), onnxgraph.IntsAttr("pads", 0, 0, pad, pad))
	}
	sep := func(x, prefix string, in, out int) string {
		dw := b.take(prefix+"/depthwise_filter", 3, 3, in, 1)
		d := b.Node("Conv", []string{x, b.Const(ohwi(dw, 3, in, 1), in, 1, 3, 3)}, onnxgraph.IntsAttr("pads", 1, 1, 1, 1), onnxgraph.IntAttr("group", int64(in)))
		pw := b.take(prefix+"/pointwise_filter", 1, 1, in, out)
		return b.Node("Conv", []string{d, b.Const(ohwi(pw, 1, in, out), out, in, 1, 1), b.Const(b.take(prefix+"/bias", out), out)})
	}
	relu := func(x string) string { return b.Node("Relu", []string{x}) }
	reduction := func(x, prefix string, in, out int, activate bool) string {
		y := x
		if activate {
			y = relu(x)
		}
		y = sep(relu(sep(y, prefix+"/separable_conv0", in, out)), prefix+"/separable_conv1", out, out)
		y = b.Node("MaxPool", []string{y}, onnxgraph.IntsAttr("kernel_shape", 3, 3), onnxgraph.IntsAttr("strides", 2, 2), onnxgraph.IntsAttr("pads", 0, 0, 1, 1))
		e := conv(x, prefix+"/expansion_conv", 1, in, out, 2)
		return b.Node("Add", []string{y, e})
	}
	x := relu(conv("x", "entry_flow/conv_in", 3, 3, 32, 2))
	x = reduction(x, "entry_flow/reduction_block_0", 32, 64, false)
	x = reduction(x, "entry_flow/reduction_block_1", 64, 128, true)
	for i := 0; i < 2; i++ {
		y := x
		for j := 0; j < 3; j++ {
			y = sep(relu(y), fmt.Sprintf("middle_flow/main_block_%d/separable_conv%d", i, j), 128, 128)
		}
		x = b.Node("Add", []string{y, x})
	}
	x = reduction(x, "exit_flow/reduction_block", 128, 256, true)
	x = relu(sep(x, "exit_flow/separable_conv", 256, 512))
	// The 7x7 average pool with stride 2 covers the 7x7 map once.
	x = b.Node("Flatten", []string{b.Node("GlobalAveragePool", []string{x})})
	head := func(name string, n int) string {
		return b.Node("Gemm", []string{x, b.Const(b.take("fc/"+name+"/weights", 512, n), 512, n), b.Const(b.take("fc/"+name+"/bias", n), n)})
	}
	b.NodeTo("Identity", "age", []string{head("age", 1)})
	b.NodeTo("Softmax", "gender", []string{head("gender", 2)}, onnxgraph.IntAttr("axis", 1))
	if len(b.errs) > 0 {
		return nil, errors.Join(b.errs...)
	}
	return b.Model("faceapi_age_gender", []onnxgraph.Value{{Name: "x", Dims: []int64{1, 3, AgeGenderSize, AgeGenderSize}}},
		[]onnxgraph.Value{{Name: "age", Dims: []int64{1, 1}}, {Name: "gender", Dims: []int64{1, 2}}}), nil
}

// ohwi transposes TF's HWIO filter (k x k x in x out) to ONNX's OIHW.
func ohwi(w []float32, k, in, out int) []float32 {
	t := make([]float32, len(w))
	for y := 0; y < k; y++ {
		for x := 0; x < k; x++ {
			for i := 0; i < in; i++ {
				for o := 0; o < out; o++ {
					t[((o*in+i)*k+y)*k+x] = w[((y*k+x)*in+i)*out+o]
				}
			}
		}
	}
	return t
}

// weightGraph builds the ONNX graph from TFJS weights, recording what is
// missing or misshapen.
type weightGraph struct {
	onnxgraph.Builder
	w    map[string]tfjsTensor
	errs []error
}

// take returns a weight, recording an error when it is missing or has
// another shape.
func (b *weightGraph) take(name string, shape ...int) []float32 {
	t, ok := b.w[name]
	switch {
	case !ok:
		b.errs = append(b.errs, fmt.Errorf("weight %s missing", name))
	case !sameShape(t.shape, shape):
		b.errs = append(b.errs, fmt.Errorf("weight %s has shape %v, want %v", name, t.shape, shape))
	default:
		return t.data
	}
	return make([]float32, product(shape))
}

// tfjsTensor is one weight of a TFJS weights file.
type tfjsTensor struct {
	shape []int
	data  []float32
}

// readTFJS reads a TFJS weights manifest and its single weights file,
// dequantising uint8 weights as min + q*scale (face-api ships them so).
func readTFJS(manifestPath, weightsPath string) (map[string]tfjsTensor, error) {
	raw, err := os.ReadFile(manifestPath)
	if err != nil {
		return nil, err
	}
	var groups []struct {
		Weights []struct {
			Name         string `json:"name"`
			Shape        []int  `json:"shape"`
			DType        string `json:"dtype"`
			Quantization *struct {
				DType string  `json:"dtype"`
				Scale float64 `json:"scale"`
				Min   float64 `json:"min"`
			} `json:"quantization"`
		} `json:"weights"`
	}
	if err := json.Unmarshal(raw, &groups); err != nil {
		return nil, fmt.Errorf("weights manifest %s: %w", manifestPath, err)
	}
	if len(groups) != 1 {
		return nil, fmt.Errorf("weights manifest %s: %d weight groups, want 1", manifestPath, len(groups))
	}
	buf, err := os.ReadFile(weightsPath)
	if err != nil {
		return nil, err
	}
	out := map[string]tfjsTensor{}
	off := 0
	for _, w := range groups[0].Weights {
		if w.DType != "float32" {
			return nil, fmt.Errorf("weight %s: dtype %s, want float32", w.Name, w.DType)
		}
		n := product(w.Shape)
		t := tfjsTensor{shape: w.Shape, data: make([]float32, n)}
		q := w.Quantization
		switch {
		case q == nil:
			if off+4*n > len(buf) {
				return nil, fmt.Errorf("weights file %s is truncated at %s", weightsPath, w.Name)
			}
			for i := range t.data {
				t.data[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[off+4*i:]))
			}
			off += 4 * n
		case q.DType == "uint8":
			if off+n > len(buf) {
				return nil, fmt.Errorf("weights file %s is truncated at %s", weightsPath, w.Name)
			}
			for i := range t.data {
				t.data[i] = float32(q.Min + float64(buf[off+i])*q.Scale)
			}
			off += n
		default:
			return nil, fmt.Errorf("weight %s: quantisation %s not supported", w.Name, q.DType)
		}
		out[w.Name] = t
	}
	if off != len(buf) {
		return nil, fmt.Errorf("weights file %s has %d bytes, the manifest describes %d", weightsPath, len(buf), off)
	}
	return out, nil
}

func product(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
