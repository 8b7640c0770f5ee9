package verify

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/face/faceeval"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/internal/synth"
	"github.com/openkyc/kyc/internal/testenv"
)

// TestChallengeIdentityInput runs riskInput on the challenge frames'
// analyses: a passed challenge stays passed only when every frame shows
// the selfie's person (emb); another person or no face fails it with the
// evidence, and frames of a challenge not said to be passed are not read.
func TestChallengeIdentityInput(t *testing.T) {
	other := face.Embedding{0, 0, 1}
	turned := face.Embedding{0.5, 0.8, 0.33} // the selfie's person, head turned: similarity 0.94
	machinery := errors.New("session closed")
	frame := func(prompt string, e face.Embedding) challengeFace {
		return challengeFace{prompt: prompt, face: face.Analysis{Embedding: e, Quality: face.Quality{Yaw: -25}}}
	}
	tests := []struct {
		name       string
		claimed    risk.ChallengeOutcome
		frames     []challengeFace
		want       risk.ChallengeOutcome
		evidence   []string // substrings of risk.Input.ChallengeIdentity; nil: none
		report     bool     // a ChallengeReport is expected
		samePerson bool
		err        error
	}{
		{name: "same person", claimed: risk.ChallengePassed, frames: []challengeFace{frame("turn_left", turned), frame("turn_right", emb)},
			want: risk.ChallengePassed, report: true, samePerson: true},
		{name: "another person turned the head", claimed: risk.ChallengePassed, frames: []challengeFace{frame("turn_right", emb), frame("turn_left", other)},
			want: risk.ChallengeFailed, evidence: []string{"turn_left: similarity 0.000", "threshold 0.288"}, report: true},
		{name: "a frame without a face", claimed: risk.ChallengePassed,
			frames: []challengeFace{frame("turn_left", emb), {prompt: "turn_right", err: face.ErrNoFace}},
			want:   risk.ChallengeFailed, evidence: []string{"turn_right: no face"}, report: true},
		{name: "passed without frames: as claimed", claimed: risk.ChallengePassed, want: risk.ChallengePassed},
		{name: "failed challenge: frames not read", claimed: risk.ChallengeFailed, frames: []challengeFace{frame("turn_left", other)},
			want: risk.ChallengeFailed},
		{name: "analysis failed", claimed: risk.ChallengePassed, frames: []challengeFace{{prompt: "turn_left", err: machinery}}, err: machinery},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := goodStages()
			st.live.Score = 0.4 // in the band of doubt
			st.challenge, st.challengeSimilarity = tt.frames, DefaultChallengeSimilarity
			in, rep, err := riskInput(st, face.DefaultMatcher(), DefaultConfirmScore, 1, tt.claimed)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if in.LivenessChallenge != tt.want {
				t.Errorf("outcome %q, want %q", in.LivenessChallenge, tt.want)
			}
			for _, s := range tt.evidence {
				if !strings.Contains(in.ChallengeIdentity, s) {
					t.Errorf("evidence %q lacks %q", in.ChallengeIdentity, s)
				}
			}
			if tt.evidence == nil && in.ChallengeIdentity != "" {
				t.Errorf("evidence %q, want none", in.ChallengeIdentity)
			}
			if (rep.Challenge != nil) != tt.report {
				t.Fatalf("challenge report %+v, want one: %v", rep.Challenge, tt.report)
			}
			if c := rep.Challenge; c != nil {
				if c.SamePerson != tt.samePerson || len(c.Frames) != len(tt.frames) || c.Threshold != DefaultChallengeSimilarity {
					t.Errorf("report %+v", c)
				}
				for i, f := range c.Frames {
					if f.Prompt != tt.frames[i].prompt || f.FaceFound != (tt.frames[i].err == nil) {
						t.Errorf("frame %d: %+v", i, f)
					}
				}
			}
			res, err := risk.Evaluate(risk.DefaultConfig(), in)
			if err != nil {
				t.Fatal(err)
			}
			if got := res.HasReason(risk.FaceChallengeIdentity); got != (tt.evidence != nil) {
				t.Errorf("reasons %v: FACE_CHALLENGE_IDENTITY %v, want %v", res.Reasons, got, tt.evidence != nil)
			}
		})
	}
}

