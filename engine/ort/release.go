package ort

import (
	"fmt"
	"sync"

	onnx "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/encoding/protowire"
)

// shrinker is a one-node model whose runs ask ONNX Runtime to give the
// shared arena's free chunks back: the C API has no call for it, only a
// run option that shrinks the arena once the run ends.
var shrinker struct {
	once sync.Once
	sess *onnx.DynamicAdvancedSession
	err  error
}

// ReleaseMemory gives the shared arena's free chunks back to the system
// (runs under way keep theirs). The arena holds what the largest runs
// going on at once needed; an app that idles between verifications calls
// this after each, as it trims the other heaps. A no-op before Init.
func ReleaseMemory() error {
	if Version() == "" {
		return nil
	}
	shrinker.once.Do(func() { shrinker.sess, shrinker.err = newShrinker() })
	if shrinker.err != nil {
		return fmt.Errorf("releasing ONNX Runtime's memory: %w", shrinker.err)
	}
	ro, err := onnx.NewRunOptions()
	if err != nil {
		return fmt.Errorf("releasing ONNX Runtime's memory: %w", err)
	}
	defer ro.Destroy()
	if err := ro.AddRunConfigEntry("memory.enable_memory_arena_shrinkage", "cpu:0"); err != nil {
		return fmt.Errorf("releasing ONNX Runtime's memory: %w", err)
	}
	in, err := onnx.NewTensor(onnx.NewShape(1), []float32{0})
	if err != nil {
		return fmt.Errorf("releasing ONNX Runtime's memory: %w", err)
	}
	defer in.Destroy()
	out := []onnx.Value{nil}
	if err := shrinker.sess.RunWithOptions([]onnx.Value{in}, out, ro); err != nil {
		return fmt.Errorf("releasing ONNX Runtime's memory: %w", err)
	}
	return out[0].Destroy()
}

func newShrinker() (*onnx.DynamicAdvancedSession, error) {
	so, err := onnx.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	if err := so.AddSessionConfigEntry("session.use_env_allocators", "1"); err != nil {
		return nil, err
	}
	return onnx.NewDynamicAdvancedSessionWithONNXData(identityModel(), []string{"x"}, []string{"y"}, so)
}

// identityModel is the ONNX model y = Identity(x), x and y float[1].
func identityModel() []byte {
	msg := func(num protowire.Number, parts ...[]byte) []byte {
		var body []byte
		for _, p := range parts {
			body = append(body, p...)
		}
		return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), body)
	}
	str := func(num protowire.Number, s string) []byte {
		return protowire.AppendString(protowire.AppendTag(nil, num, protowire.BytesType), s)
	}
	varint := func(num protowire.Number, v uint64) []byte {
		return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), v)
	}
	// ValueInfoProto{name, type: TypeProto{tensor_type{elem_type float, shape{dim{dim_value 1}}}}}
	value := func(num protowire.Number, name string) []byte {
		return msg(num, str(1, name), msg(2, msg(1, varint(1, 1), msg(2, msg(1, varint(1, 1))))))
	}
	node := msg(1, str(1, "x"), str(2, "y"), str(4, "Identity"))
	graph := msg(7, node, str(2, "release"), value(11, "x"), value(12, "y"))
	return append(append(varint(1, 7), msg(8, varint(2, 13))...), graph...)
}
