package console

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/openkyc/kyc/engine/risk"
)

// TestRiskInputRoundTrip: for inputs that exercise every fact the rebuild
// reads from reason codes, the input rebuilt from the engine's result (as
// a payload carries it) is decided exactly as the original, under the
// settings it was decided with.
func TestRiskInputRoundTrip(t *testing.T) {
	all := func(v float64) map[risk.SignalName]float64 {
		m := map[risk.SignalName]float64{}
		for _, s := range risk.Signals() {
			m[s] = v
		}
		return m
	}
	at := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	lists := func(age time.Duration) *risk.ScreeningData {
		return &risk.ScreeningData{At: at, Lists: []risk.WatchlistDates{
			{Name: "un", Published: at.AddDate(0, -1, 0), Confirmed: at.Add(-age)},
			{Name: "local", Published: at.Add(-time.Hour)}}}
	}
	twoDays := func(c *risk.Config) { c.ScreeningMaxAgeDays = 2 }
	cases := []struct {
		name string
		cfg  func(*risk.Config)
		in   risk.Input
	}{
		{"lists confirmed 3 days before, fresh under the default", nil, risk.Input{Signals: all(1), Attempt: 1, Screening: lists(72 * time.Hour)}},
		{"lists confirmed 3 days before, stale under 2 days", twoDays, risk.Input{Signals: all(1), Attempt: 1, Screening: lists(72 * time.Hour)}},
		{"a list of unknown age", nil, risk.Input{Signals: all(1), Attempt: 1, Screening: lists(-time.Hour)}},
		{"no list at all", nil, risk.Input{Signals: all(1), Attempt: 1, Screening: &risk.ScreeningData{At: at}}},
		{"clean approve", nil, risk.Input{Signals: all(1), Attempt: 1, Device: risk.DeviceOK}},
		{"score review", nil, risk.Input{Signals: all(0.8), Attempt: 1}},
		{"watchlist hits", nil, risk.Input{Signals: all(1), Attempt: 1, WatchlistHits: 2, WatchlistPotentialMatches: 3}},
		{"device blocked", nil, risk.Input{Signals: all(1), Attempt: 1, Device: risk.DeviceBlock}},
		{"device warning", nil, risk.Input{Signals: all(1), Attempt: 2, Device: risk.DeviceWarn}},
		{"capture issues", nil, risk.Input{Signals: all(1), Attempt: 1, CaptureIssues: []risk.CaptureIssue{risk.CaptureNoFace, risk.CaptureDocQuality}}},
		{"retries exhausted", nil, risk.Input{Signals: all(1), Attempt: 3, CaptureIssues: []risk.CaptureIssue{risk.CaptureSelfieQuality}}},
		{"expired", nil, risk.Input{Signals: all(1), Attempt: 1, DocExpired: true}},
		{"screen attack", nil, risk.Input{Signals: all(1), Attempt: 1, DocAttack: risk.DocAttackScreen}},
		{"print attack", nil, risk.Input{Signals: all(1), Attempt: 1, DocAttack: risk.DocAttackPrint}},
		{"findings", nil, risk.Input{Signals: all(1), Attempt: 1, DocFindings: []risk.DocFinding{
			{Check: "copy_move", Kind: risk.DocFindingTamper, Rejects: true, Evidence: "pairs 40"},
			{Check: "jpeg_block_grid", Kind: risk.DocFindingTamper, WhyReviewOnly: "flags 17.0% of genuine documents, over the 1% a rejecting check may", Evidence: "mass 20"},
			{Check: "screen_replay", Kind: risk.DocFindingScreen, Evidence: "peaks 9"}}}},
		{"print finding", nil, risk.Input{Signals: all(1), Attempt: 1, DocFindings: []risk.DocFinding{{Check: "printed_copy", Kind: risk.DocFindingPrint, Rejects: true, Evidence: "x"}}}},
		{"liveness doubt", nil, risk.Input{Signals: map[risk.SignalName]float64{risk.FaceLiveness: 0.3, risk.FaceMatch: 0.9}, Attempt: 1}},
		{"challenge passed", nil, risk.Input{Signals: map[risk.SignalName]float64{risk.FaceLiveness: 0.3, risk.FaceMatch: 0.9}, Attempt: 1, LivenessChallenge: risk.ChallengePassed}},
		{"challenge failed", nil, risk.Input{Signals: all(1), Attempt: 1, LivenessChallenge: risk.ChallengeFailed}},
		{"challenge by another person", nil, risk.Input{Signals: map[risk.SignalName]float64{risk.FaceLiveness: 0.3, risk.FaceMatch: 0.9}, Attempt: 1,
			LivenessChallenge: risk.ChallengeFailed, ChallengeIdentity: "turn_left: similarity 0.05"}},
		{"challenge on a screen", nil, risk.Input{Signals: map[risk.SignalName]float64{risk.FaceLiveness: 0.3, risk.FaceMatch: 0.9}, Attempt: 1,
			LivenessChallenge: risk.ChallengeFailed, ChallengeIdentity: "turn_left: no face", ChallengeReproduction: "turn_right: trace mass 9"}},
		{"feed suspect", nil, risk.Input{Signals: all(1), Attempt: 1, FeedSuspect: "4 of 5 frames repeat an earlier one"}},
		{"feed suspect, no challenge to run", nil, risk.Input{Signals: all(1), Attempt: 1, FeedSuspect: "no camera frames", LivenessChallenge: risk.ChallengeUnavailable}},
		{"face mismatch", func(c *risk.Config) { c.FaceMismatch = risk.MismatchReject }, risk.Input{Signals: map[risk.SignalName]float64{risk.FaceMatch: 0.2}, Attempt: 1}},
		{"nothing measured", nil, risk.Input{Signals: map[risk.SignalName]float64{}, Attempt: 1}},
		{"under the minimum age", func(c *risk.Config) { c.MinAge = 18 }, risk.Input{Signals: all(1), Attempt: 1, HolderAge: &risk.HolderAge{Years: 17, Vouched: true}}},
		{"under the minimum age, read once", func(c *risk.Config) { c.MinAge = 18 }, risk.Input{Signals: all(1), Attempt: 1, HolderAge: &risk.HolderAge{Years: 17}}},
	}
	for _, c := range cases {
		cfg := risk.DefaultConfig()
		if c.cfg != nil {
			c.cfg(&cfg)
		}
		want, err := risk.Evaluate(cfg, c.in)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		payload, _ := json.Marshal(map[string]any{"attempt": c.in.Attempt, "liveness_challenge": c.in.LivenessChallenge,
			"report": map[string]any{"decision": want.Decision, "reasons": want.Reasons, "risk": want, "document": map[string]any{"age": c.in.HolderAge}}})
		in, ok := riskInputFrom(payload)
		if !ok {
			t.Errorf("%s: not rebuilt", c.name)
			continue
		}
		got, err := risk.Evaluate(cfg, in)
		if err != nil {
			t.Errorf("%s: the rebuilt input does not evaluate: %v (%+v)", c.name, err, in)
			continue
		}
		if got.Decision != want.Decision || got.NextAction != want.NextAction || got.Score != want.Score || !slices.Equal(riskCodes(got), riskCodes(want)) {
			t.Errorf("%s: rebuilt %s %s %v %v, want %s %s %v %v", c.name, got.Decision, got.NextAction, got.Score, riskCodes(got),
				want.Decision, want.NextAction, want.Score, riskCodes(want))
		}
		for i := range min(len(got.Reasons), len(want.Reasons)) {
			if got.Reasons[i].Detail != want.Reasons[i].Detail {
				t.Errorf("%s: reason %d rebuilt as %q, want %q", c.name, i, got.Reasons[i].Detail, want.Reasons[i].Detail)
			}
		}
	}
	for _, bad := range []string{``, `{}`, `{"decision":"approve"}`, `{"report":{"decision":"approve"}}`, `not json`} {
		if _, ok := riskInputFrom([]byte(bad)); ok {
			t.Errorf("rebuilt an input from %q", bad)
		}
	}
}

