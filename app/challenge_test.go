package app

import (
	"context"
	"encoding/json"
	"image"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/app/demo"
	"github.com/openkyc/kyc/engine/capture"
	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/engine/screening"
	"github.com/openkyc/kyc/engine/verify"
	"github.com/openkyc/kyc/internal/synth"
	"github.com/openkyc/kyc/internal/testenv"
	"github.com/openkyc/kyc/models"
)

// TestLivenessChallenge runs the app's liveness challenges through its
// bound methods, with the real engines and video files as cameras. The
// person is greyscale (faceapi_bbt's Leonard: his card, his other photo
// as the selfie), as a greyscale camera sees everyone: the passive
// liveness never passes such a face alone and puts it in the risk
// policy's band of doubt.
//
//   - In doubt, the app takes the person back to the selfie camera with
//     the generic "one more step" and the prompts (EN, then ID), and
//     verifies again with the outcome: passed when the video follows the
//     prompts, failed when a still photo cannot within the time allowed.
//   - The prompts show in the order drawn for the challenge (fixed here
//     through Config.ChallengeOrder), and the video follows them either
//     way within the time each prompt allows.
//   - Raj turning his head after Leonard's selfie (the swap
//     after the selfie) fails the challenge: FACE_CHALLENGE_IDENTITY.
//   - With challenge_on_doubt off there is no challenge: the doubt goes
//     to a reviewer.
//   - An active-liveness session whose prompts pass is judged by them.
//
// The video that follows the prompts fakes each head turn with a 2D warp
// of the photo (the nose moved off the eyes' centre, as engine/capture's
// own tests fake one): a photo cannot turn its head, so this flow is
// tested here and not in the end-to-end test, whose selfies are rendered
// photos.
func TestLivenessChallenge(t *testing.T) {
	if testing.Short() {
		t.Skip("runs whole verifications: skipped in -short mode")
	}
	f := startFlowApp(t)
	leonard := testenv.Data(t, "faces", "faceapi_bbt", "leonard")
	card, photo := filepath.Join(leonard, "leonard1.png"), filepath.Join(leonard, "leonard2.png")
	videos := t.TempDir()
	docVideo, stillVideo, followingVideo := f.renderVideos(t, videos, card, photo)
	swapVideo := filepath.Join(videos, "swap.avi")
	f.writeSwapVideo(t, swapVideo, photo, testenv.Data(t, "faces", "faceapi_bbt", "raj", "raj1.png"))
	en, id := risk.English, risk.Indonesian
	msg := func(k risk.MessageKey, lang risk.Language) string {
		s, err := k.Text(lang)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	t.Run("doubt, challenge passed", func(t *testing.T) {
		res, views := f.verify(t, docVideo, followingVideo, "en", func(c *SessionConfig) {})
		ch := challengeSeen(t, views)
		if ch.Message != msg(risk.MsgLivenessChallenge, en) || ch.LivenessPath != risk.LivenessChallengeRequested ||
			ch.RequestedBy != views[0].sessionID+"-1" {
			t.Errorf("challenge view %+v, want the generic instruction, the path and the submission that asked", ch)
		}
		if want := []ChallengePrompt{{"turn_left", capture.TurnLeft.Text(capture.English)}, {"turn_right", capture.TurnRight.Text(capture.English)}}; !slices.Equal(ch.Prompts, want) {
			t.Errorf("prompts %v, want the default turns %v", ch.Prompts, want)
		}
		op := res.Operator
		if op.LivenessPath != risk.LivenessChallengePassed || !slices.Contains(op.Reasons, risk.FaceChallengePassed) ||
			slices.Contains(op.Reasons, risk.FaceLivenessDoubt) || res.NextAction == risk.Challenge {
			t.Fatalf("after the challenge: %s %s %v path %s", op.Decision, res.NextAction, op.Reasons, op.LivenessPath)
		}
		// The face no longer stands in the way: whatever else the attempt
		// holds (the synthetic card's document checks) decides.
		if faceReasons(op.Reasons) != 1 || op.Decision == risk.Reject {
			t.Errorf("after the challenge passed: %s %s, reasons %+v", op.Decision, res.NextAction, f.submission(t, res.SubmissionID).Report.Reasons)
		}
		t.Logf("after the challenge passed: %s %s %v", op.Decision, res.NextAction, op.Reasons)
		if res.SubmissionID != ch.RequestedBy+"-challenge" || !slices.Equal(op.Challenges, DoubtChallenges) {
			t.Errorf("submission %s challenges %v", res.SubmissionID, op.Challenges)
		}
		// Both attempts are sealed: the one that asked, and the one the
		// challenge decided, linked to it.
		first := f.submission(t, ch.RequestedBy)
		if first.Report.NextAction != risk.Challenge || first.Report.LivenessPath != risk.LivenessChallengeRequested || first.LivenessChallenge != "" {
			t.Errorf("the first submission: %+v", first)
		}
		second := f.submission(t, res.SubmissionID)
		if second.LivenessChallenge != risk.ChallengePassed || second.ChallengeAfter != ch.RequestedBy ||
			second.Report.LivenessPath != risk.LivenessChallengePassed || second.Attempt != 1 {
			t.Errorf("the challenge's submission: %+v", second)
		}
		wantScreens(t, views, ScreenCaptureDocument, ScreenCaptureSelfie, ScreenProcessing, ScreenCaptureSelfie, ScreenProcessing, ScreenResult)
	})

	t.Run("doubt, challenge passed in the order drawn", func(t *testing.T) {
		f.order = func(p []capture.Message) []capture.Message {
			r := slices.Clone(p)
			slices.Reverse(r)
			return r
		}
		defer func() { f.order = nil }()
		res, views := f.verify(t, docVideo, followingVideo, "en", func(c *SessionConfig) {})
		ch := challengeSeen(t, views)
		if want := []ChallengePrompt{{"turn_right", capture.TurnRight.Text(capture.English)}, {"turn_left", capture.TurnLeft.Text(capture.English)}}; !slices.Equal(ch.Prompts, want) {
			t.Errorf("prompts %v, want the drawn order %v", ch.Prompts, want)
		}
		if op := res.Operator; op.LivenessPath != risk.LivenessChallengePassed || !slices.Equal(op.Challenges, []string{"turn_right", "turn_left"}) {
			t.Errorf("after the challenge: path %s, challenges %v, reasons %v", op.LivenessPath, op.Challenges, op.Reasons)
		}
	})

	t.Run("doubt, challenge followed by another person", func(t *testing.T) {
		res, views := f.verify(t, docVideo, swapVideo, "en", func(c *SessionConfig) {})
		challengeSeen(t, views)
		op := res.Operator
		if op.Decision != risk.Reject || res.NextAction != risk.Exit || op.LivenessPath != risk.LivenessChallengeFailed ||
			len(op.Reasons) == 0 || op.Reasons[0] != risk.FaceChallengeIdentity {
			t.Fatalf("another person's turns: %s %s %v path %s, want reject EXIT, FACE_CHALLENGE_IDENTITY", op.Decision, res.NextAction, op.Reasons, op.LivenessPath)
		}
		s := f.submission(t, res.SubmissionID)
		if s.LivenessChallenge != risk.ChallengePassed || s.Report.Face.Challenge == nil || s.Report.Face.Challenge.SamePerson {
			t.Errorf("the challenge's submission: outcome %q, comparison %+v", s.LivenessChallenge, s.Report.Face.Challenge)
		}
		if res.Message != msg(risk.MsgNotVerified, en) {
			t.Errorf("customer message %q names more than the generic refusal", res.Message)
		}
	})

	t.Run("doubt, challenge timed out, Indonesian", func(t *testing.T) {
		start := time.Now()
		res, views := f.verify(t, docVideo, stillVideo, "id", func(c *SessionConfig) { c.ChallengeSeconds = 5 })
		ch := challengeSeen(t, views)
		if ch.Message != msg(risk.MsgLivenessChallenge, id) || ch.Prompts[0].Text != capture.TurnLeft.Text(capture.Indonesian) {
			t.Errorf("challenge view in Indonesian: %+v", ch)
		}
		op := res.Operator
		if op.Decision != risk.Reject || res.NextAction != risk.Exit || op.LivenessPath != risk.LivenessChallengeFailed ||
			len(op.Reasons) == 0 || op.Reasons[0] != risk.FaceChallengeFailed {
			t.Fatalf("a photo that cannot turn: %s %s %v path %s, want reject EXIT, challenge failed", op.Decision, res.NextAction, op.Reasons, op.LivenessPath)
		}
		if res.Message != msg(risk.MsgNotVerified, id) {
			t.Errorf("customer message %q names more than the generic refusal", res.Message)
		}
		if s := f.submission(t, res.SubmissionID); s.LivenessChallenge != risk.ChallengeFailed || s.ChallengeAfter != ch.RequestedBy {
			t.Errorf("the challenge's submission: %+v", s)
		}
		if time.Since(start) < 5*time.Second {
			t.Errorf("the challenge failed before its time was up")
		}
	})

	t.Run("challenge on doubt off", func(t *testing.T) {
		res, views := f.verify(t, docVideo, stillVideo, "en", func(c *SessionConfig) { c.ChallengeOnDoubt = false })
		if slices.ContainsFunc(views, func(v flowView) bool { return v.challenge != nil }) {
			t.Error("a challenge was offered with challenge_on_doubt off")
		}
		op := res.Operator
		if op.Decision != risk.Review || res.NextAction != risk.Status || op.LivenessPath != risk.LivenessDoubtReview ||
			!slices.Contains(op.Reasons, risk.FaceLivenessDoubt) || slices.Contains(op.Reasons, risk.FaceLivenessFailed) {
			t.Errorf("without a challenge: %s %s %v path %s, want the doubt sent to review", op.Decision, res.NextAction, op.Reasons, op.LivenessPath)
		}
		if s := f.submission(t, res.SubmissionID); s.LivenessChallenge != risk.ChallengeUnavailable {
			t.Errorf("the submission records challenge %q, want %q", s.LivenessChallenge, risk.ChallengeUnavailable)
		}
		wantScreens(t, views, ScreenCaptureDocument, ScreenCaptureSelfie, ScreenProcessing, ScreenResult)
	})

	t.Run("active session, challenges passed", func(t *testing.T) {
		res, views := f.verify(t, docVideo, followingVideo, "en", func(c *SessionConfig) {
			c.LivenessType, c.Challenges = "active", []string{"turn_right", "turn_left"}
		})
		ch := challengeSeen(t, views)
		if ch.Message != "" || ch.RequestedBy != "" || len(ch.Prompts) != 2 || ch.Prompts[0].Key != "turn_right" {
			t.Errorf("an active session's own challenge: %+v", ch)
		}
		op := res.Operator
		if op.LivenessPath != risk.LivenessChallengePassed || !slices.Contains(op.Reasons, risk.FaceChallengePassed) ||
			faceReasons(op.Reasons) != 1 || op.Decision == risk.Reject || res.SubmissionID != views[0].sessionID+"-1" {
			t.Errorf("active challenges passed: %s %s %v path %s", op.Decision, res.SubmissionID, op.Reasons, op.LivenessPath)
		}
		if s := f.submission(t, res.SubmissionID); s.LivenessChallenge != risk.ChallengePassed || s.ChallengeAfter != "" {
			t.Errorf("the submission: %+v", s)
		}
		wantScreens(t, views, ScreenCaptureDocument, ScreenCaptureSelfie, ScreenProcessing, ScreenResult)
	})
}

// faceReasons counts the reasons about the selfie's face.
func faceReasons(rs []risk.ReasonCode) int {
	n := 0
	for _, r := range rs {
		if strings.HasPrefix(string(r), "FACE_") {
			n++
		}
	}
	return n
}

// flowApp is a started app with an operator signed in, and the views it
// showed.
type flowApp struct {
	a   *App
	det *face.YuNet
	// order orders a challenge's prompts (Config.ChallengeOrder); nil
	// keeps them as configured.
	order func([]capture.Message) []capture.Message
	mu    sync.Mutex
	// views are the screens shown, recorded as the app shows them.
	views []flowView
}

// flowView is one screen change.
type flowView struct {
	screen    Screen
	sessionID string
	challenge *ChallengeView
}

// startFlowApp starts an app on the test bench: a device policy accepting
// this machine, the OFAC sample to screen against (so that nothing is
// missing for an approval), and an operator signed in.
func startFlowApp(t *testing.T) *flowApp {
	t.Helper()
	testenv.ORT(t)
	t.Setenv("KYC_VAULT_KEY_FILE", "")
	t.Setenv("KYC_VAULT_PASSPHRASE", "")
	store, err := models.DefaultStore()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	lists := filepath.Join(dir, "watchlists")
	l, err := screening.ImportOFAC(context.Background(), testenv.Data(t, "sanctions", "ofac_sdn_sample"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := screening.OpenStore(lists)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	photo := filepath.Join(testenv.Data(t, "liveness", "interfaces_cc0"), DemoPortrait)
	a := New(Config{Version: "test", Store: store, Dir: filepath.Join(dir, "desktop"), DeviceDir: filepath.Join(dir, "device"),
		WatchlistDir: lists, KeyDir: filepath.Join(dir, "keys"), DevicePolicy: benchPolicy(t, filepath.Join(dir, "policy.json")),
		DemoCardPhoto: photo, DemoSelfiePhoto: photo, Logger: slog.New(slog.DiscardHandler)})
	f := &flowApp{a: a}
	a.cfg.ChallengeOrder = func(p []capture.Message) []capture.Message {
		if f.order != nil {
			return f.order(p)
		}
		return slices.Clone(p)
	}
	a.emit = func(string, ...any) { // called with a.mu held
		v := flowView{screen: a.ui.screen}
		if s := a.sess; s != nil {
			v.sessionID = s.id
			if ch := s.challenge; ch != nil && ch.outcome == risk.ChallengeNone && a.ui.screen == ScreenCaptureSelfie {
				v.challenge = a.challengeViewLocked(ch)
			}
		}
		f.mu.Lock()
		f.views = append(f.views, v)
		f.mu.Unlock()
	}
	ctx := context.Background()
	a.Start(ctx)
	t.Cleanup(func() { a.Shutdown(ctx) })
	f.waitView(t, 3*time.Minute, func(v View) bool { return v.Screen == ScreenSignIn })
	if _, err := a.engines.wait(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SignIn("agent01", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if f.det, err = openDetector(store); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.det.Close() })
	return f
}

// verify runs one session through the bound methods, from a new
// verification to its result, with the session configuration edit makes
// to the defaults, and returns the result and the screens shown.
func (f *flowApp) verify(t *testing.T, docVideo, selfieVideo, lang string, edit func(*SessionConfig)) (*ResultView, []flowView) {
	t.Helper()
	a := f.a
	cfg := DefaultSessionConfig()
	edit(&cfg)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	a.sessionCfg = cfg
	a.mu.Unlock()
	if _, err := a.SaveSettings(Settings{DocumentCamera: docVideo, SelfieCamera: selfieVideo, Lang: lang, IdleSeconds: 600}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.views = nil
	f.mu.Unlock()
	if _, err := a.StartSession(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ChooseDocument("national_id", "ID"); err != nil {
		t.Fatal(err)
	}
	v := f.waitView(t, 2*time.Minute, func(v View) bool { return v.Screen == ScreenResult || v.Screen == ScreenHome })
	if v.Result == nil {
		t.Fatalf("no result: screen %s, error %q", v.Screen, v.Error)
	}
	f.mu.Lock()
	views := slices.Clone(f.views)
	f.mu.Unlock()
	// Repeated redraws of one screen (the processing stages) count once.
	views = slices.CompactFunc(views, func(x, y flowView) bool { return x.screen == y.screen })
	views = slices.DeleteFunc(views, func(x flowView) bool { return x.screen == ScreenDocumentSelect })
	a.Finish()
	return v.Result, views
}

// waitView polls the view until ok.
func (f *flowApp) waitView(t *testing.T, d time.Duration, ok func(View) bool) View {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(d)
	for {
		v := f.a.State()
		if ok(v) {
			return v
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out on screen %s (error %q)", v.Screen, v.Error)
		}
	}
}

// sealedSubmission is what the tests read of a sealed payload.
type sealedSubmission struct {
	submissionMeta
	Report struct {
		NextAction   risk.NextAction   `json:"next_action"`
		LivenessPath risk.LivenessPath `json:"liveness_path"`
		Reasons      []risk.Reason     `json:"reasons"`
		Face         struct {
			Challenge *verify.ChallengeReport `json:"challenge"`
		} `json:"face"`
	} `json:"report"`
}

// submission reads a sealed submission from the vault.
func (f *flowApp) submission(t *testing.T, id string) sealedSubmission {
	t.Helper()
	s, err := f.a.vault.GetSubmission(context.Background(), id)
	if err != nil {
		t.Fatalf("submission %s: %v", id, err)
	}
	var out sealedSubmission
	if err := json.Unmarshal(s.Payload, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// challengeSeen is the challenge the selfie screen showed.
func challengeSeen(t *testing.T, views []flowView) *ChallengeView {
	t.Helper()
	for _, v := range views {
		if v.challenge != nil {
			return v.challenge
		}
	}
	t.Fatalf("no challenge was shown: %v", screens(views))
	return nil
}

func screens(views []flowView) []Screen {
	var out []Screen
	for _, v := range views {
		out = append(out, v.screen)
	}
	return out
}

func wantScreens(t *testing.T, views []flowView, want ...Screen) {
	t.Helper()
	if got := screens(views); !slices.Equal(got, want) {
		t.Errorf("screens %v, want %v", got, want)
	}
}

// renderVideos writes the cameras: the card printed with cardPhoto, a
// still selfie of photo (the demo's), and one where photo follows turn
// prompts.
func (f *flowApp) renderVideos(t *testing.T, dir, cardPhoto, photo string) (doc, still, following string) {
	t.Helper()
	ctx := context.Background()
	read := func(p string) gocv.Mat {
		m, err := imageio.ReadFile(p, 0)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	cp, sp := read(cardPhoto), read(photo)
	defer cp.Close()
	defer sp.Close()
	portrait, err := demo.Portrait(ctx, f.det, cp)
	if err != nil {
		t.Fatal(err)
	}
	defer portrait.Close()
	c := demo.Card(portrait, demo.CardLines("SEUMUR HIDUP"))
	defer c.Close()
	doc, still, following = filepath.Join(dir, "document.avi"), filepath.Join(dir, "still.avi"), filepath.Join(dir, "following.avi")
	if err := demo.WriteDocumentVideo(doc, c); err != nil {
		t.Fatal(err)
	}
	if err := demo.WriteSelfieVideo(ctx, still, f.det, sp); err != nil {
		t.Fatal(err)
	}
	writeFollowingVideo(t, f.det, following, sp, sp)
	return doc, still, following
}

// writeSwapVideo writes the swap after the selfie: photo's face steady for
// the selfie, other's face turning for the prompts.
func (f *flowApp) writeSwapVideo(t *testing.T, path, photo, other string) {
	t.Helper()
	read := func(p string) gocv.Mat {
		m, err := imageio.ReadFile(p, 0)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	sp, op := read(photo), read(other)
	defer sp.Close()
	defer op.Close()
	writeFollowingVideo(t, f.det, path, sp, op)
}

// writeFollowingVideo writes a 640x480 selfie video as the demo places a
// face: photo's steady, then turner's turned to the person's left,
// photo's steady, turner's turned to their right, photo's steady; the
// turns are 2D warps (turnWarp).
func writeFollowingVideo(t *testing.T, det *face.YuNet, path string, photo, turner gocv.Mat) {
	t.Helper()
	const w, h = 640, 480
	bg := synth.Background(w, h, 21)
	defer bg.Close()
	// placed scales img so that its face fills the guide oval (as
	// demo.WriteSelfieVideo does), centred where the oval is, and returns
	// it and its nose's x in the scaled image.
	placed := func(img gocv.Mat) (scaled gocv.Mat, noseX float64, place func(gocv.Mat) gocv.Mat) {
		faces, err := det.Detect(context.Background(), img)
		if err != nil || len(faces) == 0 {
			t.Fatalf("no face in the photo: %v", err)
		}
		b := faces[0].Box
		scale := 0.7 * 0.72 * h / b.H
		scaled = gocv.NewMat()
		gocv.Resize(img, &scaled, image.Pt(int(float64(img.Cols())*scale), int(float64(img.Rows())*scale)), 0, 0, gocv.InterpolationArea)
		fx, fy := (b.X+b.W/2)*scale, (b.Y+b.H/2)*scale
		return scaled, faces[0].Landmarks[face.NoseTip].X * scale, func(src gocv.Mat) gocv.Mat {
			return synth.PasteAt(bg, src, int(0.5*w-fx), int(0.45*h-fy))
		}
	}
	straight, _, placeStraight := placed(photo)
	defer straight.Close()
	turned, noseX, placeTurned := placed(turner)
	defer turned.Close()
	left, right := turnWarp(turned, noseX, -0.5), turnWarp(turned, noseX, 0.5)
	defer left.Close()
	defer right.Close()
	err := synth.WriteVideo(path, demo.FPS, 48, func(i int) gocv.Mat {
		switch {
		case i >= 14 && i < 24:
			return placeTurned(left)
		case i >= 28 && i < 38:
			return placeTurned(right)
		}
		return placeStraight(straight)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// turnWarp fakes a head turn as engine/capture's tests do: the image left
// of the nose is squeezed by squeeze and the rest stretched to keep the
// width, so the nose moves off the eyes' centre as on a turned head. A
// positive squeeze looks towards the image's left (the person's right on
// an unmirrored camera), a negative one towards its right.
func turnWarp(src gocv.Mat, noseX, squeeze float64) gocv.Mat {
	img := src.Clone()
	w, h := img.Cols(), img.Rows()
	nx, flipped := int(noseX), squeeze < 0
	if flipped {
		gocv.Flip(img, &img, 1)
		nx, squeeze = w-nx, -squeeze
	}
	l, r := img.Region(image.Rect(0, 0, nx, h)), img.Region(image.Rect(nx, 0, w, h))
	lw := int(float64(nx) * (1 - squeeze))
	a, b := gocv.NewMat(), gocv.NewMat()
	gocv.Resize(l, &a, image.Pt(lw, h), 0, 0, gocv.InterpolationArea)
	gocv.Resize(r, &b, image.Pt(w-lw, h), 0, 0, gocv.InterpolationLinear)
	l.Close()
	r.Close()
	out := gocv.NewMat()
	gocv.Hconcat(a, b, &out)
	a.Close()
	b.Close()
	img.Close()
	if flipped {
		gocv.Flip(out, &out, 1)
	}
	return out
}

// benchPolicy writes the test bench's device policy (demo.WriteBenchPolicy)
// to path and returns path.
func benchPolicy(t *testing.T, path string) string {
	t.Helper()
	if err := demo.WriteBenchPolicy(context.Background(), path, nil); err != nil {
		t.Fatal(err)
	}
	return path
}
