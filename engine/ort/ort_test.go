package ort_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/openkyc/kyc/engine/ort"
	"github.com/openkyc/kyc/internal/testenv"
)

func TestInitErrors(t *testing.T) {
	// These run before the real Init in this process on purpose: a failed
	// Init must leave the package ready for a later successful one.
	dir := t.TempDir()
	if err := ort.Init(filepath.Join(dir, "absent.so")); !errors.Is(err, ort.ErrLibraryMissing) {
		t.Fatalf("Init(absent) = %v, want ErrLibraryMissing", err)
	}
	junk := filepath.Join(dir, "junk.so")
	if err := os.WriteFile(junk, []byte("not a library"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ort.Init(junk); !errors.Is(err, ort.ErrLibraryInvalid) {
		t.Fatalf("Init(junk) = %v, want ErrLibraryInvalid", err)
	}
	if err := ort.Init(dir); !errors.Is(err, ort.ErrLibraryInvalid) {
		t.Fatalf("Init(dir) = %v, want ErrLibraryInvalid", err)
	}
	if _, err := ort.NewSession("x.onnx", ort.Options{}); !errors.Is(err, ort.ErrNotInitialized) {
		t.Fatalf("NewSession before Init = %v, want ErrNotInitialized", err)
	}
	testenv.ORT(t)
	if ort.Version() != "1.30.0" {
		t.Fatalf("loaded version %q, want 1.30.0", ort.Version())
	}
	if err := ort.Init(junk); !errors.Is(err, ort.ErrAlreadyInitialized) {
		t.Fatalf("second Init with another library = %v, want ErrAlreadyInitialized", err)
	}
	if err := ort.Init(ort.LibraryPath()); err != nil {
		t.Fatalf("repeated Init with the same library: %v", err)
	}
}

func TestRunRealModel(t *testing.T) {
	testenv.ORT(t)
	s, err := ort.NewSession(testenv.Model(t, "minifasnet-v2se"), ort.Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if in := s.Inputs(); len(in) != 1 || len(in[0].Shape) != 4 || in[0].Shape[1] != 3 {
		t.Fatalf("unexpected inputs %+v", in)
	}
	// A flat grey square and a noisy one give two finite logits each and
	// different outputs: the network really ran on the data.
	x := ort.NewNCHW(2, 3, 128, 128)
	pix := make([]byte, 128*128*3)
	for i := range pix {
		pix[i] = 128
	}
	if err := x.SetImage(0, pix, 128, 128, ort.Normalize{Scale: [3]float32{1. / 255, 1. / 255, 1. / 255}, SwapRB: true}); err != nil {
		t.Fatal(err)
	}
	for i := range pix {
		pix[i] = byte(i * 7919 % 251)
	}
	if err := x.SetImage(1, pix, 128, 128, ort.Normalize{Scale: [3]float32{1. / 255, 1. / 255, 1. / 255}, SwapRB: true}); err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(context.Background(), x)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || len(out[0].Data) != 4 {
		t.Fatalf("output %+v, want [2,2]", out)
	}
	for _, v := range out[0].Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("non-finite output %v", out[0].Data)
		}
	}
	if out[0].Data[0] == out[0].Data[2] && out[0].Data[1] == out[0].Data[3] {
		t.Fatalf("different inputs gave identical outputs %v", out[0].Data)
	}
	// An output is the caller's: another run leaves it as it was.
	kept := slices.Clone(out[0].Data)
	y := ort.NewNCHW(2, 3, 128, 128)
	if _, err := s.Run(context.Background(), y); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out[0].Data, kept) {
		t.Fatalf("a later run changed an earlier output: %v, was %v", out[0].Data, kept)
	}

	// Wrong shapes and a cancelled context are errors, not crashes.
	if _, err := s.Run(context.Background(), ort.Tensor{Shape: []int64{1, 3, 128, 128}, Data: make([]float32, 5)}); err == nil {
		t.Fatal("Run accepted a tensor whose data does not fill its shape")
	}
	if _, err := s.Run(context.Background()); err == nil {
		t.Fatal("Run accepted no inputs")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Run(ctx, x); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run with cancelled context = %v", err)
	}
}

