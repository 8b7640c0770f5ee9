package risk

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

// route is the part of a Result the capture client acts on.
type route struct {
	decision Decision
	next     NextAction
	step     RetryStep
	msg      MessageKey
}

func routeOf(r Result) route { return route{r.Decision, r.NextAction, r.RetryStep, r.Message} }

var (
	approved     = route{Approve, Exit, RetryNone, MsgVerified}
	inReview     = route{Review, Status, RetryNone, MsgInReview}
	escalated    = route{Escalate, Status, RetryNone, MsgInReview}
	finalReject  = route{Reject, Exit, RetryNone, MsgNotVerified}
	retryAll     = route{Reject, Retry, RetryAll, MsgNotVerified}
	retryDoc     = route{Reject, Retry, RetryDocument, MsgRetryDocument}
	retrySelfie  = route{Reject, Retry, RetrySelfie, MsgRetrySelfie}
	retryBoth    = route{Reject, Retry, RetryAll, MsgRetryCapture}
	retryNewDoc  = route{Reject, Retry, RetryNewDocument, MsgOtherDocument}
	exhaustedRev = route{Review, Status, RetryNone, MsgInReview}
	challenge    = route{Reject, Challenge, RetryNone, MsgLivenessChallenge}
	underage     = route{Reject, Exit, RetryNone, MsgAgeRequirement}
)

// clean returns an attempt in which every signal is fully trustworthy, with
// mods applied.
func clean(mods ...func(*Input)) Input {
	in := Input{Signals: map[SignalName]float64{}, Attempt: 1, Device: DeviceOK}
	for _, s := range Signals() {
		in.Signals[s] = 1
	}
	for _, m := range mods {
		m(&in)
	}
	return in
}

func set(s SignalName, v float64) func(*Input) { return func(in *Input) { in.Signals[s] = v } }
func drop(s SignalName) func(*Input)           { return func(in *Input) { delete(in.Signals, s) } }
func attempt(n int) func(*Input)               { return func(in *Input) { in.Attempt = n } }
func device(v DeviceVerdict) func(*Input)      { return func(in *Input) { in.Device = v } }
func docAttack(a DocAttack) func(*Input)       { return func(in *Input) { in.DocAttack = a } }
func capture(c ...CaptureIssue) func(*Input) {
	return func(in *Input) { in.CaptureIssues = append(in.CaptureIssues, c...) }
}
func watchlistHits(n int) func(*Input) { return func(in *Input) { in.WatchlistHits = n } }
func potentialHits(n int) func(*Input) { return func(in *Input) { in.WatchlistPotentialMatches = n } }
func challenged(o ChallengeOutcome) func(*Input) {
	return func(in *Input) { in.LivenessChallenge = o }
}
func feed(evidence string) func(*Input) {
	return func(in *Input) { in.FeedSuspect = evidence }
}
func otherPerson(evidence string) func(*Input) {
	return func(in *Input) { in.LivenessChallenge, in.ChallengeIdentity = ChallengeFailed, evidence }
}
func expired() func(*Input)   { return func(in *Input) { in.DocExpired = true } }
func noSignals() func(*Input) { return func(in *Input) { in.Signals = nil } }
func aged(years int, vouched bool) func(*Input) {
	return func(in *Input) { in.HolderAge = &HolderAge{Years: years, Vouched: vouched} }
}
func minAge(n int) func(*Config) { return func(c *Config) { c.MinAge = n } }
func mismatchPolicy(p MismatchPolicy) func(*Config) {
	return func(c *Config) { c.FaceMismatch = p }
}

// sanctionsOnly weights nothing but the sanctions signal, which no hard rule
// reads, so that its value sets the score exactly (score = 100·value).
func sanctionsOnly(c *Config) {
	for s := range c.Weights {
		c.Weights[s] = 0
	}
	c.Weights[Sanctions] = 1
}

func pts(v float64) *float64 { return &v }

func config(mods ...func(*Config)) Config {
	cfg := DefaultConfig()
	for _, m := range mods {
		m(&cfg)
	}
	return cfg
}

func evaluate(t *testing.T, cfg Config, in Input) Result {
	t.Helper()
	res, err := Evaluate(cfg, in)
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	return res
}

func codes(r Result) []ReasonCode {
	out := make([]ReasonCode, len(r.Reasons))
	for i, x := range r.Reasons {
		out[i] = x.Code
	}
	return out
}

