package capture

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"sort"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/document/locate"
	"github.com/openkyc/kyc/engine/face"
)

// DocumentConfig holds the document guidance thresholds. The defaults are
// the product's (seed 002, step 3) where it names one.
type DocumentConfig struct {
	// Sides is 1 (front only) or 2 (front, then back).
	Sides int
	// WorkWidth is the width locate searches at: smaller is faster, larger
	// finds smaller documents.
	WorkWidth int
	// MaxDeviation bounds the document's in-plane turn and its corner
	// angles' deviation from square (perspective), degrees.
	MaxDeviation float64
	// MinWidth and MaxWidth bound the document's width over the frame's.
	MinWidth, MaxWidth float64
	// Exposure is judged on the rectified document's grey levels, as a
	// camera's meter and histogram do: it is too dark when its mean grey
	// is below MinBrightness or more than MaxDark of it is at or below
	// DarkLevel (deep shadow over part of it), and too bright when more
	// than MaxClipped of it is at or above ClipLevel (clipped highlights
	// across it; a smaller blown-out patch is glare, its own check). A
	// white page lit brightly but with nothing clipped passes.
	MinBrightness float64
	DarkLevel     float64
	MaxDark       float64
	ClipLevel     float64
	MaxClipped    float64
	// AdviseMinBrightness and AdviseMaxBrightness are the comfortable range
	// of the mean grey level (the seed's 80-200): a frame whose exposure
	// passes but whose mean is outside it carries a hint (Overlay.Hint),
	// never a refusal. By default the lower end is the dark gate itself.
	AdviseMinBrightness, AdviseMaxBrightness float64
	// GlareLevel is the grey level from which a pixel (all three channels)
	// counts as blown out; MaxGlare bounds the blown-out share of the
	// document.
	GlareLevel float64
	MaxGlare   float64
	// MinVisible is the least share of the document's outline that must be
	// seen (see Occlusion in the package documentation).
	MinVisible float64
	// MinSharpness bounds the Laplacian variance of the document rectified
	// to SharpnessWidth pixels: measuring at a fixed width makes the
	// threshold independent of the camera's resolution.
	MinSharpness   float64
	SharpnessWidth int
	// MaxSpeed bounds the corners' mean movement, in frame widths per
	// second.
	MaxSpeed float64
	// StableFrames is how many consecutive analysed frames must pass every
	// check before the best of them is captured.
	StableFrames int
	// FlipCorrelation is the similarity to the captured side below which
	// the document counts as turned over.
	FlipCorrelation float64
}

// DefaultDocumentConfig returns the default thresholds for one side.
func DefaultDocumentConfig() DocumentConfig {
	return DocumentConfig{
		Sides:               1,
		WorkWidth:           320,
		MaxDeviation:        15,
		MinWidth:            0.5,
		MaxWidth:            0.9,
		MinBrightness:       80,
		DarkLevel:           40,
		MaxDark:             0.25,
		ClipLevel:           250,
		MaxClipped:          0.2,
		AdviseMinBrightness: 80,
		AdviseMaxBrightness: 200,
		GlareLevel:          245,
		MaxGlare:            0.05,
		MinVisible:          0.95,
		MinSharpness:        100,
		SharpnessWidth:      512,
		MaxSpeed:            0.15,
		StableFrames:        5,
		FlipCorrelation:     0.6,
	}
}

