package risk

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Decision is the outcome of one attempt.
type Decision string

const (
	// Approve: verified automatically.
	Approve Decision = "approve"
	// Review: a person in the operations queue decides.
	Review Decision = "review"
	// Reject: not verified. Final unless NextAction is Retry or Challenge.
	Reject Decision = "reject"
	// Escalate: a compliance officer decides (watchlist hit).
	Escalate Decision = "escalate"
)

// NextAction tells the capture client what to do next.
type NextAction string

const (
	// Retry: capture again (see Result.RetryStep). The attempt was rejected
	// but the session goes on.
	Retry NextAction = "RETRY"
	// Status: show the status screen; a person decides (review, escalate).
	Status NextAction = "STATUS"
	// Exit: the session is complete (approved or finally rejected).
	Exit NextAction = "EXIT"
	// Challenge: the passive face liveness is in doubt; run an active
	// liveness challenge and evaluate again with Input.LivenessChallenge.
	// The attempt stays a reject until then, so a client that cannot run
	// one ends the session unverified.
	Challenge NextAction = "CHALLENGE"
)

// LivenessPath records how the face liveness was decided.
type LivenessPath string

const (
	// LivenessUnmeasured: no face liveness was measured.
	LivenessUnmeasured LivenessPath = ""
	// LivenessPassive: the passive score decided, live or spoof.
	LivenessPassive LivenessPath = "passive"
	// LivenessChallengeRequested: the passive score was in the band of
	// doubt; an active challenge is asked for.
	LivenessChallengeRequested LivenessPath = "challenge_requested"
	// LivenessChallengePassed: an active challenge decided, passed.
	LivenessChallengePassed LivenessPath = "challenge_passed"
	// LivenessChallengeFailed: an active challenge decided, failed.
	LivenessChallengeFailed LivenessPath = "challenge_failed"
	// LivenessDoubtReview: the passive score was in the band of doubt and
	// the client could run no challenge (Input.LivenessChallenge
	// ChallengeUnavailable); a person reviews the selfie.
	LivenessDoubtReview LivenessPath = "doubt_review"
)

// RetryStep says which capture to take again when NextAction is Retry.
type RetryStep string

const (
	// RetryNone: no retry.
	RetryNone RetryStep = ""
	// RetryDocument: retake the document photo.
	RetryDocument RetryStep = "document"
	// RetrySelfie: retake the selfie.
	RetrySelfie RetryStep = "selfie"
	// RetryAll: retake everything. Used after a face non-match so that the
	// step does not point at the check that failed.
	RetryAll RetryStep = "all"
	// RetryNewDocument: capture a different document.
	RetryNewDocument RetryStep = "new_document"
)

// Result is the outcome of Evaluate.
type Result struct {
	Decision   Decision   `json:"decision"`
	NextAction NextAction `json:"next_action"`
	RetryStep  RetryStep  `json:"retry_step,omitempty"`
	// Message is the user-facing message; see MessageKey.Text.
	Message MessageKey `json:"message"`
	// LivenessPath is how the face liveness was decided: by the passive
	// score, or by an active challenge asked for in its band of doubt.
	LivenessPath LivenessPath `json:"liveness_path,omitempty"`
	// Score is the 0-100 weighted score over the present signals, rounded
	// to 6 decimals so that floating-point noise (84.99999999999999 for a
	// sum of 85) never moves a score across a band edge.
	Score float64 `json:"score"`
	// Renormalised is true when a signal with non-zero weight was missing,
	// so the score is over fewer signals than configured.
	Renormalised bool `json:"renormalised"`
	// Coverage is the present weight over the total weight, in [0,1].
	Coverage float64 `json:"coverage"`
	// Reasons lists every finding, the one that decided the route first.
	Reasons []Reason `json:"reasons"`
	// Contributions has one entry per signal, in Signals order, for the
	// operator view.
	Contributions []Contribution `json:"contributions"`
	// Screening is the age of each list screened against, for the
	// reviewer; nil when Input.Screening was.
	Screening *ScreeningAge `json:"screening,omitempty"`
}

// Contribution is one signal's part in the score.
type Contribution struct {
	Signal  SignalName `json:"signal"`
	Present bool       `json:"present"`
	Value   float64    `json:"value"`
	Weight  float64    `json:"weight"`
	// Points is what the signal added to Score; the Points of all signals
	// sum to Score (before its rounding).
	Points float64 `json:"points"`
	// MaxPoints is what it would have added at value 1: its share of the
	// present weight, times 100.
	MaxPoints float64 `json:"max_points"`
}

// HasReason reports whether r lists code.
func (r Result) HasReason(code ReasonCode) bool {
	return slices.ContainsFunc(r.Reasons, func(x Reason) bool { return x.Code == code })
}

// class groups findings by their effect on the route, in precedence order.
type class int

