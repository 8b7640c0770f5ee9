package face

import (
	"errors"
	"math"
	"testing"
)

func TestNewMatcherRange(t *testing.T) {
	for _, far := range []float64{1e-5, 0.5, 0, -1, math.NaN()} {
		if _, err := NewMatcher(far); !errors.Is(err, ErrFAROutOfRange) {
			t.Errorf("NewMatcher(%g) error %v, want ErrFAROutOfRange", far, err)
		}
	}
	prev := math.Inf(-1)
	for _, far := range []float64{1e-2, 3e-3, 1e-3, 3e-4, 1e-4} {
		m, err := NewMatcher(far)
		if err != nil {
			t.Fatal(err)
		}
		if m.Threshold < prev {
			t.Errorf("threshold at FAR %g (%v) below the one at a laxer FAR (%v)", far, m.Threshold, prev)
		}
		prev = m.Threshold
	}
	if d := DefaultMatcher(); d.FAR != DefaultFAR {
		t.Errorf("default matcher %+v", d)
	}
	m, _ := NewMatcher(DefaultFAR)
	if m != DefaultMatcher() {
		t.Errorf("NewMatcher(DefaultFAR) = %+v, DefaultMatcher() = %+v", m, DefaultMatcher())
	}
}

func TestDecideAndScore(t *testing.T) {
	m := DefaultMatcher()
	for _, c := range []struct {
		sim  float64
		want string
	}{
		{m.Threshold, DecisionMatch},
		{m.Threshold + 0.2, DecisionMatch},
		{m.Threshold - 1e-6, DecisionNoMatch},
		{-0.5, DecisionNoMatch},
	} {
		if d := m.Decide(c.sim); d.Decision != c.want || d.Similarity != c.sim || d.Threshold != m.Threshold {
			t.Errorf("Decide(%v) = %+v, want %s", c.sim, d, c.want)
		}
	}
	prev := -1.0
	for s := -1.0; s <= 1; s += 0.05 {
		sc := Score(s)
		if sc < 0 || sc > 1 || sc < prev {
			t.Fatalf("Score(%.2f) = %v: not a rising probability", s, sc)
		}
		prev = sc
	}
	if Score(-0.2) > 0.05 || Score(0.8) < 0.95 {
		t.Errorf("Score(-0.2)=%v Score(0.8)=%v: not calibrated to the similarity ranges", Score(-0.2), Score(0.8))
	}
}
