package faceeval

import (
	"context"
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
