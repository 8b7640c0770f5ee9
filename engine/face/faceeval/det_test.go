package faceeval

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

func TestDETPNGAndWriteFile(t *testing.T) {
	g := []float64{0.9, 0.8, 0.7, 0.35}
	im := []float64{0.1, 0.2, 0.4, -0.1, 0}
	data, err := DETPNG("test", []Curve{{Label: "a", Genuine: g, Impostor: im}, {Label: "b", Genuine: im, Impostor: g}})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil || cfg.Width != detW || cfg.Height != detH {
		t.Fatalf("plot is not a %dx%d PNG: %+v %v", detW, detH, cfg, err)
	}
	path := filepath.Join(t.TempDir(), "det.png")
	if err := WriteFile(path, data); err != nil {
		t.Fatal(err)
	}
	back, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(back, data) {
		t.Errorf("written plot differs: %v", err)
	}
	if err := WriteFile(filepath.Join(t.TempDir(), "missing", "det.png"), data); err == nil {
		t.Error("writing into a missing folder succeeded")
	}
}

func TestDETPointsRunFromStrictToLenient(t *testing.T) {
	pts := detPoints([]float64{0.9, 0.5}, []float64{0.1, 0.6})
	for i := 1; i < len(pts); i++ {
		if pts[i][0] < pts[i-1][0] || pts[i][1] > pts[i-1][1] {
			t.Fatalf("points not monotone: %v", pts)
		}
	}
	if last := pts[len(pts)-1]; last[0] != 1 || last[1] != 0 {
		t.Errorf("most lenient point %v, want FAR 1, FRR 0", last)
	}
}
