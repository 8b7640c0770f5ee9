// Package onnxgraph rewrites ONNX models with exact algebraic folds that
// ONNX Runtime's own optimiser misses, so that a model runs faster with the
// same weights and, up to float rounding, the same outputs.
//
// PaddleOCR's PP-OCRv4 recogniser, as exported by paddle2onnx at opset 9,
// follows every convolution with a learnable affine step (Mul and Add by
// one-element constants) and spells hard-swish as Add, Clip, Mul and Div.
// ONNX Runtime fuses a Mul into a Conv only when the constant is a scalar
// or per-channel and is Mul's second input, which paddle2onnx's are not,
// and has no hard-swish fusion at opset 9; so each block makes eight passes
// over its activations where two do. Fold rewrites those patterns:
//
//   - Conv then Mul and Add by one-element constants: the scale and shift
//     go into the convolution's weights and bias;
//   - Mul and Add by one-element constants feeding an unpadded Conv: the
//     scale goes into its weights and the shift, times each filter's sum,
//     into its bias (with padding the border would see the shift, so
//     padded convolutions are left alone);
//   - x*Clip(x+3, 0, 6)/6: x*HardSigmoid(x) with alpha 1/6 and beta 1/2,
//     the same function in two passes;
//   - PRelu with a slope per channel, after a convolution: x plus (1-s)
//     times Relu(-x), two depthwise 1x1 convolutions that ONNX Runtime
//     keeps in its blocked layout, where its PRelu kernel is slow and
//     outside it (faceplugin's face embedding and MiniFASNet);
//   - subnormal float weights (below 1.2e-38) are zeroed in every model:
//     they change no output, but each multiply that meets one takes the
//     CPU's slow path (PP-OCRv4's recogniser has 31,350 of them).
//
// The package reads and writes the protobuf wire format directly and
// keeps every field it does not touch byte for byte.
package onnxgraph

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// ErrMalformed is returned by Fold when the model is not a readable ONNX
// protobuf (truncated, or a field of the wrong wire type).
var ErrMalformed = errors.New("onnxgraph: malformed model")

// Stats counts the rewrites Fold made.
type Stats struct {
	// AffineFolds is the number of Mul/Add pairs folded into a Conv.
	AffineFolds int
	// HardSwish is the number of Add/Clip/Mul/Div chains made HardSigmoid
	// and Mul.
	HardSwish int
	// InputFolds is the number of Mul/Add pairs folded into the unpadded
	// Conv they feed.
	InputFolds int
	// Depthwise is the number of remaining Mul/Add pairs made one
	// depthwise 1x1 Conv.
	Depthwise int
	// PRelu is the number of per-channel PRelus made two depthwise 1x1
	// Convs.
	PRelu int
	// Denormals is the number of subnormal float weights zeroed.
	Denormals int
}

// Field numbers of onnx.proto (ModelProto, GraphProto, NodeProto,
// AttributeProto, TensorProto).
const (
	modelGraph  = 7
	graphNode   = 1
	graphOutput = 12

	nodeInput  = 1
	nodeOutput = 2
	nodeName   = 3
	nodeOpType = 4
	nodeAttr   = 5

	attrName = 1
	attrF    = 2
	attrS    = 4
	attrT    = 5
	attrInts = 8
	attrType = 20

	tensorDims     = 1
	tensorDataType = 2
	tensorFloats   = 4
	tensorName     = 8
	tensorRaw      = 9

	attrTypeFloat  = 1
	attrTypeTensor = 4
	dataTypeFloat  = 1
)

// node is one NodeProto: the fields the folds read, the rest kept raw.
type node struct {
	ins, outs []string
	name, op  string
	attrs     [][]byte // AttributeProto messages
	rest      []byte   // every other field, encoded
	dead      bool
	// value is the tensor of a Constant node, when it is float.
	value *tensor
}

// tensor is a float TensorProto.
type tensor struct {
	dims []int64
	vals []float32
}

// graph is a GraphProto: its fields in their original order, nodes parsed.
type graph struct {
	fields  [][]byte // encoded fields; nil where a node goes
	nodes   []*node  // in order, one per nil in fields
	extra   map[*node][]*node
	outputs map[string]bool
	// inits are the graph's float initializers, read only: the folds that
	// change weights change Constant nodes.
	inits map[string]*tensor
}

