package faceeval

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"sort"

	"gocv.io/x/gocv"
)

// Curve is one system's scores to draw on a DET plot.
type Curve struct {
	Label             string
	Genuine, Impostor []float64
}

// DET plot geometry: probit axes from 0.01% to 50% error.
const (
	detW, detH = 640, 560
	detLeft    = 80
	detTop     = 40
	detPlot    = 440
	detMinRate = 1e-4
	detMaxRate = 0.5
)

var detTicks = []float64{1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5}

var detColors = []color.RGBA{{0, 90, 200, 0}, {200, 60, 0, 0}, {0, 150, 60, 0}, {150, 0, 150, 0}}

func probit(p float64) float64 {
	p = math.Min(detMaxRate, math.Max(detMinRate, p))
	return math.Sqrt2 * math.Erfinv(2*p-1)
}

// axis maps an error rate to a pixel offset along an axis of detPlot pixels.
func axis(p float64) int {
	lo, hi := probit(detMinRate), probit(detMaxRate)
	return int(math.Round((probit(p) - lo) / (hi - lo) * detPlot))
}

// DETPNG draws the detection error trade-off curves (false reject rate
// against false accept rate, both on probit scales) as a PNG.
func DETPNG(title string, curves []Curve) ([]byte, error) {
	img := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(255, 255, 255, 0), detH, detW, gocv.MatTypeCV8UC3)
	defer img.Close()
	grey, black := color.RGBA{210, 210, 210, 0}, color.RGBA{0, 0, 0, 0}
	pt := func(far, frr float64) image.Point {
		return image.Pt(detLeft+axis(far), detTop+detPlot-axis(frr))
	}
	for _, t := range detTicks {
		gocv.Line(&img, pt(t, detMinRate), pt(t, detMaxRate), grey, 1)
		gocv.Line(&img, pt(detMinRate, t), pt(detMaxRate, t), grey, 1)
		label := fmt.Sprintf("%g%%", t*100)
		gocv.PutText(&img, label, pt(t, detMinRate).Add(image.Pt(-18, 18)), gocv.FontHersheySimplex, 0.4, black, 1)
		gocv.PutText(&img, label, pt(detMinRate, t).Add(image.Pt(-62, 4)), gocv.FontHersheySimplex, 0.4, black, 1)
	}
	gocv.Rectangle(&img, image.Rectangle{Min: pt(detMinRate, detMaxRate), Max: pt(detMaxRate, detMinRate)}, black, 1)
	gocv.PutText(&img, "false accept rate", image.Pt(detLeft+detPlot/2-70, detTop+detPlot+40), gocv.FontHersheySimplex, 0.5, black, 1)
	gocv.PutText(&img, "false reject rate", image.Pt(4, detTop-12), gocv.FontHersheySimplex, 0.5, black, 1)
	gocv.PutText(&img, title, image.Pt(detLeft+120, detTop-12), gocv.FontHersheySimplex, 0.5, black, 1)
	for i, c := range curves {
		col := detColors[i%len(detColors)]
		prev := image.Point{X: -1}
		for _, r := range detPoints(c.Genuine, c.Impostor) {
			p := pt(r[0], r[1])
			if prev.X >= 0 {
				gocv.Line(&img, prev, p, col, 2)
			}
			prev = p
		}
		gocv.PutText(&img, c.Label, image.Pt(detLeft+detPlot-150, detTop+20+18*i), gocv.FontHersheySimplex, 0.45, col, 1)
	}
	buf, err := gocv.IMEncode(gocv.PNGFileExt, img)
	if err != nil {
		return nil, fmt.Errorf("encoding DET plot: %w", err)
	}
	defer buf.Close()
	return append([]byte(nil), buf.GetBytes()...), nil
}

// detPoints sweeps the threshold over every score and returns (FAR, FRR)
// pairs from the strictest threshold to the most lenient.
func detPoints(genuine, impostor []float64) [][2]float64 {
	g, im := sorted(genuine), sorted(impostor)
	all := append(append([]float64(nil), g...), im...)
	sort.Sort(sort.Reverse(sort.Float64Slice(all)))
	out := make([][2]float64, 0, len(all))
	for _, t := range all {
		out = append(out, [2]float64{rateAtOrAbove(im, t), 1 - rateAtOrAbove(g, t)})
	}
	return out
}

// WriteFile writes data to path through a synced temporary file and a
// rename, so a reader never sees half a plot.
func WriteFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path))
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
