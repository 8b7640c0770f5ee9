package cli

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/engine/ort"
	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/internal/runtimeinfo"
	"github.com/openkyc/kyc/internal/synth"
	"github.com/openkyc/kyc/models"
)

// runEvalCommand is `kyc eval`: faces (face.go) or liveness.
func runEvalCommand(ctx context.Context, env *Env, args []string) (any, error) {
	if len(args) > 0 && args[0] == "liveness" {
		return runEvalLiveness(ctx, env, args[1:])
	}
	return runEval(ctx, env, args)
}

// The evaluation's sets. Bona fide: the interfaces_cc0 colour portraits
// (split in two by index: even for calibration, odd for the report), the
// greyscale stills of AT&T and faceapi_bbt and minivision's live sample.
// Attacks: minivision's print and screen photos (real), and screen and
// print attacks rendered from each interfaces_cc0 portrait (simulated),
// with the geometry of the document tests' renderers and over a sweep of
// pitches and halftone periods, in colour and in grey.
const (
	setColour       = "interfaces_cc0 (colour)"
	setATT          = "AT&T stills (greyscale)"
	setBBT          = "faceapi_bbt stills (greyscale)"
	setMVLive       = "minivision live sample"
	setMVAttacks    = "minivision print + screen photos (real)"
	setScreenDoc    = "screen, document-test geometry (simulated)"
	setPrintDoc     = "print, document-test geometry (simulated)"
	setScreenFine   = "screen, pitch 0.6-1.2 px (simulated)"
	setScreenCoarse = "screen, pitch 1.2-2.2 px (simulated)"
	setPrintFine    = "print, halftone 1.2-2.5 px (simulated)"
	setPrintCoarse  = "print, halftone 2.5-6 px (simulated)"
	setGreyScreen   = "screen showing a grey photo, pitch 0.6-2.2 px (simulated)"
	setGreyPrint    = "grey print, halftone 1.2-6 px (simulated)"
)

// livenessSample is one scored presentation.
type livenessSample struct {
	set         string
	file        string
	attack      bool
	calibration bool
	found       bool // a face was detected
	mono        bool // the face has no colour
	logOdds     [3]float64
	traceMass   float64
}

// livenessRow is one line of the report: for bona fide rows the refused
// (BPCER), for attack rows the accepted (APCER), by each model, the fusion
// of the three, the traces alone and the two together (the product).
type livenessRow struct {
	Set       string `json:"set"`
	Metric    string `json:"metric"`
	N         int    `json:"n"`
	NoFace    int    `json:"no_face"`
	V2SE      string `json:"minifasnet_v2se"`
	V2        string `json:"minifasnet_v2_2.7"`
	V1SE      string `json:"minifasnet_v1se_4.0"`
	Fused     string `json:"fused_models"`
	Traces    string `json:"traces"`
	Product   string `json:"fused_and_traces"`
	Challenge string `json:"challenge_band"`
}

// livenessEvalResult is what `kyc eval liveness` prints.
type livenessEvalResult struct {
	Data   string      `json:"data"`
	Split  string      `json:"split"`
	Fitted bool        `json:"fitted"`
	Fusion face.Fusion `json:"fusion"`
	// ChallengeBand is the band of doubt of the risk policy: a score in
	// [Min, Threshold) asks for an active challenge.
	ChallengeBand [2]float64    `json:"challenge_band"`
	Rows          []livenessRow `json:"rows"`
}

func runEvalLiveness(ctx context.Context, env *Env, args []string) (any, error) {
	fs := newFlags(env, "eval liveness")
	data := fs.String("data", defaultDataDir(), "the shared data folder (liveness/, faces/)")
	split := fs.String("split", "test", "which half of interfaces_cc0 and its attacks to report: test, calibration or all")
	fit := fs.Bool("fit", false, "fit the fusion on the calibration half (instead of the shipped face.DefaultFusion) and report with it")
	bpcer := fs.Float64("bpcer", 0.05, "with --fit: the share of the calibration half's live faces the fused models may refuse (sets the bias)")
	sweep := fs.Int("attacks", 2, "screen and print attacks of the pitch/halftone sweep rendered from each portrait, each")
	limit := fs.Int("limit", 0, "use only the first N portraits and N stills of each greyscale set (0: all)")
	threads := fs.Int("threads", 1, "ONNX Runtime threads per model")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if *split != "test" && *split != "calibration" && *split != "all" {
		return nil, Errorf(ExitUsage, "usage", "--split must be test, calibration or all")
	}
	if *sweep < 0 || *limit < 0 {
		return nil, Errorf(ExitUsage, "usage", "--attacks and --limit must be 0 or more")
	}
	ev, err := openLivenessEval(*threads)
	if err != nil {
		return nil, err
	}
	defer ev.close()
	samples, err := ev.collect(ctx, env, *data, *sweep, *limit)
	if err != nil {
		return nil, err
	}
	res := livenessEvalResult{Data: *data, Split: *split, Fusion: ev.eng.Fusion()}
	if *fit {
		if !(*bpcer >= 0 && *bpcer < 1) {
			return nil, Errorf(ExitUsage, "usage", "--bpcer must be in [0, 1)")
		}
		if res.Fusion, err = fitFusion(samples, *bpcer); err != nil {
			return nil, err
		}
		res.Fitted = true
	}
	band := risk.DefaultConfig().Thresholds
	res.ChallengeBand = [2]float64{band.FaceLivenessChallengeMin, band.FaceLivenessMin}
	res.Rows = livenessTable(samples, res.Fusion, *split, res.ChallengeBand)
	return res, nil
}

