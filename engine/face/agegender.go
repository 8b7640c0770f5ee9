package face

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"unsafe"

	"gocv.io/x/gocv"
)

// AgeGenderSize is the side of the age and gender network's input.
const AgeGenderSize = 112

// AgeGender is face-api.js's age and gender network (a TinyXception with two
// main blocks, an age regression head and a two-class gender head), run in
// plain Go from the TFJS weights: the product has no TensorFlow runtime and
// the network is small. It is safe for concurrent use.
type AgeGender struct {
	convIn                 conv
	red0, red1, redExit    reductionBlock
	main0, main1           [3]sepConv
	sepExit                sepConv
	ageW, ageB, genW, genB []float32
	mats                   []gocv.Mat
}

// conv is a dense convolution with square kernel k (TF's HWIO layout).
type conv struct {
	k, in, out int
	w          gocv.Mat // (k*k*in) x out
	b          []float32
}

// sepConv is TF's separable convolution: a 3x3 depthwise filter, then a 1x1
// pointwise one, then the bias.
type sepConv struct {
	in, out int
	dw      []float32 // [3][3][in]
	pw      gocv.Mat  // in x out
	b       []float32
}

type reductionBlock struct {
	sep0, sep1 sepConv
	expansion  conv
}

// NewAgeGender loads the network from its TFJS weights manifest and the
// weights file it lists (installed separately, so passed separately).
func NewAgeGender(manifestPath, weightsPath string) (*AgeGender, error) {
	w, err := readTFJS(manifestPath, weightsPath)
	if err != nil {
		return nil, fmt.Errorf("loading age and gender model: %w", err)
	}
	a := &AgeGender{}
	var errs []error
	var mats []gocv.Mat
	// matrix keeps a (rows x cols) weight as an OpenCV matrix for gemm.
	matrix := func(d []float32, rows, cols int) gocv.Mat {
		m, err := gocv.NewMatFromBytes(rows, cols, gocv.MatTypeCV32F, unsafe.Slice((*byte)(unsafe.Pointer(&d[0])), 4*len(d)))
		if err != nil {
			errs = append(errs, err)
		}
		mats = append(mats, m)
		return m
	}
	take := func(name string, shape ...int) []float32 {
		t, ok := w[name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("weight %s missing", name))
		case !sameShape(t.shape, shape):
			errs = append(errs, fmt.Errorf("weight %s has shape %v, want %v", name, t.shape, shape))
		default:
			return t.data
		}
		return make([]float32, product(shape))
	}
	sep := func(prefix string, in, out int) sepConv {
		return sepConv{in: in, out: out,
			dw: take(prefix+"/depthwise_filter", 3, 3, in, 1),
			pw: matrix(take(prefix+"/pointwise_filter", 1, 1, in, out), in, out),
			b:  take(prefix+"/bias", out)}
	}
	cv := func(prefix string, k, in, out int) conv {
		return conv{k: k, in: in, out: out, w: matrix(take(prefix+"/filters", k, k, in, out), k*k*in, out), b: take(prefix+"/bias", out)}
	}
	red := func(prefix string, in, out int) reductionBlock {
		return reductionBlock{sep(prefix+"/separable_conv0", in, out), sep(prefix+"/separable_conv1", out, out), cv(prefix+"/expansion_conv", 1, in, out)}
	}
	a.convIn = cv("entry_flow/conv_in", 3, 3, 32)
	a.red0 = red("entry_flow/reduction_block_0", 32, 64)
	a.red1 = red("entry_flow/reduction_block_1", 64, 128)
	for i, m := range []*[3]sepConv{&a.main0, &a.main1} {
		for j := range m {
			m[j] = sep(fmt.Sprintf("middle_flow/main_block_%d/separable_conv%d", i, j), 128, 128)
		}
	}
	a.redExit = red("exit_flow/reduction_block", 128, 256)
	a.sepExit = sep("exit_flow/separable_conv", 256, 512)
	a.ageW, a.ageB = take("fc/age/weights", 512, 1), take("fc/age/bias", 1)
	a.genW, a.genB = take("fc/gender/weights", 512, 2), take("fc/gender/bias", 2)
	a.mats = mats
	if len(errs) > 0 {
		a.Close()
		return nil, fmt.Errorf("loading age and gender model %s: %w", manifestPath, errors.Join(errs...))
	}
	return a, nil
}

