package onnxgraph

// preluToDepthwise rewrites each PRelu with one slope per channel, on the
// output of a convolution, as x + (1-s)*Relu(-x): a depthwise 1x1 Conv by
// -1 with the Relu fused into it, and a depthwise 1x1 Conv by 1-s summed
// into x. ONNX Runtime's PRelu is a generic broadcasting kernel (3.7-7.5
// ns an element here) outside its blocked NCHWc layout, so each one also
// converts the activations out of the layout and back; the convolutions
// stay in it when the channels fill its blocks, and are still cheaper when
// they do not (MiniFASNet's 13 to 308 channels). faceplugin's fr_feature
// went from 31 to 10 ms, MiniFASNet from 13 to 9. The result is x where
// x > 0 and x - (1-s)*x = s*x elsewhere: PRelu's value up to rounding.
func (g *graph) preluToDepthwise() int {
	_, consts := g.index()
	known := make(map[string]*node, len(consts)+len(g.inits))
	for name, t := range g.inits {
		known[name] = &node{op: "Constant", outs: []string{name}, value: t}
	}
	for name, n := range consts {
		known[name] = n
	}
	producers := g.producers()
	count := 0
	for _, p := range g.nodes {
		if p.dead || p.op != "PRelu" || len(p.ins) != 2 || len(p.outs) != 1 {
			continue
		}
		x := p.ins[0]
		slope, ok := known[p.ins[1]]
		if !ok || slope.value == nil {
			continue
		}
		c, ok := channels(x, producers, known, maxTraceDepth)
		if !ok || !perChannel(slope.value, c) {
			continue
		}
		out := p.outs[0]
		minusOne := constant(out+"_prelu_neg_weight", &tensor{dims: []int64{int64(c), 1, 1, 1}, vals: fill(c, -1)})
		keep := make([]float32, c)
		for i, s := range slope.value.vals {
			keep[i] = 1 - s
		}
		lift := constant(out+"_prelu_lift_weight", &tensor{dims: []int64{int64(c), 1, 1, 1}, vals: keep})
		g.extra[p] = append(g.extra[p], minusOne, lift,
			depthwise1x1(p.name+"_prelu_neg", c, []string{x, minusOne.outs[0]}, out+"_prelu_neg"),
			&node{op: "Relu", name: p.name + "_prelu_relu", ins: []string{out + "_prelu_neg"}, outs: []string{out + "_prelu_negpart"}},
			depthwise1x1(p.name+"_prelu_lift", c, []string{out + "_prelu_negpart", lift.outs[0]}, out+"_prelu_lift"),
			&node{op: "Add", name: p.name + "_prelu_sum", ins: []string{out + "_prelu_lift", x}, outs: []string{out}})
		p.dead = true
		count++
	}
	return count
}

// perChannel reports whether a PRelu slope holds one value per channel of
// c and broadcasts along the channel axis of an NCHW tensor: [c, 1, 1] or
// [1, c, 1, 1] (a [c] slope would broadcast along the width).
func perChannel(t *tensor, c int) bool {
	if len(t.vals) != c {
		return false
	}
	switch len(t.dims) {
	case 3:
		return t.dims[0] == int64(c) && t.dims[1] == 1 && t.dims[2] == 1
	case 4:
		return t.dims[0] == 1 && t.dims[1] == int64(c) && t.dims[2] == 1 && t.dims[3] == 1
	}
	return false
}
