package verify

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/document/forensics"
	"github.com/openkyc/kyc/engine/face"
)

// DefaultChallengeSimilarity is the cosine similarity to the selfie from
// which a challenge frame's face counts as the selfie's person: the face
// matcher's own calibrated threshold at a false-accept rate of 1e-2
// (face.NewMatcher(1e-2)), looser than the document match's 1e-3 because
// the head is turned in these frames (engine/capture's ChallengeYaw, 20
// degrees; the frame kept is the first that turns that far), which lowers
// a genuine pair's similarity, and a genuine customer refused here is
// rejected as a fraud. Chosen on the matcher's calibration set
// (faceapi_bbt, AT&T s1-s20), frontal (|yaw| <= 12) against turned
// (|yaw| >= 15) photos: 7.7% of genuine pairs refused (0.2877) against
// 11.9% at 1e-3, 1.0% of impostors accepted. Reported by
// TestChallengeSimilarity on the held-out AT&T s21-s40: no genuine pair of
// 151 refused (min 0.598), 2.4% of 3,983 impostor pairs accepted.
const DefaultChallengeSimilarity = 0.2877

// ChallengeFrame is the frame that met one prompt of an active liveness
// challenge (engine/capture's Capture of that prompt).
type ChallengeFrame struct {
	// Prompt names the frame in the report: the prompt it met (turn_left,
	// turn_right, blink, smile), or the file it came from.
	Prompt string
	Image  gocv.Mat
}

// ChallengeReport is how the challenge's frames compare with the selfie:
// the evidence that the prompts were followed by the selfie's person.
type ChallengeReport struct {
	// Threshold is the similarity from which a frame's face is the
	// selfie's person.
	Threshold float64 `json:"threshold"`
	// SamePerson: every frame shows the selfie's person.
	SamePerson bool `json:"same_person"`
	// Reproduction: a frame's face shows a display's pixel grid or a
	// print's halftone (the selfie's trace check, face.Engine.TraceCheck):
	// the prompts were followed on a screen, a video of the victim turning.
	Reproduction bool                   `json:"reproduction"`
	Frames       []ChallengeFrameResult `json:"frames"`
}

// ChallengeFrameResult is one challenge frame against the selfie.
type ChallengeFrameResult struct {
	Prompt    string `json:"prompt"`
	FaceFound bool   `json:"face_found"`
	// Similarity is the cosine similarity of the frame's largest face to
	// the selfie's face; Yaw that face's head turn, degrees.
	Similarity float64 `json:"similarity"`
	Yaw        float64 `json:"yaw"`
	SamePerson bool    `json:"same_person"`
	// TraceMass is the face's periodic-trace mass (chroma and luminance),
	// TraceScore its score at the selfie's calibrated threshold (1 clean,
	// 0 a clear trace; 1 also for a face too small to measure), and
	// Reproduction whether it fails.
	TraceMass    float64 `json:"trace_mass"`
	TraceScore   float64 `json:"trace_score"`
	Reproduction bool    `json:"reproduction"`
}

// challengeFace is one challenge frame's analysis: its largest face and
// that face's trace check, or err (face.ErrNoFace when it has none).
type challengeFace struct {
	prompt string
	face   face.Analysis
	traces face.TraceCheck
	err    error
}

// analyseChallenge finds and embeds the largest face of each challenge
// frame and runs the selfie's trace check on it; a frame without a face
// is recorded as such, not an error. The liveness models are not run: they
// were calibrated on frontal faces, these are turned.
func (e *Engine) analyseChallenge(ctx context.Context, frames []ChallengeFrame) []challengeFace {
	out := make([]challengeFace, len(frames))
	for i, f := range frames {
		a, err := e.Face.Analyze(ctx, f.Image, face.Largest, face.Timings{}, "")
		var tc face.TraceCheck
		if err == nil {
			tc, err = e.Face.TraceCheck(ctx, f.Image, a.Face.Box)
		}
		out[i] = challengeFace{prompt: f.Prompt, face: a, traces: tc, err: err}
	}
	return out
}

// challengeEvidence compares the challenge frames' faces with the
// selfie's at threshold and reads their trace checks: the report, and the
// evidence for the risk engine, each "" when nothing fired: identity
// (risk.Input.ChallengeIdentity) when a frame shows no face or another
// person, reproduction (risk.Input.ChallengeReproduction) when a frame's
// face shows a screen's or a print's traces. An analysis that failed for
// another reason than a missing face is returned as an error.
func challengeEvidence(selfie face.Analysis, frames []challengeFace, threshold float64) (rep *ChallengeReport, identity, reproduction string, err error) {
	rep = &ChallengeReport{Threshold: threshold, SamePerson: true, Frames: make([]ChallengeFrameResult, 0, len(frames))}
	var other, traced []string
	for _, f := range frames {
		r := ChallengeFrameResult{Prompt: f.prompt, TraceScore: 1}
		switch {
		case errors.Is(f.err, face.ErrNoFace):
			other = append(other, fmt.Sprintf("%s: no face", f.prompt))
		case f.err != nil:
			return nil, "", "", fmt.Errorf("challenge frame %s: %w", f.prompt, f.err)
		default:
			r.FaceFound, r.Yaw = true, f.face.Quality.Yaw
			r.Similarity = face.Cosine(selfie.Embedding, f.face.Embedding)
			r.SamePerson = r.Similarity >= threshold
			if !r.SamePerson {
				other = append(other, fmt.Sprintf("%s: similarity %.3f to the selfie (yaw %.0f deg)", f.prompt, r.Similarity, r.Yaw))
			}
			r.TraceScore, r.Reproduction = f.traces.Score, f.traces.Reproduction
			if tr := f.traces.Traces; tr != nil {
				r.TraceMass = tr.ChromaMass + tr.LumaMass
			}
			switch {
			case r.Reproduction:
				traced = append(traced, fmt.Sprintf("%s: trace mass %.2f, score %.2f", f.prompt, r.TraceMass, r.TraceScore))
			case f.traces.Traces == nil:
				// Too small a picture to look for a screen's pixels or a
				// print's dots in (under forensics.MinSide round the face):
				// a frame that could not be checked does not pass the
				// check, or a replay would be sent as thumbnails.
				traced = append(traced, fmt.Sprintf("%s: too small a picture round the face to look for traces (under %d pixels)", f.prompt, forensics.MinSide))
			}
		}
		rep.Frames = append(rep.Frames, r)
	}
	if len(other) > 0 {
		rep.SamePerson = false
		identity = fmt.Sprintf("challenge frames not showing the selfie's person (similarity threshold %.3f): %s",
			threshold, strings.Join(other, "; "))
	}
	if len(traced) > 0 {
		rep.Reproduction = true
		reproduction = "challenge frames showing a screen's or a print's traces: " + strings.Join(traced, "; ")
	}
	return rep, identity, reproduction, nil
}