func TestEvaluateRoutes(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		in    Input
		want  route
		lead  ReasonCode   // Reasons[0]; "" when there must be no reason at all
		also  []ReasonCode // further codes that must be listed
		score *float64     // checked when set
	}{
		{name: "all clear", cfg: config(), in: clean(), want: approved, score: pts(100)},
		{
			// The seed's example signals: 24 + 15.6 + 13.2 + 9.2 + 15 + 5 + 10.
			name: "seed example", cfg: config(),
			in:   clean(set(FaceLiveness, 0.96), set(FaceMatch, 0.78), set(DocAuthenticity, 0.88), set(DocLiveness, 0.92)),
			want: approved, score: pts(92),
		},

		// Band edges: score = 100·sanctions.
		{name: "score 0", cfg: config(sanctionsOnly), in: clean(set(Sanctions, 0)), want: finalReject, lead: ScoreBelowReview, score: pts(0)},
		{name: "score 49", cfg: config(sanctionsOnly), in: clean(set(Sanctions, 0.49)), want: finalReject, lead: ScoreBelowReview, score: pts(49)},
		{name: "score 49.99", cfg: config(sanctionsOnly), in: clean(set(Sanctions, 0.4999)), want: finalReject, lead: ScoreBelowReview, score: pts(49.99)},
		{name: "score 50", cfg: config(sanctionsOnly), in: clean(set(Sanctions, 0.5)), want: inReview, lead: ScoreBelowApprove, score: pts(50)},
		{name: "score 84", cfg: config(sanctionsOnly), in: clean(set(Sanctions, 0.84)), want: inReview, lead: ScoreBelowApprove, score: pts(84)},
		{name: "score 84.99", cfg: config(sanctionsOnly), in: clean(set(Sanctions, 0.8499)), want: inReview, lead: ScoreBelowApprove, score: pts(84.99)},
		{name: "score 85", cfg: config(sanctionsOnly), in: clean(set(Sanctions, 0.85)), want: approved, score: pts(85)},
		{name: "score 100", cfg: config(sanctionsOnly), in: clean(), want: approved, score: pts(100)},
		// The same edges under the default weights: 25+20+15+10+15 = 85.
		{name: "default weights 85", cfg: config(), in: clean(set(Sanctions, 0), set(DeviceIntegrity, 0)), want: approved, score: pts(85)},
		{
			name: "default weights 84", cfg: config(),
			in:   clean(set(Sanctions, 0), set(DeviceIntegrity, 0), set(DocLiveness, 0.9)),
			want: inReview, lead: ScoreBelowApprove, score: pts(84),
		},
		{
			name: "custom bands", cfg: config(sanctionsOnly, func(c *Config) { c.Bands = Bands{ApproveMin: 95, ReviewMin: 90} }),
			in: clean(set(Sanctions, 0.89)), want: finalReject, lead: ScoreBelowReview, score: pts(89),
		},

		// Hard rules, one at a time.
		{name: "watchlist hit", cfg: config(), in: clean(watchlistHits(1)), want: escalated, lead: WatchlistHit, score: pts(100)},
		{name: "face spoof", cfg: config(), in: clean(set(FaceLiveness, 0.24)), want: finalReject, lead: FaceLivenessFailed},
		{name: "face liveness at threshold is live", cfg: config(), in: clean(set(FaceLiveness, DefaultConfig().Thresholds.FaceLivenessMin)), want: approved},
		{name: "face spoof, band of doubt disabled", cfg: config(noBand), in: clean(set(FaceLiveness, 0.49)), want: finalReject, lead: FaceLivenessFailed},
		{
			name: "threshold lowered under the band's bottom: no band", cfg: config(func(c *Config) { c.Thresholds.FaceLivenessMin = 0.2 }),
			in: clean(set(FaceLiveness, 0.19)), want: finalReject, lead: FaceLivenessFailed,
		},
		{name: "doc screen replay", cfg: config(), in: clean(docAttack(DocAttackScreen)), want: finalReject, lead: DocScreenReplay},
		{name: "doc printed copy", cfg: config(), in: clean(docAttack(DocAttackPrint)), want: finalReject, lead: DocPrintedCopy},
		{name: "doc liveness low", cfg: config(), in: clean(set(DocLiveness, 0.2)), want: finalReject, lead: DocLivenessFailed},
		{name: "doc tampered", cfg: config(), in: clean(set(DocAuthenticity, 0.3)), want: finalReject, lead: DocTampered},
		{name: "device blocked", cfg: config(), in: clean(device(DeviceBlock)), want: finalReject, lead: DeviceBlocked},
		{name: "fraud is final on the first attempt", cfg: config(), in: clean(set(FaceLiveness, 0), attempt(1)), want: finalReject, lead: FaceLivenessFailed},
		{name: "disabled liveness rule", cfg: config(noBand, func(c *Config) { c.Thresholds.FaceLivenessMin = 0 }), in: clean(set(FaceLiveness, 0)), want: inReview, lead: ScoreBelowApprove, score: pts(75)},

		// The band of doubt [0.25, 0.74): an active challenge instead of a
		// reject, then its outcome; where none can be run, a review.
		{name: "liveness in doubt", cfg: config(), in: clean(set(FaceLiveness, 0.49)), want: challenge, lead: FaceLivenessDoubt},
		{name: "liveness at the bottom of the band", cfg: config(), in: clean(set(FaceLiveness, 0.25)), want: challenge, lead: FaceLivenessDoubt},
		{name: "doubt on the last attempt still challenges", cfg: config(), in: clean(set(FaceLiveness, 0.3), attempt(3)), want: challenge, lead: FaceLivenessDoubt},
		{
			// A passed challenge lifts the doubt, not the passive score:
			// 25·0.49 + 75 = 87.25.
			name: "challenge passed", cfg: config(), in: clean(set(FaceLiveness, 0.49), challenged(ChallengePassed)),
			want: approved, lead: FaceChallengePassed, score: pts(87.25),
		},
		{name: "challenge passed, score in review", cfg: config(), in: clean(set(FaceLiveness, 0.3), challenged(ChallengePassed)), want: inReview, lead: ScoreBelowApprove, also: []ReasonCode{FaceChallengePassed}},
		{name: "challenge failed", cfg: config(), in: clean(set(FaceLiveness, 0.4), challenged(ChallengeFailed)), want: finalReject, lead: FaceChallengeFailed},
		{name: "challenge done by another person", cfg: config(), in: clean(set(FaceLiveness, 0.4), otherPerson("turn_left 0.05 < 0.29")), want: finalReject, lead: FaceChallengeIdentity},
		{name: "challenge followed on a screen", cfg: config(), in: clean(set(FaceLiveness, 0.4), func(in *Input) {
			in.LivenessChallenge, in.ChallengeReproduction = ChallengeFailed, "turn_left: trace mass 9.1"
		}), want: finalReject, lead: FaceChallengeReproduction},
		{name: "another person on a screen: both reported", cfg: config(), in: clean(set(FaceLiveness, 0.4), otherPerson("no face"), func(in *Input) {
			in.ChallengeReproduction = "turn_right: trace mass 9.1"
		}), want: finalReject, lead: FaceChallengeIdentity, also: []ReasonCode{FaceChallengeReproduction}},
		{name: "another person over a passed outcome", cfg: config(), in: clean(set(FaceLiveness, 0.4), challenged(ChallengePassed), func(in *Input) { in.ChallengeIdentity = "no face" }), want: finalReject, lead: FaceChallengeIdentity},
		{name: "challenge failed over a live passive score", cfg: config(), in: clean(challenged(ChallengeFailed)), want: finalReject, lead: FaceChallengeFailed},
		{name: "passed challenge does not save a clear spoof", cfg: config(), in: clean(set(FaceLiveness, 0.1), challenged(ChallengePassed)), want: finalReject, lead: FaceLivenessFailed},
		{name: "capture retry over challenge", cfg: config(), in: clean(set(FaceLiveness, 0.3), capture(CaptureSelfieQuality)), want: retrySelfie, lead: SelfieImageQuality, also: []ReasonCode{FaceLivenessDoubt}},
		{name: "fraud over challenge", cfg: config(), in: clean(set(FaceLiveness, 0.3), docAttack(DocAttackPrint)), want: finalReject, lead: DocPrintedCopy, also: []ReasonCode{FaceLivenessDoubt}},
		{name: "expiry over challenge", cfg: config(), in: clean(set(FaceLiveness, 0.3), expired()), want: retryNewDoc, lead: DocExpired, also: []ReasonCode{FaceLivenessDoubt}},
		{name: "mismatch over challenge", cfg: config(), in: clean(set(FaceLiveness, 0.3), set(FaceMatch, 0.3)), want: retryAll, lead: FaceMismatch, also: []ReasonCode{FaceLivenessDoubt}},
		{name: "challenge over review", cfg: config(), in: clean(set(FaceLiveness, 0.3), potentialHits(1)), want: challenge, lead: FaceLivenessDoubt, also: []ReasonCode{WatchlistPotentialMatch}},
		// 25·0.6 + 75 = 90 would approve: the doubt caps it.
		{name: "doubt without a challenge to run", cfg: config(), in: clean(set(FaceLiveness, 0.6), challenged(ChallengeUnavailable)), want: inReview, lead: FaceLivenessDoubt, score: pts(90)},
		{name: "no challenge to run, live", cfg: config(), in: clean(set(FaceLiveness, 0.9), challenged(ChallengeUnavailable)), want: approved},
		{name: "no challenge to run, spoof", cfg: config(), in: clean(set(FaceLiveness, 0.2), challenged(ChallengeUnavailable)), want: finalReject, lead: FaceLivenessFailed},
		{name: "no challenge to run, band disabled", cfg: config(noBand), in: clean(set(FaceLiveness, 0.6), challenged(ChallengeUnavailable)), want: finalReject, lead: FaceLivenessFailed},
		// A selfie from no live camera feed is in doubt however live it looks.
		{name: "feed suspect", cfg: config(), in: clean(set(FaceLiveness, 0.99), feed("3 of 5 frames repeat")), want: challenge, lead: FaceFeedSuspect},
		{name: "feed suspect and doubt", cfg: config(), in: clean(set(FaceLiveness, 0.5), feed("no frames")), want: challenge, lead: FaceLivenessDoubt, also: []ReasonCode{FaceFeedSuspect}},
		{name: "feed suspect, no challenge to run", cfg: config(), in: clean(set(FaceLiveness, 0.99), feed("no frames"), challenged(ChallengeUnavailable)), want: inReview, lead: FaceFeedSuspect},
		{name: "feed suspect, challenge passed", cfg: config(), in: clean(set(FaceLiveness, 0.99), feed("no frames"), challenged(ChallengePassed)), want: approved, lead: FaceChallengePassed, also: []ReasonCode{FaceFeedSuspect}},
		{name: "feed suspect, challenge failed", cfg: config(), in: clean(set(FaceLiveness, 0.99), feed("no frames"), challenged(ChallengeFailed)), want: finalReject, lead: FaceChallengeFailed},
		{name: "feed suspect, spoof", cfg: config(), in: clean(set(FaceLiveness, 0.1), feed("no frames")), want: finalReject, lead: FaceLivenessFailed},
		{name: "feed suspect behind a mismatch", cfg: config(), in: clean(set(FaceLiveness, 0.99), feed("no frames"), set(FaceMatch, 0.3)), want: retryAll, lead: FaceMismatch, also: []ReasonCode{FaceFeedSuspect}},

		// Retryable failures.
		{name: "doc quality", cfg: config(), in: clean(capture(CaptureDocQuality)), want: retryDoc, lead: DocImageQuality},
		{name: "no face", cfg: config(), in: clean(capture(CaptureNoFace), drop(FaceLiveness), drop(FaceMatch)), want: retrySelfie, lead: NoFace},
		{name: "multiple faces", cfg: config(), in: clean(capture(CaptureMultipleFaces)), want: retrySelfie, lead: MultipleFaces},
		{name: "both captures bad", cfg: config(), in: clean(capture(CaptureSelfieQuality, CaptureDocQuality)), want: retryBoth, lead: SelfieImageQuality, also: []ReasonCode{DocImageQuality}},
		{name: "expired document", cfg: config(), in: clean(expired()), want: retryNewDoc, lead: DocExpired},
		{name: "face mismatch retried", cfg: config(), in: clean(set(FaceMatch, 0.3)), want: retryAll, lead: FaceMismatch},
		{name: "face mismatch rejected by policy", cfg: config(mismatchPolicy(MismatchReject)), in: clean(set(FaceMatch, 0.3)), want: finalReject, lead: FaceMismatch},

		// Retry limits (MaxRetries 3 = three attempts).
		{name: "second attempt retries", cfg: config(), in: clean(capture(CaptureDocQuality), attempt(2)), want: retryDoc, lead: DocImageQuality},
		{name: "last attempt exhausted", cfg: config(), in: clean(capture(CaptureDocQuality), attempt(3)), want: finalReject, lead: RetriesExhausted, also: []ReasonCode{DocImageQuality}},
		{name: "attempt past the limit", cfg: config(), in: clean(set(FaceMatch, 0.1), attempt(7)), want: finalReject, lead: RetriesExhausted, also: []ReasonCode{FaceMismatch}},
		{name: "expired on last attempt", cfg: config(), in: clean(expired(), attempt(3)), want: finalReject, lead: RetriesExhausted, also: []ReasonCode{DocExpired}},
		{
			name: "exhausted goes to review by policy", cfg: config(func(c *Config) { c.RetriesExhausted = Review }),
			in: clean(set(FaceMatch, 0.3), attempt(3)), want: exhaustedRev, lead: RetriesExhausted, also: []ReasonCode{FaceMismatch},
		},
		{name: "one attempt only", cfg: config(func(c *Config) { c.MaxRetries = 1 }), in: clean(capture(CaptureNoFace)), want: finalReject, lead: RetriesExhausted},

		// Review caps.
		{name: "face match uncertain", cfg: config(), in: clean(set(FaceMatch, 0.6)), want: inReview, lead: FaceMatchLow},
		{name: "face match at acceptance", cfg: config(), in: clean(set(FaceMatch, 0.65)), want: approved, score: pts(93)},
		{name: "face match at min is not a mismatch", cfg: config(), in: clean(set(FaceMatch, 0.5)), want: inReview, lead: FaceMatchLow},
		{name: "data checks failed", cfg: config(), in: clean(set(DataChecks, 0.75)), want: inReview, lead: DataChecksFailed},
		{name: "device warning", cfg: config(), in: clean(device(DeviceWarn)), want: inReview, lead: DeviceWarning, score: pts(100)},
		{name: "potential watchlist match", cfg: config(), in: clean(potentialHits(2)), want: inReview, lead: WatchlistPotentialMatch},
		{name: "cap does not raise a reject", cfg: config(sanctionsOnly), in: clean(set(Sanctions, 0.3), device(DeviceWarn)), want: finalReject, lead: ScoreBelowReview, also: []ReasonCode{DeviceWarning}},

		// Missing signals.
		{name: "required signal missing", cfg: config(), in: clean(drop(FaceLiveness)), want: inReview, lead: SignalMissingFaceLiveness, score: pts(100)},
		{name: "optional signal missing", cfg: config(), in: clean(drop(DeviceIntegrity)), want: approved, lead: SignalMissingDeviceIntegrity, score: pts(100)},
		{name: "nothing required", cfg: config(func(c *Config) { c.Required = nil }), in: clean(drop(FaceLiveness), drop(Sanctions)), want: approved, lead: SignalMissingFaceLiveness, also: []ReasonCode{SignalMissingSanctions}},
		{name: "missing required with a low score", cfg: config(sanctionsOnly, func(c *Config) { c.Required = []SignalName{FaceMatch} }), in: clean(drop(FaceMatch), set(Sanctions, 0.2)), want: finalReject, lead: ScoreBelowReview, also: []ReasonCode{SignalMissingFaceMatch}},
		{name: "no signals at all", cfg: config(), in: clean(noSignals()), want: inReview, lead: NoSignals, also: []ReasonCode{SignalMissingFaceLiveness, SignalMissingDeviceIntegrity}, score: pts(0)},
		{name: "only zero-weight signals", cfg: config(sanctionsOnly, func(c *Config) { c.Required = nil }), in: clean(drop(Sanctions)), want: inReview, lead: NoSignals},

		// A minimum age.
		{name: "under the minimum age", cfg: config(minAge(18)), in: clean(aged(17, true)), want: underage, lead: HolderUnderage},
		{name: "at the minimum age", cfg: config(minAge(18)), in: clean(aged(18, true)), want: approved},
		{name: "under the minimum age by a date read once", cfg: config(minAge(18)), in: clean(aged(17, false)), want: inReview, lead: HolderUnderage},
		{name: "no minimum age", cfg: config(), in: clean(aged(3, true)), want: approved},
		{name: "minimum age, no birth date read", cfg: config(minAge(18)), in: clean(), want: approved},
		{name: "fraud over age", cfg: config(minAge(18)), in: clean(aged(15, true), device(DeviceBlock)), want: finalReject, lead: DeviceBlocked, also: []ReasonCode{HolderUnderage}},
		{name: "age over capture and expiry", cfg: config(minAge(18)), in: clean(aged(15, true), capture(CaptureSelfieQuality), expired()), want: underage, lead: HolderUnderage, also: []ReasonCode{SelfieImageQuality, DocExpired}},
		{name: "watchlist over age", cfg: config(minAge(18)), in: clean(aged(15, true), watchlistHits(1)), want: escalated, lead: WatchlistHit, also: []ReasonCode{HolderUnderage}},

		// Several rules at once: the first class wins and every finding is listed.
		{
			name: "watchlist over spoof over expiry", cfg: config(),
			in:   clean(watchlistHits(1), set(FaceLiveness, 0.1), expired(), capture(CaptureDocQuality)),
			want: escalated, lead: WatchlistHit, also: []ReasonCode{FaceLivenessFailed, DocImageQuality, DocExpired},
		},
		{name: "fraud over capture", cfg: config(), in: clean(device(DeviceBlock), capture(CaptureSelfieQuality)), want: finalReject, lead: DeviceBlocked, also: []ReasonCode{SelfieImageQuality}},
		{name: "capture over expiry", cfg: config(), in: clean(expired(), capture(CaptureDocQuality)), want: retryDoc, lead: DocImageQuality, also: []ReasonCode{DocExpired}},
		{name: "expiry over mismatch", cfg: config(), in: clean(expired(), set(FaceMatch, 0.2)), want: retryNewDoc, lead: DocExpired, also: []ReasonCode{FaceMismatch}},
		{name: "mismatch over missing signal", cfg: config(), in: clean(set(FaceMatch, 0.2), drop(DocLiveness)), want: retryAll, lead: FaceMismatch, also: []ReasonCode{SignalMissingDocLiveness}},
		{name: "all fraud findings listed", cfg: config(), in: clean(device(DeviceBlock), set(FaceLiveness, 0), docAttack(DocAttackScreen), set(DocAuthenticity, 0)), want: finalReject, lead: DeviceBlocked, also: []ReasonCode{FaceLivenessFailed, DocScreenReplay, DocTampered}},
		{name: "attack type named over low liveness", cfg: config(), in: clean(docAttack(DocAttackPrint), set(DocLiveness, 0.1)), want: finalReject, lead: DocPrintedCopy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := evaluate(t, tt.cfg, tt.in)
			if got := routeOf(res); got != tt.want {
				t.Errorf("route = %+v, want %+v (reasons %v)", got, tt.want, res.Reasons)
			}
			switch {
			case tt.lead == "" && len(res.Reasons) > 0:
				t.Errorf("reasons = %v, want none", res.Reasons)
			case tt.lead != "" && (len(res.Reasons) == 0 || res.Reasons[0].Code != tt.lead):
				t.Errorf("reasons = %v, want %s first", codes(res), tt.lead)
			}
			for _, c := range tt.also {
				if !res.HasReason(c) {
					t.Errorf("reasons = %v, want %s listed", codes(res), c)
				}
			}
			if tt.score != nil && res.Score != *tt.score {
				t.Errorf("score = %v, want %v", res.Score, *tt.score)
			}
			for _, r := range res.Reasons {
				if r.Detail == "" {
					t.Errorf("reason %s has no detail", r.Code)
				}
			}
		})
	}
}

