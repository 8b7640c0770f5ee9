// Package ort owns ONNX Runtime for the engine: it loads the shared library
// once per process, creates sessions with explicit thread settings and moves
// float32 NCHW tensors in and out. Every network in the engine runs through
// it; OpenCV is used only for image work (see STACK.md: OpenCV 4.6 cannot
// load the models we use).
package ort

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	onnx "github.com/yalue/onnxruntime_go"

	"github.com/openkyc/kyc/engine/ort/onnxgraph"
)

// APIVersion is the ONNX Runtime C API version the binding targets; a
// library older than this cannot serve it (ORT 1.29 or newer).
const APIVersion = 29

var (
	// ErrLibraryMissing is returned by Init when the shared library file does
	// not exist: the runtime was never installed (`kyc models install`).
	ErrLibraryMissing = errors.New("onnxruntime shared library not found")
	// ErrLibraryTooOld is returned by Init when the library loads but does
	// not offer the C API version the binding needs.
	ErrLibraryTooOld = errors.New("onnxruntime shared library too old")
	// ErrLibraryInvalid is returned by Init when the file is not a loadable
	// ONNX Runtime library (truncated, wrong architecture, another file).
	ErrLibraryInvalid = errors.New("onnxruntime shared library cannot be loaded")
	// ErrNotInitialized is returned by NewSession before a successful Init.
	ErrNotInitialized = errors.New("onnxruntime not initialised")
	// ErrAlreadyInitialized is returned by Init when the process already
	// loaded a different library: ORT allows one environment per process.
	ErrAlreadyInitialized = errors.New("onnxruntime already initialised with another library")
)

// runtime mirrors the process-wide ORT environment that onnxruntime_go keeps
// in its own globals; it cannot be scoped to a value, so it is guarded here
// once instead of by every caller.
var runtime struct {
	mu      sync.Mutex
	path    string
	version string
}

// Init loads the ONNX Runtime shared library at libPath and creates the
// process environment. Calling it again with the same path is a no-op, so
// every component may call it; a failed Init may be retried.
func Init(libPath string) error {
	runtime.mu.Lock()
	defer runtime.mu.Unlock()
	if runtime.path != "" {
		if runtime.path == libPath {
			return nil
		}
		return fmt.Errorf("%w: %s is loaded, %s was asked for", ErrAlreadyInitialized, runtime.path, libPath)
	}
	st, err := os.Stat(libPath)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrLibraryMissing, libPath, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file", ErrLibraryInvalid, libPath)
	}
	onnx.SetSharedLibraryPath(libPath)
	if err := onnx.InitializeEnvironment(onnx.WithLogLevelError()); err != nil {
		msg := err.Error()
		switch {
		case strings.Contains(msg, "API version"):
			return fmt.Errorf("%w: %s needs C API %d (ONNX Runtime 1.29+): %v", ErrLibraryTooOld, libPath, APIVersion, err)
		default:
			return fmt.Errorf("%w: %s: %v", ErrLibraryInvalid, libPath, err)
		}
	}
	if err := shareArena(); err != nil {
		onnx.DestroyEnvironment()
		return fmt.Errorf("%w: %s: the shared memory arena: %v", ErrLibraryInvalid, libPath, err)
	}
	runtime.path = libPath
	runtime.version = onnx.GetVersion()
	return nil
}

// shareArena registers one CPU memory arena with the environment for every
// session (NewSession sets session.use_env_allocators). Without an arena
// each run's tensors were mapped fresh from the system and faulted in page
// by page (BenchmarkVerify: some 26,000 page faults and 55 ms of kernel CPU
// a verification, a sixth of its CPU); one arena for all sessions keeps
// only what the runs going on at once need (`kyc document`'s peak 318-320
// MB before and after, internal/engines' TestMemory), where an arena per
// session would keep each model's largest run. Chunks are extended by what
// is asked, not to the next power of two. ReleaseMemory gives the free
// ones back.
func shareArena() error {
	mem, err := onnx.GetMemoryInfo()
	if err != nil {
		return err
	}
	const sameAsRequested = 1
	cfg, err := onnx.NewArenaCfg(0, sameAsRequested, -1, -1)
	if err != nil {
		return err
	}
	defer cfg.Destroy()
	return onnx.CreateAndRegisterAllocator(mem, cfg)
}

// Version returns the version string reported by the loaded library, or ""
// before Init.
func Version() string {
	runtime.mu.Lock()
	defer runtime.mu.Unlock()
	return runtime.version
}

// LibraryPath returns the path of the loaded library, or "" before Init.
func LibraryPath() string {
	runtime.mu.Lock()
	defer runtime.mu.Unlock()
	return runtime.path
}

// Options are the per-session execution settings. Zero values mean one
// thread each and no spinning: on a 2-core machine several sessions whose
// workers busy-wait starve each other (STACK.md measured it).
type Options struct {
	IntraOpThreads int
	InterOpThreads int
	// Spin lets idle ORT worker threads busy-wait for work; only worth it
	// when one session has the machine to itself.
	Spin bool
}

// IOInfo describes one model input or output.
type IOInfo struct {
	Name  string
	Shape []int64 // -1 for a dynamic dimension
	Type  string
}

// Session is one loaded model. It is safe for concurrent Run calls: each
// call binds its own tensors.
type Session struct {
	name    string
	sess    *onnx.DynamicAdvancedSession
	inputs  []IOInfo
	outputs []IOInfo
}

// NewSession loads the model file at path.
func NewSession(path string, opt Options) (*Session, error) {
	if Version() == "" {
		return nil, ErrNotInitialized
	}
	model, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading model %s: %w", path, err)
	}
	return NewSessionFromBytes(path, model, opt)
}

