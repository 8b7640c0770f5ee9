package cli

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/internal/testenv"
)

// TestEvalLiveness runs `kyc eval liveness` on a few of each set: every
// row is there with its counts, and minivision's real print and screen
// photos are refused.
func TestEvalLiveness(t *testing.T) {
	data := testenv.Data(t)
	r := kyc(t, nil, "eval", "liveness", "--data", data, "--limit", "4", "--attacks", "1", "--split", "all")
	if r.exit != ExitOK {
		t.Fatalf("exit %d: %s %s", r.exit, r.stdout, r.stderr)
	}
	var res livenessEvalResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatal(err)
	}
	if res.Fitted || res.Fusion != face.DefaultFusion || res.ChallengeBand[1] != 0.5 {
		t.Errorf("fusion %+v (fitted %v), band %v: want the shipped ones", res.Fusion, res.Fitted, res.ChallengeBand)
	}
	rows := map[string]livenessRow{}
	for _, row := range res.Rows {
		rows[row.Set] = row
	}
	for _, c := range []struct {
		set    string
		metric string
		n      int // with a face found or not
	}{
		{setColour, "BPCER", 4}, {setATT, "BPCER", 4}, {setBBT, "BPCER", 4}, {setMVLive, "BPCER", 1}, {setMVAttacks, "APCER", 2},
		{setScreenDoc, "APCER", 4}, {setPrintDoc, "APCER", 4},
	} {
		row, ok := rows[c.set]
		if !ok || row.Metric != c.metric || row.N+row.NoFace != c.n {
			t.Errorf("%s: %+v, want %s over %d", c.set, row, c.metric, c.n)
		}
	}
	if got := rows[setMVAttacks].Product; !strings.HasPrefix(got, "0 ") {
		t.Errorf("real attacks accepted: %s", got)
	}
	// The calibration runs on what there is.
	r = kyc(t, nil, "eval", "liveness", "--data", data, "--limit", "4", "--attacks", "1", "--fit")
	if r.exit != ExitOK || json.Unmarshal([]byte(r.stdout), &res) != nil || !res.Fitted || res.Split != "test" {
		t.Errorf("--fit: exit %d %s %s", r.exit, r.stdout, r.stderr)
	}
	for _, args := range [][]string{
		{"eval", "liveness", "--split", "half"},
		{"eval", "liveness", "--data", filepath.Join(t.TempDir(), "missing")},
		{"eval", "liveness", "--attacks", "-1"},
	} {
		if r := kyc(t, nil, args...); r.exit == ExitOK {
			t.Errorf("%v: exit 0", args)
		} else {
			decodeError(t, r)
		}
	}
}

