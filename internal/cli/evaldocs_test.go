package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/openkyc/kyc/engine/document/forensics"
	"github.com/openkyc/kyc/internal/forgery"
)

// TestFitCalibration: on the calibration half's genuine samples, a check
// flagging more than 1% may not reject, double compression never may, and
// cuts are lowered until at most 2% of them are flagged; the report half is
// never read.
func TestFitCalibration(t *testing.T) {
	var samples []docSample
	add := func(calib bool, cat forgery.Category, ela, dq, cm float64) {
		samples = append(samples, docSample{Sample: forgery.Sample{Specimen: fmt.Sprint(len(samples)), Category: cat, Calibration: calib},
			Checks: map[string]docScore{
				forensics.CheckELA:        {Applicable: true, Score: ela},
				forensics.CheckDoubleJPEG: {Applicable: true, Score: dq},
				forensics.CheckCopyMove:   {Applicable: true, Score: cm},
			}})
	}
	for i := range 100 {
		ela, dq := 1.0, 1.0
		if i < 5 {
			ela = 0.3 + 0.02*float64(i) // 5% of genuine flagged by ELA
		}
		if i == 7 {
			dq = 0.1
		}
		add(true, forgery.CatQ90, ela, dq, 0.9)
		add(false, forgery.CatQ90, 0, 0, 0) // report half: must not count
	}
	add(true, forgery.CatVIZClone, 0.1, 1, 0.2)
	cal := fitCalibration(samples)
	if c := cal[forensics.CheckELA]; c.Rejects || c.GenuineFPR != 0.05 || c.Cut != 0.3 || c.N != 100 {
		t.Errorf("error_level %+v, want review only at 5%%, cut to 0.3", c)
	}
	if c := cal[forensics.CheckDoubleJPEG]; c.Rejects || c.Cut != 0.5 {
		t.Errorf("double compression %+v, want review only, cut 0.5 (1 of 100 is within 2%%)", c)
	}
	if c := cal[forensics.CheckCopyMove]; !c.Rejects || c.Cut != 0.5 {
		t.Errorf("copy-move %+v, want may reject at 0.5", c)
	}
	rows := docTable(samples, cal)
	var genuine docRow
	for _, r := range rows {
		if r.Category == forgery.CatQ90.Name {
			genuine = r
		}
	}
	if genuine.N != 200 || !strings.HasPrefix(genuine.Flagged, "101 ") {
		t.Errorf("genuine row %+v", genuine)
	}
}

// TestEvalDocuments runs `kyc eval documents` on the first specimen of the
// report half: a row per category it allows, the targets, the DET plot.
func TestEvalDocuments(t *testing.T) {
	if testing.Short() {
		t.Skip("renders and analyses some twenty documents")
	}
	if r := kyc(t, nil, "eval", "documents", "--split", "half"); r.exit != ExitUsage {
		t.Errorf("--split half: exit %d, want %d", r.exit, ExitUsage)
	}
	out := t.TempDir()
	r := kyc(t, nil, "eval", "documents", "--limit", "1", "--out", out)
	if r.exit != ExitOK {
		t.Fatalf("exit %d: %s %s", r.exit, r.stdout, r.stderr)
	}
	var res docEvalResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatal(err)
	}
	groups := map[string]bool{}
	for _, row := range res.Rows {
		groups[row.Group] = true
		if row.N == 0 || len(row.Checks) == 0 {
			t.Errorf("row %+v", row)
		}
	}
	for _, g := range []forgery.Group{forgery.GroupGenuine, forgery.GroupResaved, forgery.GroupPrint, forgery.GroupScreen} {
		if !groups[string(g)] {
			t.Errorf("no %s row in %v", g, groups)
		}
	}
	if len(res.Targets) != 4 || res.DETPlot == "" {
		t.Errorf("targets %v, plot %q", res.Targets, res.DETPlot)
	}
	if st, err := os.Stat(res.DETPlot); err != nil || st.Size() < 1000 {
		t.Errorf("plot: %v", err)
	}
}

// TestCheckTable: each check alone, at its operating point, on the
// reported samples: its false positives on genuine ones and on how many
// it applied, its recall per attack group and its precision.
func TestCheckTable(t *testing.T) {
	var samples []docSample
	add := func(cat forgery.Category, score float64) {
		samples = append(samples, docSample{Sample: forgery.Sample{Category: cat},
			Checks: map[string]docScore{forensics.CheckPortraitBoundary: {Applicable: true, Score: score}}})
	}
	for i := range 50 {
		add(forgery.CatQ90, map[bool]float64{true: 0.3, false: 0.9}[i == 0]) // 1 of 50 genuine fired
	}
	for range 25 { // genuine samples the check could not judge
		samples = append(samples, docSample{Sample: forgery.Sample{Category: forgery.CatQ75},
			Checks: map[string]docScore{forensics.CheckPortraitBoundary: {Applicable: false, Score: 1}}})
	}
	for i := range 4 {
		add(forgery.CatPhotoHard, map[bool]float64{true: 0.1, false: 0.8}[i < 3]) // 3 of 4 caught
	}
	add(forgery.CatVIZClone, 0.9)
	cal := forensics.Calibration{forensics.CheckPortraitBoundary: {Cut: 0.5, GenuineFPR: 0, N: 100, Rejects: true}}
	rows := checkTable(samples, cal)
	if len(rows) != 1 {
		t.Fatalf("rows %+v", rows)
	}
	r := rows[0]
	if r.GenuineFPR != "1 (1.3%)" || r.GenuineApplicable != "50 (66.7%)" || r.Recall[string(forgery.GroupPortrait)] != "3 (75.0%)" ||
		r.Recall[string(forgery.GroupField)] != "0 (0.0%)" || r.Precision != "3 (75.0%)" || !r.Rejects {
		t.Errorf("row %+v", r)
	}
	// A stricter cut: the genuine one and one swap no longer fire.
	cal[forensics.CheckPortraitBoundary] = forensics.CheckCalibration{Cut: 0.2}
	if r := checkTable(samples, cal)[0]; r.GenuineFPR != "0 (0.0%)" || r.Recall[string(forgery.GroupPortrait)] != "3 (75.0%)" || r.Precision != "3 (100.0%)" {
		t.Errorf("at cut 0.2: %+v", r)
	}
}