func TestSetImage(t *testing.T) {
	x := ort.NewNCHW(1, 3, 1, 2)
	// Two BGR pixels.
	pix := []byte{10, 20, 30, 40, 50, 60}
	if err := x.SetImage(0, pix, 1, 2, ort.Normalize{Mean: [3]float32{0, 0, 0}, Scale: [3]float32{1, 1, 1}, SwapRB: true}); err != nil {
		t.Fatal(err)
	}
	want := []float32{30, 60, 20, 50, 10, 40} // R plane, G plane, B plane
	for i := range want {
		if x.Data[i] != want[i] {
			t.Fatalf("SetImage = %v, want %v", x.Data, want)
		}
	}
	// A smaller image fills the top-left corner; the rest stays zero.
	big := ort.NewNCHW(1, 3, 2, 3)
	if err := big.SetImage(0, pix, 1, 2, ort.Normalize{Mean: [3]float32{10, 10, 10}, Scale: [3]float32{2, 2, 2}}); err != nil {
		t.Fatal(err)
	}
	wantBig := []float32{0, 60, 0, 0, 0, 0, 20, 80, 0, 0, 0, 0, 40, 100, 0, 0, 0, 0} // B, G, R planes of 2x3
	for i := range wantBig {
		if big.Data[i] != wantBig[i] {
			t.Fatalf("SetImage into a larger tensor = %v, want %v", big.Data, wantBig)
		}
	}
	if err := x.SetImage(0, make([]byte, 2*3*3), 2, 3, ort.Raw); err == nil {
		t.Fatal("SetImage accepted an image larger than the tensor")
	}
	if err := x.SetImage(0, pix[:3], 1, 2, ort.Raw); err == nil {
		t.Fatal("SetImage accepted a short buffer")
	}
	if err := x.SetImage(1, pix, 1, 2, ort.Raw); err == nil {
		t.Fatal("SetImage accepted an out-of-range batch index")
	}
}

func BenchmarkRunLiveness(b *testing.B) {
	testenv.ORT(b)
	for _, threads := range []int{1, 2} {
		s, err := ort.NewSession(testenv.Model(b, "minifasnet-v2se"), ort.Options{IntraOpThreads: threads})
		if err != nil {
			b.Fatal(err)
		}
		x := ort.NewNCHW(1, 3, 128, 128)
		b.Run(map[int]string{1: "threads=1", 2: "threads=2"}[threads], func(b *testing.B) {
			for b.Loop() {
				if _, err := s.Run(context.Background(), x); err != nil {
					b.Fatal(err)
				}
			}
		})
		s.Close()
	}
}

// TestReleaseMemory: what a large run left in the shared arena goes back
// to the system on ReleaseMemory, and sessions run as before after it.
func TestReleaseMemory(t *testing.T) {
	testenv.ORT(t)
	s, err := ort.NewSession(testenv.Model(t, "minifasnet-v2se"), ort.Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// A batch of 16 plans some 90 MB of activations in the arena.
	x := ort.NewNCHW(16, 3, 128, 128)
	for i := range x.Data {
		x.Data[i] = float32(i%251) / 251
	}
	first, err := s.Run(context.Background(), x)
	if err != nil {
		t.Fatal(err)
	}
	held := residentMB(t)
	if err := ort.ReleaseMemory(); err != nil {
		t.Fatal(err)
	}
	released := residentMB(t)
	t.Logf("resident %.1f MB after the run, %.1f MB after ReleaseMemory", held, released)
	if held-released < 10 {
		t.Errorf("ReleaseMemory gave back %.1f MB of %.1f, want at least 10", held-released, held)
	}
	again, err := s.Run(context.Background(), x)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(first[0].Data, again[0].Data) {
		t.Error("a run after ReleaseMemory gave other outputs")
	}
}

// residentMB is the process's resident set (VmRSS) in MB.
func residentMB(t *testing.T) float64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb / 1024
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}
