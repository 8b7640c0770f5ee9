package risk

import "errors"

// ErrInvalidInput is returned (wrapped, with the offending field) by Evaluate
// when an Input is malformed: a signal out of [0,1], an unknown signal or
// verdict, an attempt number below 1.
var ErrInvalidInput = errors.New("invalid risk input")

// Input is what one verification attempt measured.
type Input struct {
	// Signals holds the measured signals. A signal that was not measured is
	// absent from the map; a present 0 means "measured, and fully
	// untrustworthy".
	Signals map[SignalName]float64 `json:"signals"`
	// Attempt is the 1-based attempt number within the session.
	Attempt int `json:"attempt"`
	// WatchlistHits counts confirmed sanctions/PEP hits (escalate).
	WatchlistHits int `json:"watchlist_hits"`
	// WatchlistPotentialMatches counts fuzzy candidates awaiting a human
	// decision (review).
	WatchlistPotentialMatches int `json:"watchlist_potential_matches"`
	// DocExpired reports a document past its expiry date.
	DocExpired bool `json:"doc_expired"`
	// DocAttack is the attack type the document liveness check named, if
	// any.
	DocAttack DocAttack `json:"doc_attack,omitempty"`
	// Device is the device integrity verdict; empty when no check ran.
	Device DeviceVerdict `json:"device,omitempty"`
	// CaptureIssues lists the capture problems found.
	CaptureIssues []CaptureIssue `json:"capture_issues,omitempty"`
	// LivenessChallenge is the outcome of the active liveness challenge
	// that a Challenge next action asked for; empty before one was done.
	LivenessChallenge ChallengeOutcome `json:"liveness_challenge,omitempty"`
	// FeedSuspect, when not empty, is the caller's evidence that the
	// selfie did not come from a live camera feed: no frames behind it, or
	// frames that repeat each other byte for byte, as a still image fed
	// through a virtual camera or a script does. The passive liveness
	// judges how a picture looks, not where it came from, so a passive
	// score that would pass is in doubt (FACE_FEED_SUSPECT with this as
	// its detail): an active challenge is asked for, or, where none can
	// be run, the decision is capped at review.
	FeedSuspect string `json:"feed_suspect,omitempty"`
	// ChallengeIdentity, when not empty, is the caller's evidence that the
	// frames which met the challenge's prompts do not all show the
	// selfie's person (engine/verify compares their faces): the challenge
	// is failed whatever LivenessChallenge says, with reason
	// FACE_CHALLENGE_IDENTITY and this, as it is, as its detail.
	ChallengeIdentity string `json:"challenge_identity,omitempty"`
	// ChallengeReproduction, when not empty, is the caller's evidence that
	// a frame which met a prompt shows a display's pixel grid or a print's
	// halftone (engine/verify runs the selfie's trace check on each): the
	// prompts were followed on a reproduction, a video of the person
	// turning. The challenge is failed as with ChallengeIdentity, with
	// reason FACE_CHALLENGE_REPRODUCTION and this as its detail.
	ChallengeReproduction string `json:"challenge_reproduction,omitempty"`
	// DocFindings are the document checks that fired, each judged by the
	// caller against the check's measured false-positive rate on genuine
	// documents: one that may reject does (DOC_TAMPERED, DOC_SCREEN_REPLAY,
	// DOC_PRINTED_COPY), any other caps the decision at review
	// (DOC_TAMPER_SUSPECTED, DOC_REPRODUCTION_SUSPECTED). A finding that
	// rejects takes the place of the generic DocAttack and
	// DocAuthenticity/DocLiveness threshold rules of its kind, so a check is
	// reported once, with its evidence.
	DocFindings []DocFinding `json:"doc_findings,omitempty"`
	// HolderAge is the holder's age by the document's birth date, for
	// Config.MinAge; nil when no birth date was read.
	HolderAge *HolderAge `json:"holder_age,omitempty"`
	// Screening is what the device screened against and when, judged
	// against Config.ScreeningMaxAgeDays (SCREENING_STALE); nil leaves the
	// age unjudged, for a caller that screens against lists it keeps
	// current itself (central's hosted flow).
	Screening *ScreeningData `json:"screening,omitempty"`
}

// HolderAge is the holder's age by the document's birth date.
type HolderAge struct {
	Years int `json:"years"`
	// Vouched: two readings of the birth date agree (an MRZ check digit,
	// a NIK that encodes the printed date), so the age may refuse.
	Vouched bool `json:"vouched"`
}

// DocFinding is one document check that fired.
type DocFinding struct {
	// Check is the check's name, as the forensics report gives it.
	Check string         `json:"check"`
	Kind  DocFindingKind `json:"kind"`
	// Rejects: the check's false-positive rate on genuine documents, as
	// measured, allows it to reject a case on its own. Otherwise it sends
	// the case to review and no further.
	Rejects bool `json:"rejects"`
	// WhyReviewOnly says, for a check that may not reject, why not (a weak
	// signal by design, too many genuine documents flagged, not
	// calibrated); the reason text carries it to the reviewer.
	WhyReviewOnly string `json:"why_review_only,omitempty"`
	// Evidence is what a reviewer needs: the score against the check's
	// operating point and the numbers behind it.
	Evidence string `json:"evidence"`
}

// DocFindingKind says what a document finding points to.
type DocFindingKind string

