package face

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"testing"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/imageio"
)

// turned returns img turned deg degrees clockwise, as a phone held
// sideways (or a file whose EXIF orientation was stripped) delivers it.
func turned(t testing.TB, img gocv.Mat, deg int) gocv.Mat {
	t.Helper()
	out, err := imageio.Turn(img, deg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	return out
}

// mustHideFace fails the test when the detector finds a face in img as it
// is: the case would not exercise the turns.
func mustHideFace(t testing.TB, e *Engine, img gocv.Mat, name string) {
	t.Helper()
	if faces, err := e.det.Detect(context.Background(), img); err != nil || len(faces) > 0 {
		t.Fatalf("%s: the detector finds %d faces as it is (%v); the case no longer needs a turn", name, len(faces), err)
	}
}

// TestAnalyzeStillTurned: real faces turned by a quarter or upside down,
// in which the detector finds nothing as they come, are found turned back
// upright and are the same face: the same box and embedding as the upright
// image's, since the pixels are moved, not resampled.
func TestAnalyzeStillTurned(t *testing.T) {
	e := newTestEngine(t, 1)
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		turns []int
	}{
		{"amy1", []int{90, 180, 270}},
		{"leonard1", []int{90, 270}},
		{"sheldon1", []int{90, 270}},
		{"penny1", []int{180, 270}},
	} {
		upright := compose(t, 1280, 720, placed{bbt(t, c.name), 2.5, image.Pt(450, 150)})
		want, up, err := e.AnalyzeStill(ctx, upright, Dominant, Timings{}, "")
		up.Close()
		if err != nil || want.Turned != 0 {
			t.Fatalf("%s upright: turned %d, %v", c.name, want.Turned, err)
		}
		for _, deg := range c.turns {
			name := fmt.Sprintf("%s turned %d", c.name, deg)
			img := turned(t, upright, deg)
			mustHideFace(t, e, img, name)
			tm := Timings{}
			got, ok := analyzeTurned(t, e, img, deg, upright, tm, name)
			if !ok {
				continue
			}
			if sim := Cosine(got.Embedding, want.Embedding); sim < 0.999 {
				t.Errorf("%s: similarity to the upright face %.4f", name, sim)
			}
			if d := math.Abs(got.Face.Box.X-want.Face.Box.X) + math.Abs(got.Face.Box.Y-want.Face.Box.Y); d > 1 {
				t.Errorf("%s: box %+v, upright %+v", name, got.Face.Box, want.Face.Box)
			}
			if _, ok := tm["detect_turned"]; !ok {
				t.Errorf("%s: no timing for the turns", name)
			}
		}
	}
}

// TestMatchTurnedReference: a reference photo that came turned is matched
// upright against an upright selfie: the same person matches, another
// does not; a selfie that came turned is scored for liveness upright.
func TestMatchTurnedReference(t *testing.T) {
	e := newTestEngine(t, 1)
	ctx := context.Background()
	for _, c := range []struct {
		selfie, ref string
		refTurn     int
		want        string
	}{
		{"amy2", "amy1", 90, DecisionMatch},
		{"amy3", "amy1", 270, DecisionMatch},
		{"leonard3", "leonard1", 90, DecisionMatch},
		{"penny2", "amy1", 90, DecisionNoMatch},
		{"howard2", "leonard1", 270, DecisionNoMatch},
	} {
		name := fmt.Sprintf("%s vs %s turned %d", c.selfie, c.ref, c.refTurn)
		selfie := compose(t, 1280, 720, placed{bbt(t, c.selfie), 2.5, image.Pt(450, 150)})
		ref := turned(t, compose(t, 1280, 720, placed{bbt(t, c.ref), 2.5, image.Pt(450, 150)}), c.refTurn)
		mustHideFace(t, e, ref, name)
		r, err := e.Match(ctx, selfie, ref, true)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r.Decision.Decision != c.want || r.Reference.Turned != 360-c.refTurn || r.Selfie.Turned != 0 {
			t.Errorf("%s: %s (similarity %.3f), reference turned %d, selfie %d; want %s, %d, 0", name, r.Decision.Decision, r.Similarity, r.Reference.Turned, r.Selfie.Turned, c.want, 360-c.refTurn)
		}
	}
	// The selfie turned: its liveness is that of the upright selfie.
	selfie := compose(t, 1280, 720, placed{bbt(t, "amy2"), 2.5, image.Pt(450, 150)})
	ref := compose(t, 1280, 720, placed{bbt(t, "amy3"), 2.5, image.Pt(450, 150)})
	want, err := e.Match(ctx, selfie, ref, true)
	if err != nil {
		t.Fatal(err)
	}
	sideways := turned(t, selfie, 90)
	mustHideFace(t, e, sideways, "amy2 turned 90")
	got, err := e.Match(ctx, sideways, ref, true)
	if err != nil {
		t.Fatal(err)
	}
	if got.Selfie.Turned != 270 || got.Liveness == nil || got.Liveness.Score != want.Liveness.Score || got.Similarity != want.Similarity {
		t.Errorf("selfie turned 90: turned back %d, liveness %+v, similarity %.4f; upright: liveness %+v, similarity %.4f",
			got.Selfie.Turned, got.Liveness, got.Similarity, want.Liveness, want.Similarity)
	}
}