// TestChallengeSimilarity measures DefaultChallengeSimilarity where it is
// used: a frontal selfie (|yaw| <= 12 degrees, as the selfie guide takes
// it) against a turned head (|yaw| >= 15: a challenge frame turns 20 or
// more, by the guide's own estimate), on the AT&T subjects s21-s40, which
// neither the face matcher's calibration nor the choice of this threshold
// saw; impostors are pairs of two subjects of that set. The threshold is
// the matcher's at a false-accept rate of 1e-2, chosen on the matcher's
// calibration set (faceapi_bbt's photos placed in webcam frames as
// selfieScene does, and AT&T s1-s20), where the same pairs measured, with
// this engine: genuine 143 pairs, similarity min 0.032, 5th percentile
// 0.236, median 0.730, 11 below 0.2877 (all AT&T s1 and s2: s2's photo 9
// against each of its frontal ones, and turns of 42 to 57 degrees);
// impostors 3,167, max 0.389, 99th percentile 0.289, 1.0% at or above.
// The 1e-3 point (0.3638) would refuse 11.9% of those genuine turns for
// 0.2% of impostors: a refused genuine turn is rejected as a fraud, while
// an impostor still has to pass the selfie's match with the document. On
// this held-out half (measured 2026-12): genuine 151 pairs, min 0.598,
// 5th percentile 0.680, median 0.836, none refused; impostors 3,983, max
// 0.412, 99th percentile 0.324, 2.4% accepted.
func TestChallengeSimilarity(t *testing.T) {
	if testing.Short() {
		t.Skip("embeds 200 faces: skipped in -short mode")
	}
	if m, err := face.NewMatcher(1e-2); err != nil || m.Threshold != DefaultChallengeSimilarity {
		t.Fatalf("the matcher at 1e-2: %+v %v, DefaultChallengeSimilarity %v", m, err, DefaultChallengeSimilarity)
	}
	eng := newEngine(t)
	images, err := faceeval.LoadFolders(testenv.Data(t, "faces", "att_faces"), []string{"s2[1-9]", "s3?", "s40"})
	if err != nil {
		t.Fatal(err)
	}
	type described struct {
		who string
		yaw float64
		emb face.Embedding
	}
	var all []described
	for _, im := range images {
		m, err := imageio.ReadFile(im.Path, 0)
		if err != nil {
			t.Fatal(err)
		}
		a, err := eng.Face.Analyze(context.Background(), m, face.Largest, face.Timings{}, "")
		m.Close()
		if err != nil {
			t.Fatalf("%s: %v", im.Path, err)
		}
		all = append(all, described{im.Identity, a.Quality.Yaw, a.Embedding})
	}
	var genuine, impostor []float64
	for _, s := range all {
		for _, c := range all {
			if math.Abs(s.yaw) > 12 || math.Abs(c.yaw) < 15 {
				continue
			}
			sim := face.Cosine(s.emb, c.emb)
			if s.who == c.who {
				genuine = append(genuine, sim)
			} else {
				impostor = append(impostor, sim)
			}
		}
	}
	slices.Sort(genuine)
	slices.Sort(impostor)
	below := func(v []float64) int {
		n, _ := slices.BinarySearch(v, DefaultChallengeSimilarity)
		return n
	}
	fnmr := float64(below(genuine)) / float64(len(genuine))
	fmr := float64(len(impostor)-below(impostor)) / float64(len(impostor))
	t.Logf("genuine %d pairs: min %.3f, 5th percentile %.3f, median %.3f; refused at %.4f: %.2f%%",
		len(genuine), genuine[0], genuine[len(genuine)/20], genuine[len(genuine)/2], DefaultChallengeSimilarity, 100*fnmr)
	t.Logf("impostor %d pairs: max %.3f, 99th percentile %.3f, median %.3f; accepted: %.2f%%",
		len(impostor), impostor[len(impostor)-1], impostor[len(impostor)*99/100], impostor[len(impostor)/2], 100*fmr)
	// The bounds the product relies on: hardly a genuine turn refused, an
	// impostor let through at about the matcher's target.
	if len(genuine) < 100 || fnmr > 0.01 {
		t.Errorf("%d genuine pairs, %.2f%% refused: want at least 100, at most 1%%", len(genuine), 100*fnmr)
	}
	if fmr > 0.03 {
		t.Errorf("%.2f%% of impostor pairs accepted, want at most 3%%", 100*fmr)
	}
}