// TestLivenessTable counts errors as ISO/IEC 30107-3 does: refused live
// faces (BPCER), accepted attacks (APCER), presentations without a face
// apart, and only the asked half of the split sets.
func TestLivenessTable(t *testing.T) {
	f := face.Fusion{Models: [3]face.Platt{{A: 1}, {A: 1}, {A: 1}}, TraceThreshold: 4}
	z := func(v float64) [3]float64 { return [3]float64{v, v, v} }
	samples := []livenessSample{
		{set: setColour, found: true, logOdds: z(3)},                                  // accepted
		{set: setColour, found: true, logOdds: z(-0.5)},                               // refused, in the band (0.38)
		{set: setColour, found: true, logOdds: z(3), traceMass: 9},                    // refused by the traces
		{set: setColour, found: true, logOdds: z(-3), calibration: true},              // not in the test half
		{set: setScreenDoc, attack: true, found: true, logOdds: z(2)},                 // accepted
		{set: setScreenDoc, attack: true, found: true, logOdds: z(-4)},                // refused
		{set: setScreenDoc, attack: true},                                             // no face
		{set: setMVAttacks, attack: true, found: true, logOdds: z(-2)},                // refused
		{set: setATT, found: true, logOdds: [3]float64{1, -1, -1}},                    // models disagree
		{set: setATT, found: true, logOdds: z(2), calibration: true},                  // greyscale rows are never split
		{set: setPrintCoarse, attack: true, found: true, logOdds: z(2), traceMass: 3}, // traces under the threshold
	}
	rows := livenessTable(samples, f, "test", [2]float64{0.25, 0.5})
	want := []livenessRow{
		{Set: setColour + ", test half", Metric: "BPCER", N: 3, V2SE: "1 (33.3%)", V2: "1 (33.3%)", V1SE: "1 (33.3%)", Fused: "1 (33.3%)",
			Traces: "1 (33.3%)", Product: "2 (66.7%)", Challenge: "1 (33.3%)"},
		{Set: setATT, Metric: "BPCER", N: 2, V2SE: "0 (0.0%)", V2: "1 (50.0%)", V1SE: "1 (50.0%)", Fused: "1 (50.0%)",
			Traces: "0 (0.0%)", Product: "1 (50.0%)", Challenge: "1 (50.0%)"},
		{Set: setMVAttacks, Metric: "APCER", N: 1, V2SE: "0 (0.0%)", V2: "0 (0.0%)", V1SE: "0 (0.0%)", Fused: "0 (0.0%)",
			Traces: "1 (100.0%)", Product: "0 (0.0%)", Challenge: "0 (0.0%)"},
		{Set: setScreenDoc + ", test half", Metric: "APCER", N: 2, NoFace: 1, V2SE: "1 (50.0%)", V2: "1 (50.0%)", V1SE: "1 (50.0%)",
			Fused: "1 (50.0%)", Traces: "2 (100.0%)", Product: "1 (50.0%)", Challenge: "0 (0.0%)"},
		{Set: setPrintCoarse + ", test half", Metric: "APCER", N: 1, V2SE: "1 (100.0%)", V2: "1 (100.0%)", V1SE: "1 (100.0%)",
			Fused: "1 (100.0%)", Traces: "1 (100.0%)", Product: "1 (100.0%)", Challenge: "0 (0.0%)"},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d\n got %+v\nwant %+v", i, rows[i], want[i])
		}
	}
}

// TestFitFusion: the bias puts the operating point at the live face below
// which at most the asked share of the calibration half is refused; the
// other half plays no part.
func TestFitFusion(t *testing.T) {
	var samples []livenessSample
	for i := range 20 {
		v := float64(i) - 2 // live faces at -2 .. 17
		samples = append(samples, livenessSample{set: setColour, found: true, calibration: true, logOdds: [3]float64{v, v, v}})
		samples = append(samples, livenessSample{set: setScreenDoc, attack: true, found: true, calibration: true, logOdds: [3]float64{-v - 4, -v - 4, -v - 4}})
	}
	// A report-half face far below would move the bias if it counted.
	samples = append(samples, livenessSample{set: setColour, found: true, logOdds: [3]float64{-50, -50, -50}})
	f, err := fitFusion(samples, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	var fused []float64
	for _, s := range samples[:40] {
		if !s.attack {
			fused = append(fused, f.Fuse(s.logOdds))
		}
	}
	refused := 0
	for _, p := range fused {
		if p < 0.5 {
			refused++
		}
	}
	// 5% of 20: one live face may be refused, the second lowest sits at
	// the operating point.
	if refused != 1 || math.Abs(f.Fuse(samples[2].logOdds)-0.5) > 0.01 {
		t.Errorf("fusion %+v refuses %d of 20 calibration live faces (second lowest at %.3f)", f, refused, f.Fuse(samples[2].logOdds))
	}
	if f.TraceThreshold != face.DefaultFusion.TraceThreshold {
		t.Errorf("trace threshold %v", f.TraceThreshold)
	}
	if _, err := fitFusion(samples[40:], 0.05); err == nil {
		t.Error("fit without calibration samples succeeded")
	}
}
