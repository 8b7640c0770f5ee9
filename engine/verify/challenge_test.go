package verify

import (
	"context"
	"errors"
	"image"
	"image/color"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/document/forensics"
	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/face/faceeval"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/internal/synth"
	"github.com/openkyc/kyc/internal/testenv"
)

// TestChallengeEvidenceInput runs riskInput on the challenge frames'
// analyses: a passed challenge stays passed only when every frame shows
// the selfie's person (emb) without a reproduction's traces; another
// person, no face or traces fail it with the evidence, and frames of a
// challenge not said to be passed are not read.
func TestChallengeEvidenceInput(t *testing.T) {
	other := face.Embedding{0, 0, 1}
	turned := face.Embedding{0.5, 0.8, 0.33} // the selfie's person, head turned: similarity 0.94
	machinery := errors.New("session closed")
	frame := func(prompt string, e face.Embedding) challengeFace {
		return challengeFace{prompt: prompt, face: face.Analysis{Embedding: e, Quality: face.Quality{Yaw: -25}}, traces: face.TraceCheck{Traces: &forensics.Traces{}, Score: 1}}
	}
	thumbnail := func(f challengeFace) challengeFace {
		f.traces = face.TraceCheck{Score: 1} // no traces measured: too small
		return f
	}
	onScreen := func(f challengeFace) challengeFace {
		f.traces = face.TraceCheck{Traces: &forensics.Traces{ChromaMass: 5.5, LumaMass: 1}, Score: 0.2, Reproduction: true}
		return f
	}
	tests := []struct {
		name       string
		claimed    risk.ChallengeOutcome
		frames     []challengeFace
		want       risk.ChallengeOutcome
		evidence   []string // substrings of risk.Input.ChallengeIdentity; nil: none
		traced     []string // substrings of risk.Input.ChallengeReproduction; nil: none
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
		{name: "the selfie's person on a screen", claimed: risk.ChallengePassed, frames: []challengeFace{frame("turn_left", turned), onScreen(frame("turn_right", emb))},
			want: risk.ChallengeFailed, traced: []string{"turn_right: trace mass 6.50, score 0.20"}, report: true, samePerson: true},
		{name: "another person on a screen", claimed: risk.ChallengePassed, frames: []challengeFace{onScreen(frame("turn_left", other))},
			want: risk.ChallengeFailed, evidence: []string{"turn_left: similarity"}, traced: []string{"turn_left: trace mass"}, report: true},
		{name: "the selfie's person in a frame too small to check", claimed: risk.ChallengePassed, frames: []challengeFace{frame("turn_left", turned), thumbnail(frame("turn_right", emb))},
			want: risk.ChallengeFailed, traced: []string{"turn_right: too small a picture round the face"}, report: true, samePerson: true},
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
			for _, s := range tt.traced {
				if !strings.Contains(in.ChallengeReproduction, s) {
					t.Errorf("trace evidence %q lacks %q", in.ChallengeReproduction, s)
				}
			}
			if tt.traced == nil && in.ChallengeReproduction != "" {
				t.Errorf("trace evidence %q, want none", in.ChallengeReproduction)
			}
			if (rep.Challenge != nil) != tt.report {
				t.Fatalf("challenge report %+v, want one: %v", rep.Challenge, tt.report)
			}
			if c := rep.Challenge; c != nil {
				if c.SamePerson != tt.samePerson || c.Reproduction != (tt.traced != nil) || len(c.Frames) != len(tt.frames) || c.Threshold != DefaultChallengeSimilarity {
					t.Errorf("report %+v", c)
				}
				for i, f := range c.Frames {
					if f.Prompt != tt.frames[i].prompt || f.FaceFound != (tt.frames[i].err == nil) || f.Reproduction != tt.frames[i].traces.Reproduction {
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
			if got := res.HasReason(risk.FaceChallengeReproduction); got != (tt.traced != nil) {
				t.Errorf("reasons %v: FACE_CHALLENGE_REPRODUCTION %v, want %v", res.Reasons, got, tt.traced != nil)
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
// turns, or a frame without a face, fail it with FACE_CHALLENGE_IDENTITY;
// her own turn filmed off a screen (synth.ScreenPhoto, a resolved pixel
// grid as kyc eval liveness renders its screen attacks) fails it with
// FACE_CHALLENGE_REPRODUCTION.
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
	onScreen := func(m gocv.Mat) gocv.Mat {
		s := synth.ScreenPhoto(m, synth.ScreenOptions{Pitch: 1.2, Angle: 2, Blur: 0.2, Brightness: 0.65, JPEGQuality: 90, Seed: 3})
		t.Cleanup(func() { s.Close() })
		return s
	}
	turns := func(left, right gocv.Mat) []ChallengeFrame {
		return []ChallengeFrame{{Prompt: "turn_left", Image: left}, {Prompt: "turn_right", Image: right}}
	}
	tests := []struct {
		name   string
		frames []ChallengeFrame
		same   bool
		bad    []bool // per frame: not the selfie's person
		traced []bool // per frame: a reproduction's traces
	}{
		{name: "the selfie's person turned", frames: turns(scene("penny", 4), scene("penny", 3)), same: true, bad: []bool{false, false}, traced: []bool{false, false}},
		{name: "another person turned", frames: turns(scene("sheldon", 4), scene("sheldon", 3)), bad: []bool{true, true}, traced: []bool{false, false}},
		{name: "the other person for one prompt", frames: turns(scene("penny", 4), scene("sheldon", 3)), bad: []bool{false, true}, traced: []bool{false, false}},
		{name: "no face in a frame", frames: turns(scene("penny", 4), empty), bad: []bool{false, true}, traced: []bool{false, false}},
		{name: "the selfie's person turned on a screen", frames: turns(scene("penny", 4), onScreen(scene("penny", 3))), same: true,
			bad: []bool{false, false}, traced: []bool{false, true}},
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
				t.Logf("%s: face %v, yaw %.1f, similarity %.3f, trace mass %.2f score %.2f", f.Prompt, f.FaceFound, f.Yaw, f.Similarity, f.TraceMass, f.TraceScore)
				if f.SamePerson == tt.bad[i] || f.Prompt != tt.frames[i].Prompt {
					t.Errorf("frame %d %+v, want the selfie's person: %v", i, f, !tt.bad[i])
				}
				if f.Reproduction != tt.traced[i] {
					t.Errorf("frame %d %+v, want a reproduction: %v", i, f, tt.traced[i])
				}
			}
			traced := slices.Contains(tt.traced, true)
			identity, reproduction := rep.Risk.HasReason(risk.FaceChallengeIdentity), rep.Risk.HasReason(risk.FaceChallengeReproduction)
			if c.SamePerson != tt.same || identity == tt.same {
				t.Errorf("same person %v, FACE_CHALLENGE_IDENTITY %v (reasons %v), want same %v", c.SamePerson, identity, rep.Reasons, tt.same)
			}
			if c.Reproduction != traced || reproduction != traced {
				t.Errorf("reproduction %v, FACE_CHALLENGE_REPRODUCTION %v (reasons %v), want %v", c.Reproduction, reproduction, rep.Reasons, traced)
			}
			failed := !tt.same || traced
			if failed && (rep.Decision != risk.Reject || rep.NextAction != risk.Exit || rep.LivenessPath != risk.LivenessChallengeFailed) {
				t.Errorf("challenge failed: %s %s path %s, want a final reject, challenge failed", rep.Decision, rep.NextAction, rep.LivenessPath)
			}
			if !failed && rep.LivenessPath == risk.LivenessChallengeFailed {
				t.Errorf("the selfie's person: path %s, reasons %v", rep.LivenessPath, rep.Reasons)
			}
		})
	}
}

// TestChallengeTracesOnLiveFaces measures the challenge's trace check on
// live faces (its false positives): every colour photo at hand (the
// interfaces_cc0 portraits, faceapi_bbt's faces) as it is and as a
// challenge frame shows a turned head, approximated by the image turned in
// depth (a perspective squeeze of one side, either way), rolled 10
// degrees, and the face shifted off centre. The threshold is the selfie's
// (face.DefaultFusion: its default, at which no live face of the fusion's
// calibration half measured a trace); none may fire. Measured 2026-12:
// none of 450 fired (90 photos, five views), the largest trace mass 0.
func TestChallengeTracesOnLiveFaces(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the face detector on 500 images: skipped in -short mode")
	}
	eng := newEngine(t)
	portraits, err := filepath.Glob(filepath.Join(testenv.Data(t, "liveness", "interfaces_cc0"), "*.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	bbt, err := filepath.Glob(filepath.Join(testenv.Data(t, "faces", "faceapi_bbt"), "*", "*.png"))
	if err != nil || len(portraits) == 0 || len(bbt) == 0 {
		t.Fatalf("%v: %d portraits, %d faceapi_bbt faces", err, len(portraits), len(bbt))
	}
	paths := append(portraits, bbt...)
	views := []struct {
		name string
		warp func(gocv.Mat) gocv.Mat
	}{
		{"as taken", func(m gocv.Mat) gocv.Mat { return m.Clone() }},
		{"turned left", func(m gocv.Mat) gocv.Mat { return squeezeSide(m, 0.2) }},
		{"turned right", func(m gocv.Mat) gocv.Mat { return squeezeSide(m, -0.2) }},
		{"rolled", func(m gocv.Mat) gocv.Mat { return rotated(m, 10) }},
		{"shifted", func(m gocv.Mat) gocv.Mat { return shifted(m, 0.15) }},
	}
	var measured, fired int
	var most float64 // the largest trace mass measured
	for _, p := range paths {
		img, err := imageio.ReadFile(p, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range views {
			m := v.warp(img)
			a, err := eng.Face.Analyze(context.Background(), m, face.Largest, face.Timings{}, "")
			if err != nil {
				m.Close()
				t.Logf("%s %s: %v", filepath.Base(p), v.name, err)
				continue
			}
			tc, err := eng.Face.TraceCheck(context.Background(), m, a.Face.Box)
			m.Close()
			if err != nil {
				t.Fatal(err)
			}
			measured++
			if tc.Traces != nil {
				most = max(most, tc.Traces.ChromaMass+tc.Traces.LumaMass)
			}
			if tc.Reproduction {
				fired++
				t.Errorf("%s %s: a live face's traces fire: score %.2f %+v", filepath.Base(p), v.name, tc.Score, tc.Traces)
			}
		}
		img.Close()
	}
	t.Logf("trace check on live faces: %d of %d fired (%d photos, %d views), largest trace mass %.2f (threshold %.2f)",
		fired, measured, len(paths), len(views), most, eng.Face.Fusion().TraceThreshold)
	if measured < len(paths)*len(views)*9/10 {
		t.Errorf("a face found in %d of %d views", measured, len(paths)*len(views))
	}
}

// squeezeSide warps m as a head turned in depth: the side at x=0 (k > 0)
// or x=width (k < 0) shrunk vertically by |k| of the height.
func squeezeSide(m gocv.Mat, k float64) gocv.Mat {
	w, h := float32(m.Cols()), float32(m.Rows())
	d := float32(math.Abs(k)) * h / 2
	src := []gocv.Point2f{{X: 0, Y: 0}, {X: w, Y: 0}, {X: w, Y: h}, {X: 0, Y: h}}
	dst := slices.Clone(src)
	if k > 0 {
		dst[0].Y, dst[3].Y = d, h-d
	} else {
		dst[1].Y, dst[2].Y = d, h-d
	}
	sv, dv := gocv.NewPoint2fVectorFromPoints(src), gocv.NewPoint2fVectorFromPoints(dst)
	defer sv.Close()
	defer dv.Close()
	tf := gocv.GetPerspectiveTransform2f(sv, dv)
	defer tf.Close()
	out := gocv.NewMat()
	gocv.WarpPerspectiveWithParams(m, &out, tf, image.Pt(m.Cols(), m.Rows()), gocv.InterpolationLinear, gocv.BorderReplicate, color.RGBA{})
	return out
}

// rotated turns m by deg about its centre.
func rotated(m gocv.Mat, deg float64) gocv.Mat {
	tf := gocv.GetRotationMatrix2D(image.Pt(m.Cols()/2, m.Rows()/2), deg, 1)
	defer tf.Close()
	out := gocv.NewMat()
	gocv.WarpAffineWithParams(m, &out, tf, image.Pt(m.Cols(), m.Rows()), gocv.InterpolationLinear, gocv.BorderReplicate, color.RGBA{})
	return out
}

// shifted moves m's content right by k of its width, the edge repeated.
func shifted(m gocv.Mat, k float64) gocv.Mat {
	tf := gocv.NewMatWithSize(2, 3, gocv.MatTypeCV64F)
	defer tf.Close()
	tf.SetDoubleAt(0, 0, 1)
	tf.SetDoubleAt(0, 2, k*float64(m.Cols()))
	tf.SetDoubleAt(1, 1, 1)
	out := gocv.NewMat()
	gocv.WarpAffineWithParams(m, &out, tf, image.Pt(m.Cols(), m.Rows()), gocv.InterpolationLinear, gocv.BorderReplicate, color.RGBA{})
	return out
}