// TestPrecedence combines every pair of rule classes and checks that the
// higher one decides while both are reported.
func TestPrecedence(t *testing.T) {
	// In precedence order.
	triggers := []struct {
		name string
		mod  func(*Input)
		code ReasonCode
		want route
	}{
		{"watchlist", watchlistHits(1), WatchlistHit, escalated},
		{"device block", device(DeviceBlock), DeviceBlocked, finalReject},
		{"face spoof", set(FaceLiveness, 0.2), FaceLivenessFailed, finalReject},
		{"doc screen", docAttack(DocAttackScreen), DocScreenReplay, finalReject},
		{"doc tampered", set(DocAuthenticity, 0.1), DocTampered, finalReject},
		{"capture", capture(CaptureDocQuality), DocImageQuality, retryDoc},
		{"expired", expired(), DocExpired, retryNewDoc},
		{"mismatch", set(FaceMatch, 0.3), FaceMismatch, retryAll},
		{"missing required", drop(Sanctions), SignalMissingSanctions, inReview},
		{"potential match", potentialHits(1), WatchlistPotentialMatch, inReview},
	}
	cfg := DefaultConfig()
	for i, hi := range triggers {
		if got := routeOf(evaluate(t, cfg, clean(hi.mod))); got != hi.want {
			t.Errorf("%s alone: route %+v, want %+v", hi.name, got, hi.want)
		}
		for _, lo := range triggers[i+1:] {
			res := evaluate(t, cfg, clean(lo.mod, hi.mod))
			if got := routeOf(res); got != hi.want {
				t.Errorf("%s + %s: route %+v, want %s's %+v", hi.name, lo.name, got, hi.name, hi.want)
			}
			if res.Reasons[0].Code != hi.code || !res.HasReason(lo.code) {
				t.Errorf("%s + %s: reasons %v, want %s first and %s listed", hi.name, lo.name, codes(res), hi.code, lo.code)
			}
		}
	}
}

