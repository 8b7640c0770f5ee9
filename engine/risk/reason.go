package risk

// ReasonCode is a stable internal code saying why a decision was taken. Codes
// are for operators, audit logs and the central server; they must never be
// shown to the user (use Result.Message for that).
type ReasonCode string

// Reason is one finding behind a decision. Detail is operator-facing text with
// the measured values; like the code it is never shown to the user.
type Reason struct {
	Code   ReasonCode `json:"code"`
	Detail string     `json:"detail"`
}

// Compliance.
const (
	// WatchlistHit: at least one confirmed sanctions/PEP hit. Escalates to
	// compliance ahead of every other rule.
	WatchlistHit ReasonCode = "WATCHLIST_HIT"
	// WatchlistPotentialMatch: a fuzzy candidate that needs a human to
	// confirm or clear it. Caps the decision at review.
	WatchlistPotentialMatch ReasonCode = "WATCHLIST_POTENTIAL_MATCH"
)

// Fraud: final reject, no retry, generic user message.
const (
	// DeviceBlocked: the device check returned DeviceBlock.
	DeviceBlocked ReasonCode = "DEVICE_BLOCKED"
	// FaceLivenessFailed: face liveness below Thresholds.FaceLivenessMin
	// (presentation attack).
	FaceLivenessFailed ReasonCode = "FACE_LIVENESS_FAILED"
	// DocScreenReplay: the document was shown on a screen.
	DocScreenReplay ReasonCode = "DOC_SCREEN_REPLAY"
	// DocPrintedCopy: the document is a photocopy or printed reproduction.
	DocPrintedCopy ReasonCode = "DOC_PRINTED_COPY"
	// FaceChallengeFailed: the active liveness challenge asked for after a
	// passive score in the band of doubt was failed.
	FaceChallengeFailed ReasonCode = "FACE_CHALLENGE_FAILED"
	// FaceChallengeIdentity: the active liveness challenge's prompts were
	// followed, but a frame that met one shows no face or not the selfie's
	// person (Input.ChallengeIdentity, the caller's comparison): someone
	// else turned their head, so the challenge counts as failed. The detail
	// gives each frame's similarity to the selfie and the threshold.
	FaceChallengeIdentity ReasonCode = "FACE_CHALLENGE_IDENTITY"
	// FaceChallengeReproduction: a frame that met a prompt of the active
	// liveness challenge shows a screen's or a print's traces
	// (Input.ChallengeReproduction): the prompts were followed on a
	// reproduction, so the challenge counts as failed. Apart from
	// FACE_LIVENESS_FAILED, the passive score's, which a review's preview
	// recomputes from the score: this one is a fact of the frames.
	FaceChallengeReproduction ReasonCode = "FACE_CHALLENGE_REPRODUCTION"
	// DocLivenessFailed: document liveness below Thresholds.DocLivenessMin
	// without a specific attack type reported.
	DocLivenessFailed ReasonCode = "DOC_LIVENESS_FAILED"
	// DocTampered: document authenticity below
	// Thresholds.DocAuthenticityMin.
	DocTampered ReasonCode = "DOC_TAMPERED"
)

// Retryable failures.
const (
	// DocImageQuality: the document capture was blurred, glared, dark or
	// unreadable.
	DocImageQuality ReasonCode = "DOC_IMAGE_QUALITY"
	// SelfieImageQuality: the selfie was blurred, dark, occluded or at too
	// steep an angle.
	SelfieImageQuality ReasonCode = "SELFIE_IMAGE_QUALITY"
	// NoFace: no face was found in the selfie.
	NoFace ReasonCode = "NO_FACE"
	// MultipleFaces: more than one face was found in the selfie.
	MultipleFaces ReasonCode = "MULTIPLE_FACES"
	// HolderUnderage: the holder is younger than Config.MinAge. Rejected
	// (EXIT, MsgAgeRequirement) when two readings of the birth date agree,
	// a review cap when it was read once.
	HolderUnderage ReasonCode = "HOLDER_UNDERAGE"
	// DocExpired: the document is past its expiry date; the user is asked
	// for another document.
	DocExpired ReasonCode = "DOC_EXPIRED"
	// FaceMismatch: face match below Thresholds.FaceMatchMin. Retried or
	// rejected per Config.FaceMismatch, always with the generic message.
	FaceMismatch ReasonCode = "FACE_MISMATCH"
	// RetriesExhausted: a retryable failure on the last allowed attempt;
	// the decision is Config.RetriesExhausted.
	RetriesExhausted ReasonCode = "RETRIES_EXHAUSTED"
)