func (c DocumentConfig) validate() error {
	switch {
	case c.Sides != 1 && c.Sides != 2:
		return fmt.Errorf("document guidance: sides %d: want 1 or 2", c.Sides)
	case c.WorkWidth < 160:
		return fmt.Errorf("document guidance: work width %d below 160", c.WorkWidth)
	case c.SharpnessWidth < 64:
		return fmt.Errorf("document guidance: sharpness width %d below 64", c.SharpnessWidth)
	case c.MinWidth <= 0 || c.MaxWidth <= c.MinWidth || c.MaxWidth > 1:
		return fmt.Errorf("document guidance: width range %.2f..%.2f", c.MinWidth, c.MaxWidth)
	case c.AdviseMaxBrightness <= c.AdviseMinBrightness:
		return fmt.Errorf("document guidance: advised brightness range %.0f..%.0f", c.AdviseMinBrightness, c.AdviseMaxBrightness)
	case c.MinBrightness < 0 || c.DarkLevel < 0 || c.ClipLevel <= c.DarkLevel || c.ClipLevel > 255:
		return fmt.Errorf("document guidance: exposure levels: mean from %.0f, dark to %.0f, clipped from %.0f", c.MinBrightness, c.DarkLevel, c.ClipLevel)
	case c.MaxDark <= 0 || c.MaxClipped <= 0:
		return errors.New("document guidance: dark and clipped shares must be positive")
	case c.StableFrames < 1:
		return errors.New("document guidance: stable frames must be at least 1")
	case c.MaxGlare <= 0 || c.MinSharpness <= 0 || c.MaxSpeed <= 0 || c.MaxDeviation <= 0:
		return errors.New("document guidance: glare, sharpness, speed and deviation limits must be positive")
	}
	return nil
}

// Document check names, as they appear in Overlay.Checks.
const (
	CheckFound      = "found"
	CheckDeviation  = "deviation_deg"
	CheckWidth      = "width_fraction"
	CheckBrightness = "brightness"
	CheckDark       = "dark_fraction"
	CheckClipped    = "clipped_fraction"
	CheckGlare      = "glare_fraction"
	CheckVisible    = "visible_fraction"
	CheckSharpness  = "sharpness"
	CheckSpeed      = "speed"
)

// DocumentGuide guides the capture of a document's sides and captures each
// automatically. It is used by one goroutine at a time.
type DocumentGuide struct {
	cfg  DocumentConfig
	loc  locate.Options
	side int // index of the side being captured

	prevQuad *locate.Quad
	prevTime float64 // seconds
	window   []candidate
	captured

	// Between sides: the captured side's signature, and whether the
	// document has left the frame since.
	flipRef  []float64
	waitFlip bool
	absent   bool
}

type candidate struct {
	frame  Frame
	score  float64
	checks []Check
	sig    []float64
}

// NewDocumentGuide returns a guide with cfg's thresholds.
func NewDocumentGuide(cfg DocumentConfig) (*DocumentGuide, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	loc := locate.DefaultOptions()
	loc.WorkWidth = cfg.WorkWidth
	return &DocumentGuide{cfg: cfg, loc: loc}, nil
}

var sideNames = [2]string{"front", "back"}

// DocumentMeasure is what one frame shows of a document.
type DocumentMeasure struct {
	Locate     locate.Result
	Deviation  float64 // degrees
	Brightness float64 // mean grey level
	Dark       float64 // share of the document at or below DarkLevel
	Clipped    float64 // share of the document at or above ClipLevel
	Glare      float64 // share of the document
	Visible    float64 // share of the outline
	Sharpness  float64
	// Signature is a small normalised grey thumbnail of the rectified
	// document, to tell its sides apart.
	Signature []float64
}

// MeasureDocument locates the document in img and measures it; without a
// document only Locate is set.
func MeasureDocument(img gocv.Mat, cfg DocumentConfig, loc locate.Options) (DocumentMeasure, error) {
	r, err := locate.Find(img, loc)
	if err != nil {
		return DocumentMeasure{}, fmt.Errorf("locating document: %w", err)
	}
	m := DocumentMeasure{Locate: r}
	if !r.Found {
		return m, nil
	}
	m.Deviation = math.Max(math.Abs(r.Tilt), r.Skew)
	rect, err := locate.Rectify(img, r, cfg.SharpnessWidth)
	if err != nil {
		return m, fmt.Errorf("rectifying document: %w", err)
	}
	defer rect.Close()
	grey := gocv.NewMat()
	defer grey.Close()
	gocv.CvtColor(rect, &grey, gocv.ColorBGRToGray)
	m.Brightness = grey.Mean().Val1
	m.Dark, m.Clipped = exposure(grey, cfg.DarkLevel, cfg.ClipLevel)
	m.Glare = glareFraction(rect, cfg.GlareLevel)
	m.Sharpness = face.LaplacianVariance(grey)
	m.Signature = signature(grey)
	m.Visible, err = outlineVisible(img, r.Quad)
	if err != nil {
		return m, err
	}
	return m, nil
}

