package forensics

import (
	"context"
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