// Close releases the network's matrices.
func (a *AgeGender) Close() error {
	for _, m := range a.mats {
		m.Close()
	}
	a.mats = nil
	return nil
}

// Predict estimates the age in years and the probability that the face is
// male. The crop is face-api's: the face's box, padded to a square with black
// centred on the face, resized to 112x112.
func (a *AgeGender) Predict(ctx context.Context, img gocv.Mat, f Face) (age, pMale float64, err error) {
	if err := checkImage(img); err != nil {
		return 0, 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	in, err := ageGenderInput(img, f.Box)
	if err != nil {
		return 0, 0, err
	}
	return a.forward(in)
}

// ageGenderMean is the network's per-channel RGB mean; inputs are then
// divided by 255.
var ageGenderMean = [3]float32{122.782, 117.001, 104.298}

// ageGenderInput crops b from img as face-api does for a tensor input
// (extractFaceTensors, then NetInput.toBatchTensor): the box clipped to the
// image and floored, zero-padded to a square with the face centred, resized
// bilinearly without half-pixel centres (TF's legacy resizeBilinear), and
// normalised; HWC, RGB.
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
				out[(oy*n+ox)*3+c] = (v - ageGenderMean[c]) / 255
			}
		}
	}
	return out, nil
}

// forward runs the network on a normalised 112x112x3 input.
func (a *AgeGender) forward(in []float32) (age, pMale float64, err error) {
	x := tensor{h: AgeGenderSize, w: AgeGenderSize, c: 3, d: in}
	x = relu(a.convIn.apply(x, 2))
	x = a.red0.apply(x, false)
	x = a.red1.apply(x, true)
	for _, m := range []*[3]sepConv{&a.main0, &a.main1} {
		y := x
		for i := range m {
			y = m[i].apply(relu(y))
		}
		x = add(y, x)
	}
	x = a.redExit.apply(x, true)
	x = relu(a.sepExit.apply(x))
	// The 7x7 average pool with stride 2 covers the 7x7 map once.
	pooled := make([]float32, x.c)
	for p := 0; p < x.h*x.w; p++ {
		for c, v := range x.d[p*x.c : (p+1)*x.c] {
			pooled[c] += v
		}
	}
	for c := range pooled {
		pooled[c] /= float32(x.h * x.w)
	}
	ageOut := dense(pooled, a.ageW, a.ageB)
	g := dense(pooled, a.genW, a.genB)
	m := math.Max(float64(g[0]), float64(g[1]))
	e0, e1 := math.Exp(float64(g[0])-m), math.Exp(float64(g[1])-m)
	return float64(ageOut[0]), e0 / (e0 + e1), nil
}

// tensor is an HWC feature map.
type tensor struct {
	h, w, c int
	d       []float32
}

func relu(t tensor) tensor {
	o := tensor{t.h, t.w, t.c, make([]float32, len(t.d))}
	for i, v := range t.d {
		o.d[i] = max(v, 0)
	}
	return o
}

func add(a, b tensor) tensor {
	for i := range a.d {
		a.d[i] += b.d[i]
	}
	return a
}

// samePad is TF's "same" padding before the first row or column: the total
// is split with the extra pixel after.
func samePad(in, k, stride int) (out, before int) {
	out = (in + stride - 1) / stride
	total := max((out-1)*stride+k-in, 0)
	return out, total / 2
}

// apply convolves x with TF's "same" padding: the patches are gathered into
// rows (im2col) and multiplied by the HWIO weights, which are already laid
// out as one column per output channel.
func (cv *conv) apply(x tensor, stride int) tensor {
	oh, pt := samePad(x.h, cv.k, stride)
	ow, pl := samePad(x.w, cv.k, stride)
	cols := cv.k * cv.k * x.c
	patches := make([]float32, oh*ow*cols)
	for oy := 0; oy < oh; oy++ {
		for ox := 0; ox < ow; ox++ {
			row := patches[(oy*ow+ox)*cols:]
			for ky := 0; ky < cv.k; ky++ {
				iy := oy*stride + ky - pt
				if iy < 0 || iy >= x.h {
					continue
				}
				for kx := 0; kx < cv.k; kx++ {
					ix := ox*stride + kx - pl
					if ix < 0 || ix >= x.w {
						continue
					}
					copy(row[(ky*cv.k+kx)*x.c:(ky*cv.k+kx+1)*x.c], x.d[(iy*x.w+ix)*x.c:(iy*x.w+ix+1)*x.c])
				}
			}
		}
	}
	return tensor{oh, ow, cv.out, matmul(patches, oh*ow, cv.w, cv.b)}
}