// NewSessionFromBytes loads an encoded model, such as one built in memory;
// path names it in errors (the file it came from, or a made-up name).
func NewSessionFromBytes(path string, model []byte, opt Options) (*Session, error) {
	if Version() == "" {
		return nil, ErrNotInitialized
	}
	var err error
	// Exact rewrites ORT's optimiser misses (see package onnxgraph): over
	// a third off PP-OCRv4's recogniser; subnormal weights zeroed and PRelu
	// made convolutions took fr_feature from 110 to 10 ms. Other models
	// come back as they were.
	if model, _, err = onnxgraph.Fold(model); err != nil {
		return nil, fmt.Errorf("reading model %s: %w", path, err)
	}
	ins, outs, err := onnx.GetInputOutputInfoWithONNXData(model)
	if err != nil {
		return nil, fmt.Errorf("reading model %s: %w", path, err)
	}
	so, err := onnx.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("session options for %s: %w", path, err)
	}
	defer so.Destroy()
	intra, inter := max(opt.IntraOpThreads, 1), max(opt.InterOpThreads, 1)
	spin := "0"
	if opt.Spin {
		spin = "1"
	}
	for _, step := range []func() error{
		func() error { return so.SetIntraOpNumThreads(intra) },
		func() error { return so.SetInterOpNumThreads(inter) },
		func() error { return so.AddSessionConfigEntry("session.intra_op.allow_spinning", spin) },
		func() error { return so.AddSessionConfigEntry("session.inter_op.allow_spinning", spin) },
		// The memory pattern plans a run's tensors into one block: a
		// verification's page faults 146k -> 50k, its CPU a third less,
		// kyc document's peak 318 -> 321 MB (internal/engines' TestMemory).
		// The block comes from the environment's shared arena (Init,
		// shareArena), not from an arena of the session's own.
		func() error { return so.SetCpuMemArena(false) },
		func() error { return so.SetMemPattern(true) },
		func() error { return so.AddSessionConfigEntry("session.use_env_allocators", "1") },
	} {
		if err := step(); err != nil {
			return nil, fmt.Errorf("session options for %s: %w", path, err)
		}
	}
	s := &Session{name: path, inputs: ioInfos(ins), outputs: ioInfos(outs)}
	sess, err := onnx.NewDynamicAdvancedSessionWithONNXData(model, names(s.inputs), names(s.outputs), so)
	if err != nil {
		return nil, fmt.Errorf("loading model %s: %w", path, err)
	}
	s.sess = sess
	return s, nil
}

func ioInfos(in []onnx.InputOutputInfo) []IOInfo {
	out := make([]IOInfo, len(in))
	for i, v := range in {
		out[i] = IOInfo{Name: v.Name, Shape: append([]int64(nil), v.Dimensions...), Type: v.DataType.String()}
	}
	return out
}

func names(infos []IOInfo) []string {
	n := make([]string, len(infos))
	for i, v := range infos {
		n[i] = v.Name
	}
	return n
}

// Inputs describes the model's inputs in the order Run takes them.
func (s *Session) Inputs() []IOInfo { return s.inputs }

// Outputs describes the model's outputs in the order Run returns them.
func (s *Session) Outputs() []IOInfo { return s.outputs }

// Run feeds one tensor per model input and returns one tensor per output.
// Cancelling ctx terminates a run that is under way.
func (s *Session) Run(ctx context.Context, inputs ...Tensor) ([]Tensor, error) {
	if len(inputs) != len(s.inputs) {
		return nil, fmt.Errorf("running %s: %d inputs given, model takes %d", s.name, len(inputs), len(s.inputs))
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("running %s: %w", s.name, err)
	}
	in := make([]onnx.Value, len(inputs))
	defer func() {
		for _, v := range in {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	for i, t := range inputs {
		if err := t.validate(); err != nil {
			return nil, fmt.Errorf("running %s: input %s: %w", s.name, s.inputs[i].Name, err)
		}
		v, err := onnx.NewTensor(onnx.NewShape(t.Shape...), t.Data)
		if err != nil {
			return nil, fmt.Errorf("running %s: input %s: %w", s.name, s.inputs[i].Name, err)
		}
		in[i] = v
	}
	ro, err := onnx.NewRunOptions()
	if err != nil {
		return nil, fmt.Errorf("running %s: %w", s.name, err)
	}
	defer ro.Destroy()
	done := make(chan struct{})
	watcherDone := make(chan struct{})
	go func() {
		defer close(watcherDone)
		select {
		case <-ctx.Done():
			_ = ro.Terminate()
		case <-done:
		}
	}()
	out := make([]onnx.Value, len(s.outputs))
	err = s.sess.RunWithOptions(in, out, ro)
	close(done)
	<-watcherDone
	defer func() {
		for _, v := range out {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("running %s: %w", s.name, ctx.Err())
		}
		return nil, fmt.Errorf("running %s: %w", s.name, err)
	}
	res := make([]Tensor, len(out))
	for i, v := range out {
		ft, ok := v.(*onnx.Tensor[float32])
		if !ok {
			return nil, fmt.Errorf("running %s: output %s is %T; only float32 outputs are supported", s.name, s.outputs[i].Name, v)
		}
		// onnxruntime_go has already copied ORT's output into a Go slice
		// of its own, which outlives the value's Destroy: no second copy
		// (the recogniser's outputs alone are some 25 MB a verification).
		res[i] = Tensor{Shape: append([]int64(nil), ft.GetShape()...), Data: ft.GetData()}
	}
	return res, nil
}

// Close releases the session.
func (s *Session) Close() error {
	if s.sess == nil {
		return nil
	}
	err := s.sess.Destroy()
	s.sess = nil
	return err
}