// noBand disables the band of doubt of the face liveness.
func noBand(c *Config) { c.Thresholds.FaceLivenessChallengeMin = 0 }

// TestLivenessPath: the result records which way the face liveness was
// decided.
func TestLivenessPath(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
		in   Input
		want LivenessPath
	}{
		{"live", config(), clean(set(FaceLiveness, 0.9)), LivenessPassive},
		{"spoof", config(), clean(set(FaceLiveness, 0.1)), LivenessPassive},
		{"spoof without a band", config(noBand), clean(set(FaceLiveness, 0.4)), LivenessPassive},
		{"in doubt", config(), clean(set(FaceLiveness, 0.4)), LivenessChallengeRequested},
		{"challenge passed", config(), clean(set(FaceLiveness, 0.4), challenged(ChallengePassed)), LivenessChallengePassed},
		{"challenge failed", config(), clean(set(FaceLiveness, 0.4), challenged(ChallengeFailed)), LivenessChallengeFailed},
		{"in doubt, no challenge to run", config(), clean(set(FaceLiveness, 0.4), challenged(ChallengeUnavailable)), LivenessDoubtReview},
		{"feed suspect", config(), clean(set(FaceLiveness, 0.9), feed("no frames")), LivenessChallengeRequested},
		{"feed suspect, no challenge to run", config(), clean(set(FaceLiveness, 0.9), feed("no frames"), challenged(ChallengeUnavailable)), LivenessDoubtReview},
		{"not measured", config(), clean(drop(FaceLiveness)), LivenessUnmeasured},
		{"challenge without a passive score", config(), clean(drop(FaceLiveness), challenged(ChallengePassed)), LivenessChallengePassed},
	} {
		res := evaluate(t, tt.cfg, tt.in)
		if res.LivenessPath != tt.want {
			t.Errorf("%s: path %q, want %q (reasons %v)", tt.name, res.LivenessPath, tt.want, codes(res))
		}
		if tt.want == LivenessChallengeRequested && res.NextAction != Challenge {
			t.Errorf("%s: next action %s, want %s", tt.name, res.NextAction, Challenge)
		}
	}
}