// defaultDataDir is $KYC_SHARED_DIR/data, else ../shared/data.
func defaultDataDir() string {
	if d := os.Getenv("KYC_SHARED_DIR"); d != "" {
		return filepath.Join(d, "data")
	}
	return filepath.Join("..", "shared", "data")
}

// livenessEval holds the models the evaluation runs.
type livenessEval struct {
	det *face.YuNet
	eng *face.Engine
}

func openLivenessEval(threads int) (*livenessEval, error) {
	store, err := models.DefaultStore()
	if err != nil {
		return nil, err
	}
	if err := runtimeinfo.LoadRuntime(store); err != nil {
		return nil, err
	}
	cfg := face.Config{Threads: max(threads, 1)}
	for name, dst := range map[string]*string{"yunet": &cfg.DetectorModel, "fr-feature": &cfg.EmbedderModel,
		"minifasnet-v2se": &cfg.LivenessModel, "minifasnet-v2-2.7": &cfg.MiniFASV2Model, "minifasnet-v1se-4.0": &cfg.MiniFASV1SEModel} {
		if *dst, err = store.Path(name); err != nil {
			return nil, err
		}
	}
	ev := &livenessEval{}
	if ev.det, err = face.NewYuNet(cfg.DetectorModel, face.YuNetConfig{}, ort.Options{IntraOpThreads: cfg.Threads}); err != nil {
		return nil, err
	}
	if ev.eng, err = face.New(cfg); err != nil {
		ev.det.Close()
		return nil, err
	}
	return ev, nil
}

func (ev *livenessEval) close() {
	ev.det.Close()
	ev.eng.Close()
}

// score detects the largest face of img and scores it.
func (ev *livenessEval) score(ctx context.Context, img gocv.Mat, s livenessSample) (livenessSample, error) {
	faces, err := ev.det.Detect(ctx, img)
	if err != nil {
		return s, err
	}
	f, err := face.Largest(faces)
	if err != nil {
		return s, nil // found stays false
	}
	r, err := ev.eng.Liveness(ctx, img, f)
	if err != nil {
		return s, fmt.Errorf("%s: %w", s.file, err)
	}
	s.found, s.mono = true, r.Fused.Monochrome
	for i, m := range r.Fused.Models {
		s.logOdds[i] = m.LogOdds
	}
	if t := r.Fused.Traces; t != nil {
		s.traceMass = t.ChromaMass + t.LumaMass
	}
	return s, nil
}

