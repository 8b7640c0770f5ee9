package faceeval

import (
	"bytes"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// normalScores draws n scores from N(mean, sd) with a fixed seed.
func normalScores(n int, mean, sd float64, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 1))
	s := make([]float64, n)
	for i := range s {
		s[i] = mean + sd*rng.NormFloat64()
	}
	return s
}

// colourPixels returns the pixels of img within tol of col on every
// channel.
func colourPixels(img image.Image, col [3]uint32, tol int) []image.Point {
	var pts []image.Point
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			c := [3]uint32{r >> 8, g >> 8, bl >> 8}
			ok := true
			for k := range c {
				if d := int(c[k]) - int(col[k]); d < -tol || d > tol {
					ok = false
				}
			}
			if ok {
				pts = append(pts, image.Pt(x, y))
			}
		}
	}
	return pts
}

func TestDETPNG(t *testing.T) {
	// A good system (d' = 6, EER about 0.1%) and a poor one (d' = 2, EER
	// about 16%), many thousand pairs each as in a real evaluation.
	good := Curve{Label: "good", Genuine: normalScores(2000, 0.7, 0.1, 1), Impostor: normalScores(50000, 0.1, 0.1, 2)}
	poor := Curve{Label: "poor", Genuine: normalScores(2000, 0.5, 0.15, 3), Impostor: normalScores(50000, 0.2, 0.15, 4)}
	thr := 0.4
	good.Threshold = &thr
	data, err := DETPNG("DET: test", []Curve{good, poor})
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("plot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != detW || b.Dy() != detH {
		t.Fatalf("plot is %dx%d, want %dx%d", b.Dx(), b.Dy(), detW, detH)
	}
	white := len(colourPixels(img, [3]uint32{255, 255, 255}, 4))
	if ink := 1 - float64(white)/float64(detW*detH); ink < 0.04 {
		t.Errorf("plot looks blank: %.1f%% of it is not white", ink*100)
	}
	// Each curve is drawn in its colour, the good one nearer the origin
	// (the plot's bottom left) than the poor one.
	var dist [2]float64
	for i := range 2 {
		c := detColors[i]
		pts := colourPixels(img, [3]uint32{uint32(c.R), uint32(c.G), uint32(c.B)}, 40)
		if len(pts) < 300 {
			t.Fatalf("curve %d: only %d pixels of its colour", i, len(pts))
		}
		for _, p := range pts {
			dist[i] += math.Hypot(float64(p.X), float64(detH-p.Y))
		}
		dist[i] /= float64(len(pts))
	}
	t.Logf("curve pixels from the bottom-left corner: good %.0f px, poor %.0f px", dist[0], dist[1])
	if dist[0] >= dist[1]*0.8 {
		t.Errorf("the good curve's pixels are %.0f px from the bottom-left corner, the poor one's %.0f", dist[0], dist[1])
	}
	// The operating point's filled mark adds the curve's colour.
	good.Threshold = nil
	plain, err := DETPNG("DET: test", []Curve{good, poor})
	if err != nil {
		t.Fatal(err)
	}
	pimg, err := png.Decode(bytes.NewReader(plain))
	if err != nil {
		t.Fatal(err)
	}
	c := detColors[0]
	with, without := len(colourPixels(img, [3]uint32{uint32(c.R), uint32(c.G), uint32(c.B)}, 40)), len(colourPixels(pimg, [3]uint32{uint32(c.R), uint32(c.G), uint32(c.B)}, 40))
	t.Logf("curve-colour pixels: %d with the operating point, %d without", with, without)
	if with < without+40 {
		t.Errorf("the operating point mark is missing: %d pixels of its colour with it, %d without", with, without)
	}
	if _, err := DETPNG("empty", []Curve{{Label: "none", Genuine: []float64{0.5}}}); err == nil {
		t.Error("a curve without impostor scores was drawn")
	}
}

func TestProbitScale(t *testing.T) {
	s := probitScale{}
	if lo, hi := s.Normalize(detMinRate, detMaxRate, detMinRate), s.Normalize(detMinRate, detMaxRate, detMaxRate); math.Abs(lo) > 1e-12 || math.Abs(hi-1) > 1e-12 {
		t.Errorf("axis ends map to %g and %g, want 0 and 1", lo, hi)
	}
	// Normal deviates: 1% is at -2.326, 0.01% at -3.719, 50% at 0.
	if got, want := s.Normalize(detMinRate, detMaxRate, 0.01), (3.719-2.326)/3.719; math.Abs(got-want) > 1e-3 {
		t.Errorf("1%% maps to %.4f, want %.4f", got, want)
	}
	for _, tk := range rateTicks(detMinRate, detMaxRate) {
		if tk.Value < detMinRate || tk.Value > detMaxRate {
			t.Errorf("tick %v outside the axis", tk)
		}
	}
}

func TestDETXYsKeepsCorners(t *testing.T) {
	g := normalScores(500, 0.6, 0.1, 5)
	im := normalScores(20000, 0.1, 0.1, 6)
	pts := detPoints(g, im)
	xys := detXYs(pts)
	if len(xys) >= len(pts)/4 {
		t.Errorf("%d points kept of %d", len(xys), len(pts))
	}
	// Every dropped point lies on the kept line: the kept points are a
	// monotone staircase through the first and the last.
	if xys[0].X != edge(pts[0][0]) || xys[len(xys)-1].Y != edge(pts[len(pts)-1][1]) {
		t.Errorf("ends %v .. %v, points %v .. %v", xys[0], xys[len(xys)-1], pts[0], pts[len(pts)-1])
	}
	for i := 1; i < len(xys); i++ {
		if xys[i].X < xys[i-1].X || xys[i].Y > xys[i-1].Y {
			t.Fatalf("kept points not monotone at %d: %v %v", i, xys[i-1], xys[i])
		}
	}
}

func TestWriteFile(t *testing.T) {
	data := []byte("\x89PNG not really")
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
