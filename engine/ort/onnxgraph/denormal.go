package onnxgraph

import (
	"encoding/binary"

	"google.golang.org/protobuf/encoding/protowire"
)

// More field numbers of onnx.proto, for the weights flushDenormals visits.
const (
	graphInitializer = 5
	attrG            = 6
	attrTensors      = 10
	attrGraphs       = 11
)

// flushDenormals zeroes the subnormal float32 weights of the model's
// initializers, Constant tensors and subgraphs, in place when write is set,
// and returns how many there are (or would be). A subnormal weight is below
// 1.2e-38, so dropping it changes no sum it enters by a representable
// amount; keeping it makes every multiply that meets it take the CPU's slow
// microcode path (faceplugin's fr_feature, with 8,938 of them, ran its 1x1
// convolutions at under 1 GFLOP/s). The lengths of all fields stay as
// they were, so the model's encoding needs no rewriting around them.
func flushDenormals(model []byte, write bool) (int, error) {
	n := 0
	err := eachField(model, func(num protowire.Number, typ protowire.Type, _, val []byte) error {
		if num != modelGraph || typ != protowire.BytesType {
			return nil
		}
		k, err := flushGraph(val, write)
		n += k
		return err
	})
	return n, err
}

func flushGraph(g []byte, write bool) (int, error) {
	n := 0
	err := eachField(g, func(num protowire.Number, typ protowire.Type, _, val []byte) error {
		if typ != protowire.BytesType {
			return nil
		}
		var k int
		var err error
		switch num {
		case graphInitializer:
			k, err = flushTensor(val, write)
		case graphNode:
			k, err = flushNode(val, write)
		}
		n += k
		return err
	})
	return n, err
}

func flushNode(nd []byte, write bool) (int, error) {
	n := 0
	err := eachField(nd, func(num protowire.Number, typ protowire.Type, _, val []byte) error {
		if num != nodeAttr || typ != protowire.BytesType {
			return nil
		}
		return eachField(val, func(num protowire.Number, typ protowire.Type, _, v []byte) error {
			if typ != protowire.BytesType {
				return nil
			}
			var k int
			var err error
			switch num {
			case attrT, attrTensors:
				k, err = flushTensor(v, write)
			case attrG, attrGraphs:
				k, err = flushGraph(v, write)
			}
			n += k
			return err
		})
	})
	return n, err
}

// flushTensor flushes a float TensorProto's raw_data or float_data; a
// tensor of another type is left alone.
func flushTensor(t []byte, write bool) (int, error) {
	float := false
	err := eachField(t, func(num protowire.Number, typ protowire.Type, whole, _ []byte) error {
		if num == tensorDataType && typ == protowire.VarintType {
			_, _, k := protowire.ConsumeTag(whole)
			v, _ := protowire.ConsumeVarint(whole[k:])
			float = v == dataTypeFloat
		}
		return nil
	})
	if err != nil || !float {
		return 0, err
	}
	n := 0
	err = eachField(t, func(num protowire.Number, typ protowire.Type, whole, val []byte) error {
		switch {
		case (num == tensorRaw || num == tensorFloats) && typ == protowire.BytesType:
			n += flushWords(val, write)
		case num == tensorFloats && typ == protowire.Fixed32Type:
			n += flushWords(whole[len(whole)-4:], write)
		}
		return nil
	})
	return n, err
}

// flushWords zeroes the subnormal little-endian float32 words of b.
func flushWords(b []byte, write bool) int {
	n := 0
	for ; len(b) >= 4; b = b[4:] {
		bits := binary.LittleEndian.Uint32(b)
		if bits&0x7f800000 == 0 && bits&0x007fffff != 0 {
			n++
			if write {
				binary.LittleEndian.PutUint32(b, 0)
			}
		}
	}
	return n
}
