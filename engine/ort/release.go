package ort

import (
	"fmt"
	"sync"

	onnx "github.com/yalue/onnxruntime_go"

	"github.com/openkyc/kyc/engine/ort/onnxgraph"
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
	var b onnxgraph.Builder
	b.NodeTo("Identity", "y", []string{"x"})
	return b.Model("release", []onnxgraph.Value{{Name: "x", Dims: []int64{1}}}, []onnxgraph.Value{{Name: "y", Dims: []int64{1}}})
}
