package faceeval

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/internal/testenv"
)

func TestRunOnRealFaces(t *testing.T) {
	testenv.ORT(t)
	eng, err := face.New(face.Config{DetectorModel: testenv.Model(t, "yunet"), EmbedderModel: testenv.Model(t, "fr-feature")})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	images, err := LoadFolders(testenv.Data(t, "faces", "faceapi_bbt"), []string{"leonard", "penny", "raj"})
	if err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(t.TempDir(), "garbage.jpg")
	if err := os.WriteFile(garbage, []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	pairs := append(AllPairs(images), Pair{A: images[0].Path, B: garbage, Same: true})
	r, err := Run(context.Background(), eng, pairs, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.Images != 16 || len(r.Failures) != 1 || r.Failures[0].Path != garbage {
		t.Errorf("images %d, failures %+v; want 16 and the garbage file", r.Images, r.Failures)
	}
	// 3 people x C(5,2) genuine pairs plus the failed one.
	if r.Genuine.N != 31 || r.Impostor.N != 75 {
		t.Errorf("genuine %d impostor %d, want 31 and 75", r.Genuine.N, r.Impostor.N)
	}
	if r.Genuine.Min != unusableScore {
		t.Errorf("the failed pair did not score as a reject: min %v", r.Genuine.Min)
	}
	if r.AUC < 0.95 || r.Genuine.Mean < r.Impostor.Mean+0.4 {
		t.Errorf("real faces poorly separated: AUC %v, means %v / %v", r.AUC, r.Genuine.Mean, r.Impostor.Mean)
	}
	if r.Engine.Threshold != eng.Matcher().Threshold {
		t.Errorf("engine threshold %v, want %v", r.Engine.Threshold, eng.Matcher().Threshold)
	}
}

func TestRunWithTwoSides(t *testing.T) {
	// Each side embeds a name into a direction: side A turns identity a's
	// photos a little away from side B's, as printing a photo would, and
	// cannot take photo a2.
	unit := func(x, y float64) face.Embedding {
		n := math.Hypot(x, y)
		return face.Embedding{float32(x / n), float32(y / n)}
	}
	calls := map[string]int{}
	embedA := func(_ context.Context, path string) (face.Embedding, error) {
		calls["A"+path]++
		switch path {
		case "a1":
			return unit(1, 0.5), nil
		case "a2":
			return nil, errors.New("no portrait")
		}
		return unit(0, 1), nil
	}
	embedB := func(_ context.Context, path string) (face.Embedding, error) {
		calls["B"+path]++
		if path[0] == 'a' {
			return unit(1, 0), nil
		}
		return unit(0, 1), nil
	}
	images := []Image{{"a1", "a"}, {"a2", "a"}, {"b1", "b"}}
	m := face.Matcher{FAR: 1e-3, Threshold: 0.9}
	r, err := RunWith(context.Background(), m, CrossPairs(images), embedA, embedB)
	if err != nil {
		t.Fatal(err)
	}
	for k, n := range calls {
		if n != 1 {
			t.Errorf("%s embedded %d times, want once", k, n)
		}
	}
	if len(calls) != 6 || r.Images != 3 || r.Pairs != 6 || len(r.Failures) != 1 || r.Failures[0].Path != "a2" {
		t.Errorf("calls %v, images %d, pairs %d, failures %+v", calls, r.Images, r.Pairs, r.Failures)
	}
	// Genuine: (a1, a2) at cos(atan 0.5) = 0.894, (a2, a1) failed.
	if r.Genuine.N != 2 || math.Abs(r.Genuine.Max-2/math.Sqrt(5)) > 1e-6 || r.Genuine.Min != unusableScore {
		t.Errorf("genuine %+v", r.Genuine)
	}
	if r.Engine.Threshold != 0.9 || r.Engine.TAR != 0 || r.Engine.FAR != 0 {
		t.Errorf("at the matcher's threshold: %+v", r.Engine)
	}
	if _, err := RunWith(context.Background(), m, []Pair{{A: "a1", B: "b1"}}, embedA, embedB); !errors.Is(err, ErrNoPairs) {
		t.Errorf("impostors only: %v", err)
	}
}
