package forensics

import (
	"strings"
	"testing"
)

// TestCalibration: the cut lands on 0.5, unknown checks are review only at
// the detector's threshold, and a summary keeps the numbers but not the
// long ones.
func TestCalibration(t *testing.T) {
	cc := CheckCalibration{Cut: 0.2}
	for _, c := range []struct{ score, want float64 }{{0, 0}, {0.1, 0.25}, {0.2, 0.5}, {0.6, 0.75}, {1, 1}} {
		if got := cc.Normalized(c.score); got < c.want-1e-9 || got > c.want+1e-9 {
			t.Errorf("Normalized(%v) = %v, want %v", c.score, got, c.want)
		}
	}
	if got := (CheckCalibration{}).Normalized(0); got != 0.5 {
		t.Errorf("cut 0: Normalized(0) = %v, want 0.5 (never fires)", got)
	}
	cal := Calibration{CheckCopyMove: {Cut: 0.3, Rejects: true}}
	if u := cal.For("new_check"); u.Cut != 0.5 || u.Rejects {
		t.Errorf("uncalibrated %+v, want cut 0.5, review only", u)
	}
	if cal.Fired(Check{Name: CheckCopyMove, Score: 0.4, Applicable: true}) || !cal.Fired(Check{Name: CheckCopyMove, Score: 0.2, Applicable: true}) ||
		cal.Fired(Check{Name: CheckCopyMove, Score: 0}) {
		t.Error("Fired does not follow the cut and applicability")
	}
	long := make([]float64, 200)
	s := cal.Summary(Check{Name: CheckCopyMove, Score: 0.2, Applicable: true,
		Evidence: map[string]any{"pairs": 34.0, "ratio": 0.71234, "source_region": Region{X: 1, Y: 2, W: 30, H: 40}, "heatmap": long}})
	for _, want := range []string{"copy_move score 0.200 (fires below 0.300)", "pairs 34", "ratio 0.7123", "source_region 1,2 30x40", "heatmap (", "characters, in the report)"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary %q lacks %q", s, want)
		}
	}
	if !RejectAllowed(CheckCopyMove, 0.01) || RejectAllowed(CheckCopyMove, 0.011) || RejectAllowed(CheckDoubleJPEG, 0) || RejectAllowed(CheckMetadata, 0) ||
		RejectAllowed(CheckPortraitMissing, 0) {
		t.Error("RejectAllowed does not follow the 1% rule and the review-only checks")
	}
}