// Analyse implements Guide.
func (g *DocumentGuide) Analyse(ctx context.Context, f Frame) (Overlay, error) {
	if err := ctx.Err(); err != nil {
		return Overlay{}, err
	}
	ov := Overlay{Seq: f.Seq, TimeMS: ms(f.Time), Step: sideNames[min(g.side, 1)], Checks: []Check{}}
	if g.Done() {
		ov.Message = Done
		return ov, nil
	}
	m, err := MeasureDocument(f.Image, g.cfg, g.loc)
	if err != nil {
		return ov, err
	}
	now := f.Time.Seconds()
	if !m.Locate.Found {
		addCheck(&ov.Checks, CheckFound, 0, false)
		g.prevQuad = nil
		g.resetWindow()
		if g.waitFlip {
			g.absent = true
			ov.Message = FlipDocument
		} else {
			ov.Message = MoveIntoFrame
		}
		return ov, nil
	}
	for _, p := range m.Locate.Quad {
		ov.Quad = append(ov.Quad, Point{X: p.X, Y: p.Y})
	}
	if g.waitFlip {
		if !g.absent && correlation(m.Signature, g.flipRef) >= g.cfg.FlipCorrelation {
			ov.Message = FlipDocument
			g.prevQuad, g.prevTime = &m.Locate.Quad, now
			return ov, nil
		}
		g.waitFlip, g.absent, g.flipRef = false, false, nil
		g.side++
		ov.Step = sideNames[g.side]
	}
	c, w := g.cfg, float64(f.Image.Cols())
	speed := math.Inf(1)
	if g.prevQuad != nil && now > g.prevTime {
		speed = meanShift(*g.prevQuad, m.Locate.Quad) / w / (now - g.prevTime)
	}
	g.prevQuad, g.prevTime = &m.Locate.Quad, now
	wf := m.Locate.WidthFraction
	addCheck(&ov.Checks, CheckFound, m.Locate.Score, true)
	aligned := addCheck(&ov.Checks, CheckDeviation, m.Deviation, m.Deviation <= c.MaxDeviation)
	addCheck(&ov.Checks, CheckWidth, wf, wf >= c.MinWidth && wf <= c.MaxWidth)
	lit := addCheck(&ov.Checks, CheckBrightness, m.Brightness, m.Brightness >= c.MinBrightness)
	lit = addCheck(&ov.Checks, CheckDark, m.Dark, m.Dark <= c.MaxDark) && lit
	lit = addCheck(&ov.Checks, CheckClipped, m.Clipped, m.Clipped <= c.MaxClipped) && lit
	noGlare := addCheck(&ov.Checks, CheckGlare, m.Glare, m.Glare < c.MaxGlare)
	visible := addCheck(&ov.Checks, CheckVisible, m.Visible, m.Visible >= c.MinVisible)
	sharp := addCheck(&ov.Checks, CheckSharpness, m.Sharpness, m.Sharpness >= c.MinSharpness)
	still := addCheck(&ov.Checks, CheckSpeed, finite(speed), speed <= c.MaxSpeed)
	switch {
	case !aligned:
		ov.Message = AlignDocument
	case wf < c.MinWidth:
		ov.Message = MoveCloser
	case wf > c.MaxWidth:
		ov.Message = MoveBack
	case !lit:
		ov.Message = ImproveLighting
	case !noGlare:
		ov.Message = ReduceGlare
	case !visible:
		ov.Message = RemoveObstruction
	case !sharp || !still:
		ov.Message = HoldSteady
	default:
		ov.Message = Capturing
	}
	if lit {
		switch {
		case m.Brightness > c.AdviseMaxBrightness:
			ov.Hint = BrightLighting
		case m.Brightness < c.AdviseMinBrightness:
			ov.Hint = DimLighting
		}
	}
	if ov.Message != Capturing {
		g.resetWindow()
		return ov, nil
	}
	g.window = append(g.window, candidate{
		frame:  Frame{Seq: f.Seq, Time: f.Time, Image: f.Image.Clone()},
		score:  m.Sharpness/c.MinSharpness - m.Glare/c.MaxGlare,
		checks: ov.Checks,
		sig:    m.Signature,
	})
	if len(g.window) >= c.StableFrames {
		ov.Captured = g.capture()
	}
	return ov, nil
}