const (
	// DocFindingTamper: digital editing (error level, compression,
	// copy-move, metadata, a substituted portrait, edited fields).
	DocFindingTamper DocFindingKind = "tamper"
	// DocFindingScreen: the document was shown on a screen.
	DocFindingScreen DocFindingKind = "screen"
	// DocFindingPrint: the document is a print or photocopy.
	DocFindingPrint DocFindingKind = "print"
)

// ChallengeOutcome is the result of an active liveness challenge (the
// person follows a prompt the capture client gives: turn the head, blink).
type ChallengeOutcome string

const (
	// ChallengeNone: no challenge was done.
	ChallengeNone ChallengeOutcome = ""
	// ChallengePassed: the person followed the prompts, live.
	ChallengePassed ChallengeOutcome = "passed"
	// ChallengeFailed: the prompts were not followed (a print, a replay).
	ChallengeFailed ChallengeOutcome = "failed"
	// ChallengeUnavailable: the client cannot run a challenge (a kiosk
	// configured without one, files verified from the command line). A
	// passive score in the band of doubt then caps the decision at review:
	// a person looks at the selfie, where the score alone would turn away
	// a live face as often as it stops a replay.
	ChallengeUnavailable ChallengeOutcome = "unavailable"
)

// DocAttack is the kind of document presentation attack detected.
type DocAttack string

const (
	// DocAttackNone: no attack type named.
	DocAttackNone DocAttack = ""
	// DocAttackScreen: the document was displayed on a screen.
	DocAttackScreen DocAttack = "screen"
	// DocAttackPrint: the document is a photocopy or print.
	DocAttackPrint DocAttack = "print"
)

// DeviceVerdict is the outcome of the device and environment check.
type DeviceVerdict string

const (
	// DeviceUnchecked: no device check ran (e.g. a platform without one).
	DeviceUnchecked DeviceVerdict = ""
	// DeviceOK: nothing found.
	DeviceOK DeviceVerdict = "ok"
	// DeviceWarn: weak indicators; a human should look (review cap).
	DeviceWarn DeviceVerdict = "warn"
	// DeviceBlock: an emulator, virtual camera, hooking framework or the
	// like was found (reject).
	DeviceBlock DeviceVerdict = "block"
)

// CaptureIssue is a retryable capture problem.
type CaptureIssue string

const (
	// CaptureDocQuality: document blurred, glared, dark or unreadable.
	CaptureDocQuality CaptureIssue = "doc_quality"
	// CaptureSelfieQuality: selfie blurred, dark, occluded or turned away.
	CaptureSelfieQuality CaptureIssue = "selfie_quality"
	// CaptureNoFace: no face in the selfie.
	CaptureNoFace CaptureIssue = "no_face"
	// CaptureMultipleFaces: more than one face in the selfie.
	CaptureMultipleFaces CaptureIssue = "multiple_faces"
)

// retry returns the reason code of c and the capture to take again; false
// when c is unknown.
func (c CaptureIssue) retry() (ReasonCode, RetryStep, bool) {
	switch c {
	case CaptureDocQuality:
		return DocImageQuality, RetryDocument, true
	case CaptureSelfieQuality:
		return SelfieImageQuality, RetrySelfie, true
	case CaptureNoFace:
		return NoFace, RetrySelfie, true
	case CaptureMultipleFaces:
		return MultipleFaces, RetrySelfie, true
	}
	return "", RetryNone, false
}

func (in Input) validate() error {
	var p problems
	for s, v := range in.Signals {
		if !s.known() {
			p.add("unknown signal %q", s)
		} else if !(v >= 0 && v <= 1) { // also catches NaN
			p.add("signal %s is %v, want 0-1", s, v)
		}
	}
	if in.Attempt < 1 {
		p.add("attempt %d, want 1 or more", in.Attempt)
	}
	if in.WatchlistHits < 0 {
		p.add("watchlist_hits %d, want 0 or more", in.WatchlistHits)
	}
	if in.WatchlistPotentialMatches < 0 {
		p.add("watchlist_potential_matches %d, want 0 or more", in.WatchlistPotentialMatches)
	}
	if in.HolderAge != nil && in.HolderAge.Years < 0 {
		p.add("holder_age %d, want 0 or more", in.HolderAge.Years)
	}
	if in.Screening != nil {
		for _, l := range in.Screening.Lists {
			if l.Name == "" {
				p.add("screening: a list without a name")
			}
		}
	}
	switch in.DocAttack {
	case DocAttackNone, DocAttackScreen, DocAttackPrint:
	default:
		p.add("unknown doc_attack %q", in.DocAttack)
	}
	switch in.Device {
	case DeviceUnchecked, DeviceOK, DeviceWarn, DeviceBlock:
	default:
		p.add("unknown device verdict %q", in.Device)
	}
	switch in.LivenessChallenge {
	case ChallengeNone, ChallengePassed, ChallengeFailed, ChallengeUnavailable:
	default:
		p.add("unknown liveness_challenge %q", in.LivenessChallenge)
	}
	for _, f := range in.DocFindings {
		switch f.Kind {
		case DocFindingTamper, DocFindingScreen, DocFindingPrint:
		default:
			p.add("doc finding %q: unknown kind %q", f.Check, f.Kind)
		}
		if f.Check == "" {
			p.add("doc finding without a check name")
		}
	}
	for _, c := range in.CaptureIssues {
		if _, _, ok := c.retry(); !ok {
			p.add("unknown capture issue %q", c)
		}
	}
	return p.err(ErrInvalidInput)
}
