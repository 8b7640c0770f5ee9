package faceeval

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Curve is one system's scores to draw on a DET plot.
type Curve struct {
	Label             string
	Genuine, Impostor []float64
	// Threshold, when not nil, is the decision threshold (similarity at or
	// above which a pair is accepted) whose operating point is marked on
	// the curve.
	Threshold *float64
}

// DET plot geometry: normal-deviate axes from 0.01% to 50% error, as
// biometric reports draw them (Martin et al., "The DET curve in assessment
// of detection task performance", 1997; ISO/IEC 19795-1).
const (
	detW, detH = 720, 720 // pixels
	detDPI     = 96
	detMinRate = 1e-4
	detMaxRate = 0.5
)

// detTicks are the rates marked on both axes; the labelled ones have a
// grid line.
var detTicks = []struct {
	rate    float64
	labeled bool
}{
	{1e-4, true}, {2e-4, false}, {5e-4, false}, {1e-3, true}, {2e-3, false}, {5e-3, false},
	{0.01, true}, {0.02, true}, {0.05, true}, {0.1, true}, {0.2, true}, {0.4, true}, {0.5, false},
}

var detColors = []color.RGBA{{0, 90, 200, 255}, {200, 60, 0, 255}, {0, 150, 60, 255}, {150, 0, 150, 255}}

// probit is the normal deviate of a rate: the axis scale of a DET plot.
func probit(p float64) float64 {
	return math.Sqrt2 * math.Erfinv(2*p-1)
}

// probitScale maps rates to an axis by their normal deviates; it is a
// plot.Normalizer.
type probitScale struct{}

func (probitScale) Normalize(lo, hi, x float64) float64 {
	a, b := probit(lo), probit(hi)
	return (probit(x) - a) / (b - a)
}

// rateTicks marks the rates of detTicks within [lo, hi] as percentages.
func rateTicks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for _, t := range detTicks {
		if t.rate < lo || t.rate > hi {
			continue
		}
		tk := plot.Tick{Value: t.rate}
		if t.labeled {
			tk.Label = fmt.Sprintf("%g%%", t.rate*100)
		}
		ts = append(ts, tk)
	}
	return ts
}

// DETPNG draws the detection error trade-off curves (false reject rate
// against false accept rate, both on normal-deviate scales) as a PNG of
// detW x detH pixels, with grid, legend, the FAR = FRR line (where it
// meets a curve is the curve's EER) and each curve's operating point at
// its Threshold, if given.
func DETPNG(title string, curves []Curve) ([]byte, error) {
	return DETPNGLabelled(title, "false accept rate (FAR, impostor pairs accepted)", "false reject rate (FRR, genuine pairs rejected)", curves)
}

