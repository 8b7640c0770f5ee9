package onnxgraph

import (
	"google.golang.org/protobuf/encoding/protowire"
)

const (
	attrI         = 3
	attrTypeInt   = 2
	attrTypeInts  = 7
	maxTraceDepth = 8
)

// affineToDepthwise turns each Mul(s) -> Add(b) pair left after the other
// folds, on the output of a convolution block, into one depthwise 1x1 Conv
// with weight s and bias b in every channel: the same s*x+b in one pass
// instead of two, and in a form ONNX Runtime keeps in its blocked NCHWc
// layout, where a scalar Mul or Add makes it convert the activations out
// of the layout and back (PP-OCRv4's recogniser: 20 such pairs, a third of
// its time with the conversions). The channel count comes from the Conv
// the input traces back to through element-wise operators.
func (g *graph) affineToDepthwise() int {
	return g.eachAffine(func(mul, add *node, x string, s, b float32, _ map[string][]*node, consts map[string]*node) bool {
		c, ok := channels(x, g.producers(), consts, maxTraceDepth)
		if !ok {
			return false
		}
		w := constant(add.outs[0]+"_dw_weight", &tensor{dims: []int64{int64(c), 1, 1, 1}, vals: fill(c, s)})
		bias := constant(add.outs[0]+"_dw_bias", &tensor{dims: []int64{int64(c)}, vals: fill(c, b)})
		conv := depthwise1x1(mul.name+"_depthwise", c, []string{x, w.outs[0], bias.outs[0]}, add.outs[0])
		g.extra[mul] = append(g.extra[mul], w, bias, conv)
		return true
	})
}

// producers maps each tensor name to the live node that makes it,
// including nodes added before others.
func (g *graph) producers() map[string]*node {
	p := map[string]*node{}
	add := func(n *node) {
		if !n.dead {
			for _, o := range n.outs {
				p[o] = n
			}
		}
	}
	for _, n := range g.nodes {
		for _, x := range g.extra[n] {
			add(x)
		}
		add(n)
	}
	return p
}

// channels returns the channel count of the 4-D activation name: the
// output channels of the Conv it comes from through element-wise
// operators that keep its shape (activations, and arithmetic with
// one-element constants or with operands of the same channel count).
func channels(name string, producers map[string]*node, consts map[string]*node, depth int) (int, bool) {
	n, ok := producers[name]
	if !ok || depth == 0 || len(n.outs) != 1 {
		return 0, false
	}
	switch n.op {
	case "Conv":
		w, ok := consts[n.ins[1]]
		if !ok || len(w.value.dims) != 4 {
			return 0, false
		}
		return int(w.value.dims[0]), true
	case "HardSigmoid", "Relu", "Sigmoid", "Clip", "HardSwish", "LeakyRelu", "Identity":
		return channels(n.ins[0], producers, consts, depth-1)
	case "Mul", "Add", "Sub", "Div":
		c := 0
		for _, in := range n.ins {
			if k, ok := consts[in]; ok {
				if len(k.value.vals) != 1 {
					return 0, false
				}
				continue
			}
			got, ok := channels(in, producers, consts, depth-1)
			if !ok || (c != 0 && got != c) {
				return 0, false
			}
			c = got
		}
		return c, c > 0
	}
	return 0, false
}

// constant is a new Constant node holding t as the tensor name.
func constant(name string, t *tensor) *node {
	n := &node{op: "Constant", outs: []string{name}}
	n.setValue(t)
	return n
}

// depthwise1x1 is a new depthwise 1x1 Conv over c channels: ins are the
// input, the [c,1,1,1] weight and, optionally, the bias.
func depthwise1x1(name string, c int, ins []string, out string) *node {
	return &node{op: "Conv", name: name, ins: ins, outs: []string{out},
		attrs: [][]byte{intAttr("group", int64(c)), intsAttr("kernel_shape", 1, 1)}}
}

func fill(n int, v float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func intAttr(name string, v int64) []byte {
	var a []byte
	a = appendBytes(a, attrName, []byte(name))
	a = protowire.AppendTag(a, attrI, protowire.VarintType)
	a = protowire.AppendVarint(a, uint64(v))
	a = protowire.AppendTag(a, attrType, protowire.VarintType)
	return protowire.AppendVarint(a, attrTypeInt)
}

func intsAttr(name string, vs ...int64) []byte {
	var a []byte
	a = appendBytes(a, attrName, []byte(name))
	for _, v := range vs {
		a = protowire.AppendTag(a, attrInts, protowire.VarintType)
		a = protowire.AppendVarint(a, uint64(v))
	}
	a = protowire.AppendTag(a, attrType, protowire.VarintType)
	return protowire.AppendVarint(a, attrTypeInts)
}