func TestMissingSignalIsNotZero(t *testing.T) {
	cfg := DefaultConfig()
	for _, s := range Signals() {
		t.Run(string(s), func(t *testing.T) {
			missing := evaluate(t, cfg, clean(drop(s)))
			zero := evaluate(t, cfg, clean(set(s, 0)))
			code, _ := s.missingCode()
			if !missing.HasReason(code) {
				t.Errorf("missing: reasons %v, want %s", codes(missing), code)
			}
			if zero.HasReason(code) {
				t.Errorf("present at 0: reasons %v list %s", codes(zero), code)
			}
			if !missing.Renormalised || zero.Renormalised {
				t.Errorf("renormalised: missing %v, zero %v; want true, false", missing.Renormalised, zero.Renormalised)
			}
			// Every other signal is 1, so the renormalised score is 100,
			// while a measured 0 costs the signal's whole weight.
			if missing.Score != 100 {
				t.Errorf("missing: score %v, want 100", missing.Score)
			}
			if want := 100 - cfg.Weights[s]; zero.Score != want {
				t.Errorf("present at 0: score %v, want %v", zero.Score, want)
			}
			if want := 1 - cfg.Weights[s]/100; math.Abs(missing.Coverage-want) > 1e-12 {
				t.Errorf("coverage %v, want %v", missing.Coverage, want)
			}
			wantDecision := Approve
			if slices.Contains(cfg.Required, s) {
				wantDecision = Review
			}
			if missing.Decision != wantDecision {
				t.Errorf("missing: decision %s, want %s", missing.Decision, wantDecision)
			}
		})
	}
}

