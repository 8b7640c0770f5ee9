package face

import (
	"context"
	"errors"
	"image"
	"testing"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/internal/testenv"
)

func TestMatchDecides(t *testing.T) {
	e := newTestEngine(t, 1)
	ctx := context.Background()
	for _, c := range []struct {
		selfie, ref string
		want        string
	}{
		{"leonard1", "leonard3", DecisionMatch},
		{"amy2", "amy5", DecisionMatch},
		{"leonard1", "howard2", DecisionNoMatch},
		{"penny1", "bernadette1", DecisionNoMatch},
	} {
		// The selfie at 1280x720 and the reference on a document-sized
		// canvas, as a phone capture and an ID card would come.
		selfie := compose(t, 1280, 720, placed{bbt(t, c.selfie), 2.5, image.Pt(450, 150)})
		ref := compose(t, 1000, 630, placed{bbt(t, c.ref), 1.2, image.Pt(50, 180)})
		r, err := e.Match(ctx, selfie, ref, true)
		if err != nil {
			t.Fatalf("%s vs %s: %v", c.selfie, c.ref, err)
		}
		if r.Decision.Decision != c.want {
			t.Errorf("%s vs %s: %s (similarity %.3f, threshold %.3f), want %s", c.selfie, c.ref, r.Decision.Decision, r.Similarity, r.Threshold, c.want)
		}
		if r.Liveness == nil || r.Selfie.Detected != 1 || r.Reference.Detected != 1 {
			t.Errorf("%s vs %s: liveness %v, faces %d/%d", c.selfie, c.ref, r.Liveness, r.Selfie.Detected, r.Reference.Detected)
		}
		for _, stage := range []string{"selfie_detect", "selfie_embed", "selfie_liveness", "reference_detect", "reference_embed", "total"} {
			if _, ok := r.Timings[stage]; !ok {
				t.Errorf("no timing for %s", stage)
			}
		}
	}
}

func TestMatchInputErrors(t *testing.T) {
	e := newTestEngine(t, 1)
	leonard := bbt(t, "leonard1")
	good := compose(t, 640, 480, placed{leonard, 1.5, image.Pt(200, 100)})
	blank := compose(t, 640, 480)
	two := compose(t, 900, 400, placed{leonard, 2, image.Pt(20, 50)}, placed{bbt(t, "penny1"), 2, image.Pt(500, 50)})
	for _, c := range []struct {
		name        string
		selfie, ref gocv.Mat
		image       string
		want        error
	}{
		{"selfie without a face", blank, good, "selfie", ErrNoFace},
		{"reference without a face", good, blank, "reference", ErrNoFace},
		{"two people in the selfie", two, good, "selfie", ErrMultipleFaces},
	} {
		_, err := e.Match(context.Background(), c.selfie, c.ref, true)
		var ie *ImageError
		if !errors.Is(err, c.want) || !errors.As(err, &ie) || ie.Image != c.image {
			t.Errorf("%s: error %v, want %v on the %s", c.name, err, c.want, c.image)
		}
	}
	// A reference may hold several faces: the largest is compared.
	if r, err := e.Match(context.Background(), good, two, false); err != nil || r.Reference.Detected != 2 || r.Liveness != nil {
		t.Errorf("reference with two faces: %+v, %v", r.Reference, err)
	}
}

func TestMatchWithoutLivenessModel(t *testing.T) {
	testenv.ORT(t)
	e, err := New(Config{DetectorModel: testenv.Model(t, "yunet"), EmbedderModel: testenv.Model(t, "fr-feature")})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	img := compose(t, 640, 480, placed{bbt(t, "leonard1"), 1.5, image.Pt(200, 100)})
	if _, err := e.Match(context.Background(), img, img, true); err == nil {
		t.Error("liveness asked of an engine without the model did not fail")
	}
	if r, err := e.Match(context.Background(), img, img, false); err != nil || r.Decision.Decision != DecisionMatch {
		t.Errorf("same image: %+v, %v", r.Decision, err)
	}
}

func TestNewRejectsWrongModels(t *testing.T) {
	testenv.ORT(t)
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"missing detector file", Config{DetectorModel: "/nonexistent.onnx", EmbedderModel: testenv.Model(t, "fr-feature")}},
		{"embedder as detector", Config{DetectorModel: testenv.Model(t, "fr-feature"), EmbedderModel: testenv.Model(t, "fr-feature")}},
		{"detector as embedder", Config{DetectorModel: testenv.Model(t, "yunet"), EmbedderModel: testenv.Model(t, "yunet")}},
		{"embedder as liveness", Config{DetectorModel: testenv.Model(t, "yunet"), EmbedderModel: testenv.Model(t, "fr-feature"), LivenessModel: testenv.Model(t, "fr-feature")}},
	} {
		if e, err := New(c.cfg); err == nil {
			e.Close()
			t.Errorf("%s: New succeeded", c.name)
		}
	}
}
