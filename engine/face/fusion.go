package face

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/document/forensics"
)

// Model names in FusedLiveness.Models, in this order.
const (
	ModelMiniFASNetV2SE = "minifasnet_v2se"     // suriAI's MiniFASNetV2-SE, 128x128 RGB at 1.5x the face
	ModelMiniFASNetV2   = "minifasnet_v2_2.7"   // minivision's MiniFASNetV2, 80x80 BGR at 2.7x
	ModelMiniFASNetV1SE = "minifasnet_v1se_4.0" // minivision's MiniFASNetV1SE, 80x80 BGR at 4.0x
	miniFASV2Scale      = 2.7
	miniFASV1SEScale    = 4.0
	traceMinSide        = 128 // smaller regions take 64-pixel tiles, a quarter as sensitive
	traceMaxSide        = 255 // larger regions take 256-pixel tiles, four times the cost
	traceAxisBand       = 1
	// monoSide and monoMaxChroma decide a monochrome face: on a copy of
	// its box of monoSide pixels a side, each channel scaled so that the
	// three have the same mean (a colour cast taken out: a grey picture
	// on a display's white point or under a tinted light), the mean
	// spread between the channels is at most monoMaxChroma grey levels.
	// A grey image decoded from any format spreads by rounding only (the
	// greyscale stills: 0; grey prints rendered by synth.PrintPhoto: under
	// 0.1), a grey photo shown on a colour screen and photographed by
	// little more (synth.ScreenPhoto's, `kyc eval liveness`: median 3.0,
	// the display's sub-pixels and moire adding up to 17); a colour face,
	// its cast taken out, far more: 8.6 and more on the liveness
	// calibration half (portraits and the same faces filmed by
	// synth.CameraPhoto), 10.7 and more on the report half, minivision's
	// live sample 11. The bound is half the calibration half's lowest, a
	// margin for faces unlike stock portraits.
	monoSide              = 64
	monoMaxChroma         = 4.3
	defaultTraceThreshold = 4
	defaultTraceProm      = 3.5
	// blackScale and blackShare measure the frame's black level: the grey
	// level below which blackShare of the frame lies, on a copy at
	// 1/blackScale of its size (area-averaged, so the sensor's noise and a
	// few dead pixels do not reach it).
	blackScale = 4
	blackShare = 0.005
	// BlackCap is the score of a frame whose black is lifted: in the
	// risk policy's band of doubt, so it asks for an active challenge and
	// never rejects alone (a bright, low-contrast scene lifts a live
	// frame's black too).
	BlackCap = 0.45
)

// Platt maps a model's live log-odds z to calibrated log-odds A*z+B.
type Platt struct {
	A float64 `json:"a"`
	B float64 `json:"b"`
}

// Apply returns the calibrated log-odds of z.
func (p Platt) Apply(z float64) float64 { return p.A*z + p.B }

// Fusion turns the three models' live log-odds into one probability and
// says how the screen and print traces weigh on it.
type Fusion struct {
	// Models calibrate each model's log-odds, in the order of
	// FusedLiveness.Models; the fused log-odds are their mean plus Bias.
	Models [3]Platt `json:"models"`
	// Bias moves the operating point (probability 0.5) to where the
	// calibration accepted the wanted share of live faces.
	Bias float64 `json:"bias"`
	// TraceThreshold is the periodic-trace mass (forensics.Traces, chroma
	// and luminance together) at which the traces' score crosses 0.5: it
	// falls from 1 at half of it to 0 at one and a half times it.
	TraceThreshold float64 `json:"trace_threshold"`
	// TraceProminence is the smallest log power ratio of a spectral peak
	// over its neighbourhood that counts as a trace.
	TraceProminence float64 `json:"trace_prominence"`
	// BlackThreshold is the black level (BlackLevel, grey levels) at and
	// above which a colour face scores BlackCap: a display re-photographed
	// in a lit room cannot show black, the light its glass and panel send
	// back (0.1-2% of its white at ambient contrasts of 1000:1 to 50:1)
	// lifting its darkest parts to about 3-37 grey levels, the glare of a
	// lamp more; a camera's own flare lifts a live frame's far less. 0
	// leaves the check off.
	BlackThreshold float64 `json:"black_threshold,omitempty"`
}