func TestContributions(t *testing.T) {
	cfg := DefaultConfig()
	res := evaluate(t, cfg, clean(drop(DeviceIntegrity), set(FaceLiveness, 0.8), set(FaceMatch, 0.7)))
	// Present weight 90: (25·0.8 + 20·0.7 + 15 + 10 + 15 + 5) / 90 · 100.
	want := math.Round(79.0/90*100*1e6) / 1e6
	if res.Score != want {
		t.Errorf("score %v, want %v", res.Score, want)
	}
	if len(res.Contributions) != len(Signals()) {
		t.Fatalf("%d contributions, want %d", len(res.Contributions), len(Signals()))
	}
	var sum float64
	for i, c := range res.Contributions {
		if c.Signal != Signals()[i] {
			t.Errorf("contribution %d is %s, want %s", i, c.Signal, Signals()[i])
		}
		if c.Weight != cfg.Weights[c.Signal] {
			t.Errorf("%s weight %v, want %v", c.Signal, c.Weight, cfg.Weights[c.Signal])
		}
		wantMax := 0.0
		if c.Present {
			wantMax = 100 * c.Weight / 90
		}
		if math.Abs(c.MaxPoints-wantMax) > 1e-9 || math.Abs(c.Points-wantMax*c.Value) > 1e-9 {
			t.Errorf("%s: points %v of %v, want %v of %v", c.Signal, c.Points, c.MaxPoints, wantMax*c.Value, wantMax)
		}
		sum += c.Points
	}
	if math.Abs(sum-res.Score) > 1e-6 {
		t.Errorf("points sum to %v, score %v", sum, res.Score)
	}
	if dev := res.Contributions[6]; dev.Present || dev.Points != 0 {
		t.Errorf("missing device contribution %+v, want absent with 0 points", dev)
	}
}

