package onnxgraph_test

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	onnx "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/openkyc/kyc/engine/ort/onnxgraph"
	"github.com/openkyc/kyc/internal/testenv"
)

// TestFoldKeepsOutputs runs each model as published and as folded in ONNX
// Runtime on the same random input and wants the same outputs.
func TestFoldKeepsOutputs(t *testing.T) {
	testenv.ORT(t)
	for _, c := range []struct {
		model string
		shape onnx.Shape
		want  onnxgraph.Stats
	}{
		{"ppocr-rec", onnx.NewShape(1, 3, 48, 320), onnxgraph.Stats{AffineFolds: 28, HardSwish: 28, InputFolds: 12, Depthwise: 16, Denormals: 31350}},
		{"ppocr-det", onnx.NewShape(1, 3, 96, 160), onnxgraph.Stats{AffineFolds: 28, HardSwish: 24, InputFolds: 10, Depthwise: 14, Denormals: 1579}},
		{"ppocr-cls", onnx.NewShape(1, 3, 48, 192), onnxgraph.Stats{HardSwish: 18}},
		{"fr-feature", onnx.NewShape(1, 3, 112, 112), onnxgraph.Stats{PRelu: 33, Denormals: 8938}},
		{"minifasnet-v2se", onnx.NewShape(1, 3, 128, 128), onnxgraph.Stats{PRelu: 33}},
		{"yunet", onnx.NewShape(1, 3, 640, 640), onnxgraph.Stats{}},
	} {
		t.Run(c.model, func(t *testing.T) {
			orig, err := os.ReadFile(testenv.Model(t, c.model))
			if err != nil {
				t.Fatal(err)
			}
			before := bytes.Clone(orig)
			folded, st, err := onnxgraph.Fold(orig)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(orig, before) {
				t.Error("Fold changed the bytes it was given")
			}
			if st != c.want {
				t.Errorf("stats %+v, want %+v", st, c.want)
			}
			if st == (onnxgraph.Stats{}) && !bytes.Equal(folded, orig) {
				t.Error("nothing folded, yet the model changed")
			}
			rng := rand.New(rand.NewPCG(1, 2))
			in := make([]float32, c.shape.FlattenedSize())
			for i := range in {
				in[i] = rng.Float32()*2 - 1
			}
			want, got := run(t, orig, c.shape, in), run(t, folded, c.shape, in)
			if len(want) != len(got) {
				t.Fatalf("%d outputs, want %d", len(got), len(want))
			}
			for i := range want {
				if d := math.Abs(float64(want[i] - got[i])); d > 1e-4*(1+math.Abs(float64(want[i]))) {
					t.Fatalf("output %d: %g, unfolded %g", i, got[i], want[i])
				}
			}
		})
	}
}

