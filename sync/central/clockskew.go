package central

import "time"

// ClockSkewFlag is how far a device's dating of a capture must be from
// what central's own clock knows for ClockSkew to report it.
const ClockSkewFlag = 24 * time.Hour

// ClockSkew is how far, at least, the device's clock was off when it dated
// a capture (created, Submission.CreatedAt, the device's claim, kept as
// claimed), judged by central's own clock: a capture dated after central
// received it was dated by a clock ahead by at least the difference
// (positive); one dated before notBefore, a time by central's clock the
// capture cannot precede (the challenge its attestation signs,
// Server.ChallengeIssued; zero: none known), by a clock behind (negative).
// Zero when neither exceeds ClockSkewFlag: a device offline for a week
// rightly dates its captures a week before they arrive. Central decides
// nothing by created (retention, ages, webhooks and the partner API go by
// its receive time); the console shows the skew to reviewers.
func ClockSkew(created, received, notBefore time.Time) time.Duration {
	if created.IsZero() {
		return 0
	}
	if d := created.Sub(received); !received.IsZero() && d > ClockSkewFlag {
		return d
	}
	// A challenge issued after the capture was received was issued by
	// central's clock while it ran ahead (put back since): it bounds
	// nothing.
	if d := created.Sub(notBefore); !notBefore.IsZero() && d < -ClockSkewFlag && (received.IsZero() || !issuedAhead(notBefore, received)) {
		return d
	}
	return 0
}
