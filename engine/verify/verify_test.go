package verify

import (
	"context"
	"encoding/json"
	"errors"
	"image"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/document"
	"github.com/openkyc/kyc/engine/document/fields"
	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/engine/screening"
	"github.com/openkyc/kyc/internal/engines"
	"github.com/openkyc/kyc/internal/runtimeinfo"
	"github.com/openkyc/kyc/internal/synth"
	"github.com/openkyc/kyc/internal/testenv"
	"github.com/openkyc/kyc/models"
)

// newEngine loads the engines as the product does (package engines), with
// the OFAC sample as the watchlist.
func newEngine(t testing.TB) *Engine {
	t.Helper()
	testenv.ORT(t)
	store, err := models.DefaultStore()
	if err != nil {
		t.Fatal(err)
	}
	e, err := engines.Open(context.Background(), store, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	list, err := screening.ImportOFAC(context.Background(), testenv.Data(t, "sanctions", "ofac_sdn_sample"))
	if err != nil {
		t.Fatal(err)
	}
	return &Engine{Document: e.Document, Face: e.Face, Screening: screening.NewIndex(list), Risk: risk.DefaultConfig()}
}

// readFace reads photo n of a faceapi_bbt identity.
func readFace(t testing.TB, who string, n int) gocv.Mat {
	t.Helper()
	m, err := imageio.ReadFile(testenv.Data(t, "faces", "faceapi_bbt", who, who+string(rune('0'+n))+".png"), 0)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// ktpPhoto renders a KTP-like card with the holder's portrait, placed on a
// desk, and returns it as JPEG bytes and pixels.
func ktpPhoto(t testing.TB, portrait gocv.Mat) document.Image {
	t.Helper()
	card := synth.Card(synth.CardOptions{Width: 1000, Portrait: &portrait, Seed: 4, Lines: synth.KTPLines("SEUMUR HIDUP")})
	defer card.Close()
	bg := synth.Background(1600, 1000, 77)
	defer bg.Close()
	scene, _ := synth.Place(bg, card, synth.Placement{CenterX: 0.5, CenterY: 0.5, WidthFrac: 0.7, Rotate: 4, Tilt: 8})
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, scene, []int{gocv.IMWriteJpegQuality, 92})
	scene.Close()
	if err != nil {
		t.Fatal(err)
	}
	raw := append([]byte(nil), buf.GetBytes()...)
	buf.Close()
	m, err := imageio.Decode(raw, 0)
	if err != nil {
		t.Fatal(err)
	}
	return document.Image{Raw: raw, Mat: m}
}

// selfieScene puts a face photo in a 1280x720 frame, as a webcam sees it.
func selfieScene(t testing.TB, f gocv.Mat) gocv.Mat {
	t.Helper()
	s := synth.Background(1280, 720, uint64(rand.IntN(1000)))
	big := gocv.NewMat()
	defer big.Close()
	gocv.Resize(f, &big, image.Pt(360, 360), 0, 0, gocv.InterpolationCubic)
	roi := s.Region(image.Rect(460, 180, 820, 540))
	big.CopyTo(&roi)
	roi.Close()
	return s
}

// portraitOf cuts the face of a photo with a margin, as a card prints it.
func portraitOf(t testing.TB, eng *Engine, img gocv.Mat) gocv.Mat {
	t.Helper()
	a, err := eng.Face.Analyze(context.Background(), img, face.Largest, face.Timings{}, "")
	if err != nil {
		t.Fatal(err)
	}
	b := a.Face.Box
	r := image.Rect(int(b.X-b.W*0.4), int(b.Y-b.H*0.5), int(b.X+b.W*1.4), int(b.Y+b.H*1.5)).Intersect(image.Rect(0, 0, img.Cols(), img.Rows()))
	roi := img.Region(r)
	defer roi.Close()
	return roi.Clone()
}

func TestVerifyRoutes(t *testing.T) {
	eng := newEngine(t)
	// The live sample of the minivision set is a real camera capture: the
	// selfie, and the source of the portrait printed on the card.
	live, doc := genuine(t, eng)
	sheldon := readFace(t, "sheldon", 2)
	defer sheldon.Close()

	checkStages := recordStages(t, eng)
	rep, err := eng.Verify(context.Background(), Input{Front: doc, Selfie: live, Attempt: 1})
	if err != nil {
		t.Fatal(err)
	}
	checkStages()
	eng.Progress = nil
	t.Logf("same person: decision %s score %.1f reasons %v; doc type %s, face %+v", rep.Decision, rep.Score, rep.Reasons, rep.Document.Type, rep.Face.Match)
	if rep.Document.Type != fields.TypeKTP {
		t.Errorf("document type %s, want ktp (text %v)", rep.Document.Type, rep.Document.Front.Text)
	}
	if rep.Face.Match == nil || rep.Face.Match.Decision != "match" {
		t.Fatalf("same person not matched: %+v (%s)", rep.Face.Match, rep.Face.Problem)
	}
	if rep.Decision != risk.Approve || rep.NextAction != risk.Exit || rep.LivenessPath != risk.LivenessPassive {
		t.Errorf("genuine person: %s %s (liveness %s), reasons %v", rep.Decision, rep.NextAction, rep.LivenessPath, rep.Reasons)
	}
	if l := rep.Face.Liveness; l == nil || l.Fused == nil || !l.Live {
		t.Errorf("genuine person's liveness: %+v", l)
	}
	if !rep.Screening.Screened || len(rep.Screening.Hits) != 0 {
		t.Errorf("screening: %+v", rep.Screening)
	}
	for _, stage := range []string{"document", "selfie", "match", "screening", "total"} {
		if _, ok := rep.TimingsMS[stage]; !ok {
			t.Errorf("no timing for %s", stage)
		}
	}

	// The card's printed birth date is the one its NIK encodes: the age is
	// confirmed, and a service that admits only older holders refuses.
	age := rep.Document.Age
	if age == nil || !age.Vouched {
		t.Fatalf("holder's age %+v, want one the NIK confirms (fields %v, NIK %+v)", age, rep.Document.Fields, rep.Document.NIK)
	}
	policy := eng.Risk
	eng.Risk.MinAge = age.Years + 1
	rep, err = eng.Verify(context.Background(), Input{Front: doc, Selfie: live, Attempt: 1})
	eng.Risk = policy
	if err != nil {
		t.Fatal(err)
	}
	if rep.Decision != risk.Reject || rep.NextAction != risk.Exit || rep.Risk.Message != risk.MsgAgeRequirement || !rep.Risk.HasReason(risk.HolderUnderage) {
		t.Errorf("holder aged %d under a minimum age of %d: %s %s %s %v", age.Years, age.Years+1, rep.Decision, rep.NextAction, rep.Risk.Message, rep.Reasons)
	}

	other := selfieScene(t, sheldon)
	defer other.Close()
	rep, err = eng.Verify(context.Background(), Input{Front: doc, Selfie: other, Attempt: 1, Lang: risk.Indonesian})
	if rep.UserMessage == "" || rep.NextAction == risk.Exit && rep.Decision == risk.Approve {
		t.Errorf("different person: message %q, %s %s", rep.UserMessage, rep.Decision, rep.NextAction)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("other person: decision %s reasons %v", rep.Decision, rep.Reasons)
	if rep.Face.Match == nil || rep.Face.Match.Decision != "no_match" {
		t.Fatalf("different person matched: %+v", rep.Face.Match)
	}
	if rep.Decision == risk.Approve || !rep.Risk.HasReason(risk.FaceMismatch) {
		t.Errorf("different person: %s %v", rep.Decision, rep.Reasons)
	}

	// A thumbnail for the document: taken again, as an unreadable photo
	// is, not a failure of the machinery.
	thumb := gocv.NewMat()
	defer thumb.Close()
	gocv.Resize(doc.Mat, &thumb, image.Pt(48, 30), 0, 0, gocv.InterpolationArea)
	rep, err = eng.Verify(context.Background(), Input{Front: document.Image{Mat: thumb}, Selfie: live, Attempt: 1})
	if err != nil {
		t.Fatalf("a thumbnail for the document: %v", err)
	}
	if rep.NextAction != risk.Retry || rep.RetryStep != risk.RetryDocument || !rep.Risk.HasReason(risk.DocImageQuality) || rep.Risk.HasReason(risk.DocTampered) {
		t.Errorf("a thumbnail for the document: %s %s %s %v", rep.Decision, rep.NextAction, rep.RetryStep, rep.Reasons)
	}

	empty := gocv.NewMatWithSize(720, 1280, gocv.MatTypeCV8UC3)
	defer empty.Close()
	rep, err = eng.Verify(context.Background(), Input{Front: doc, Selfie: empty, Attempt: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.NextAction != risk.Retry || !rep.Risk.HasReason(risk.NoFace) {
		t.Errorf("selfie without a face: %s %s %v", rep.Decision, rep.NextAction, rep.Reasons)
	}

	// The same genuine captures after an active challenge the person
	// failed: the challenge decides.
	rep, err = eng.Verify(context.Background(), Input{Front: doc, Selfie: live, Attempt: 1, LivenessChallenge: risk.ChallengeFailed})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Decision != risk.Reject || rep.LivenessPath != risk.LivenessChallengeFailed || !rep.Risk.HasReason(risk.FaceChallengeFailed) {
		t.Errorf("failed challenge: %s, liveness %s, reasons %v", rep.Decision, rep.LivenessPath, rep.Reasons)
	}
}

// BenchmarkVerify is one whole verification (document pipelines, selfie,
// match, screening, risk) of a 1600x1000 document photo and a 640x480
// selfie, the models already loaded.
func BenchmarkVerify(b *testing.B) {
	b.Cleanup(runtimeinfo.TuneGC()) // as kyc runs
	eng := newEngine(b)
	live, doc := genuine(b, eng)
	addStages := testenv.ReportStages(b)
	testenv.ReportCPU(b)
	for b.Loop() {
		rep, err := eng.Verify(context.Background(), Input{Front: doc, Selfie: live, Attempt: 1})
		if err != nil {
			b.Fatal(err)
		}
		addStages(rep.TimingsMS)
		addStages(rep.Document.TimingsMS)
	}
}

// TestPrepared: the document half started ahead of the selfie gives the
// same verification as the whole run at once, reports its stages, and a
// Prepared that is never used can be closed, even while it runs.
func TestPrepared(t *testing.T) {
	eng := newEngine(t)
	live, doc := genuine(t, eng)

	whole, err := eng.Verify(context.Background(), Input{Front: doc, Selfie: live, Attempt: 1})
	if err != nil {
		t.Fatal(err)
	}
	checkStages := recordStages(t, eng)
	p := eng.Prepare(context.Background(), doc, nil)
	ahead, err := eng.Verify(context.Background(), Input{Selfie: live, Attempt: 1, Prepared: p})
	if err != nil {
		t.Fatal(err)
	}
	eng.Progress = nil
	if ahead.Decision != whole.Decision || ahead.Score != whole.Score || ahead.Document.Type != whole.Document.Type ||
		ahead.Face.Match == nil || ahead.Face.Match.Similarity != whole.Face.Match.Similarity {
		t.Errorf("prepared: %s %.1f %s %+v; at once: %s %.1f %s %+v", ahead.Decision, ahead.Score, ahead.Document.Type, ahead.Face.Match,
			whole.Decision, whole.Score, whole.Document.Type, whole.Face.Match)
	}
	checkStages()
	for _, stage := range []string{"document", "match"} {
		if ahead.TimingsMS[stage] <= 0 {
			t.Errorf("no %s timing: %v", stage, ahead.TimingsMS)
		}
	}

	// Closed while it runs, and again: no hang, no double release.
	abandoned := eng.Prepare(context.Background(), doc, nil)
	abandoned.Close()
	abandoned.Close()
	// A verification whose context ends while the document is read fails
	// with that context's error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := eng.Verify(ctx, Input{Selfie: live, Prepared: eng.Prepare(context.Background(), doc, nil)}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// BenchmarkVerifyPrepared is the app's last step: the document was read
// while the customer posed, so from the selfie to the decision only the
// selfie, the match, the screening and the risk remain.
func BenchmarkVerifyPrepared(b *testing.B) {
	b.Cleanup(runtimeinfo.TuneGC()) // as kyc-desktop runs
	eng := newEngine(b)
	live, doc := genuine(b, eng)
	for b.Loop() {
		b.StopTimer()
		p := eng.Prepare(context.Background(), doc, nil)
		p.Wait()
		b.StartTimer()
		if _, err := eng.Verify(context.Background(), Input{Selfie: live, Attempt: 1, Prepared: p}); err != nil {
			b.Fatal(err)
		}
	}
}

// genuine is the live minivision capture as the selfie and a KTP photo
// printing the same face: one genuine person's captures. They are closed
// when the test ends.
func genuine(t testing.TB, eng *Engine) (live gocv.Mat, doc document.Image) {
	t.Helper()
	live, err := imageio.ReadFile(testenv.Data(t, "liveness", "minivision_samples", "image_T1.jpg"), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { live.Close() })
	portrait := portraitOf(t, eng, live)
	defer portrait.Close()
	doc = ktpPhoto(t, portrait)
	t.Cleanup(func() { doc.Mat.Close() })
	return live, doc
}

// recordStages has eng report its progress; the returned check wants each
// stage reported exactly once since.
func recordStages(t *testing.T, eng *Engine) (check func()) {
	t.Helper()
	var mu sync.Mutex
	var stages []string
	eng.Progress = func(s string) {
		mu.Lock()
		stages = append(stages, s)
		mu.Unlock()
	}
	return func() {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		slices.Sort(stages)
		if want := []string{"decision", "document", "match", "screening", "selfie"}; !slices.Equal(stages, want) {
			t.Errorf("progress reported %v, want each of %v once", stages, want)
		}
	}
}

// TestVerifyTurnedSelfie: a selfie that came turned by a quarter (a phone
// held sideways), in which no face is found as it comes, is verified
// upright: the same match and liveness as the upright selfie, and the
// report says it was turned, for a reviewer to see.
func TestVerifyTurnedSelfie(t *testing.T) {
	eng := newEngine(t)
	live, doc := genuine(t, eng)
	want, err := eng.Verify(context.Background(), Input{Front: doc, Selfie: live, Attempt: 1})
	if err != nil {
		t.Fatal(err)
	}
	if want.Face.Selfie == nil || want.Face.Liveness == nil || want.Face.Match == nil || want.Face.Selfie.Turned != 0 {
		t.Fatalf("upright selfie: %+v", want.Face)
	}
	sideways := gocv.NewMat()
	defer sideways.Close()
	gocv.Rotate(live, &sideways, gocv.Rotate90Clockwise)
	if _, err := eng.Face.Analyze(context.Background(), sideways, face.Dominant, face.Timings{}, ""); !errors.Is(err, face.ErrNoFace) {
		t.Fatalf("the selfie turned 90: %v, want no face found as it comes", err)
	}
	rep, err := eng.Verify(context.Background(), Input{Front: doc, Selfie: sideways, Attempt: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Risk.HasReason(risk.NoFace) || rep.Face.Selfie == nil || rep.Face.Liveness == nil || rep.Face.Match == nil {
		t.Fatalf("selfie turned 90: %s %s %v, face %+v", rep.Decision, rep.NextAction, rep.Reasons, rep.Face)
	}
	if rep.Face.Selfie.Turned != 270 || rep.Face.Liveness.Score != want.Face.Liveness.Score || rep.Face.Match.Similarity != want.Face.Match.Similarity || rep.Decision != want.Decision {
		t.Errorf("selfie turned 90: turned back %d, liveness %.4f, similarity %.4f, %s; upright: liveness %.4f, similarity %.4f, %s",
			rep.Face.Selfie.Turned, rep.Face.Liveness.Score, rep.Face.Match.Similarity, rep.Decision, want.Face.Liveness.Score, want.Face.Match.Similarity, want.Decision)
	}
	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"turned":270`) {
		t.Errorf("the report's JSON does not say the selfie was turned")
	}
}
