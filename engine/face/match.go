package face

import (
	"errors"
	"fmt"
	"math"
)

// Calibration of the cosine similarity of two fr_feature embeddings, derived
// on the calibration set, faceapi_bbt plus AT&T subjects s1-s20 (980
// genuine, 27,700 impostor pairs), with
//
//	kyc eval faces --data att_faces,faceapi_bbt --identities 's[1-9],s1?,s20,*[a-z]'
//
// Accuracy is reported on the held-out AT&T subjects s21-s40, never on
// these pairs.
const (
	// calibA and calibB map similarity s to score 1/(1+exp(-(A*s+B))): a
	// logistic fit with genuine and impostor pairs weighted equally, so the
	// score is the probability of a match at even prior odds.
	calibA = 16.3135
	calibB = -5.3542
)

// OperatingPoint is a similarity threshold and the false-accept rate it was
// measured to give on the calibration set.
type OperatingPoint struct {
	FAR       float64
	Threshold float64
}

// operatingPoints are the calibration set's thresholds, strictest last.
var operatingPoints = []OperatingPoint{
	{FAR: 1e-2, Threshold: 0.2877},
	{FAR: 1e-3, Threshold: 0.3638},
	{FAR: 1e-4, Threshold: 0.3938},
}

// DefaultFAR is the false-accept target of DefaultMatcher.
const DefaultFAR = 1e-3

// ErrFAROutOfRange is returned for a false-accept target the calibration
// set cannot support (below 1e-4, it held too few impostor pairs) or that
// is not a rate.
var ErrFAROutOfRange = errors.New("false-accept target outside the calibrated range [1e-4, 1e-2]")

// Matcher turns a similarity into a calibrated score and a decision.
type Matcher struct {
	FAR       float64 // the false-accept target the threshold was chosen for
	Threshold float64 // similarity at or above which two faces match
}

// NewMatcher returns the matcher for a false-accept target between 1e-4
// and 1e-2, interpolating the calibrated thresholds on a log-FAR scale.
func NewMatcher(far float64) (Matcher, error) {
	hi, lo := operatingPoints[0], operatingPoints[len(operatingPoints)-1]
	if math.IsNaN(far) || far > hi.FAR || far < lo.FAR {
		return Matcher{}, fmt.Errorf("%w: %g", ErrFAROutOfRange, far)
	}
	for i := 1; i < len(operatingPoints); i++ {
		a, b := operatingPoints[i-1], operatingPoints[i]
		if far <= a.FAR && far >= b.FAR {
			f := (math.Log(far) - math.Log(a.FAR)) / (math.Log(b.FAR) - math.Log(a.FAR))
			return Matcher{FAR: far, Threshold: a.Threshold + f*(b.Threshold-a.Threshold)}, nil
		}
	}
	return Matcher{}, fmt.Errorf("%w: %g", ErrFAROutOfRange, far)
}

// DefaultMatcher decides at DefaultFAR, one of the calibrated points.
func DefaultMatcher() Matcher {
	return Matcher{FAR: DefaultFAR, Threshold: operatingPoints[1].Threshold}
}

// Score is the calibrated probability that two faces with this similarity
// are the same person, at even prior odds.
func Score(similarity float64) float64 {
	return 1 / (1 + math.Exp(-(calibA*similarity + calibB)))
}

// Decision values.
const (
	DecisionMatch   = "match"
	DecisionNoMatch = "no_match"
)

// Decision is the outcome of one comparison.
type Decision struct {
	Similarity float64 `json:"similarity"`
	Score      float64 `json:"score"`
	Threshold  float64 `json:"threshold"`
	FAR        float64 `json:"far_target"`
	Decision   string  `json:"decision"`
}

// Decide compares a similarity with the threshold.
func (m Matcher) Decide(similarity float64) Decision {
	d := Decision{Similarity: similarity, Score: Score(similarity), Threshold: m.Threshold, FAR: m.FAR, Decision: DecisionNoMatch}
	if similarity >= m.Threshold {
		d.Decision = DecisionMatch
	}
	return d
}