// Fold applies the rewrites to an ONNX model and returns the new model.
// A model with nothing to fold comes back unchanged (same bytes).
func Fold(model []byte) ([]byte, Stats, error) {
	var g *graph
	var st Stats
	n, err := flushDenormals(model, false)
	if err != nil {
		return nil, st, err
	}
	if n > 0 {
		// The caller's bytes stay as they were.
		model = append([]byte(nil), model...)
		if st.Denormals, err = flushDenormals(model, true); err != nil {
			return nil, st, err
		}
	}
	err = eachField(model, func(num protowire.Number, typ protowire.Type, raw, val []byte) error {
		if num == modelGraph && typ == protowire.BytesType {
			var err error
			g, err = parseGraph(val)
			return err
		}
		return nil
	})
	if err != nil {
		return nil, st, err
	}
	if g == nil {
		return nil, st, fmt.Errorf("%w: no graph", ErrMalformed)
	}
	st.AffineFolds = g.foldAffine()
	st.HardSwish = g.foldHardSwish()
	st.InputFolds = g.foldInputAffine()
	st.Depthwise = g.affineToDepthwise()
	st.PRelu = g.preluToDepthwise()
	if st.AffineFolds+st.HardSwish+st.InputFolds+st.Depthwise+st.PRelu == 0 {
		return model, st, nil
	}
	var out []byte
	err = eachField(model, func(num protowire.Number, typ protowire.Type, raw, val []byte) error {
		if num == modelGraph {
			out = appendBytes(out, modelGraph, g.encode())
		} else {
			out = append(out, raw...)
		}
		return nil
	})
	return out, st, err
}