// DefaultFusion was fitted by `kyc eval liveness --fit` on its calibration
// half: the 25 interfaces_cc0 portraits of even index in file order (001,
// 005, ..., 097) as live faces, the screen and print attacks rendered from
// them (in colour and in grey) in which a face was found, monochrome ones
// aside, as attacks. Each model's Platt scaling weighs the two classes
// equally (all three models turned out overconfident on these faces:
// slopes 0.21-0.36); the bias accepts 24 of the 25 live faces (BPCER at
// most 5%); the trace threshold is the default, every live face of the
// half having measured no trace at all. The black threshold is one grey
// level above the brightest black of the half's bona fide colour frames
// (the portraits and the same faces filmed by synth.CameraPhoto: 0-57;
// their screen replays through synth.ScreenReplay measured 6-66, so the
// check catches only the most veiled replays). The README reports the
// other half. It was fitted before the monochrome rule took a colour cast
// out (12-04); fitted again with it, the half's grey photos on a screen
// no longer count for the models' calibration: slopes move by under 0.03
// and the bias to 0.44, one attack and one live face fewer accepted
// passively on the report half, too little to refit.
var DefaultFusion = Fusion{
	Models:          [3]Platt{{A: 0.211, B: -0.8928}, {A: 0.2768, B: -0.3223}, {A: 0.3568, B: -0.6011}},
	Bias:            0.47,
	TraceThreshold:  defaultTraceThreshold,
	TraceProminence: defaultTraceProm,
	BlackThreshold:  58,
}

// FusedLiveness is how the fused liveness score came about.
type FusedLiveness struct {
	Models []ModelLiveness `json:"models"`
	// Passive is the probability of a live face from the calibrated models
	// alone; for a monochrome face, MiniFASNetV2-SE's own, at most
	// MonochromeCap.
	Passive float64 `json:"passive"`
	// Monochrome is true when the face has no colour but a cast: a
	// greyscale camera or still, an injected grey image, a grey print, or
	// a grey photo shown on a colour screen, tinted by its white point.
	// See Fusion.Passive.
	Monochrome bool `json:"monochrome"`
	// TraceScore is 1 without periodic traces and falls to 0 as a
	// display's pixel grid or a print's halftone shows; it is 1 when the
	// face was too small to measure (Traces nil).
	TraceScore float64           `json:"trace_score"`
	Traces     *forensics.Traces `json:"traces,omitempty"`
	// Reproduction is true when the traces fail: the camera saw a
	// display's pixel grid or a print's halftone. Which of the two is not
	// said: on a face's few tiles the display's dark row gaps and the inks'
	// coloured dots blur the documents' rule (chroma for screens,
	// luminance for prints).
	Reproduction bool `json:"reproduction"`
	// BlackLevel is the frame's black (see Fusion.BlackThreshold), and
	// BlackScore 1, or BlackCap when a colour face's frame has its black
	// lifted as a display's is.
	BlackLevel float64 `json:"black_level"`
	BlackScore float64 `json:"black_score"`
}

// Score is the fused liveness score: the lowest of the calibrated models',
// the traces' and the black level's.
func (r FusedLiveness) Score() float64 {
	return math.Min(r.Passive, math.Min(r.TraceScore, r.BlackScore))
}

// ModelLiveness is one model's verdict on a face.
type ModelLiveness struct {
	Model string `json:"model"`
	// LogOdds is the model's own log-odds of a live face; Live its
	// probability.
	LogOdds float64 `json:"log_odds"`
	Live    float64 `json:"live"`
}