// DETPNGLabelled is DETPNG with the axes named by the caller (another
// detection task: attacks missed against genuine samples flagged).
func DETPNGLabelled(title, xLabel, yLabel string, curves []Curve) ([]byte, error) {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(14)
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	for _, ax := range []*plot.Axis{&p.X, &p.Y} {
		ax.Scale = probitScale{}
		ax.Tick.Marker = plot.TickerFunc(rateTicks)
		ax.Label.TextStyle.Font.Size = vg.Points(11)
		ax.Tick.Label.Font.Size = vg.Points(10)
		ax.Padding = 0
	}
	grid := plotter.NewGrid()
	grid.Vertical.Color = color.Gray{Y: 215}
	grid.Horizontal.Color = color.Gray{Y: 215}
	p.Add(grid)

	diag, err := plotter.NewLine(plotter.XYs{{X: detMinRate, Y: detMinRate}, {X: detMaxRate, Y: detMaxRate}})
	if err != nil {
		return nil, fmt.Errorf("drawing DET plot: %w", err)
	}
	diag.Color = color.Gray{Y: 150}
	diag.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(diag)
	// The legend goes under the plot, where no curve can run through it.
	legend := plot.NewLegend()
	legend.Left = true
	legend.Top = true
	legend.TextStyle.Font.Size = vg.Points(10)
	legend.Padding = vg.Points(2)
	legend.Add("FAR = FRR (EER where a curve crosses)", diag)

	for i, c := range curves {
		if len(c.Genuine) == 0 || len(c.Impostor) == 0 {
			return nil, fmt.Errorf("drawing DET curve %q: %w", c.Label, ErrNoPairs)
		}
		col := detColors[i%len(detColors)]
		line, err := plotter.NewLine(detXYs(detPoints(c.Genuine, c.Impostor)))
		if err != nil {
			return nil, fmt.Errorf("drawing DET curve %q: %w", c.Label, err)
		}
		line.Color = col
		line.Width = vg.Points(1.8)
		p.Add(line)
		legend.Add(c.Label, line)
		if c.Threshold == nil {
			continue
		}
		t := *c.Threshold
		far, frr := rateAtOrAbove(sorted(c.Impostor), t), 1-rateAtOrAbove(sorted(c.Genuine), t)
		// Like the curve, a mark beyond the axes (a rate of 0 has no normal
		// deviate) sits on the edge; the legend gives the values.
		at := plotter.XYs{{X: edge(far), Y: edge(frr)}}
		mark, ring := &plotter.Scatter{XYs: at}, &plotter.Scatter{XYs: at}
		mark.GlyphStyle = draw.GlyphStyle{Shape: draw.CircleGlyph{}, Radius: vg.Points(5), Color: col}
		ring.GlyphStyle = draw.GlyphStyle{Shape: draw.RingGlyph{}, Radius: vg.Points(7), Color: color.Black}
		p.Add(unpadded{mark}, unpadded{ring})
		legend.Add(fmt.Sprintf("operating point at threshold %.4g: FAR %s, FRR %s", t, percent(far), percent(frr)), mark, ring)
	}
	p.X.Min, p.X.Max = detMinRate, detMaxRate
	p.Y.Min, p.Y.Max = detMinRate, detMaxRate

	cv := vgimg.NewWith(vgimg.UseWH(detLength(detW), detLength(detH)), vgimg.UseDPI(detDPI), vgimg.UseBackgroundColor(color.White))
	dc := draw.New(cv)
	margin := vg.Points(8)
	legendH := legend.Rectangle(dc).Size().Y + 2*margin
	p.Draw(draw.Crop(dc, 0, 0, legendH, 0))
	legend.Draw(draw.Crop(dc, 6*margin, 0, margin, legendH-margin-dc.Size().Y))
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: cv}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("encoding DET plot: %w", err)
	}
	return buf.Bytes(), nil
}

// unpadded hides a plotter's glyph boxes, for which the plot would move its
// axes apart: a mark on the edge overlaps the axis instead.
type unpadded struct{ plot.Plotter }

// detLength is n pixels at the plot's resolution.
func detLength(n int) vg.Length { return vg.Length(n) * vg.Inch / detDPI }

// edge keeps a rate within the axes.
func edge(r float64) float64 { return math.Min(detMaxRate, math.Max(detMinRate, r)) }

func percent(r float64) string {
	if r == 0 {
		return "0"
	}
	return fmt.Sprintf("%.3g%%", r*100)
}

// detXYs turns DET points into a line: rates beyond the axes (0 among
// them, which has no normal deviate) run along the plot's edge, as on the
// usual DET plots, so a system without errors in the range draws the edges
// rather than nothing; and the inner points of a horizontal or vertical run
// are dropped (they lie on the line anyway), which takes a curve of many
// thousand pairs down to its corners.
func detXYs(pts [][2]float64) plotter.XYs {
	xys := make(plotter.XYs, 0, len(pts))
	for i, q := range pts {
		x, y := edge(q[0]), edge(q[1])
		if n := len(xys); n >= 2 && i+1 < len(pts) {
			a, b := xys[n-2], xys[n-1]
			if (a.X == b.X && b.X == x) || (a.Y == b.Y && b.Y == y) {
				xys[n-1] = plotter.XY{X: x, Y: y}
				continue
			}
		}
		xys = append(xys, plotter.XY{X: x, Y: y})
	}
	return xys
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