const (
	classEscalate class = iota
	classFraud
	// classIneligible: a holder the policy does not admit, which no new
	// capture changes.
	classIneligible
	classCapture
	classExpired
	classMismatch
	// classChallenge comes after everything that decides without the face
	// liveness: nobody is asked to turn their head only to be refused for
	// an expired document or another person's face.
	classChallenge
	classReview
	classNote // recorded for the operator; no effect on the route
)

type finding struct {
	class class
	Reason
	step RetryStep // the capture to retake, for classCapture
}

// Evaluate scores in under cfg and routes it. It returns an error wrapping
// ErrInvalidConfig or ErrInvalidInput, and nothing else.
func Evaluate(cfg Config, in Input) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	if err := in.validate(); err != nil {
		return Result{}, err
	}
	var res Result
	found := res.score(cfg, in)
	ruled, path := rules(cfg, in)
	found = append(found, ruled...)
	res.LivenessPath = path
	if in.Screening != nil {
		age := cfg.ScreeningAge(*in.Screening)
		res.Screening = &age
		if age.Stale {
			found = append(found, finding{class: classReview, Reason: Reason{Code: ScreeningStale, Detail: age.Problem}})
		}
	}
	slices.SortStableFunc(found, func(a, b finding) int { return cmp.Compare(a.class, b.class) })
	res.route(cfg, in, found)
	return res, nil
}

// score fills the score fields of r and returns a finding per missing signal.
func (r *Result) score(cfg Config, in Input) []finding {
	var found []finding
	var total, present float64
	r.Contributions = make([]Contribution, 0, len(cfg.Weights))
	for _, s := range Signals() {
		w := cfg.Weights[s]
		total += w
		v, ok := in.Signals[s]
		r.Contributions = append(r.Contributions, Contribution{Signal: s, Present: ok, Value: v, Weight: w})
		if ok {
			present += w
			continue
		}
		code, _ := s.missingCode()
		f := finding{class: classNote, Reason: Reason{Code: code, Detail: fmt.Sprintf("%s not measured; left out of the score", s)}}
		if slices.Contains(cfg.Required, s) {
			f.class = classReview
			f.Detail = fmt.Sprintf("%s not measured and required", s)
		}
		found = append(found, f)
	}
	r.Coverage = present / total
	r.Renormalised = present < total
	if present == 0 {
		// No score to band: a person decides. First, as it decides the route.
		return slices.Insert(found, 0, finding{class: classReview, Reason: Reason{Code: NoSignals, Detail: "no weighted signal was measured"}})
	}
	var sum float64
	for i := range r.Contributions {
		c := &r.Contributions[i]
		if c.Present {
			c.MaxPoints = 100 * c.Weight / present
			c.Points = c.MaxPoints * c.Value
			sum += c.Points
		}
	}
	r.Score = math.Round(sum*1e6) / 1e6
	return found
}

// rules returns the findings of the hard rules and how the face liveness
// was decided.
func rules(cfg Config, in Input) ([]finding, LivenessPath) {
	var found []finding
	add := func(c class, code ReasonCode, format string, args ...any) {
		found = append(found, finding{class: c, Reason: Reason{Code: code, Detail: fmt.Sprintf(format, args...)}})
	}
	th := cfg.Thresholds
	// below reports whether signal s was measured and is under limit.
	below := func(s SignalName, limit float64) (float64, bool) {
		v, ok := in.Signals[s]
		return v, ok && v < limit
	}

	if in.WatchlistHits > 0 {
		add(classEscalate, WatchlistHit, "%d confirmed watchlist hit(s)", in.WatchlistHits)
	}

	if in.Device == DeviceBlock {
		add(classFraud, DeviceBlocked, "device check verdict %q", in.Device)
	}
	path := livenessRule(th, in, add)
	rejTamper, rejRepro := docFindingRules(in.DocFindings, add)
	docLiveness, docLow := below(DocLiveness, th.DocLivenessMin)
	switch {
	case rejRepro:
	case in.DocAttack == DocAttackScreen:
		add(classFraud, DocScreenReplay, "document liveness named a screen attack")
	case in.DocAttack == DocAttackPrint:
		add(classFraud, DocPrintedCopy, "document liveness named a print attack")
	case docLow:
		add(classFraud, DocLivenessFailed, "doc_liveness %.3f below %.3f", docLiveness, th.DocLivenessMin)
	}
	if v, ok := below(DocAuthenticity, th.DocAuthenticityMin); ok && !rejTamper {
		add(classFraud, DocTampered, "doc_authenticity %.3f below %.3f", v, th.DocAuthenticityMin)
	}

	if a := in.HolderAge; cfg.MinAge > 0 && a != nil && a.Years < cfg.MinAge {
		if a.Vouched {
			add(classIneligible, HolderUnderage, "holder aged %d, under the minimum age %d", a.Years, cfg.MinAge)
		} else {
			add(classReview, HolderUnderage, "holder aged %d by a birth date read once, under the minimum age %d", a.Years, cfg.MinAge)
		}
	}

	for _, c := range in.CaptureIssues {
		code, step, _ := c.retry()
		found = append(found, finding{class: classCapture, Reason: Reason{Code: code, Detail: fmt.Sprintf("capture issue %q", c)}, step: step})
	}

	if in.DocExpired {
		add(classExpired, DocExpired, "document past its expiry date")
	}

	if v, ok := below(FaceMatch, th.FaceMatchMin); ok {
		add(classMismatch, FaceMismatch, "face_match %.3f below %.3f", v, th.FaceMatchMin)
	} else if v, ok := below(FaceMatch, th.FaceMatchAccept); ok {
		add(classReview, FaceMatchLow, "face_match %.3f below acceptance %.3f", v, th.FaceMatchAccept)
	}
	if v, ok := below(DataChecks, th.DataChecksMin); ok {
		add(classReview, DataChecksFailed, "data_checks %.3f below %.3f", v, th.DataChecksMin)
	}
	if in.Device == DeviceWarn {
		add(classReview, DeviceWarning, "device check verdict %q", in.Device)
	}
	if in.WatchlistPotentialMatches > 0 {
		add(classReview, WatchlistPotentialMatch, "%d potential watchlist match(es) to confirm", in.WatchlistPotentialMatches)
	}
	return found, path
}