// Fuse returns the probability of a live face from the three models'
// log-odds, in the order of FusedLiveness.Models.
func (f Fusion) Fuse(logOdds [3]float64) float64 {
	var s float64
	for i, z := range logOdds {
		s += f.Models[i].Apply(z)
	}
	return sigmoid(s/3 + f.Bias)
}

// MonochromeCap bounds the passive probability of a monochrome face, just
// under DefaultLiveThreshold: such a face is at best in doubt.
const MonochromeCap = 0.49

// Passive is the fused probability of a live face: Fuse for a face in
// colour. minivision's pair, trained on colour, refuses nearly every
// monochrome face (`kyc eval liveness`: 398 of the 400 AT&T stills), and
// MiniFASNetV2-SE alone accepted 30% of grey prints rendered from the
// colour portraits; so a monochrome face takes MiniFASNetV2-SE's own
// probability capped at MonochromeCap: never accepted passively, it lands
// in the risk policy's band of doubt (an active challenge) or below it.
func (f Fusion) Passive(logOdds [3]float64, monochrome bool) float64 {
	if monochrome {
		return math.Min(sigmoid(logOdds[0]), MonochromeCap)
	}
	return f.Fuse(logOdds)
}

// LogOdds returns the fused log-odds, before the sigmoid of Fuse.
func (f Fusion) LogOdds(logOdds [3]float64) float64 {
	var s float64
	for i, z := range logOdds {
		s += f.Models[i].Apply(z)
	}
	return s/3 + f.Bias
}

// TraceScore is the traces' score for a measured trace mass.
func (f Fusion) TraceScore(mass float64) float64 {
	lo, hi := f.TraceThreshold/2, f.TraceThreshold*1.5
	switch {
	case mass <= lo:
		return 1
	case mass >= hi:
		return 0
	}
	return (hi - mass) / (hi - lo)
}

// BlackScore is the black level's score for a frame whose black is level
// grey levels: 1, or BlackCap from the threshold on; a monochrome face,
// never accepted passively anyway, keeps 1.
func (f Fusion) BlackScore(level float64, monochrome bool) float64 {
	if f.BlackThreshold > 0 && !monochrome && level >= f.BlackThreshold {
		return BlackCap
	}
	return 1
}

// BlackLevel is the grey level (0-255) below which blackShare of img lies,
// on a copy area-averaged to 1/blackScale of its size.
func BlackLevel(img gocv.Mat) float64 {
	small := gocv.NewMat()
	defer small.Close()
	gocv.Resize(img, &small, image.Pt(max(1, img.Cols()/blackScale), max(1, img.Rows()/blackScale)), 0, 0, gocv.InterpolationArea)
	if small.Channels() == 3 {
		gocv.CvtColor(small, &small, gocv.ColorBGRToGray)
	}
	var hist [256]int
	px := small.ToBytes()
	for _, v := range px {
		hist[v]++
	}
	below := int(blackShare * float64(len(px)))
	for level, n := range hist {
		if below -= n; below < 0 {
			return float64(level)
		}
	}
	return 255
}

// withDefaults fills the trace settings of a Fusion that left them zero.
func (f Fusion) withDefaults() Fusion {
	if f.TraceThreshold <= 0 {
		f.TraceThreshold = defaultTraceThreshold
	}
	if f.TraceProminence <= 0 {
		f.TraceProminence = defaultTraceProm
	}
	return f
}