// The band of doubt of the face liveness.
const (
	// FaceLivenessDoubt: face liveness at or above
	// Thresholds.FaceLivenessChallengeMin but below FaceLivenessMin, and no
	// active challenge done yet: NextAction is Challenge, or, where the
	// client can run none (ChallengeUnavailable), the decision is capped at
	// review.
	FaceLivenessDoubt ReasonCode = "FACE_LIVENESS_DOUBT"
	// FaceFeedSuspect: the selfie came from no live camera feed
	// (Input.FeedSuspect) and no active challenge was done yet: routed as
	// FaceLivenessDoubt is, whatever the passive score above the band.
	// Once a challenge passed it is recorded beside FaceChallengePassed.
	FaceFeedSuspect ReasonCode = "FACE_FEED_SUSPECT"
	// FaceChallengePassed: face liveness in the band of doubt (or above),
	// and the active challenge passed. Recorded; no effect on the route.
	FaceChallengePassed ReasonCode = "FACE_CHALLENGE_PASSED"
)

// Review caps: the decision is at most review.
const (
	// FaceMatchLow: face match at or above Thresholds.FaceMatchMin but
	// below Thresholds.FaceMatchAccept.
	FaceMatchLow ReasonCode = "FACE_MATCH_LOW"
	// DataChecksFailed: data checks below Thresholds.DataChecksMin.
	DataChecksFailed ReasonCode = "DATA_CHECKS_FAILED"
	// DocTamperSuspected: a document tampering check fired whose
	// false-positive rate on genuine documents is too high for it to
	// reject on its own (or that says only how a file was saved: double
	// compression, editing software). The detail names the check and its
	// evidence.
	DocTamperSuspected ReasonCode = "DOC_TAMPER_SUSPECTED"
	// DocReproductionSuspected: a document liveness check (screen, print,
	// photocopy) fired that may not reject on its own.
	DocReproductionSuspected ReasonCode = "DOC_REPRODUCTION_SUSPECTED"
	// DeviceWarning: the device check returned DeviceWarn.
	DeviceWarning ReasonCode = "DEVICE_WARNING"
	// ScreeningStale: the lists screened against are older than
	// Config.ScreeningMaxAgeDays since central last confirmed them, of
	// unknown age (the device's clock is behind a list's date), or there
	// are none. The detail names each list and its age; Result.Screening
	// has them all.
	ScreeningStale ReasonCode = "SCREENING_STALE"
	// NoSignals: no signal with a non-zero weight was present, so there is
	// no score to band.
	NoSignals ReasonCode = "NO_SIGNALS"
)

// Missing signals. Each caps the decision at review when the signal is in
// Config.Required; otherwise it is recorded and the score is renormalised.
const (
	SignalMissingFaceLiveness    ReasonCode = "SIGNAL_MISSING_FACE_LIVENESS"
	SignalMissingFaceMatch       ReasonCode = "SIGNAL_MISSING_FACE_MATCH"
	SignalMissingDocAuthenticity ReasonCode = "SIGNAL_MISSING_DOC_AUTHENTICITY"
	SignalMissingDocLiveness     ReasonCode = "SIGNAL_MISSING_DOC_LIVENESS"
	SignalMissingDataChecks      ReasonCode = "SIGNAL_MISSING_DATA_CHECKS"
	SignalMissingSanctions       ReasonCode = "SIGNAL_MISSING_SANCTIONS"
	SignalMissingDeviceIntegrity ReasonCode = "SIGNAL_MISSING_DEVICE_INTEGRITY"
)

// Score bands, reported when the score band decided the route.
const (
	// ScoreBelowApprove: the score is in the review band.
	ScoreBelowApprove ReasonCode = "SCORE_BELOW_APPROVE"
	// ScoreBelowReview: the score is in the reject band.
	ScoreBelowReview ReasonCode = "SCORE_BELOW_REVIEW"
)
