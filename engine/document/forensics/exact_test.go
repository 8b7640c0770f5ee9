package forensics

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"gocv.io/x/gocv"
)

// TestSpectrumSymmetric: the power OpenCV's DFT gives a real plane is the
// same, to the bit, at (fx, fy) and (-fx, -fy), at every tile size
// spectralPeaks uses; it sums and takes logarithms of half the spectrum
// on that ground.
func TestSpectrumSymmetric(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 32; n <= 256; n *= 2 {
		sp := newSpectrum(n)
		defer sp.close()
		in, _ := sp.in.DataPtrFloat32()
		for i := range in {
			in[i] = float32(rng.NormFloat64() * 50)
		}
		gocv.DFT(sp.in, &sp.out, gocv.DftComplexOutput)
		c, _ := sp.out.DataPtrFloat32()
		power := func(i int) float64 { return float64(c[2*i])*float64(c[2*i]) + float64(c[2*i+1])*float64(c[2*i+1]) }
		for fy := 0; fy < n; fy++ {
			for fx := 0; fx < n; fx++ {
				if a, b := power(idx(fx, fy, n)), power(idx(-fx, -fy, n)); a != b {
					t.Fatalf("n %d: power %g at (%d,%d), %g at the opposite frequency", n, a, fx, fy, b)
				}
				if h := halfIdx(fx, fy, n); h >= (n/2+1)*n || power(h) != power(idx(fx, fy, n)) {
					t.Fatalf("n %d: halfIdx(%d,%d) = %d", n, fx, fy, h)
				}
			}
		}
	}
}

// TestCountMaxima: the block grid's row by row, branch-free count of
// maxima (gridProfiles) equals the count by its definition, on noise whose size is no
// multiple of the window (edge windows included).
func TestCountMaxima(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, size := range [][2]int{{160, 128}, {161, 131}, {190, 97}} {
		w, h := size[0], size[1]
		g := make([]byte, w*h)
		for i := range g {
			g[i] = byte(rng.IntN(256))
		}
		got, err := gridProfiles(context.Background(), g, w, h)
		if err != nil {
			t.Fatal(err)
		}
		ww, wh := w/gridWindow, h/gridWindow
		xEnd, yEnd := min(ww*gridWindow, w-1), min(wh*gridWindow, h-1)
		want := make([]gridProfile, ww*wh)
		// The differences with the left and upper neighbours, 0 where
		// there is none.
		dx := func(x, y int) int {
			if x == 0 {
				return 0
			}
			return absInt(int(g[y*w+x]) - int(g[y*w+x-1]))
		}
		dy := func(x, y int) int {
			if y == 0 {
				return 0
			}
			return absInt(int(g[y*w+x]) - int(g[(y-1)*w+x]))
		}
		for y := 1; y < yEnd; y++ {
			for x := 1; x < xEnd; x++ {
				p := &want[(y/gridWindow)*ww+x/gridWindow]
				if dx(x, y) > dx(x-1, y) && dx(x, y) > dx(x+1, y) {
					p[0][x%gridWindow/8][x%8]++
				}
				if dy(x, y) > dy(x, y-1) && dy(x, y) > dy(x, y+1) {
					p[1][y%gridWindow/8][y%8]++
				}
			}
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%dx%d, window %d: %v, want %v", w, h, i, got[i], want[i])
			}
		}
	}
}

// TestPeriodCos: periodCos is within its stated 1e-10 of math.Cos over the
// arguments the step search gives it (|2 pi c / q| < 5000), multiples of
// pi included.
func TestPeriodCos(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	worst := 0.0
	for i := range 2_000_000 {
		x := (rng.Float64()*2 - 1) * 5000
		if i%4 == 0 {
			x = float64(rng.IntN(3183)-1591)*math.Pi + (rng.Float64()-0.5)*1e-6
		}
		worst = max(worst, math.Abs(periodCos(x)-math.Cos(x)))
	}
	if worst > 1e-10 {
		t.Errorf("periodCos is %g off math.Cos", worst)
	}
}

// TestQuantStep: the step search summing periodCos (and math.Cos near the
// bound) finds the step that summing math.Cos alone finds, on coefficients
// quantised at every step, unquantised ones, and ones whose mean falls on
// quantPeriodicity itself, where only the second sum can decide.
func TestQuantStep(t *testing.T) {
	byCos := func(vals []float64) int {
		for q := 40; q >= 3; q-- {
			var s float64
			n := 0
			for _, c := range vals {
				if math.Abs(c) >= float64(q)/2 {
					s += math.Cos(2 * math.Pi * c / float64(q))
					n++
				}
			}
			if n >= 32 && s/float64(n) >= quantPeriodicity {
				return q
			}
		}
		return 0
	}
	rng := rand.New(rand.NewPCG(7, 8))
	laplace := func(scale float64) float64 { return -scale * math.Log(rng.Float64()) * float64(1-2*rng.IntN(2)) }
	var cases [][]float64
	for q0 := 3; q0 <= 40; q0++ {
		for _, noise := range []float64{0, 0.3, 1, 2.5} {
			vals := make([]float64, 1500)
			for i := range vals {
				vals[i] = math.Round(laplace(60)/float64(q0))*float64(q0) + rng.NormFloat64()*noise
			}
			cases = append(cases, vals)
		}
		// Half the values on multiples of q0, half a quarter step off:
		// a mean of 0.5 up to rounding.
		var vals []float64
		for m := 1; m <= 40; m++ {
			vals = append(vals, float64(m*q0), float64(m*q0)+float64(q0)/4)
		}
		var s float64
		for _, c := range vals {
			s += periodCos(2 * math.Pi * c / float64(q0))
		}
		if math.Abs(s/float64(len(vals))-quantPeriodicity) > quantMargin {
			t.Fatalf("step %d: the boundary case's mean is %g", q0, s/float64(len(vals)))
		}
		cases = append(cases, vals)
	}
	for range 50 {
		vals := make([]float64, 2000)
		for i := range vals {
			vals[i] = laplace(40)
		}
		cases = append(cases, vals)
	}
	for i, vals := range cases {
		if got, want := quantStep(vals), byCos(vals); got != want {
			t.Errorf("case %d: step %d, math.Cos gives %d", i, got, want)
		}
	}
}