// run runs a model's first output on one input.
func run(t *testing.T, model []byte, shape onnx.Shape, data []float32) []float32 {
	t.Helper()
	ins, outs, err := onnx.GetInputOutputInfoWithONNXData(model)
	if err != nil {
		t.Fatal(err)
	}
	s, err := onnx.NewDynamicAdvancedSessionWithONNXData(model, []string{ins[0].Name}, []string{outs[0].Name}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	in, err := onnx.NewTensor(shape, data)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Destroy()
	out := []onnx.Value{nil}
	if err := s.Run([]onnx.Value{in}, out); err != nil {
		t.Fatal(err)
	}
	defer out[0].Destroy()
	return append([]float32(nil), out[0].(*onnx.Tensor[float32]).GetData()...)
}

// TestFoldSmallGraph folds a hand-made graph with every pattern, a Conv
// without a bias among them and a subnormal weight, and checks the result
// in ONNX Runtime.
func TestFoldSmallGraph(t *testing.T) {
	testenv.ORT(t)
	model := smallModel()
	folded, st, err := onnxgraph.Fold(model)
	if err != nil {
		t.Fatal(err)
	}
	if st != (onnxgraph.Stats{AffineFolds: 1, HardSwish: 1, InputFolds: 1, Depthwise: 1, PRelu: 1, Denormals: 1}) {
		t.Fatalf("stats %+v", st)
	}
	shape := onnx.NewShape(1, 2, 4, 4)
	in := make([]float32, shape.FlattenedSize())
	for i := range in {
		in[i] = float32(i%7) - 3
	}
	want, got := run(t, model, shape, in), run(t, folded, shape, in)
	for i := range want {
		if math.Abs(float64(want[i]-got[i])) > 1e-5 {
			t.Fatalf("output %d: %g, unfolded %g", i, got[i], want[i])
		}
	}
	// Folding again finds nothing more.
	if _, st, err := onnxgraph.Fold(folded); err != nil || st != (onnxgraph.Stats{}) {
		t.Errorf("second fold: %+v %v", st, err)
	}
}

func TestFoldMalformed(t *testing.T) {
	model := smallModel()
	for name, b := range map[string][]byte{
		"truncated": model[:len(model)/2],
		"garbage":   {0xff, 0xff, 0xff},
		"no graph":  protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 8),
	} {
		if _, _, err := onnxgraph.Fold(b); !errors.Is(err, onnxgraph.ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

func FuzzFold(f *testing.F) {
	f.Add(smallModel())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		out, _, err := onnxgraph.Fold(b)
		if err == nil && len(out) == 0 {
			t.Error("no error and no model")
		}
	})
}

// smallModel is x[1,2,4,4] -> Conv 3x3 (no bias) -> Mul 2 -> Add 0.5 ->
// y = h*Clip(h+3,0,6)/6 -> Mul 0.7 -> Add -0.2 -> Conv 1x1 -> z, plus
// y -> Mul -> Add -> a padded 3x3 Conv, which must not take them (they
// become a depthwise 1x1 Conv); one weight of the 1x1 Conv is subnormal.
// Then a PRelu with a slope per channel (an initializer), which becomes
// two depthwise convolutions, and one with a slope per column, which is
// not per channel and stays.
func smallModel() []byte {
	bytesField := func(b []byte, num protowire.Number, v []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
	}
	varint := func(b []byte, num protowire.Number, v uint64) []byte {
		return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), v)
	}
	tensor := func(dims []int64, vals []float32) []byte {
		var b []byte
		for _, d := range dims {
			b = varint(b, 1, uint64(d))
		}
		b = varint(b, 2, 1)
		raw := make([]byte, 0, 4*len(vals))
		for _, v := range vals {
			raw = protowire.AppendFixed32(raw, math.Float32bits(v))
		}
		return bytesField(b, 9, raw)
	}
	node := func(op string, ins, outs []string, attrs ...[]byte) []byte {
		var b []byte
		for _, s := range ins {
			b = bytesField(b, 1, []byte(s))
		}
		for _, s := range outs {
			b = bytesField(b, 2, []byte(s))
		}
		b = bytesField(b, 4, []byte(op))
		for _, a := range attrs {
			b = bytesField(b, 5, a)
		}
		return b
	}
	constant := func(out string, dims []int64, vals []float32) []byte {
		a := bytesField(nil, 1, []byte("value"))
		a = bytesField(a, 5, tensor(dims, vals))
		a = varint(a, 20, 4)
		return node("Constant", nil, []string{out}, a)
	}
	floatAttr := func(name string, f float32) []byte {
		a := bytesField(nil, 1, []byte(name))
		a = protowire.AppendFixed32(protowire.AppendTag(a, 2, protowire.Fixed32Type), math.Float32bits(f))
		return varint(a, 20, 1)
	}
	intsAttr := func(name string, v ...int64) []byte {
		a := bytesField(nil, 1, []byte(name))
		for _, x := range v {
			a = varint(a, 8, uint64(x))
		}
		return varint(a, 20, 7)
	}
	valueInfo := func(name string, dims ...int64) []byte {
		var shape []byte
		for _, d := range dims {
			shape = bytesField(shape, 1, varint(nil, 1, uint64(d)))
		}
		tt := varint(nil, 1, 1)
		tt = bytesField(tt, 2, shape)
		return bytesField(bytesField(nil, 1, []byte(name)), 2, bytesField(nil, 1, tt))
	}
	w := make([]float32, 3*2*3*3)
	for i := range w {
		w[i] = float32(i%5)/4 - 0.5
	}
	var g []byte
	for _, n := range [][]byte{
		constant("w", []int64{3, 2, 3, 3}, w),
		constant("s", []int64{1}, []float32{2}),
		constant("b", []int64{1}, []float32{0.5}),
		constant("three", []int64{1}, []float32{3}),
		constant("six", []int64{1}, []float32{6}),
		node("Conv", []string{"x", "w"}, []string{"c"}, intsAttr("pads", 1, 1, 1, 1)),
		node("Mul", []string{"s", "c"}, []string{"m"}),
		node("Add", []string{"m", "b"}, []string{"a"}),
		node("Add", []string{"a", "three"}, []string{"a3"}),
		node("Clip", []string{"a3"}, []string{"cl"}, floatAttr("min", 0), floatAttr("max", 6)),
		node("Mul", []string{"a", "cl"}, []string{"p"}),
		node("Div", []string{"p", "six"}, []string{"y"}),
		constant("s2", []int64{1}, []float32{0.7}),
		constant("b2", []int64{1}, []float32{-0.2}),
		constant("w2", []int64{2, 3, 1, 1}, []float32{0.5, -1, 0.25, 2, 1e-40, -0.3}),
		constant("bias2", []int64{2}, []float32{0.05, -0.4}),
		node("Mul", []string{"y", "s2"}, []string{"y2"}),
		node("Add", []string{"y2", "b2"}, []string{"y3"}),
		node("Conv", []string{"y3", "w2", "bias2"}, []string{"z"}),
		constant("s3", []int64{1}, []float32{1.5}),
		constant("b3", []int64{1}, []float32{0.3}),
		constant("w3", []int64{2, 3, 3, 3}, w),
		node("Mul", []string{"y", "s3"}, []string{"v2"}),
		node("Add", []string{"v2", "b3"}, []string{"v3"}),
		node("Conv", []string{"v3", "w3"}, []string{"v"}, intsAttr("pads", 1, 1, 1, 1)),
		node("Add", []string{"z", "v"}, []string{"out"}),
		node("PRelu", []string{"out", "slope"}, []string{"pr"}),
		node("PRelu", []string{"pr", "wslope"}, []string{"pr2"}),
	} {
		g = bytesField(g, 1, n)
	}
	g = bytesField(g, 2, []byte("small"))
	g = bytesField(g, 5, bytesField(tensor([]int64{2, 1, 1}, []float32{0.25, 1.5}), 8, []byte("slope")))
	g = bytesField(g, 5, bytesField(tensor([]int64{4}, []float32{0.1, 0.2, 0.3, 0.4}), 8, []byte("wslope")))
	g = bytesField(g, 11, valueInfo("x", 1, 2, 4, 4))
	g = bytesField(g, 12, valueInfo("pr2", 1, 2, 4, 4))
	m := varint(nil, 1, 4) // IR version 4
	m = bytesField(m, 8, varint(nil, 2, 9))
	return bytesField(m, 7, g)
}
