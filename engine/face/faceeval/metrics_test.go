package faceeval

import (
	"errors"
	"math"
	"testing"
)

func TestEvaluateKnownDistributions(t *testing.T) {
	for _, c := range []struct {
		name              string
		genuine, impostor []float64
		auc, eer          float64
	}{
		{"separated", []float64{0.8, 0.9, 0.7}, []float64{0.1, 0.2, 0.3, 0.0}, 1, 0},
		{"reversed", []float64{0.1, 0.2}, []float64{0.8, 0.9}, 0, 1},
		// 2 of the 4 genuine-impostor orderings are right, one is a tie.
		{"overlap", []float64{0.5, 0.3}, []float64{0.4, 0.5}, 0.375, 0.5},
	} {
		r, err := Evaluate(c.genuine, c.impostor)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(r.AUC-c.auc) > 1e-9 {
			t.Errorf("%s: AUC %v, want %v", c.name, r.AUC, c.auc)
		}
		if math.Abs(r.EER-c.eer) > 1e-9 {
			t.Errorf("%s: EER %v, want %v", c.name, r.EER, c.eer)
		}
		if r.Genuine.N != len(c.genuine) || r.Impostor.N != len(c.impostor) {
			t.Errorf("%s: counts %d/%d", c.name, r.Genuine.N, r.Impostor.N)
		}
	}
	if _, err := Evaluate(nil, []float64{1}); !errors.Is(err, ErrNoPairs) {
		t.Errorf("no genuine pairs: %v", err)
	}
}

func TestAtFAR(t *testing.T) {
	// 1000 impostors at 0.000..0.999, genuine spread over 0.5..1.5.
	im := make([]float64, 1000)
	for i := range im {
		im[i] = float64(i) / 1000
	}
	g := make([]float64, 100)
	for i := range g {
		g[i] = 0.5 + float64(i)/100
	}
	for _, c := range []struct {
		far       float64
		threshold float64 // just above the impostor that must be rejected
		supported bool
	}{
		{1e-2, 0.989, true},
		{1e-3, 0.998, true},
		{1e-4, 0.999, false},
	} {
		p := AtFAR(g, im, c.far)
		if p.Measured > c.far || math.Abs(p.Threshold-c.threshold) > 1e-9 || p.Supported != c.supported {
			t.Errorf("FAR %g: %+v, want threshold just above %v, supported %v", c.far, p, c.threshold, c.supported)
		}
		want := 0.0
		for _, v := range g {
			if v >= p.Threshold {
				want++
			}
		}
		if p.TAR != want/float64(len(g)) {
			t.Errorf("FAR %g: TAR %v, want %v", c.far, p.TAR, want/float64(len(g)))
		}
	}
}

func TestFitCalibration(t *testing.T) {
	// Overlapping classes centred on 0.2 and 0.6: the fitted probability
	// must rise through one half between them.
	var g, im []float64
	for i := 0; i < 200; i++ {
		x := float64(i%20) / 100
		g = append(g, 0.5+x)
		im = append(im, 0.15+x)
	}
	c := FitCalibration(g, im)
	mid := -c.B / c.A
	if c.A <= 0 || mid < 0.4 || mid > 0.5 {
		t.Errorf("calibration %+v puts p=0.5 at %v, want between the class means", c, mid)
	}
	// Separated classes must still give a finite fit.
	c = FitCalibration([]float64{0.9, 0.95}, []float64{0.1, 0.2})
	if math.IsNaN(c.A) || math.IsInf(c.A, 0) || c.A <= 0 {
		t.Errorf("separated classes: %+v", c)
	}
}

func TestStatsPercentiles(t *testing.T) {
	scores := make([]float64, 200)
	for i := range scores {
		scores[len(scores)-1-i] = float64(i+1) / 200 // 0.005 .. 1, given descending
	}
	r, err := Evaluate(scores, []float64{0})
	if err != nil {
		t.Fatal(err)
	}
	// Nearest rank: the p-th percentile of 200 scores is the (2p)-th lowest.
	want := map[string]float64{"p1": 0.01, "p5": 0.05, "p10": 0.1, "p50": 0.5, "p90": 0.9, "p99": 0.99}
	for k, v := range want {
		if got, ok := r.Genuine.Percentiles[k]; !ok || math.Abs(got-v) > 1e-12 {
			t.Errorf("%s: %v, want %v", k, got, v)
		}
	}
	if len(r.Genuine.Percentiles) != len(want) || r.Impostor.Percentiles["p1"] != 0 || r.Impostor.Percentiles["p99"] != 0 {
		t.Errorf("percentiles %v / %v", r.Genuine.Percentiles, r.Impostor.Percentiles)
	}
}
