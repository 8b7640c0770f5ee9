package synth

import (
	"math"
	"testing"

	"gocv.io/x/gocv"
)

// TestAddSensorNoise: each seed adds its own noise of about 1 grey level,
// the same seed the same noise, and white and black clip rather than wrap
// around.
func TestAddSensorNoise(t *testing.T) {
	grey := func(v uint8, seed uint64) gocv.Mat {
		m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(float64(v), float64(v), float64(v), 0), 240, 320, gocv.MatTypeCV8UC3)
		AddSensorNoise(&m, 1, seed)
		return m
	}
	a, b, again := grey(128, 1), grey(128, 2), grey(128, 1)
	defer a.Close()
	defer b.Close()
	defer again.Close()
	pa, _ := a.DataPtrUint8()
	pb, _ := b.DataPtrUint8()
	pc, _ := again.DataPtrUint8()
	var sum, sq float64
	same, differ := true, 0
	for i, v := range pa {
		d := float64(v) - 128
		sum, sq = sum+d, sq+d*d
		same = same && v == pc[i]
		if v != pb[i] {
			differ++
		}
	}
	n := float64(len(pa))
	mean, sd := sum/n, math.Sqrt(sq/n-(sum/n)*(sum/n))
	// Rounding adds its own 1/12 to the variance: sqrt(1 + 1/12) = 1.04.
	if math.Abs(mean) > 0.05 || sd < 0.95 || sd > 1.12 {
		t.Errorf("noise mean %.3f, deviation %.3f; want 0 and 1.04", mean, sd)
	}
	if !same {
		t.Error("one seed gave two noises")
	}
	if float64(differ) < 0.5*n {
		t.Errorf("two seeds differ at %d of %.0f values", differ, n)
	}
	for _, v := range []uint8{0, 255} {
		m := grey(v, 3)
		p, _ := m.DataPtrUint8()
		for _, x := range p {
			if v == 0 && x > 6 || v == 255 && x < 249 {
				t.Errorf("grey %d: a value %d", v, x)
				break
			}
		}
		m.Close()
	}
}