// fusedLiveness runs the three models and the trace check on face b of
// img, one after the other (the cost of a selfie on one core).
func (e *Engine) fusedLiveness(ctx context.Context, img gocv.Mat, b Box) (FusedLiveness, error) {
	var z [3]float64
	var err error
	if z[0], err = e.live.LiveLogit(ctx, img, b); err != nil {
		return FusedLiveness{}, err
	}
	if z[1], err = e.miniV2.LiveLogit(ctx, img, b); err != nil {
		return FusedLiveness{}, err
	}
	if z[2], err = e.miniV1SE.LiveLogit(ctx, img, b); err != nil {
		return FusedLiveness{}, err
	}
	mono := Monochrome(img, b)
	black := BlackLevel(img)
	r := FusedLiveness{Passive: e.fusion.Passive(z, mono), Monochrome: mono, TraceScore: 1, BlackLevel: black, BlackScore: e.fusion.BlackScore(black, mono)}
	for i, name := range [3]string{ModelMiniFASNetV2SE, ModelMiniFASNetV2, ModelMiniFASNetV1SE} {
		r.Models = append(r.Models, ModelLiveness{Model: name, LogOdds: z[i], Live: sigmoid(z[i])})
	}
	tc, err := e.TraceCheck(ctx, img, b)
	if err != nil {
		return FusedLiveness{}, err
	}
	r.Traces, r.TraceScore, r.Reproduction = tc.Traces, tc.Score, tc.Reproduction
	return r, nil
}

// TraceCheck is the face's screen and print trace check alone: the traces
// of face b of img (Traces) scored at the engine's calibrated threshold
// (Fusion.TraceScore). It is the selfie's check, and also runs on an
// active challenge's turned faces, where the models' calibration (frontal
// faces) does not hold but the traces, a periodic pattern of the
// reproduction rather than of the face, do.
func (e *Engine) TraceCheck(ctx context.Context, img gocv.Mat, b Box) (TraceCheck, error) {
	tr, err := Traces(ctx, img, b, e.fusion)
	if err != nil || tr == nil {
		return TraceCheck{Score: 1}, err
	}
	score := e.fusion.TraceScore(tr.ChromaMass + tr.LumaMass)
	return TraceCheck{Traces: tr, Score: score, Reproduction: score < 0.5}, nil
}

// TraceCheck is a face's screen and print trace check (Engine.TraceCheck).
type TraceCheck struct {
	// Traces are the measured traces; nil when the face was too small to
	// measure, and Score is then 1.
	Traces *forensics.Traces
	// Score is 1 without traces and falls to 0 as they show.
	Score float64
	// Reproduction: the traces fail (Score under 0.5), the camera saw a
	// display's pixel grid or a print's halftone.
	Reproduction bool
}

// Traces measures the screen and print traces (forensics.Reproduction) on
// the centre of face b of img: a square of the box's shorter side, widened
// to traceMinSide (the spectra's tiles are then 128 pixels, as sensitive
// as a large face's) and at most traceMaxSide. It returns nil when the
// square, clipped to the image, is under forensics.MinSide pixels.
func Traces(ctx context.Context, img gocv.Mat, b Box, f Fusion) (*forensics.Traces, error) {
	f = f.withDefaults()
	side := int(math.Min(traceMaxSide, math.Max(traceMinSide, math.Min(b.W, b.H))))
	cx, cy := int(b.X+b.W/2), int(b.Y+b.H/2)
	r := image.Rect(cx-side/2, cy-side/2, cx-side/2+side, cy-side/2+side).Intersect(image.Rect(0, 0, img.Cols(), img.Rows()))
	if r.Dx() < forensics.MinSide || r.Dy() < forensics.MinSide {
		return nil, nil
	}
	_, tr, err := forensics.Reproduction(ctx, img, r, traceAxisBand, forensics.Options{PeakProminence: f.TraceProminence})
	if err != nil {
		return nil, fmt.Errorf("measuring the face's screen and print traces: %w", err)
	}
	return &tr, nil
}

// Monochrome reports whether face b of img has no colour but a cast: on a
// monoSide-pixel copy of the box whose channels are scaled to the same
// mean, the mean of the largest difference between its channels is at
// most monoMaxChroma.
func Monochrome(img gocv.Mat, b Box) bool {
	return castChroma(img, b) <= monoMaxChroma
}