// eachField calls f with every field of message b: its number, wire type,
// whole encoding and, for length-delimited fields, the payload.
func eachField(b []byte, f func(num protowire.Number, typ protowire.Type, raw, val []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %v", ErrMalformed, protowire.ParseError(n))
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return fmt.Errorf("%w: field %d: %v", ErrMalformed, num, protowire.ParseError(m))
		}
		raw := b[:n+m]
		var val []byte
		if typ == protowire.BytesType {
			val, _ = protowire.ConsumeBytes(b[n:])
		}
		b = b[n+m:]
		if err := f(num, typ, raw, val); err != nil {
			return err
		}
	}
	return nil
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func parseGraph(b []byte) (*graph, error) {
	g := &graph{extra: map[*node][]*node{}, outputs: map[string]bool{}, inits: map[string]*tensor{}}
	err := eachField(b, func(num protowire.Number, typ protowire.Type, raw, val []byte) error {
		switch {
		case num == graphNode && typ == protowire.BytesType:
			n, err := parseNode(val)
			if err != nil {
				return err
			}
			g.nodes = append(g.nodes, n)
			g.fields = append(g.fields, nil)
			return nil
		case num == graphInitializer && typ == protowire.BytesType:
			t, err := parseTensor(val)
			if err != nil {
				return err
			}
			name := ""
			err = eachField(val, func(num protowire.Number, typ protowire.Type, _, v []byte) error {
				if num == tensorName && typ == protowire.BytesType {
					name = string(v)
				}
				return nil
			})
			if err != nil {
				return err
			}
			if t != nil && name != "" {
				g.inits[name] = t
			}
		case num == graphOutput && typ == protowire.BytesType:
			// ValueInfoProto: name is field 1.
			err := eachField(val, func(num protowire.Number, _ protowire.Type, _, v []byte) error {
				if num == 1 {
					g.outputs[string(v)] = true
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		g.fields = append(g.fields, raw)
		return nil
	})
	return g, err
}

func parseNode(b []byte) (*node, error) {
	n := &node{}
	err := eachField(b, func(num protowire.Number, typ protowire.Type, raw, val []byte) error {
		if typ != protowire.BytesType {
			n.rest = append(n.rest, raw...)
			return nil
		}
		switch num {
		case nodeInput:
			n.ins = append(n.ins, string(val))
		case nodeOutput:
			n.outs = append(n.outs, string(val))
		case nodeName:
			n.name = string(val)
		case nodeOpType:
			n.op = string(val)
		case nodeAttr:
			n.attrs = append(n.attrs, val)
		default:
			n.rest = append(n.rest, raw...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if n.op == "Constant" {
		if t, ok := n.attrTensor("value"); ok {
			v, err := parseTensor(t)
			if err != nil {
				return nil, err
			}
			n.value = v
		}
	}
	return n, nil
}

// attr returns the AttributeProto called name.
func (n *node) attr(name string) ([]byte, bool) {
	for _, a := range n.attrs {
		var got string
		_ = eachField(a, func(num protowire.Number, _ protowire.Type, _, v []byte) error {
			if num == attrName {
				got = string(v)
			}
			return nil
		})
		if got == name {
			return a, true
		}
	}
	return nil, false
}

// attrTensor returns the TensorProto of tensor attribute name.
func (n *node) attrTensor(name string) ([]byte, bool) {
	a, ok := n.attr(name)
	if !ok {
		return nil, false
	}
	var t []byte
	_ = eachField(a, func(num protowire.Number, typ protowire.Type, _, v []byte) error {
		if num == attrT && typ == protowire.BytesType {
			t = v
		}
		return nil
	})
	return t, t != nil
}

// attrFloat returns float attribute name.
func (n *node) attrFloat(name string) (float32, bool) {
	a, ok := n.attr(name)
	if !ok {
		return 0, false
	}
	var f float32
	found := false
	_ = eachField(a, func(num protowire.Number, typ protowire.Type, raw, _ []byte) error {
		if num == attrF && typ == protowire.Fixed32Type {
			_, _, k := protowire.ConsumeTag(raw)
			v, _ := protowire.ConsumeFixed32(raw[k:])
			f, found = math.Float32frombits(v), true
		}
		return nil
	})
	return f, found
}

// parseTensor reads a float TensorProto held inline; any other tensor is
// (nil, nil): the folds leave it alone.
func parseTensor(b []byte) (*tensor, error) {
	t := &tensor{}
	dtype := uint64(0)
	var raw []byte
	var floats []float32
	err := eachField(b, func(num protowire.Number, typ protowire.Type, whole, val []byte) error {
		switch {
		case num == tensorDims && typ == protowire.VarintType:
			_, _, k := protowire.ConsumeTag(whole)
			v, _ := protowire.ConsumeVarint(whole[k:])
			t.dims = append(t.dims, int64(v))
		case num == tensorDims && typ == protowire.BytesType:
			for len(val) > 0 {
				v, k := protowire.ConsumeVarint(val)
				if k < 0 {
					return fmt.Errorf("%w: tensor dims", ErrMalformed)
				}
				t.dims = append(t.dims, int64(v))
				val = val[k:]
			}
		case num == tensorDataType && typ == protowire.VarintType:
			_, _, k := protowire.ConsumeTag(whole)
			dtype, _ = protowire.ConsumeVarint(whole[k:])
		case num == tensorRaw && typ == protowire.BytesType:
			raw = val
		case num == tensorFloats && typ == protowire.BytesType:
			for ; len(val) >= 4; val = val[4:] {
				floats = append(floats, math.Float32frombits(binary.LittleEndian.Uint32(val)))
			}
		}
		return nil
	})
	if err != nil || dtype != dataTypeFloat {
		return nil, err
	}
	n := 1
	for _, d := range t.dims {
		n *= int(d)
	}
	switch {
	case len(raw) == 4*n:
		t.vals = make([]float32, n)
		for i := range t.vals {
			t.vals[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case len(floats) == n:
		t.vals = floats
	default:
		return nil, nil // external data, or not what it says: not ours to fold
	}
	return t, nil
}

func (t *tensor) encode() []byte {
	var b []byte
	for _, d := range t.dims {
		b = protowire.AppendTag(b, tensorDims, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(d))
	}
	b = protowire.AppendTag(b, tensorDataType, protowire.VarintType)
	b = protowire.AppendVarint(b, dataTypeFloat)
	raw := make([]byte, 4*len(t.vals))
	for i, v := range t.vals {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return appendBytes(b, tensorRaw, raw)
}

func (n *node) encode() []byte {
	var b []byte
	for _, s := range n.ins {
		b = appendBytes(b, nodeInput, []byte(s))
	}
	for _, s := range n.outs {
		b = appendBytes(b, nodeOutput, []byte(s))
	}
	if n.name != "" {
		b = appendBytes(b, nodeName, []byte(n.name))
	}
	b = appendBytes(b, nodeOpType, []byte(n.op))
	for _, a := range n.attrs {
		b = appendBytes(b, nodeAttr, a)
	}
	return append(b, n.rest...)
}

// setValue replaces a Constant node's tensor.
func (n *node) setValue(t *tensor) {
	var a []byte
	a = appendBytes(a, attrName, []byte("value"))
	a = appendBytes(a, attrT, t.encode())
	a = protowire.AppendTag(a, attrType, protowire.VarintType)
	a = protowire.AppendVarint(a, attrTypeTensor)
	n.attrs = [][]byte{a}
	n.value = t
}

func floatAttr(name string, f float32) []byte {
	var a []byte
	a = appendBytes(a, attrName, []byte(name))
	a = protowire.AppendTag(a, attrF, protowire.Fixed32Type)
	a = protowire.AppendFixed32(a, math.Float32bits(f))
	a = protowire.AppendTag(a, attrType, protowire.VarintType)
	return protowire.AppendVarint(a, attrTypeFloat)
}

func (g *graph) encode() []byte {
	var b []byte
	i := 0
	for _, f := range g.fields {
		if f != nil {
			b = append(b, f...)
			continue
		}
		n := g.nodes[i]
		i++
		for _, x := range g.extra[n] {
			b = appendBytes(b, graphNode, x.encode())
		}
		if !n.dead {
			b = appendBytes(b, graphNode, n.encode())
		}
	}
	return b
}

// index maps each tensor name to the live nodes that read it and to the
// Constant node that makes it.
func (g *graph) index() (users map[string][]*node, consts map[string]*node) {
	users, consts = map[string][]*node{}, map[string]*node{}
	for _, n := range g.nodes {
		if n.dead {
			continue
		}
		for _, in := range n.ins {
			users[in] = append(users[in], n)
		}
		if n.op == "Constant" && n.value != nil && len(n.outs) == 1 {
			consts[n.outs[0]] = n
		}
	}
	return users, consts
}

// only returns the single live reader of name, when it has exactly one and
// name is not a graph output.
func (g *graph) only(users map[string][]*node, name string) *node {
	if u := users[name]; len(u) == 1 && !g.outputs[name] {
		return u[0]
	}
	return nil
}

// scalarOperand returns the value of the one-element constant operand of a
// binary Mul or Add whose other operand is x.
func scalarOperand(n *node, x string, consts map[string]*node) (float32, bool) {
	if len(n.ins) != 2 || len(n.outs) != 1 {
		return 0, false
	}
	other := n.ins[0]
	if other == x {
		other = n.ins[1]
	} else if n.ins[1] != x {
		return 0, false
	}
	c, ok := consts[other]
	if !ok || len(c.value.vals) != 1 {
		return 0, false
	}
	return c.value.vals[0], true
}

// variableAndScalar splits a binary Mul or Add into its one operand that
// is not a constant and the value of the other, a one-element constant.
func variableAndScalar(n *node, consts map[string]*node) (string, float32, bool) {
	for _, x := range n.ins {
		if _, isConst := consts[x]; !isConst {
			v, ok := scalarOperand(n, x, consts)
			return x, v, ok
		}
	}
	return "", 0, false
}

// affineFrom matches mul = x*s followed by its only reader add = mul+b,
// s and b one-element constants.
func (g *graph) affineFrom(mul *node, x string, users map[string][]*node, consts map[string]*node) (add *node, s, b float32, ok bool) {
	if mul == nil || mul.op != "Mul" {
		return nil, 0, 0, false
	}
	if s, ok = scalarOperand(mul, x, consts); !ok {
		return nil, 0, 0, false
	}
	if add = g.only(users, mul.outs[0]); add == nil || add.op != "Add" {
		return nil, 0, 0, false
	}
	if b, ok = scalarOperand(add, mul.outs[0], consts); !ok {
		return nil, 0, 0, false
	}
	return add, s, b, true
}

// convParams are a Conv's constant weights [out, in/group, kh, kw] and its
// bias (nil when it has none), each read by this Conv alone.
type convParams struct {
	conv, w, bias *node
	out           int // output channels
}

// paramsOf returns conv's parameters when they can be rewritten in place.
func paramsOf(conv *node, users map[string][]*node, consts map[string]*node) (convParams, bool) {
	if conv.dead || conv.op != "Conv" || len(conv.ins) < 2 || len(conv.outs) != 1 {
		return convParams{}, false
	}
	w, ok := consts[conv.ins[1]]
	if !ok || len(users[conv.ins[1]]) != 1 || len(w.value.dims) != 4 {
		return convParams{}, false
	}
	p := convParams{conv: conv, w: w, out: int(w.value.dims[0])}
	if len(conv.ins) == 3 {
		if p.bias, ok = consts[conv.ins[2]]; !ok || len(users[conv.ins[2]]) != 1 || len(p.bias.value.vals) != p.out {
			return convParams{}, false
		}
	}
	return p, true
}

// rewrite sets the Conv's weights to w scaled by s and its bias to
// f(o, old bias of o) for every output channel o, adding a bias constant
// (emitted before anchor) when the Conv had none.
func (g *graph) rewrite(p convParams, s float32, anchor *node, f func(o int, bias float32) float32) {
	nw := &tensor{dims: p.w.value.dims, vals: make([]float32, len(p.w.value.vals))}
	for i, v := range p.w.value.vals {
		nw.vals[i] = v * s
	}
	nb := &tensor{dims: []int64{int64(p.out)}, vals: make([]float32, p.out)}
	for o := range nb.vals {
		var old float32
		if p.bias != nil {
			old = p.bias.value.vals[o]
		}
		nb.vals[o] = f(o, old)
	}
	p.w.setValue(nw)
	if p.bias != nil {
		p.bias.setValue(nb)
		return
	}
	c := constant(p.conv.outs[0]+"_folded_bias", nb)
	g.extra[anchor] = append(g.extra[anchor], c)
	p.conv.ins = append(p.conv.ins, c.outs[0])
}

// foldAffine folds Conv -> Mul(s) -> Add(b), with s and b one-element
// constants, into the Conv: W*s and B*s+b.
func (g *graph) foldAffine() int {
	users, consts := g.index()
	folded := 0
	for _, conv := range g.nodes {
		p, ok := paramsOf(conv, users, consts)
		if !ok {
			continue
		}
		mul := g.only(users, conv.outs[0])
		add, s, b, ok := g.affineFrom(mul, conv.outs[0], users, consts)
		if !ok {
			continue
		}
		g.rewrite(p, s, conv, func(_ int, bias float32) float32 { return bias*s + b })
		conv.outs[0] = add.outs[0]
		mul.dead, add.dead = true, true
		folded++
		users, consts = g.index()
	}
	return folded
}

// foldHardSwish turns x*Clip(x+3, 0, 6)/6 into x*HardSigmoid(x).
func (g *graph) foldHardSwish() int {
	users, consts := g.index()
	folded := 0
	for _, add := range g.nodes {
		if add.dead || add.op != "Add" || len(add.ins) != 2 || len(add.outs) != 1 {
			continue
		}
		x, three, ok := variableAndScalar(add, consts)
		if !ok || three != 3 {
			continue
		}
		clip := g.only(users, add.outs[0])
		if clip == nil || clip.op != "Clip" || len(clip.outs) != 1 || clip.ins[0] != add.outs[0] {
			continue
		}
		if lo, hi, ok := clipBounds(clip, consts); !ok || lo != 0 || hi != 6 {
			continue
		}
		mul := g.only(users, clip.outs[0])
		if mul == nil || mul.op != "Mul" || len(mul.ins) != 2 || len(mul.outs) != 1 ||
			!(mul.ins[0] == x && mul.ins[1] == clip.outs[0] || mul.ins[1] == x && mul.ins[0] == clip.outs[0]) {
			continue
		}
		div := g.only(users, mul.outs[0])
		if div == nil || div.op != "Div" || len(div.ins) != 2 || div.ins[0] != mul.outs[0] {
			continue
		}
		if c, ok := consts[div.ins[1]]; !ok || len(c.value.vals) != 1 || c.value.vals[0] != 6 {
			continue
		}
		hs := &node{op: "HardSigmoid", name: add.name + "_hardsigmoid", ins: []string{x}, outs: []string{add.outs[0]},
			attrs: [][]byte{floatAttr("alpha", 1.0/6), floatAttr("beta", 0.5)}}
		prod := &node{op: "Mul", name: div.name, ins: []string{x, add.outs[0]}, outs: div.outs}
		g.extra[add] = append(g.extra[add], hs, prod)
		add.dead, clip.dead, mul.dead, div.dead = true, true, true, true
		folded++
		users, consts = g.index()
	}
	return folded
}

// clipBounds returns a Clip's bounds: attributes up to opset 10, constant
// inputs from opset 11 on.
func clipBounds(clip *node, consts map[string]*node) (lo, hi float32, ok bool) {
	if len(clip.ins) == 1 {
		lo, okLo := clip.attrFloat("min")
		hi, okHi := clip.attrFloat("max")
		return lo, hi, okLo && okHi
	}
	if len(clip.ins) != 3 {
		return 0, 0, false
	}
	l, okLo := consts[clip.ins[1]]
	h, okHi := consts[clip.ins[2]]
	if !okLo || !okHi || len(l.value.vals) != 1 || len(h.value.vals) != 1 {
		return 0, 0, false
	}
	return l.value.vals[0], h.value.vals[0], true
}

// foldInputAffine folds Mul(s) -> Add(b), with s and b one-element
// constants, into the Conv they alone feed when it pads nothing:
// conv(s*x+b) = conv_{W*s}(x) + b*sum(W) for every output position.
func (g *graph) foldInputAffine() int {
	return g.eachAffine(func(mul, add *node, x string, s, b float32, users map[string][]*node, consts map[string]*node) bool {
		conv := g.only(users, add.outs[0])
		if conv == nil || len(conv.ins) < 2 || conv.ins[0] != add.outs[0] || conv.pads() {
			return false
		}
		p, ok := paramsOf(conv, users, consts)
		if !ok {
			return false
		}
		// Each output channel gains b times the sum of its filter.
		per := len(p.w.value.vals) / p.out
		g.rewrite(p, s, mul, func(o int, bias float32) float32 {
			var sum float64
			for _, v := range p.w.value.vals[o*per : (o+1)*per] {
				sum += float64(v)
			}
			return bias + float32(float64(b)*sum)
		})
		conv.ins[0] = x
		return true
	})
}

// eachAffine calls rewrite with every live pair mul = x*s, add = mul+b of
// one-element constants; rewrite reports whether it replaced the pair,
// which then dies. It returns how many were replaced.
func (g *graph) eachAffine(rewrite func(mul, add *node, x string, s, b float32, users map[string][]*node, consts map[string]*node) bool) int {
	users, consts := g.index()
	n := 0
	for _, mul := range g.nodes {
		if mul.dead {
			continue
		}
		x, _, _ := variableAndScalar(mul, consts)
		add, s, b, ok := g.affineFrom(mul, x, users, consts)
		if !ok || !rewrite(mul, add, x, s, b, users, consts) {
			continue
		}
		mul.dead, add.dead = true, true
		n++
		users, consts = g.index()
	}
	return n
}

// pads reports whether a Conv pads its input: explicit non-zero pads, or
// an auto_pad other than NOTSET and VALID.
func (n *node) pads() bool {
	if a, ok := n.attr("auto_pad"); ok {
		var mode string
		_ = eachField(a, func(num protowire.Number, _ protowire.Type, _, v []byte) error {
			if num == attrS {
				mode = string(v)
			}
			return nil
		})
		if mode != "" && mode != "NOTSET" && mode != "VALID" {
			return true
		}
	}
	a, ok := n.attr("pads")
	if !ok {
		return false
	}
	padded := false
	_ = eachField(a, func(num protowire.Number, typ protowire.Type, raw, v []byte) error {
		if num != attrInts {
			return nil
		}
		if typ == protowire.BytesType {
			for len(v) > 0 {
				x, k := protowire.ConsumeVarint(v)
				if k < 0 {
					padded = true // unreadable: assume the worst
					return nil
				}
				padded = padded || x != 0
				v = v[k:]
			}
			return nil
		}
		_, _, k := protowire.ConsumeTag(raw)
		x, _ := protowire.ConsumeVarint(raw[k:])
		padded = padded || x != 0
		return nil
	})
	return padded
}
