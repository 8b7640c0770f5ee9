package verify

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"gocv.io/x/gocv"

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
	SamePerson bool                   `json:"same_person"`
	Frames     []ChallengeFrameResult `json:"frames"`
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
}

// challengeFace is one challenge frame's analysis: its largest face, or
// err (face.ErrNoFace when it has none).
type challengeFace struct {
	prompt string
	face   face.Analysis
	err    error
}

// analyseChallenge finds and embeds the largest face of each challenge
// frame; a frame without a face is recorded as such, not an error.
func (e *Engine) analyseChallenge(ctx context.Context, frames []ChallengeFrame) []challengeFace {
	out := make([]challengeFace, len(frames))
	for i, f := range frames {
		a, err := e.Face.Analyze(ctx, f.Image, face.Largest, face.Timings{}, "")
		out[i] = challengeFace{prompt: f.Prompt, face: a, err: err}
	}
	return out
}

// challengeIdentity compares the challenge frames' faces with the
// selfie's at threshold: the report, and the evidence for the risk engine
// (risk.Input.ChallengeIdentity) when a frame shows no face or another
// person, else "". An analysis that failed for another reason than a
// missing face is returned as an error.
func challengeIdentity(selfie face.Analysis, frames []challengeFace, threshold float64) (*ChallengeReport, string, error) {
	rep := &ChallengeReport{Threshold: threshold, SamePerson: true, Frames: make([]ChallengeFrameResult, 0, len(frames))}
	var bad []string
	for _, f := range frames {
		r := ChallengeFrameResult{Prompt: f.prompt}
		switch {
		case errors.Is(f.err, face.ErrNoFace):
			bad = append(bad, fmt.Sprintf("%s: no face", f.prompt))
		case f.err != nil:
			return nil, "", fmt.Errorf("challenge frame %s: %w", f.prompt, f.err)
		default:
			r.FaceFound, r.Yaw = true, f.face.Quality.Yaw
			r.Similarity = face.Cosine(selfie.Embedding, f.face.Embedding)
			r.SamePerson = r.Similarity >= threshold
			if !r.SamePerson {
				bad = append(bad, fmt.Sprintf("%s: similarity %.3f to the selfie (yaw %.0f deg)", f.prompt, r.Similarity, r.Yaw))
			}
		}
		rep.Frames = append(rep.Frames, r)
	}
	if len(bad) == 0 {
		return rep, "", nil
	}
	rep.SamePerson = false
	return rep, fmt.Sprintf("challenge frames not showing the selfie's person (similarity threshold %.3f): %s",
		threshold, strings.Join(bad, "; ")), nil
}