// TestScoreRoundingAtBandEdge: every signal at 0.85 is a score of 85 under
// any weights, but the raw float sum with equal weights is 84.99999999999999.
func TestScoreRoundingAtBandEdge(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Thresholds.DataChecksMin = 0.8
	var mods []func(*Input)
	for _, s := range Signals() {
		cfg.Weights[s] = 1
		mods = append(mods, set(s, 0.85))
	}
	res := evaluate(t, cfg, clean(mods...))
	if res.Score != 85 || res.Decision != Approve {
		t.Errorf("score %v (%s), want 85 (approve)", res.Score, res.Decision)
	}
}

func TestEvaluateRejectsInvalidInput(t *testing.T) {
	tests := []struct {
		name string
		in   Input
		want string
	}{
		{"above 1", clean(set(FaceMatch, 1.01)), "face_match"},
		{"negative", clean(set(DataChecks, -0.1)), "data_checks"},
		{"NaN", clean(set(FaceLiveness, math.NaN())), "face_liveness"},
		{"infinite", clean(set(Sanctions, math.Inf(1))), "sanctions"},
		{"unknown signal", clean(set("voice_match", 0.9)), "voice_match"},
		{"attempt 0", clean(attempt(0)), "attempt"},
		{"negative hits", clean(watchlistHits(-1)), "watchlist_hits"},
		{"negative potential", clean(potentialHits(-2)), "watchlist_potential_matches"},
		{"negative age", clean(aged(-1, true)), "holder_age"},
		{"unknown device verdict", clean(device("maybe")), "maybe"},
		{"unknown doc attack", clean(docAttack("hologram")), "hologram"},
		{"unknown capture issue", clean(capture("cat_in_frame")), "cat_in_frame"},
		{"unknown challenge outcome", clean(challenged("maybe")), "liveness_challenge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Evaluate(DefaultConfig(), tt.in)
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("err = %v, want ErrInvalidInput", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to name %q", err, tt.want)
			}
		})
	}
}