// TestVerifyChallengeIdentity verifies Penny (faceapi_bbt: her card, her
// selfie) after a challenge said to be passed, with the frames that met
// its prompts: her own head turned either way keeps it passed; Sheldon's
// turns, or a frame without a face, fail it with FACE_CHALLENGE_IDENTITY.
func TestVerifyChallengeIdentity(t *testing.T) {
	if testing.Short() {
		t.Skip("runs whole verifications: skipped in -short mode")
	}
	eng := newEngine(t)
	scene := func(who string, n int) gocv.Mat {
		t.Helper()
		m := readFace(t, who, n)
		defer m.Close()
		s := selfieScene(t, m)
		t.Cleanup(func() { s.Close() })
		return s
	}
	card := readFace(t, "penny", 2)
	defer card.Close()
	portrait := portraitOf(t, eng, card)
	defer portrait.Close()
	doc := ktpPhoto(t, portrait)
	defer doc.Mat.Close()
	selfie := scene("penny", 5)
	empty := synth.Background(1280, 720, 5)
	defer empty.Close()
	// penny3 and sheldon3 turn about 18 degrees to the image's left (the
	// person's right) in these scenes, penny4 and sheldon4 7 to 11 to its
	// right.
	turns := func(left, right gocv.Mat) []ChallengeFrame {
		return []ChallengeFrame{{Prompt: "turn_left", Image: left}, {Prompt: "turn_right", Image: right}}
	}
	tests := []struct {
		name   string
		frames []ChallengeFrame
		same   bool
		bad    []bool // per frame: not the selfie's person
	}{
		{name: "the selfie's person turned", frames: turns(scene("penny", 4), scene("penny", 3)), same: true, bad: []bool{false, false}},
		{name: "another person turned", frames: turns(scene("sheldon", 4), scene("sheldon", 3)), bad: []bool{true, true}},
		{name: "the other person for one prompt", frames: turns(scene("penny", 4), scene("sheldon", 3)), bad: []bool{false, true}},
		{name: "no face in a frame", frames: turns(scene("penny", 4), empty), bad: []bool{false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := eng.Verify(context.Background(), Input{Front: doc, Selfie: selfie, Attempt: 1,
				LivenessChallenge: risk.ChallengePassed, ChallengeFrames: tt.frames})
			if err != nil {
				t.Fatal(err)
			}
			c := rep.Face.Challenge
			if c == nil || len(c.Frames) != len(tt.frames) {
				t.Fatalf("challenge report %+v", c)
			}
			for i, f := range c.Frames {
				t.Logf("%s: face %v, yaw %.1f, similarity %.3f", f.Prompt, f.FaceFound, f.Yaw, f.Similarity)
				if f.SamePerson == tt.bad[i] || f.Prompt != tt.frames[i].Prompt {
					t.Errorf("frame %d %+v, want the selfie's person: %v", i, f, !tt.bad[i])
				}
			}
			identity := rep.Risk.HasReason(risk.FaceChallengeIdentity)
			if c.SamePerson != tt.same || identity == tt.same {
				t.Errorf("same person %v, FACE_CHALLENGE_IDENTITY %v (reasons %v), want same %v", c.SamePerson, identity, rep.Reasons, tt.same)
			}
			if !tt.same && (rep.Decision != risk.Reject || rep.NextAction != risk.Exit || rep.LivenessPath != risk.LivenessChallengeFailed) {
				t.Errorf("another person: %s %s path %s, want a final reject, challenge failed", rep.Decision, rep.NextAction, rep.LivenessPath)
			}
			if tt.same && rep.LivenessPath == risk.LivenessChallengeFailed {
				t.Errorf("the selfie's person: path %s, reasons %v", rep.LivenessPath, rep.Reasons)
			}
		})
	}
}