// collect scores every sample.
func (ev *livenessEval) collect(ctx context.Context, env *Env, data string, sweep, limit int) ([]livenessSample, error) {
	var out []livenessSample
	add := func(img gocv.Mat, s livenessSample) error {
		s, err := ev.score(ctx, img, s)
		if err == nil {
			out = append(out, s)
		}
		return err
	}
	read := func(path string) (gocv.Mat, error) {
		m, err := imageio.ReadFile(path, 0)
		if err != nil {
			return m, Errorf(ExitInput, "bad_liveness_set", "%s: %v", path, err)
		}
		return m, nil
	}
	glob := func(pattern string) ([]string, error) {
		files, _ := filepath.Glob(filepath.Join(data, pattern))
		if len(files) == 0 {
			return nil, Errorf(ExitInput, "bad_liveness_set", "no files match %s in %s", pattern, data)
		}
		sort.Strings(files)
		if limit > 0 && len(files) > limit {
			files = files[:limit]
		}
		return files, nil
	}

	mv := filepath.Join(data, "liveness", "minivision_samples")
	for _, c := range []struct {
		file, set string
		attack    bool
	}{{"image_T1.jpg", setMVLive, false}, {"image_F1.jpg", setMVAttacks, true}, {"image_F2.jpg", setMVAttacks, true}} {
		img, err := read(filepath.Join(mv, c.file))
		if err != nil {
			return nil, err
		}
		err = add(img, livenessSample{set: c.set, file: c.file, attack: c.attack})
		img.Close()
		if err != nil {
			return nil, err
		}
	}
	for _, g := range []struct{ pattern, set string }{{"faces/att_faces/s*/*.pgm", setATT}, {"faces/faceapi_bbt/*/*.png", setBBT}} {
		files, err := glob(g.pattern)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			img, err := read(f)
			if err != nil {
				return nil, err
			}
			err = add(img, livenessSample{set: g.set, file: f})
			img.Close()
			if err != nil {
				return nil, err
			}
		}
	}
	portraits, err := glob("liveness/interfaces_cc0/*.jpg")
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(env.Stderr, "eval liveness: %d portraits, %d attacks rendered from each\n", len(portraits), 2+4*sweep)
	for i, f := range portraits {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		img, err := read(f)
		if err != nil {
			return nil, err
		}
		calib := i%2 == 0
		err = add(img, livenessSample{set: setColour, file: f, calibration: calib})
		for _, a := range renderAttacks(img, uint64(i), sweep) {
			if err == nil {
				err = add(a.img, livenessSample{set: a.set, file: fmt.Sprintf("%s %s", filepath.Base(f), a.desc), attack: true, calibration: calib})
			}
			a.img.Close()
		}
		img.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// renderedAttack is one simulated presentation attack.
type renderedAttack struct {
	set, desc string
	img       gocv.Mat
}

// renderAttacks photographs the portrait shown on a screen and printed:
// once each with the geometry of the document tests' renderers
// (engine/document/forensics: a screen pixel 1.16-1.27 photo pixels, turned
// 1-3 degrees, at 65% brightness; a halftone of 4 photo pixels), and sweep
// times each over a range of pitches (0.6-2.2) and halftone periods
// (1.2-6), camera blur, angle, light, sensor noise and JPEG quality, in
// colour and in grey (the portrait made grey first, as a black-and-white
// print or photo is). The parameters follow from seed alone.
func renderAttacks(img gocv.Mat, seed uint64, sweep int) []renderedAttack {
	rng := rand.New(rand.NewPCG(seed, 99))
	u := func(lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }
	sign := float64(1 - 2*int(seed%2))
	doc := synth.ScreenOptions{Pitch: u(1.04, 1.14) / 0.9, Angle: sign * u(1, 3), Blur: 0.2, Brightness: 0.65, JPEGQuality: 90, Seed: seed}
	out := []renderedAttack{
		{setScreenDoc, fmt.Sprintf("screen pitch %.2f", doc.Pitch), synth.ScreenPhoto(img, doc)},
		{setPrintDoc, "print halftone 4", synth.PrintPhoto(img, synth.PrintOptions{Period: 4, Blur: 0.01, JPEGQuality: 90, Seed: seed})},
	}
	for k := range sweep {
		s := synth.ScreenOptions{Pitch: u(0.6, 2.2), Angle: u(-4, 4), Blur: u(0.3, 0.9), Brightness: u(0.8, 1.05), Tint: u(-0.05, 0.05),
			Noise: u(1, 3), JPEGQuality: 85 + rng.IntN(11), Seed: seed*10 + uint64(k)}
		set := setScreenFine
		if s.Pitch >= 1.2 {
			set = setScreenCoarse
		}
		out = append(out, renderedAttack{set, fmt.Sprintf("screen pitch %.2f", s.Pitch), synth.ScreenPhoto(img, s)})
		p := synth.PrintOptions{Period: u(1.2, 6), Angle: u(-4, 4), Blur: u(0.3, 0.9), Paper: u(0.85, 0.97), Light: u(0, 0.3),
			Noise: u(1, 3), JPEGQuality: 85 + rng.IntN(11), Seed: seed*10 + uint64(k)}
		set = setPrintFine
		if p.Period >= 2.5 {
			set = setPrintCoarse
		}
		out = append(out, renderedAttack{set, fmt.Sprintf("print halftone %.2f", p.Period), synth.PrintPhoto(img, p)})
	}
	grey := gocv.NewMat()
	defer grey.Close()
	gocv.CvtColor(img, &grey, gocv.ColorBGRToGray)
	gocv.CvtColor(grey, &grey, gocv.ColorGrayToBGR)
	for k := range sweep {
		s := synth.ScreenOptions{Pitch: u(0.6, 2.2), Angle: u(-4, 4), Blur: u(0.3, 0.9), Brightness: u(0.8, 1.05), Tint: u(-0.05, 0.05),
			Noise: u(1, 3), JPEGQuality: 85 + rng.IntN(11), Seed: seed*10 + 5 + uint64(k)}
		out = append(out, renderedAttack{setGreyScreen, fmt.Sprintf("grey screen pitch %.2f", s.Pitch), synth.ScreenPhoto(grey, s)})
		p := synth.PrintOptions{Period: u(1.2, 6), Angle: u(-4, 4), Blur: u(0.3, 0.9), Paper: u(0.85, 0.97), Light: u(0, 0.3),
			Noise: u(1, 3), JPEGQuality: 85 + rng.IntN(11), Seed: seed*10 + 5 + uint64(k)}
		out = append(out, renderedAttack{setGreyPrint, fmt.Sprintf("grey print halftone %.2f", p.Period), synth.PrintPhoto(grey, p)})
	}
	return out
}

// fitFusion fits each model's Platt scaling on the calibration half (its
// live portraits against the attacks rendered from them), sets the bias so
// that the fused models refuse at most the share bpcer of that half's live
// faces, and the trace threshold to the lowest at which every live face of
// that half keeps a trace score of 1, at least the default.
func fitFusion(samples []livenessSample, bpcer float64) (face.Fusion, error) {
	f := face.DefaultFusion
	var live []bool
	var z [3][]float64
	maxLiveMass := 0.0
	for _, s := range samples {
		// Monochrome faces are MiniFASNetV2-SE's alone.
		if !s.calibration || !s.found || s.mono {
			continue
		}
		live = append(live, !s.attack)
		for i := range z {
			z[i] = append(z[i], s.logOdds[i])
		}
		if !s.attack {
			maxLiveMass = math.Max(maxLiveMass, s.traceMass)
		}
	}
	for i := range z {
		p, err := face.FitPlatt(z[i], live)
		if err != nil {
			return f, Errorf(ExitInput, "bad_liveness_set", "calibration half: %v", err)
		}
		f.Models[i] = face.Platt{A: round4(p.A), B: round4(p.B)}
	}
	f.Bias = 0
	var fused []float64
	for _, s := range samples {
		if s.calibration && s.found && !s.attack && !s.mono {
			fused = append(fused, f.LogOdds(s.logOdds))
		}
	}
	sort.Float64s(fused)
	// The k lowest may be refused; the next one sits at the operating
	// point, rounded towards accepting it.
	k := int(math.Floor(bpcer * float64(len(fused))))
	f.Bias = math.Ceil(-fused[k]*100) / 100
	f.TraceThreshold = math.Max(f.TraceThreshold, math.Ceil(2*maxLiveMass))
	return f, nil
}

func round4(v float64) float64 { return math.Round(v*1e4) / 1e4 }

// livenessTable counts each set's errors under fusion f: refused live
// faces (BPCER) and accepted attacks (APCER), at the threshold 0.5 of each
// probability, and the product's scores in the band of doubt.
func livenessTable(samples []livenessSample, f face.Fusion, split string, band [2]float64) []livenessRow {
	order := []string{setColour, setATT, setBBT, setMVLive, setMVAttacks, setScreenDoc, setPrintDoc, setScreenFine, setScreenCoarse,
		setPrintFine, setPrintCoarse, setGreyScreen, setGreyPrint}
	type counts struct {
		n, noFace, fused, traces, product, challenge int
		models                                       [3]int
		attack                                       bool
	}
	rows := map[string]*counts{}
	for _, s := range samples {
		if s.set == setColour || strings.Contains(s.set, "simulated") {
			if (split == "test" && s.calibration) || (split == "calibration" && !s.calibration) {
				continue
			}
		}
		r := rows[s.set]
		if r == nil {
			r = &counts{attack: s.attack}
			rows[s.set] = r
		}
		if !s.found {
			r.noFace++
			continue
		}
		r.n++
		// err counts a decision that is wrong for the sample: a live face
		// refused, an attack accepted.
		err := func(p float64) int {
			if (p >= 0.5) == s.attack {
				return 1
			}
			return 0
		}
		for i, z := range s.logOdds {
			r.models[i] += err(1 / (1 + math.Exp(-z)))
		}
		passive, traces := f.Passive(s.logOdds, s.mono), f.TraceScore(s.traceMass)
		r.fused += err(passive)
		r.traces += err(traces)
		product := math.Min(passive, traces)
		r.product += err(product)
		if product >= band[0] && product < band[1] {
			r.challenge++
		}
	}
	var out []livenessRow
	for _, set := range order {
		r := rows[set]
		if r == nil {
			continue
		}
		metric := "BPCER"
		if r.attack {
			metric = "APCER"
		}
		name := set
		if split != "all" && (set == setColour || strings.Contains(set, "simulated")) {
			name += ", " + split + " half"
		}
		c := func(k int) string {
			if r.n == 0 {
				return "-"
			}
			return fmt.Sprintf("%d (%.1f%%)", k, 100*float64(k)/float64(r.n))
		}
		out = append(out, livenessRow{Set: name, Metric: metric, N: r.n, NoFace: r.noFace, V2SE: c(r.models[0]), V2: c(r.models[1]), V1SE: c(r.models[2]),
			Fused: c(r.fused), Traces: c(r.traces), Product: c(r.product), Challenge: c(r.challenge)})
	}
	return out
}