// docFindingRules turns the document checks that fired into findings: a
// check that may reject is fraud, any other a review cap. It reports
// whether a tampering and a reproduction finding rejected.
func docFindingRules(fs []DocFinding, add func(class, ReasonCode, string, ...any)) (rejTamper, rejRepro bool) {
	for _, f := range fs {
		switch {
		case f.Rejects && f.Kind == DocFindingTamper:
			add(classFraud, DocTampered, "%s fired: %s", f.Check, f.Evidence)
			rejTamper = true
		case f.Rejects && f.Kind == DocFindingScreen:
			add(classFraud, DocScreenReplay, "%s fired: %s", f.Check, f.Evidence)
			rejRepro = true
		case f.Rejects:
			add(classFraud, DocPrintedCopy, "%s fired: %s", f.Check, f.Evidence)
			rejRepro = true
		case f.Kind == DocFindingTamper:
			add(classReview, DocTamperSuspected, "%s fired (review only%s): %s", f.Check, whyPart(f.WhyReviewOnly), f.Evidence)
		default:
			add(classReview, DocReproductionSuspected, "%s fired (review only%s): %s", f.Check, whyPart(f.WhyReviewOnly), f.Evidence)
		}
	}
	return rejTamper, rejRepro
}

// whyPart is a review-only finding's reason after a colon, or nothing
// when the device did not say (results from before it did).
func whyPart(why string) string {
	if why == "" {
		return ""
	}
	return ": " + why
}

// livenessRule decides the face liveness: a failed active challenge, or
// one whose frames show another person than the selfie or a reproduction's
// traces (each reported), is fraud; a passive score at or above FaceLivenessMin is live; in the band
// of doubt below it an active challenge is asked for, or, once passed,
// recorded, or, where none can be run, the decision is capped at review;
// below the band the face is a spoof. A selfie from no live camera feed
// (Input.FeedSuspect) is in doubt above the band too.
func livenessRule(th Thresholds, in Input, add func(class, ReasonCode, string, ...any)) LivenessPath {
	v, measured := in.Signals[FaceLiveness]
	low := th.FaceLivenessMin // the bottom of the band of doubt
	if th.FaceLivenessChallengeMin > 0 && th.FaceLivenessChallengeMin < low {
		low = th.FaceLivenessChallengeMin
	}
	if in.ChallengeIdentity != "" || in.ChallengeReproduction != "" {
		if in.ChallengeIdentity != "" {
			add(classFraud, FaceChallengeIdentity, "%s", in.ChallengeIdentity)
		}
		if in.ChallengeReproduction != "" {
			add(classFraud, FaceChallengeReproduction, "%s", in.ChallengeReproduction)
		}
		return LivenessChallengeFailed
	}
	switch {
	case in.LivenessChallenge == ChallengeFailed:
		add(classFraud, FaceChallengeFailed, "active liveness challenge failed")
		return LivenessChallengeFailed
	case !measured && in.LivenessChallenge == ChallengePassed:
		add(classNote, FaceChallengePassed, "active liveness challenge passed; no passive score")
		return LivenessChallengePassed
	case !measured:
		return LivenessUnmeasured
	case v < low:
		add(classFraud, FaceLivenessFailed, "face_liveness %.3f below %.3f", v, low)
		return LivenessPassive
	case in.LivenessChallenge == ChallengePassed:
		add(classNote, FaceChallengePassed, "face_liveness %.3f, active liveness challenge passed", v)
		if in.FeedSuspect != "" {
			add(classNote, FaceFeedSuspect, "%s", in.FeedSuspect) // for the record: the challenge decided
		}
		return LivenessChallengePassed
	case v >= th.FaceLivenessMin && in.FeedSuspect == "":
		return LivenessPassive
	}
	// In doubt: the score in the band, or a selfie from no live feed.
	c, path, none := classChallenge, LivenessChallengeRequested, ""
	if in.LivenessChallenge == ChallengeUnavailable {
		c, path, none = classReview, LivenessDoubtReview, ", no active challenge available"
	}
	if v < th.FaceLivenessMin {
		add(c, FaceLivenessDoubt, "face_liveness %.3f in the band of doubt [%.3f, %.3f)%s", v, low, th.FaceLivenessMin, none)
	}
	if in.FeedSuspect != "" {
		add(c, FaceFeedSuspect, "%s", in.FeedSuspect) // as it is: a fact the console decides again with
	}
	return path
}