// TestAnalyzeStillErrors: an image without a face in any turn is still
// ErrNoFace, reported as not turned; two people in a selfie that came
// turned are two people (ErrMultipleFaces), not no face.
func TestAnalyzeStillErrors(t *testing.T) {
	e := newTestEngine(t, 1)
	blank := compose(t, 640, 480)
	a, up, err := e.AnalyzeStill(context.Background(), blank, Dominant, Timings{}, "")
	up.Close()
	if !errors.Is(err, ErrNoFace) || a.Turned != 0 || up.Turned != 0 || a.Detected != 0 {
		t.Errorf("blank image: %v, turned %d/%d, %d faces; want ErrNoFace, not turned", err, a.Turned, up.Turned, a.Detected)
	}
	amy := bbt(t, "amy1")
	two := turned(t, compose(t, 1280, 720, placed{amy, 2.5, image.Pt(150, 150)}, placed{amy, 2.5, image.Pt(750, 150)}), 90)
	mustHideFace(t, e, two, "two faces turned 90")
	a, up, err = e.AnalyzeStill(context.Background(), two, Dominant, Timings{}, "")
	up.Close()
	if !errors.Is(err, ErrMultipleFaces) || a.Turned != 270 || a.Detected != 2 {
		t.Errorf("two faces turned 90: %v, turned back %d, %d faces; want ErrMultipleFaces, 270, 2", err, a.Turned, a.Detected)
	}
}

// TestTurnedStillLiveness: liveness runs on the upright copy of a still
// that came turned, the crops the models were trained on: a live portrait
// and its screen and print reproductions, turned by a quarter and turned
// back, score exactly as upright (the pixels are moved, not resampled), so
// a turned attack is accepted no more often than an upright one.
func TestTurnedStillLiveness(t *testing.T) {
	e := newTestEngine(t, 1)
	ctx := context.Background()
	portrait, screen, print := reproductions(t)
	for _, c := range []struct {
		name  string
		img   gocv.Mat
		live  bool
		turns []int
	}{{"portrait", portrait, true, []int{270}}, {"screen", screen, false, []int{90, 270}}, {"print", print, false, []int{90, 270}}} {
		want, up, err := e.AnalyzeStill(ctx, c.img, Dominant, Timings{}, "")
		up.Close()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		wantLive, err := e.Liveness(ctx, c.img, want.Face)
		if err != nil || wantLive.Live != c.live {
			t.Fatalf("%s upright: %+v, %v; want live %v", c.name, wantLive, err, c.live)
		}
		for _, deg := range c.turns {
			name := fmt.Sprintf("%s turned %d", c.name, deg)
			img := turned(t, c.img, deg)
			mustHideFace(t, e, img, name)
			a, up, err := e.AnalyzeStill(ctx, img, Dominant, Timings{}, "")
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			l, err := e.Liveness(ctx, up.Mat, a.Face)
			up.Close()
			if err != nil {
				t.Fatal(err)
			}
			if a.Turned != 360-deg || l.Score != wantLive.Score || l.Live != c.live {
				t.Errorf("%s: turned back %d, liveness %.4f (live %v); upright %.4f (live %v)", name, a.Turned, l.Score, l.Live, wantLive.Score, c.live)
			}
		}
	}
}

// mustFindFace fails the test when the detector finds no face in img as it
// is: the case would not exercise the search of a face found turned.
func mustFindFace(t testing.TB, e *Engine, img gocv.Mat, name string) {
	t.Helper()
	if faces, err := e.det.Detect(context.Background(), img); err != nil || len(faces) == 0 {
		t.Fatalf("%s: the detector finds no face as it is (%v); the case no longer exercises a face found turned", name, err)
	}
}