// apply is the separable convolution with stride 1.
func (s *sepConv) apply(x tensor) tensor {
	dw := make([]float32, len(x.d))
	for oy := 0; oy < x.h; oy++ {
		for ox := 0; ox < x.w; ox++ {
			acc := dw[(oy*x.w+ox)*x.c : (oy*x.w+ox+1)*x.c]
			for ky := 0; ky < 3; ky++ {
				iy := oy + ky - 1
				if iy < 0 || iy >= x.h {
					continue
				}
				for kx := 0; kx < 3; kx++ {
					ix := ox + kx - 1
					if ix < 0 || ix >= x.w {
						continue
					}
					src := x.d[(iy*x.w+ix)*x.c : (iy*x.w+ix+1)*x.c]
					wk := s.dw[(ky*3+kx)*x.c : (ky*3+kx+1)*x.c]
					for c := range acc {
						acc[c] += src[c] * wk[c]
					}
				}
			}
		}
	}
	return tensor{x.h, x.w, s.out, matmul(dw, x.h*x.w, s.pw, s.b)}
}

// matmul returns a (rows x k, row-major) times w (k x len(bias)) plus bias
// on every row. OpenCV's SIMD gemm does the multiplications: in plain Go
// they took about 40 ms of CPU per face.
func matmul(a []float32, rows int, w gocv.Mat, bias []float32) []float32 {
	am, err := gocv.NewMatFromBytes(rows, w.Rows(), gocv.MatTypeCV32F, unsafe.Slice((*byte)(unsafe.Pointer(&a[0])), 4*len(a)))
	if err != nil {
		panic(err) // only for an empty slice, which the fixed layer sizes exclude
	}
	defer am.Close()
	prod, none := gocv.NewMat(), gocv.NewMat()
	defer prod.Close()
	defer none.Close()
	gocv.Gemm(am, w, 1, none, 0, &prod, 0)
	src, err := prod.DataPtrFloat32()
	if err != nil {
		panic(err)
	}
	out := make([]float32, len(src))
	n := len(bias)
	for r := 0; r < rows; r++ {
		for c, b := range bias {
			out[r*n+c] = src[r*n+c] + b
		}
	}
	runtime.KeepAlive(a)
	return out
}

// apply is face-api's reduction block: two separable convolutions, a 3x3
// max pool with stride 2, plus a strided 1x1 convolution of the block's
// input.
func (r *reductionBlock) apply(x tensor, activateInput bool) tensor {
	y := x
	if activateInput {
		y = relu(x)
	}
	y = r.sep1.apply(relu(r.sep0.apply(y)))
	return add(maxPool3s2(y), r.expansion.apply(x, 2))
}

// maxPool3s2 is TF's 3x3 max pool with stride 2 and "same" padding (padded
// cells never win).
func maxPool3s2(x tensor) tensor {
	oh, pt := samePad(x.h, 3, 2)
	ow, pl := samePad(x.w, 3, 2)
	o := tensor{oh, ow, x.c, make([]float32, oh*ow*x.c)}
	for i := range o.d {
		o.d[i] = float32(math.Inf(-1))
	}
	for oy := 0; oy < oh; oy++ {
		for ox := 0; ox < ow; ox++ {
			acc := o.d[(oy*ow+ox)*x.c : (oy*ow+ox+1)*x.c]
			for ky := 0; ky < 3; ky++ {
				iy := oy*2 + ky - pt
				if iy < 0 || iy >= x.h {
					continue
				}
				for kx := 0; kx < 3; kx++ {
					ix := ox*2 + kx - pl
					if ix < 0 || ix >= x.w {
						continue
					}
					for c, v := range x.d[(iy*x.w+ix)*x.c : (iy*x.w+ix+1)*x.c] {
						acc[c] = max(acc[c], v)
					}
				}
			}
		}
	}
	return o
}

func dense(x, w, b []float32) []float32 {
	out := append([]float32(nil), b...)
	for i, v := range x {
		for j := range out {
			out[j] += v * w[i*len(b)+j]
		}
	}
	return out
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