// route sets the decision fields of r from the findings, which are sorted by
// class, and from the score band when no rule decided.
func (r *Result) route(cfg Config, in Input, found []finding) {
	r.Reasons = make([]Reason, 0, len(found)+1)
	for _, f := range found {
		r.Reasons = append(r.Reasons, f.Reason)
	}
	top := classNote
	if len(found) > 0 {
		top = found[0].class
	}

	switch top {
	case classEscalate:
		r.set(Escalate, Status, MsgInReview)
	case classFraud:
		r.set(Reject, Exit, MsgNotVerified)
	case classIneligible:
		r.set(Reject, Exit, MsgAgeRequirement)
	case classCapture:
		step, msg := captureRetry(found)
		r.retry(cfg, in, step, msg)
	case classExpired:
		r.retry(cfg, in, RetryNewDocument, MsgOtherDocument)
	case classMismatch:
		if cfg.FaceMismatch == MismatchReject {
			r.set(Reject, Exit, MsgNotVerified)
		} else {
			r.retry(cfg, in, RetryAll, MsgNotVerified)
		}
	case classChallenge:
		r.set(Reject, Challenge, MsgLivenessChallenge)
	case classReview:
		if r.Coverage == 0 { // NoSignals: there is no score to band
			r.set(Review, Status, MsgInReview)
		} else {
			r.band(cfg, true)
		}
	default:
		r.band(cfg, false)
	}
}

// captureRetry merges the steps of the capture findings: one capture when
// they agree, both otherwise.
func captureRetry(found []finding) (RetryStep, MessageKey) {
	step := RetryNone
	for _, f := range found {
		if f.class != classCapture {
			continue
		}
		if step != RetryNone && step != f.step {
			return RetryAll, MsgRetryCapture
		}
		step = f.step
	}
	if step == RetryDocument {
		return step, MsgRetryDocument
	}
	return step, MsgRetrySelfie
}

// retry routes a retryable failure: RETRY while attempts remain, else
// Config.RetriesExhausted.
func (r *Result) retry(cfg Config, in Input, step RetryStep, msg MessageKey) {
	if in.Attempt < cfg.MaxRetries {
		r.set(Reject, Retry, msg)
		r.RetryStep = step
		return
	}
	r.lead(Reason{Code: RetriesExhausted, Detail: fmt.Sprintf("attempt %d of %d", in.Attempt, cfg.MaxRetries)})
	if cfg.RetriesExhausted == Review {
		r.set(Review, Status, MsgInReview)
	} else {
		r.set(Reject, Exit, MsgNotVerified)
	}
}

// band routes on the score; capped limits the decision to review.
func (r *Result) band(cfg Config, capped bool) {
	b := cfg.Bands
	switch {
	case r.Score < b.ReviewMin:
		r.lead(Reason{Code: ScoreBelowReview, Detail: fmt.Sprintf("score %.2f below review band %.2f", r.Score, b.ReviewMin)})
		r.set(Reject, Exit, MsgNotVerified)
	case r.Score < b.ApproveMin:
		r.lead(Reason{Code: ScoreBelowApprove, Detail: fmt.Sprintf("score %.2f below approve band %.2f", r.Score, b.ApproveMin)})
		r.set(Review, Status, MsgInReview)
	case capped:
		r.set(Review, Status, MsgInReview)
	default:
		r.set(Approve, Exit, MsgVerified)
	}
}

func (r *Result) set(d Decision, next NextAction, msg MessageKey) {
	r.Decision, r.NextAction, r.Message = d, next, msg
}

// lead puts the deciding reason first.
func (r *Result) lead(reason Reason) {
	r.Reasons = slices.Insert(r.Reasons, 0, reason)
}
