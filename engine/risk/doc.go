// Package risk turns the signals of one verification attempt into a decision
// (approve, review, reject, escalate), a next action for the capture client
// (RETRY, STATUS, EXIT, CHALLENGE) and a user-facing message. It is the
// "Risk Scoring" and "Decision & Routing" steps of the eKYC flow: a
// transparent weighted score with a business-rules overlay. It does no I/O; Evaluate is a pure function
// of a Config and an Input.
//
// # Score
//
// Each signal (see Signals) is a value in [0,1], 1 meaning fully trustworthy.
// The score is the weighted mean of the present signals scaled to 0-100:
//
//	score = 100 · Σ w·v / Σ w   (sums over present signals only)
//
// A missing signal is never read as zero. It is left out of both sums (the
// score is "renormalised" over what was measured), it is reported with a
// SIGNAL_MISSING_<NAME> reason, and when Config.Required lists it the decision
// is capped at review, so an unmeasured check can never be approved
// automatically. Result.Coverage says how much of the total weight was
// measured.
//
// # Precedence
//
// Every rule that fires is reported; the route is taken from the first class
// that fired, in this order:
//
//  1. Confirmed watchlist hit: escalate (STATUS). First, so that compliance
//     sees a sanctioned person even when a fraud rule also fired.
//  2. Fraud: device blocked, face spoof (face liveness below the band of
//     doubt, a failed active challenge, or one whose frames show another
//     person than the selfie, Input.ChallengeIdentity, or a screen's or a
//     print's traces, Input.ChallengeReproduction), document screen/print replay or
//     low document liveness, document tampering: reject (EXIT), never
//     retried. A document check rejects only when the caller found its
//     false-positive rate on genuine documents low enough
//     (DocFinding.Rejects); one that may not is a review cap (8).
//  3. A holder younger than Config.MinAge, by a birth date two readings
//     agree on (Input.HolderAge): reject (EXIT), with its own message. No
//     new capture changes a confirmed age; a date read once is a review
//     cap (8) instead.
//  4. Capture problem (image quality, no face, several faces): RETRY that
//     capture. Ahead of the rules below, because nothing read from a bad
//     capture is trustworthy.
//  5. Expired document: RETRY with another document.
//  6. Face non-match: RETRY the whole capture, or reject, per
//     Config.FaceMismatch.
//  7. Face liveness in the band of doubt
//     ([Thresholds.FaceLivenessChallengeMin, FaceLivenessMin)), or above
//     it for a selfie from no live camera feed (Input.FeedSuspect), with no
//     active challenge done: CHALLENGE, then evaluate again with
//     Input.LivenessChallenge; a client that can run none says so
//     (ChallengeUnavailable) and the doubt is a review cap (8) instead.
//     After the rules that decide without the face liveness: nobody is
//     asked to turn their head only to be refused for an expired document
//     or another person's face. Result.LivenessPath records which way the
//     liveness was decided (passive, the challenge asked, passed or failed,
//     or the doubt sent to review).
//  8. Review caps (required signal missing, face match in its review zone,
//     failed data checks, device warning, potential watchlist match, a
//     document check that may not reject on its own, an age under the
//     minimum by a date read once, screening data older than
//     Config.ScreeningMaxAgeDays or of unknown age or no list at all
//     (Input.Screening, SCREENING_STALE), no signals at all): at most
//     review.
//  9. Score bands: approve, review or reject.
//
// A RETRY is only given while the attempt number is below Config.MaxRetries;
// after that the attempt ends with Config.RetriesExhausted and reason
// RETRIES_EXHAUSTED.
//
// # User messages
//
// Result.Message is a key into a fixed catalogue (English and Indonesian).
// All fraud outcomes, and a face non-match, share one generic message, and a
// fraud-driven RETRY restarts every capture, so the user learns nothing about
// which check fired. Reason codes and details are for operators only.
package risk