func TestEvaluateRejectsInvalidConfig(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Bands.ReviewMin = 90
	if _, err := Evaluate(cfg, clean()); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("err = %v, want ErrInvalidConfig", err)
	}
}

// FuzzEvaluate checks invariants that hold for any valid input.
func FuzzEvaluate(f *testing.F) {
	f.Add(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, uint8(0x7f), 1, 0, 0, false, uint8(1), uint8(0), uint8(0))
	f.Add(0.2, 0.9, 0.4, 0.7, 0.5, 0.0, 0.3, uint8(0x55), 3, 1, 2, true, uint8(3), uint8(1), uint8(5))
	f.Add(0.6, 0.55, 0.9, 0.9, 1.0, 1.0, 1.0, uint8(0x3f), 2, 0, 0, false, uint8(2), uint8(2), uint8(2))
	f.Fuzz(func(t *testing.T, fl, fm, da, dl, dc, sa, di float64, present uint8, att, hits, potential int, exp bool, dev, attack, issues uint8) {
		in := Input{Signals: map[SignalName]float64{}, Attempt: att, WatchlistHits: hits, WatchlistPotentialMatches: potential, DocExpired: exp}
		for i, v := range []float64{fl, fm, da, dl, dc, sa, di} {
			if present&(1<<i) != 0 {
				in.Signals[Signals()[i]] = v
			}
		}
		in.Device = []DeviceVerdict{DeviceUnchecked, DeviceOK, DeviceWarn, DeviceBlock}[dev%4]
		in.DocAttack = []DocAttack{DocAttackNone, DocAttackScreen, DocAttackPrint}[attack%3]
		for i, c := range []CaptureIssue{CaptureDocQuality, CaptureSelfieQuality, CaptureNoFace, CaptureMultipleFaces} {
			if issues&(1<<i) != 0 {
				in.CaptureIssues = append(in.CaptureIssues, c)
			}
		}
		cfg := DefaultConfig()
		res, err := Evaluate(cfg, in)
		if err != nil {
			if !errors.Is(err, ErrInvalidInput) || in.validate() == nil {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if !(res.Score >= 0 && res.Score <= 100) || !(res.Coverage >= 0 && res.Coverage <= 1) {
			t.Fatalf("score %v coverage %v out of range", res.Score, res.Coverage)
		}
		switch res.Decision {
		case Approve:
			if res.NextAction != Exit || res.Score < cfg.Bands.ApproveMin || len(in.CaptureIssues) > 0 || hits > 0 || in.Device == DeviceBlock {
				t.Fatalf("approved %+v for %+v", res, in)
			}
		case Review, Escalate:
			if res.NextAction != Status {
				t.Fatalf("%s with next action %s", res.Decision, res.NextAction)
			}
		case Reject:
			if res.NextAction == Status || (res.NextAction == Retry && in.Attempt >= cfg.MaxRetries) {
				t.Fatalf("reject with next action %s at attempt %d", res.NextAction, in.Attempt)
			}
		default:
			t.Fatalf("decision %q", res.Decision)
		}
		if (hits > 0) != (res.Decision == Escalate) {
			t.Fatalf("hits %d but decision %s", hits, res.Decision)
		}
		if (res.NextAction == Retry) != (res.RetryStep != RetryNone) {
			t.Fatalf("next action %s with retry step %q", res.NextAction, res.RetryStep)
		}
		for _, l := range Languages() {
			if _, err := res.Message.Text(l); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func BenchmarkEvaluate(b *testing.B) {
	cfg := DefaultConfig()
	in := clean(set(FaceLiveness, 0.96), set(FaceMatch, 0.78), set(DocAuthenticity, 0.88), set(DocLiveness, 0.92), drop(DeviceIntegrity))
	for b.Loop() {
		if _, err := Evaluate(cfg, in); err != nil {
			b.Fatal(err)
		}
	}
}