// castChroma is the mean spread between the channels of face b of img
// once its cast is taken out (see monoMaxChroma); 0 for an empty box.
func castChroma(img gocv.Mat, b Box) float64 {
	r := image.Rect(int(b.X), int(b.Y), int(math.Ceil(b.X+b.W)), int(math.Ceil(b.Y+b.H))).Intersect(image.Rect(0, 0, img.Cols(), img.Rows()))
	if r.Empty() {
		return 0
	}
	roi := img.Region(r)
	defer roi.Close()
	small := gocv.NewMat()
	defer small.Close()
	gocv.Resize(roi, &small, image.Pt(monoSide, monoSide), 0, 0, gocv.InterpolationArea)
	px := small.ToBytes()
	var mean [3]float64
	for i, v := range px {
		mean[i%3] += float64(v)
	}
	grey := (mean[0] + mean[1] + mean[2]) / 3
	var gain [3]float64
	for c, m := range mean {
		gain[c] = grey / math.Max(m, 1)
	}
	var sum float64
	for i := 0; i+2 < len(px); i += 3 {
		b, g, r := gain[0]*float64(px[i]), gain[1]*float64(px[i+1]), gain[2]*float64(px[i+2])
		sum += max(b, g, r) - min(b, g, r)
	}
	return sum / float64(len(px)/3)
}

// ErrNoLivenessData is returned by FitPlatt when either class is empty.
var ErrNoLivenessData = errors.New("need live and attack samples to calibrate")

// FitPlatt fits the logistic regression p(live) = 1/(1+exp(-(A*z+B))) of
// the labels on the log-odds z by Newton's method with a backtracking line
// search, each class weighted by the inverse of its size so that both
// count equally, with a weak ridge on A that keeps perfectly separated
// classes finite.
func FitPlatt(z []float64, live []bool) (Platt, error) {
	if len(z) != len(live) {
		return Platt{}, fmt.Errorf("fitting a calibration: %d scores, %d labels", len(z), len(live))
	}
	var nLive, nAttack float64
	for _, l := range live {
		if l {
			nLive++
		} else {
			nAttack++
		}
	}
	if nLive == 0 || nAttack == 0 {
		return Platt{}, ErrNoLivenessData
	}
	const ridge = 1e-3
	weight := func(i int) (w, y float64) {
		if live[i] {
			return 1 / nLive, 1
		}
		return 1 / nAttack, 0
	}
	// loss is the weighted negative log-likelihood plus the ridge.
	loss := func(p Platt) float64 {
		l := ridge / 2 * p.A * p.A
		for i, x := range z {
			w, y := weight(i)
			s := p.Apply(x)
			// log(1+exp(s)) - y*s, stably.
			l += w * (math.Max(s, 0) + math.Log1p(math.Exp(-math.Abs(s))) - y*s)
		}
		return l
	}
	var p Platt
	cur := loss(p)
	for iter := 0; iter < 200; iter++ {
		gA, gB := ridge*p.A, 0.0
		hAA, hAB, hBB := ridge, 0.0, 0.0
		for i, x := range z {
			w, y := weight(i)
			q := sigmoid(p.Apply(x))
			d := w * (q - y)
			gA += d * x
			gB += d
			h := w * q * (1 - q)
			hAA += h * x * x
			hAB += h * x
			hBB += h
		}
		det := hAA*hBB - hAB*hAB
		if !(det > 0) {
			break
		}
		dA := (hBB*gA - hAB*gB) / det
		dB := (hAA*gB - hAB*gA) / det
		step, next := 1.0, p
		for ; step > 1e-8; step /= 2 {
			next = Platt{A: p.A - step*dA, B: p.B - step*dB}
			if l := loss(next); l <= cur {
				cur = l
				break
			}
		}
		if step <= 1e-8 {
			break
		}
		moved := math.Abs(next.A-p.A) + math.Abs(next.B-p.B)
		p = next
		if moved < 1e-10 {
			break
		}
	}
	return p, nil
}