// TestRiskInputScreeningAgeDecidedAgain: the lists' dates a result
// records are judged again under a new maximum age, so that a stricter one
// previews the approvals it sends to review (the rebuild once left them
// out: every limit previewed as no change).
func TestRiskInputScreeningAgeDecidedAgain(t *testing.T) {
	at := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	in := risk.Input{Signals: map[risk.SignalName]float64{}, Attempt: 1,
		Screening: &risk.ScreeningData{At: at, Lists: []risk.WatchlistDates{{Name: "un", Confirmed: at.Add(-72 * time.Hour)}}}}
	for _, s := range risk.Signals() {
		in.Signals[s] = 1
	}
	recorded, err := risk.Evaluate(risk.DefaultConfig(), in)
	if err != nil || recorded.Decision != risk.Approve {
		t.Fatalf("recorded %s (%v), want an approval with lists 3 days old", recorded.Decision, err)
	}
	payload, _ := json.Marshal(map[string]any{"attempt": 1, "report": map[string]any{"decision": recorded.Decision, "reasons": recorded.Reasons, "risk": recorded}})
	rebuilt, ok := riskInputFrom(payload)
	if !ok {
		t.Fatal("not rebuilt")
	}
	for days, want := range map[int]risk.Decision{7: risk.Approve, 3: risk.Approve, 2: risk.Review, 1: risk.Review} {
		cfg := risk.DefaultConfig()
		cfg.ScreeningMaxAgeDays = days
		got, err := risk.Evaluate(cfg, rebuilt)
		if err != nil || got.Decision != want || (want == risk.Review) != got.HasReason(risk.ScreeningStale) {
			t.Errorf("at most %d days: decided %s %v (%v), want %s", days, got.Decision, riskCodes(got), err, want)
		}
	}
}

// TestRiskInputCaptured: the payloads captured from `kyc verify` rebuild
// to inputs the default settings of their day decide as the device did.
func TestRiskInputCaptured(t *testing.T) {
	cfg := risk.DefaultConfig()
	cfg.Thresholds.FaceLivenessMin = 0.5 // the passive acceptance when they were captured
	for _, name := range []string{"payload_device.json", "payload_escalate.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		var p struct {
			Report struct {
				Decision risk.Decision `json:"decision"`
				Risk     risk.Result   `json:"risk"`
			} `json:"report"`
		}
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		in, ok := riskInputFrom(b)
		if !ok {
			t.Fatalf("%s: not rebuilt", name)
		}
		got, err := risk.Evaluate(cfg, in)
		if err != nil || got.Decision != p.Report.Decision || !slices.Equal(riskCodes(got), riskCodes(p.Report.Risk)) {
			t.Errorf("%s: rebuilt decides %s %v (%v), recorded %s %v", name, got.Decision, riskCodes(got), err, p.Report.Decision, riskCodes(p.Report.Risk))
		}
	}
}

func riskCodes(r risk.Result) []risk.ReasonCode {
	var out []risk.ReasonCode
	for _, x := range r.Reasons {
		out = append(out, x.Code)
	}
	return out
}