// capture keeps the window's best frame as the current side and moves on.
func (g *DocumentGuide) capture() string {
	sort.SliceStable(g.window, func(i, j int) bool { return g.window[i].score > g.window[j].score })
	best := g.window[0]
	g.window = g.window[1:]
	g.resetWindow()
	name := sideNames[g.side]
	g.captures = append(g.captures, Capture{Name: name, Seq: best.frame.Seq, Time: best.frame.Time, Score: best.score, Checks: best.checks, Image: best.frame.Image})
	if g.side+1 < g.cfg.Sides {
		g.waitFlip, g.absent, g.flipRef = true, false, best.sig
	} else {
		g.side++
	}
	return name
}

func (g *DocumentGuide) resetWindow() {
	for _, c := range g.window {
		c.frame.Image.Close()
	}
	g.window = g.window[:0]
}

// Done implements Guide.
func (g *DocumentGuide) Done() bool { return g.side >= g.cfg.Sides }

// Close implements Guide.
func (g *DocumentGuide) Close() error {
	g.resetWindow()
	g.closeCaptures()
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// finite keeps an unknown (infinite) measure out of JSON, which has no
// infinity.
func finite(v float64) float64 {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return -1
	}
	return v
}

func meanShift(a, b locate.Quad) float64 {
	var s float64
	for i := range a {
		s += math.Hypot(a[i].X-b[i].X, a[i].Y-b[i].Y)
	}
	return s / 4
}

// glareFraction is the share of bgr whose three channels are all at or
// above level. Each channel thresholded is 0 or 255, and the grey
// conversion's weights sum to one, so a pixel is 255 in grey only when all
// three channels are (226 at most otherwise): the same count as
// cv::inRange at half its cost.
func glareFraction(bgr gocv.Mat, level float64) float64 {
	set := gocv.NewMat()
	defer set.Close()
	gocv.Threshold(bgr, &set, float32(math.Ceil(level)-1), 255, gocv.ThresholdBinary)
	all := gocv.NewMat()
	defer all.Close()
	gocv.CvtColor(set, &all, gocv.ColorBGRToGray)
	gocv.Threshold(all, &all, 254, 255, gocv.ThresholdBinary)
	return float64(gocv.CountNonZero(all)) / float64(all.Rows()*all.Cols())
}

// exposure returns the shares of grey at or below dark and at or above
// clipped.
func exposure(grey gocv.Mat, dark, clipped float64) (darkShare, clippedShare float64) {
	mask := gocv.NewMat()
	defer mask.Close()
	n := float64(grey.Rows() * grey.Cols())
	// An 8-bit threshold keeps the grey levels above its floor.
	gocv.Threshold(grey, &mask, float32(dark), 255, gocv.ThresholdBinaryInv)
	darkShare = float64(gocv.CountNonZero(mask)) / n
	gocv.Threshold(grey, &mask, float32(math.Ceil(clipped)-1), 255, gocv.ThresholdBinary)
	clippedShare = float64(gocv.CountNonZero(mask)) / n
	return darkShare, clippedShare
}

// signatureSize is the thumbnail compared between sides.
var signatureSize = image.Pt(32, 20)

func signature(grey gocv.Mat) []float64 {
	small := gocv.NewMat()
	defer small.Close()
	gocv.Resize(grey, &small, signatureSize, 0, 0, gocv.InterpolationArea)
	b := small.ToBytes()
	v := make([]float64, len(b))
	var mean float64
	for i, x := range b {
		v[i] = float64(x)
		mean += v[i]
	}
	mean /= float64(len(v))
	var ss float64
	for i := range v {
		v[i] -= mean
		ss += v[i] * v[i]
	}
	if ss > 0 {
		n := math.Sqrt(ss)
		for i := range v {
			v[i] /= n
		}
	}
	return v
}

// correlation of two signatures, -1..1 (0 when either is missing).
func correlation(a, b []float64) float64 {
	if len(a) != len(b) {
		return 0
	}
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}
