package forgery

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/ocr"
	"github.com/openkyc/kyc/engine/ort"
	"github.com/openkyc/kyc/internal/testenv"
)

func tools(t *testing.T) Tools {
	t.Helper()
	testenv.ORT(t)
	o, err := ocr.New(ocr.Config{DetModel: testenv.Model(t, "ppocr-det"), RecModel: testenv.Model(t, "ppocr-rec"),
		Keys: testenv.Model(t, "ppocr-keys"), ClsModel: testenv.Model(t, "ppocr-cls"), Workers: 2, RecBatch: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	y, err := face.NewYuNet(testenv.Model(t, "yunet"), face.YuNetConfig{}, ort.Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { y.Close() })
	return Tools{OCR: o, Faces: y}
}

// TestSplit: the halves are disjoint by document, a document's JPEG and
// PNG on the same side.
func TestSplit(t *testing.T) {
	files, calib, err := Specimens(testenv.SharedDir() + "/data")
	if err != nil {
		t.Fatal(err)
	}
	n := map[bool]int{}
	encodings := map[string]int{} // files of each document
	for _, f := range files {
		stem := filepath.Base(f)
		stem = stem[:len(stem)-len(filepath.Ext(stem))]
		if _, ok := calib[stem]; !ok {
			t.Errorf("%s is in neither half", f)
		}
		n[calib[stem]]++
		encodings[stem]++
	}
	// The split is by document: passport-td2 comes as a JPEG and a PNG,
	// both of which the one entry places.
	if encodings["passport-td2"] != 2 || n[true] == 0 || n[false] == 0 {
		t.Fatalf("halves %v; passport-td2 in %d files, want its JPEG and PNG", n, encodings["passport-td2"])
	}
	t.Logf("%d specimens: %d calibration, %d report", len(files), n[true], n[false])
}

// TestBuild renders the report half's first specimens twice with the
// same seed, the second time with both halves and one more specimen before
// them: every category a specimen allows is made, labelled, and the files
// are identical (a specimen's samples do not depend on what else is built,
// so `--split report` and `--fit` report on the same samples).
func TestBuild(t *testing.T) {
	tl := tools(t)
	data := filepath.Join(testenv.SharedDir(), "data")
	report := []string{"0_pass-lva.jpg", "100_pass-bdr.jpg", "passport-td2.jpg", "passport-td2.png"}
	build := func(dir, split string, only []string) *Set {
		s, err := Build(context.Background(), Options{Data: data, Dir: dir, Seed: 1, Split: split, Limit: 4,
			Only: only}, tl, func(s string) { t.Log(s) })
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a := build(t.TempDir(), "report", report)
	b := build(t.TempDir(), "all", append([]string{"0_id-esp.png"}, report...)) // a calibration specimen, listed first
	b.Samples = slices.DeleteFunc(b.Samples, func(s Sample) bool { return s.Calibration })
	if len(a.Samples) != len(b.Samples) || len(a.Samples) == 0 {
		t.Fatalf("%d and %d samples", len(a.Samples), len(b.Samples))
	}
	groups := map[Group]int{}
	paths := map[string]bool{}
	for i, s := range a.Samples {
		groups[s.Category.Group]++
		// One file per sample: two specimens of one name (a JPEG and a
		// PNG) must not overwrite each other's samples.
		if paths[s.Path] {
			t.Errorf("%s %s: %s written twice", s.Specimen, s.Category.Name, s.Path)
		}
		paths[s.Path] = true
		if s.Calibration {
			t.Errorf("%s in the calibration half", s.Specimen)
		}
		x, _ := os.ReadFile(s.Path)
		y, _ := os.ReadFile(b.Samples[i].Path)
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("%s %s: not deterministic", s.Specimen, s.Category.Name)
		}
		if s.Note != "" {
			t.Logf("%s / %s: %s", s.Specimen, s.Category.Name, s.Note)
		}
	}
	for _, sk := range a.Skipped {
		t.Logf("skipped %s / %s: %s", sk.Specimen, sk.Category.Name, sk.Why)
	}
	for _, g := range []Group{GroupGenuine, GroupResaved, GroupPrint, GroupScreen} {
		if groups[g] == 0 {
			t.Errorf("no %s sample", g)
		}
	}
	t.Logf("samples per group: %v", groups)
}