// TestAnalyzeStillFoundTurned: stills turned by a quarter or upside down
// in which the detector finds a face anyway, its landmarks placed as if
// upright, are turned back by the length of their embeddings and then
// match their upright selves; a turned still of the AT&T set matches the
// person's other photo, as an honest customer's reference that came
// turned, and not another person's. All are of the held-out split, not the
// one uprightNorm was calibrated on.
func TestAnalyzeStillFoundTurned(t *testing.T) {
	e := newTestEngine(t, 1)
	ctx := context.Background()
	for _, c := range []struct {
		path     []string
		turns    []int
		other    []string // the person's other photo, matched upright
		stranger []string // another person's photo
	}{
		{[]string{"liveness", "interfaces_cc0", "007.jpg"}, []int{90, 180, 270}, nil, nil},
		{[]string{"liveness", "interfaces_cc0", "031.jpg"}, []int{90, 180, 270}, nil, nil},
		{[]string{"liveness", "interfaces_cc0", "051.jpg"}, []int{90, 180, 270}, nil, nil},
		{[]string{"faces", "att_faces", "s21", "1.pgm"}, []int{180}, []string{"faces", "att_faces", "s21", "6.pgm"}, []string{"faces", "att_faces", "s32", "1.pgm"}},
		{[]string{"faces", "att_faces", "s32", "6.pgm"}, []int{180}, []string{"faces", "att_faces", "s32", "1.pgm"}, []string{"faces", "att_faces", "s21", "6.pgm"}},
	} {
		upright := readImage(t, c.path...)
		want, err := e.Analyze(ctx, upright, Dominant, Timings{}, "")
		if err != nil {
			t.Fatalf("%v upright: %v", c.path, err)
		}
		for _, deg := range c.turns {
			name := fmt.Sprintf("%v turned %d", c.path, deg)
			img := turned(t, upright, deg)
			mustFindFace(t, e, img, name)
			tm := Timings{}
			got, ok := analyzeTurned(t, e, img, deg, upright, tm, name)
			if !ok {
				continue
			}
			if d := e.matcher.Decide(Cosine(got.Embedding, want.Embedding)); d.Decision != DecisionMatch {
				t.Errorf("%s: %s with its upright self (similarity %.3f)", name, d.Decision, d.Similarity)
			}
			if _, ok := tm["turn_search"]; !ok {
				t.Errorf("%s: no timing for the search of the turns", name)
			}
			if c.other == nil {
				continue
			}
			r, err := e.Match(ctx, readImage(t, c.other...), img, false)
			if err != nil || r.Decision.Decision != DecisionMatch || r.Reference.Turned != 360-deg {
				t.Errorf("%s as the reference of %v: %s (similarity %.3f), turned back %d, %v", name, c.other, r.Decision.Decision, r.Similarity, r.Reference.Turned, err)
			}
			r, err = e.Match(ctx, readImage(t, c.stranger...), img, false)
			if err != nil || r.Decision.Decision != DecisionNoMatch || r.Reference.Turned != 360-deg {
				t.Errorf("%s as the reference of %v: %s (similarity %.3f), turned back %d, %v", name, c.stranger, r.Decision.Decision, r.Similarity, r.Reference.Turned, err)
			}
		}
	}
}

// TestAnalyzeStillUprightSearched: an upright still whose face has a short
// embedding pays the search of the other turns and stays upright, its
// analysis that of the still as it came; one with a long embedding is
// taken as it comes, without the search.
func TestAnalyzeStillUprightSearched(t *testing.T) {
	e := newTestEngine(t, 1)
	ctx := context.Background()
	for _, c := range []struct {
		name     string
		searched bool
	}{{"003.jpg", true}, {"015.jpg", true}, {"019.jpg", true}, {"055.jpg", true}, {"011.jpg", false}, {"087.jpg", false}} {
		img := readImage(t, "liveness", "interfaces_cc0", c.name)
		want, err := e.Analyze(ctx, img, Dominant, Timings{}, "")
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		tm := Timings{}
		got, up, err := e.AnalyzeStill(ctx, img, Dominant, tm, "")
		up.Close()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if _, searched := tm["turn_search"]; searched != c.searched || (got.Norm < uprightNorm) != c.searched {
			t.Errorf("%s: embedding length %.2f, searched %v; want searched %v", c.name, got.Norm, searched, c.searched)
		}
		if got.Turned != 0 || up.Turned != 0 || got.Norm != want.Norm || Cosine(got.Embedding, want.Embedding) < 0.9999 {
			t.Errorf("%s: turned %d (copy %d), length %.3f, upright %.3f", c.name, got.Turned, up.Turned, got.Norm, want.Norm)
		}
	}
}

// analyzeTurned analyses img, upright turned by deg degrees, as a still
// and checks that it was turned back to upright's size; false when it
// could not be analysed (reported).
func analyzeTurned(t *testing.T, e *Engine, img gocv.Mat, deg int, upright gocv.Mat, tm Timings, name string) (Analysis, bool) {
	t.Helper()
	got, up, err := e.AnalyzeStill(context.Background(), img, Dominant, tm, "")
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return got, false
	}
	defer up.Close()
	if got.Turned != 360-deg || up.Turned != got.Turned || up.Mat.Cols() != upright.Cols() || up.Mat.Rows() != upright.Rows() {
		t.Errorf("%s: turned back %d (copy %dx%d, turned %d), want %d", name, got.Turned, up.Mat.Cols(), up.Mat.Rows(), up.Turned, 360-deg)
	}
	return got, true
}
