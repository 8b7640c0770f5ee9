package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/engine/risk"
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
	if res.Fitted || res.Fusion != face.DefaultFusion || res.ChallengeBand[1] != risk.DefaultConfig().Thresholds.FaceLivenessMin {
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
	// fr_liveness, measured beside the fused models, refuses them too.
	if got := rows[setMVAttacks].FR; !strings.HasPrefix(got, "0 ") {
		t.Errorf("real attacks accepted by fr_liveness: %s", got)
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
	f := face.Fusion{Models: [3]face.Platt{{A: 1}, {A: 1}, {A: 1}}, TraceThreshold: 4, BlackThreshold: 30}
	z := func(v float64) [3]float64 { return [3]float64{v, v, v} }
	samples := []livenessSample{
		{set: setColour, found: true, logOdds: z(3), frLogOdds: 2},                             // accepted
		{set: setColour, found: true, logOdds: z(-0.5), frLogOdds: -1},                         // refused, in the band (0.38)
		{set: setColour, found: true, logOdds: z(3), traceMass: 9},                             // refused by the traces
		{set: setColour, found: true, logOdds: z(-3), calibration: true},                       // not in the test half
		{set: setScreenDoc, attack: true, found: true, logOdds: z(2), black: 40, frLogOdds: 1}, // a lifted black: in the band
		{set: setScreenDoc, attack: true, found: true, logOdds: z(-4), frLogOdds: -1},          // refused
		{set: setScreenDoc, attack: true},                                                      // no face
		{set: setMVAttacks, attack: true, found: true, logOdds: z(-2), frLogOdds: -3},          // refused
		{set: setATT, found: true, logOdds: [3]float64{1, -1, -1}},                             // models disagree
		{set: setATT, found: true, logOdds: z(2), calibration: true},                           // greyscale rows are never split
		{set: setPrintCoarse, attack: true, found: true, logOdds: z(2), traceMass: 3},          // traces under the threshold
	}
	rows := livenessTable(samples, f, "test", [2]float64{0.25, 0.5})
	want := []livenessRow{
		{Set: setColour + ", test half", Metric: "BPCER", N: 3, V2SE: "1 (33.3%)", V2: "1 (33.3%)", V1SE: "1 (33.3%)", FR: "1 (33.3%)", Fused: "1 (33.3%)",
			Traces: "1 (33.3%)", Black: "0 (0.0%)", Product: "2 (66.7%)", Challenge: "1 (33.3%)"},
		{Set: setATT, Metric: "BPCER", N: 2, V2SE: "0 (0.0%)", V2: "1 (50.0%)", V1SE: "1 (50.0%)", FR: "0 (0.0%)", Fused: "1 (50.0%)",
			Traces: "0 (0.0%)", Black: "0 (0.0%)", Product: "1 (50.0%)", Challenge: "1 (50.0%)"},
		{Set: setMVAttacks, Metric: "APCER", N: 1, V2SE: "0 (0.0%)", V2: "0 (0.0%)", V1SE: "0 (0.0%)", FR: "0 (0.0%)", Fused: "0 (0.0%)",
			Traces: "1 (100.0%)", Black: "1 (100.0%)", Product: "0 (0.0%)", Challenge: "0 (0.0%)"},
		{Set: setScreenDoc + ", test half", Metric: "APCER", N: 2, NoFace: 1, V2SE: "1 (50.0%)", V2: "1 (50.0%)", V1SE: "1 (50.0%)",
			FR: "1 (50.0%)", Fused: "1 (50.0%)", Traces: "2 (100.0%)", Black: "1 (50.0%)", Product: "0 (0.0%)", Challenge: "1 (50.0%)"},
		{Set: setPrintCoarse + ", test half", Metric: "APCER", N: 1, V2SE: "1 (100.0%)", V2: "1 (100.0%)", V1SE: "1 (100.0%)",
			FR: "1 (100.0%)", Fused: "1 (100.0%)", Traces: "1 (100.0%)", Black: "1 (100.0%)", Product: "1 (100.0%)", Challenge: "0 (0.0%)"},
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
		samples = append(samples, livenessSample{set: setColour, found: true, calibration: true, logOdds: [3]float64{v, v, v}, black: float64(i)})
		samples = append(samples, livenessSample{set: setScreenDoc, attack: true, found: true, calibration: true, logOdds: [3]float64{-v - 4, -v - 4, -v - 4}})
	}
	// The camera's control counts for the black threshold, not for the
	// models' calibration; a report-half face far below would move the
	// bias and one far above the black threshold if it counted.
	samples = append(samples, livenessSample{set: setCamera, found: true, calibration: true, logOdds: [3]float64{-50, -50, -50}, black: 24.5},
		livenessSample{set: setColour, found: true, logOdds: [3]float64{-50, -50, -50}, black: 90})
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
	if f.TraceThreshold != face.DefaultFusion.TraceThreshold || f.BlackThreshold != 25 {
		t.Errorf("trace threshold %v, black threshold %v (want 25: above the control's 24.5)", f.TraceThreshold, f.BlackThreshold)
	}
	if _, err := fitFusion(samples[41:], 0.05); err == nil {
		t.Error("fit without calibration samples succeeded")
	}
}

// targets turns on issue 20's target for screen replays: at most 1 in 10
// of the report half's simulated replays accepted. It is not met (see the
// README), so the default run scores the first portraits of the report half
// and guards their count against regressions.
var targets = flag.Bool("targets", false, "assert issue 20's target on every simulated screen replay of the report half (slow)")

// portraitsEval opens the liveness eval's models (closed with the test)
// and lists interfaces_cc0's 50 portraits in the eval's order.
func portraitsEval(t *testing.T) (*livenessEval, []string) {
	t.Helper()
	data := testenv.Data(t)
	ev, err := openLivenessEval(1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ev.close)
	files, _ := filepath.Glob(filepath.Join(data, "liveness", "interfaces_cc0", "*.jpg"))
	sort.Strings(files)
	if len(files) != 50 {
		t.Fatalf("%d portraits, want 50", len(files))
	}
	return ev, files
}

// TestScreenReplayTarget scores the screen replays of the eval
// (synth.ScreenReplay over its sweep, the same seeds) rendered from the
// report half (odd index) of interfaces_cc0 with the shipped fusion.
func TestScreenReplayTarget(t *testing.T) {
	ev, files := portraitsEval(t)
	portraits := 4
	if *targets {
		portraits = 25
	}
	ctx := context.Background()
	f := face.DefaultFusion
	th := risk.DefaultConfig().Thresholds
	var replays, accepted, controls, refused int
	for i := 1; i < 2*portraits; i += 2 {
		img, err := imageio.ReadFile(files[i], 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range replayAttacks(img, uint64(i), 2) {
			s, err := ev.score(ctx, a.img, livenessSample{set: a.set, attack: !a.live})
			a.img.Close()
			if err != nil {
				t.Fatal(err)
			}
			if !s.found {
				continue
			}
			p := face.FusedLiveness{Passive: f.Passive(s.logOdds, s.mono), TraceScore: f.TraceScore(s.traceMass), BlackScore: f.BlackScore(s.black, s.mono)}.Score()
			switch {
			case a.set == setReplayEdge: // not the target's worst case
			case a.live:
				controls++
				if p < th.FaceLivenessChallengeMin {
					refused++
				}
			default:
				replays++
				if p >= th.FaceLivenessMin {
					accepted++
					t.Logf("accepted: %s %s (black %.0f)", filepath.Base(files[i]), a.desc, s.black)
				}
			}
		}
		img.Close()
	}
	t.Logf("replays accepted %d of %d, camera controls refused %d of %d", accepted, replays, refused, controls)
	switch {
	case *targets && 10*accepted > replays:
		t.Errorf("%d of %d simulated screen replays accepted, want at most 1 in 10", accepted, replays)
	case !*targets && (replays != 8 || accepted > guardAccepted):
		t.Errorf("%d of %d replays of the first four report-half portraits accepted, measured %d of 8", accepted, replays, guardAccepted)
	}
}

// guardAccepted is what the shipped fusion and policy accept of the first
// four report-half portraits' replays (12-02: 4 at the passive acceptance
// of 0.5, 2 at 0.74).
const guardAccepted = 2

// TestLivenessPoints: raising the passive acceptance moves live faces
// and attacks from accepted to the band of doubt, never to refused; the
// other half and the greyscale stills play no part.
func TestLivenessPoints(t *testing.T) {
	f := face.Fusion{Models: [3]face.Platt{{A: 1}, {A: 1}, {A: 1}}, TraceThreshold: 4}
	z := func(p float64) [3]float64 { // log-odds of probability p
		v := math.Log(p / (1 - p))
		return [3]float64{v, v, v}
	}
	samples := []livenessSample{
		{set: setColour, found: true, logOdds: z(0.95)},
		{set: setCamera, found: true, logOdds: z(0.65)},
		{set: setColour, found: true, logOdds: z(0.1)},
		{set: setColour, found: true, logOdds: z(0.1), calibration: true}, // not in the test half
		{set: setATT, found: true, logOdds: z(0.1)},                       // greyscale: not counted
		{set: setReplayFine, attack: true, found: true, logOdds: z(0.75)},
		{set: setScreenFine, attack: true, found: true, logOdds: z(0.55)},
		{set: setScreenFine, attack: true},                               // no face
		{set: setMVAttacks, attack: true, found: true, logOdds: z(0.99)}, // real attacks: not simulated
	}
	pts := livenessPoints(samples, f, "test", [2]float64{0.25, 0.7})
	want := map[float64]livenessPoint{
		0.5: {PassiveMin: 0.5, LiveAccepted: "2 (66.7%)", LiveChallenged: "0 (0.0%)", LiveRefused: "1 (33.3%)", AttacksAccepted: "2 (100.0%)", AttacksDoubted: "0 (0.0%)"},
		0.7: {PassiveMin: 0.7, Policy: true, LiveAccepted: "1 (33.3%)", LiveChallenged: "1 (33.3%)", LiveRefused: "1 (33.3%)", AttacksAccepted: "1 (50.0%)", AttacksDoubted: "1 (50.0%)"},
		0.9: {PassiveMin: 0.9, LiveAccepted: "1 (33.3%)", LiveChallenged: "1 (33.3%)", LiveRefused: "1 (33.3%)", AttacksAccepted: "0 (0.0%)", AttacksDoubted: "2 (100.0%)"},
	}
	if len(pts) != len(operatingPoints) {
		t.Fatalf("%d points, want %d", len(pts), len(operatingPoints))
	}
	for _, p := range pts {
		if w, ok := want[p.PassiveMin]; ok && p != w {
			t.Errorf("at %v\n got %+v\nwant %+v", p.PassiveMin, p, w)
		}
	}
	// A policy between the listed points is measured too, in its place.
	pts = livenessPoints(samples, f, "test", [2]float64{0.25, 0.74})
	if len(pts) != len(operatingPoints)+1 || pts[3].PassiveMin != 0.74 || !pts[3].Policy || pts[2].Policy {
		t.Errorf("points %+v: want 0.74 fourth, marked the policy's", pts)
	}
}

// TestFitPassiveMin: the fitted passive acceptance is the lowest at which
// the calibration half's simulated attacks accepted stay under the bound
// with 95% confidence, the report half and real attacks aside.
func TestFitPassiveMin(t *testing.T) {
	f := face.Fusion{Models: [3]face.Platt{{A: 1}, {A: 1}, {A: 1}}, TraceThreshold: 4}
	z := func(p float64) [3]float64 {
		v := math.Log(p / (1 - p))
		return [3]float64{v, v, v}
	}
	// 100 calibration attacks scored 0.300, 0.305, ..., 0.785, and two at
	// 0.9.
	var samples []livenessSample
	for i := range 100 {
		p := 0.3 + 0.005*float64(i)
		if i >= 98 {
			p = 0.9
		}
		samples = append(samples, livenessSample{set: setScreenFine, attack: true, found: true, calibration: true, logOdds: z(p)})
	}
	samples = append(samples,
		livenessSample{set: setScreenFine, attack: true, found: true, logOdds: z(0.99)},                   // report half
		livenessSample{set: setMVAttacks, attack: true, found: true, calibration: true, logOdds: z(0.99)}) // real
	got := fitPassiveMin(samples, f, 0.10).PassiveMin
	// 5 of 100 accepted has a Wilson upper bound of 11.2%, 4 of 100 9.8%:
	// the threshold passes 0.78 and up.
	if got < 0.771 || got > 0.781 {
		t.Errorf("fitted %.2f, want 0.78", got)
	}
	for _, c := range []struct {
		k, n int
		want float64
	}{{0, 10, 0.2775}, {4, 100, 0.0984}, {5, 100, 0.1118}, {19, 301, 0.0965}, {0, 0, 1}} {
		if got := wilsonUpper(c.k, c.n); math.Abs(got-c.want) > 5e-4 {
			t.Errorf("wilsonUpper(%d, %d) = %.4f, want %.4f", c.k, c.n, got, c.want)
		}
	}
	if got := fitPassiveMin(samples[:98], f, 0).PassiveMin; got != 0.99 {
		t.Errorf("an unreachable bound fitted %.2f, want 0.99", got)
	}
}

// TestClusterBootstrap: the same 4 accepted attacks in 100 bound the
// share higher when they are one portrait's than when they are four
// portraits', and the fit follows the wider bound.
func TestClusterBootstrap(t *testing.T) {
	attacks := func(concentrated bool) []clustered {
		var out []clustered
		for c := range 20 {
			for i := range 5 {
				s := 0.3
				if concentrated && c == 0 && i < 4 || !concentrated && c < 4 && i == 0 {
					s = 0.9
				}
				out = append(out, clustered{s, fmt.Sprint("p", c)})
			}
		}
		return out
	}
	one := newClusterBootstrap(attacks(true), 4000).upper(0.5)
	four := newClusterBootstrap(attacks(false), 4000).upper(0.5)
	if wilson := wilsonUpper(4, 100); !(one > maxAPCER && maxAPCER > wilson && wilson > four) {
		t.Errorf("4 of 100 accepted: one portrait's bound %.3f, four portraits' %.3f, Wilson %.3f; want %.3f > %.2f > %.3f > %.3f",
			one, four, wilson, one, maxAPCER, wilson, four)
	}
	if got := newClusterBootstrap(nil, 10).upper(0.5); got != 1 {
		t.Errorf("no samples bound %.2f, want 1", got)
	}
	f := face.Fusion{Models: [3]face.Platt{{A: 1}, {A: 1}, {A: 1}}, TraceThreshold: 4}
	var samples []livenessSample
	for _, a := range attacks(true) {
		v := math.Log(a.score / (1 - a.score))
		samples = append(samples, livenessSample{set: setScreenFine, portrait: a.cluster, attack: true, found: true, calibration: true, logOdds: [3]float64{v, v, v}})
	}
	if got := fitPassiveMin(samples, f, maxAPCER).PassiveMin; got < 0.9 {
		t.Errorf("one portrait's 4 accepted attacks fitted %.2f, want above their 0.9", got)
	}
}

// TestGreyScreensMonochrome scores the eval's grey photos on a screen
// (renderAttacks, the same seeds) of the report-half portraits whose grey
// screens the shipped score accepted passively until the monochrome rule
// took a colour cast out (12-04: 4 of 47, from these three portraits):
// each is monochrome now, and so never accepted passively, while the
// portraits themselves keep their colour.
func TestGreyScreensMonochrome(t *testing.T) {
	ev, files := portraitsEval(t)
	ctx := context.Background()
	passive := risk.DefaultConfig().Thresholds.FaceLivenessMin
	greys := 0
	for _, i := range []int{17, 37, 39} {
		img, err := imageio.ReadFile(files[i], 0)
		if err != nil {
			t.Fatal(err)
		}
		s, err := ev.score(ctx, img, livenessSample{set: setColour})
		if err != nil || !s.found || s.mono {
			t.Errorf("%s: found %v, monochrome %v (%v)", filepath.Base(files[i]), s.found, s.mono, err)
		}
		for _, a := range renderAttacks(img, uint64(i), 2) {
			if a.set == setGreyScreen {
				s, err = ev.score(ctx, a.img, livenessSample{set: a.set, attack: true})
				score := s.fused(face.DefaultFusion).Score()
				t.Logf("%s %s: monochrome %v, score %.3f", filepath.Base(files[i]), a.desc, s.mono, score)
				if err != nil || !s.found || !s.mono || score >= passive {
					t.Errorf("%s %s: found %v, monochrome %v, score %.3f (%v)", filepath.Base(files[i]), a.desc, s.found, s.mono, score, err)
				}
				greys++
			}
			a.img.Close()
		}
		img.Close()
	}
	if greys != 6 {
		t.Errorf("%d grey screens, want 6", greys)
	}
}
