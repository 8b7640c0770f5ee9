package onnxgraph

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// More field numbers of onnx.proto, for the models Builder writes.
const (
	modelIRVersion    = 1
	modelOpset        = 8
	opsetVersion      = 2
	graphName         = 2
	graphInput        = 11
	valueName         = 1
	valueType         = 2
	typeTensor        = 1
	tensorTypeElem    = 1
	tensorTypeShape   = 2
	shapeDim          = 1
	dimValue          = 1
	builtIRVersion    = 7
	builtOpsetVersion = 13
)

// Builder writes a new ONNX model of float tensors, node by node (IR
// version 7, opset 13): networks the project rebuilds from another format
// (face-api.js's TFJS weights) and the one-node model that makes ONNX
// Runtime release its arena. Names it makes up ("w1", "t2") do not collide
// with each other; the caller's own names must not look like them.
type Builder struct {
	nodes []*node
	inits []*tensor
	names []string // of inits
	n     int
}

// Value names a float tensor of a model's inputs or outputs and its shape.
type Value struct {
	Name string
	Dims []int64
}

// Const adds a float initializer of the given shape and returns its name.
func (b *Builder) Const(vals []float32, dims ...int) string {
	b.n++
	name := fmt.Sprintf("w%d", b.n)
	t := &tensor{vals: vals}
	for _, d := range dims {
		t.dims = append(t.dims, int64(d))
	}
	b.inits = append(b.inits, t)
	b.names = append(b.names, name)
	return name
}

// Node adds a node with one fresh output and returns the output's name.
func (b *Builder) Node(op string, ins []string, attrs ...[]byte) string {
	b.n++
	out := fmt.Sprintf("t%d", b.n)
	b.NodeTo(op, out, ins, attrs...)
	return out
}

// NodeTo adds a node whose output is named out (a model's output).
func (b *Builder) NodeTo(op, out string, ins []string, attrs ...[]byte) {
	b.nodes = append(b.nodes, &node{op: op, ins: ins, outs: []string{out}, attrs: attrs})
}

// IntAttr is an integer attribute of a node.
func IntAttr(name string, v int64) []byte { return intAttr(name, v) }

// IntsAttr is an integer-list attribute of a node.
func IntsAttr(name string, vs ...int64) []byte { return intsAttr(name, vs...) }

// Model encodes the model named name with the given inputs and outputs.
func (b *Builder) Model(name string, inputs, outputs []Value) []byte {
	var g []byte
	for _, n := range b.nodes {
		g = appendBytes(g, graphNode, n.encode())
	}
	g = appendBytes(g, graphName, []byte(name))
	for i, t := range b.inits {
		g = appendBytes(g, graphInitializer, appendBytes(t.encode(), tensorName, []byte(b.names[i])))
	}
	for _, v := range inputs {
		g = appendBytes(g, graphInput, v.encode())
	}
	for _, v := range outputs {
		g = appendBytes(g, graphOutput, v.encode())
	}
	m := protowire.AppendVarint(protowire.AppendTag(nil, modelIRVersion, protowire.VarintType), builtIRVersion)
	opset := protowire.AppendVarint(protowire.AppendTag(nil, opsetVersion, protowire.VarintType), builtOpsetVersion)
	m = appendBytes(m, modelOpset, opset)
	return appendBytes(m, modelGraph, g)
}

// encode is the ValueInfoProto of a float tensor.
func (v Value) encode() []byte {
	var shape []byte
	for _, d := range v.Dims {
		shape = appendBytes(shape, shapeDim, protowire.AppendVarint(protowire.AppendTag(nil, dimValue, protowire.VarintType), uint64(d)))
	}
	tt := protowire.AppendVarint(protowire.AppendTag(nil, tensorTypeElem, protowire.VarintType), dataTypeFloat)
	tt = appendBytes(tt, tensorTypeShape, shape)
	return appendBytes(appendBytes(nil, valueName, []byte(v.Name)), valueType, appendBytes(nil, typeTensor, tt))
}
