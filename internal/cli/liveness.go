package cli

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
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
// pitches and halftone periods, in colour and in grey; and screen replays
// through the physical display and camera model (synth.ScreenReplay),
// beside the same camera filming the portrait itself (synth.CameraPhoto),
// a bona fide control: what refuses the control is the camera's doing.
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
	setCamera       = "interfaces_cc0 filmed by the simulated camera (bona fide, simulated)"
	setReplayFine   = "screen replay, display + camera model, pitch 0.6-1.2 px (simulated)"
	setReplayCoarse = "screen replay, display + camera model, pitch 1.2-2.2 px (simulated)"
	setReplayEdge   = "screen replay with the screen's edge in frame, pitch 0.6-2.2 px (simulated)"
)

// livenessSample is one scored presentation.
type livenessSample struct {
	set  string
	file string
	// portrait is the interfaces_cc0 portrait a rendered sample comes
	// from: its attacks are a cluster, which the fit's bound accounts for.
	portrait    string
	attack      bool
	calibration bool
	found       bool // a face was detected
	mono        bool // the face has no colour
	logOdds     [3]float64
	traceMass   float64
	black       float64 // the frame's black level, grey levels
	frLogOdds   float64 // faceplugin's fr_liveness, measured, not fused
}

// fused is how the engine's fusion f scores the sample: the calibrated
// models, the traces and the black level, as face.Engine's liveness does.
func (s livenessSample) fused(f face.Fusion) face.FusedLiveness {
	return face.FusedLiveness{Passive: f.Passive(s.logOdds, s.mono), TraceScore: f.TraceScore(s.traceMass), BlackScore: f.BlackScore(s.black, s.mono)}
}

// livenessRow is one line of the report: for bona fide rows the refused
// (BPCER), for attack rows the accepted (APCER), by each model (faceplugin's
// fr_liveness too, which is not fused), the fusion of the three, the
// traces alone, the black level alone (which at most asks for a challenge)
// and all together (the lowest score).
type livenessRow struct {
	Set       string `json:"set"`
	Metric    string `json:"metric"`
	N         int    `json:"n"`
	NoFace    int    `json:"no_face"`
	V2SE      string `json:"minifasnet_v2se"`
	V2        string `json:"minifasnet_v2_2.7"`
	V1SE      string `json:"minifasnet_v1se_4.0"`
	FR        string `json:"fr_liveness"`
	Fused     string `json:"fused_models"`
	Traces    string `json:"traces"`
	Black     string `json:"black_level"`
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
	// [Min, Threshold) asks for an active challenge. Its top is the
	// policy's passive acceptance, or with --fit the one fitted
	// (fitPassiveMin).
	ChallengeBand [2]float64 `json:"challenge_band"`
	// PassiveFit is how --fit chose the band's top.
	PassiveFit *passiveFit   `json:"passive_fit,omitempty"`
	Rows       []livenessRow `json:"rows"`
	// OperatingPoints is what raising the passive acceptance (the policy's
	// face_liveness_min) would trade, on the reported half.
	OperatingPoints []livenessPoint `json:"operating_points"`
}

// livenessPoint is one passive acceptance threshold of the risk policy,
// with the band of doubt kept from the policy's challenge minimum up to
// it: how the live colour faces (the portraits and the same faces filmed
// by the simulated camera) and the simulated print and screen attacks
// (those in which a face was found) fall.
type livenessPoint struct {
	PassiveMin float64 `json:"passive_min"`
	// Policy marks the policy's own passive acceptance (or the fitted one).
	Policy          bool   `json:"policy,omitempty"`
	LiveAccepted    string `json:"live_accepted"`
	LiveChallenged  string `json:"live_challenged"`
	LiveRefused     string `json:"live_refused"`
	AttacksAccepted string `json:"attacks_accepted"`
	AttacksDoubted  string `json:"attacks_challenged"`
}

// operatingPoints are the passive acceptance thresholds livenessPoints
// reports beside the policy's own.
var operatingPoints = []float64{0.5, 0.6, 0.7, 0.8, 0.9}

// maxAPCER is the share of the simulated print and screen attacks the
// passive check may accept (issue 20's bound); fitPassiveMin holds the
// calibration half to it.
const maxAPCER = 0.10

// simulatedScores returns the fused scores under f of the split's live
// colour faces (the portraits and the same faces filmed by the simulated
// camera) and of its simulated print and screen attacks, those in which a
// face was found, with the portrait each attack was rendered from.
func simulatedScores(samples []livenessSample, f face.Fusion, split string) (live []float64, attacks []clustered) {
	for i, s := range samples {
		if !s.found || (split == "test" && s.calibration) || (split == "calibration" && !s.calibration) {
			continue
		}
		score := s.fused(f).Score()
		switch {
		case s.set == setColour || s.set == setCamera:
			live = append(live, score)
		case s.attack && strings.Contains(s.set, "simulated"):
			cluster := s.portrait
			if cluster == "" {
				cluster = fmt.Sprint("#", i) // a sample of its own
			}
			attacks = append(attacks, clustered{score, cluster})
		}
	}
	return live, attacks
}

// clustered is a score and the cluster its sample belongs to.
type clustered struct {
	score   float64
	cluster string
}

// passiveFit is the passive acceptance fitted on the calibration half
// and the evidence for it: the attacks it accepts there and the two upper
// bounds of their share.
type passiveFit struct {
	PassiveMin float64 `json:"passive_min"`
	Accepted   int     `json:"attacks_accepted"`
	Attacks    int     `json:"attacks"`
	Wilson     float64 `json:"wilson_upper"`
	Bootstrap  float64 `json:"portrait_bootstrap_upper"`
}

// fitPassiveMin is the passive acceptance fitted on the calibration half:
// the lowest threshold, in steps of 0.01 from 0.5, at which the upper end
// of a 95% interval of the share of its simulated attacks accepted is at
// most maxShare, so that the bound holds on faces the fit has not seen;
// 0.99 when none is. The interval is the wider of Wilson's, which treats
// the attacks as independent, and a bootstrap over the portraits they
// were rendered from (clusterBootstrap): a dozen attacks of one face rise
// and fall together.
func fitPassiveMin(samples []livenessSample, f face.Fusion, maxShare float64) passiveFit {
	_, attacks := simulatedScores(samples, f, "calibration")
	boot := newClusterBootstrap(attacks, 4000)
	fit := passiveFit{PassiveMin: 0.99, Attacks: len(attacks)}
	for t := 50; t <= 99; t++ {
		fit.PassiveMin = float64(t) / 100
		fit.Accepted = 0
		for _, a := range attacks {
			if a.score >= fit.PassiveMin {
				fit.Accepted++
			}
		}
		fit.Wilson, fit.Bootstrap = wilsonUpper(fit.Accepted, len(attacks)), boot.upper(fit.PassiveMin)
		if max(fit.Wilson, fit.Bootstrap) <= maxShare {
			break
		}
	}
	return fit
}

// wilsonUpper is the upper end of the 95% Wilson score interval of k
// successes in n trials (1 when n is 0).
func wilsonUpper(k, n int) float64 {
	if n == 0 {
		return 1
	}
	const z = 1.96
	p, nf := float64(k)/float64(n), float64(n)
	centre := p + z*z/(2*nf)
	spread := z * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf))
	return (centre + spread) / (1 + z*z/nf)
}

// clusterBootstrap resamples whole clusters with replacement (a fixed
// seed: the fit is reproducible), the same draws for every threshold, so
// that the bound falls as the threshold rises.
type clusterBootstrap struct {
	clusters [][]float64 // each cluster's scores
	draws    [][]int     // each resample's clusters, by index
}

func newClusterBootstrap(samples []clustered, rounds int) clusterBootstrap {
	index := map[string]int{}
	var b clusterBootstrap
	for _, s := range samples {
		i, ok := index[s.cluster]
		if !ok {
			i = len(b.clusters)
			index[s.cluster] = i
			b.clusters = append(b.clusters, nil)
		}
		b.clusters[i] = append(b.clusters[i], s.score)
	}
	if len(b.clusters) == 0 {
		return b
	}
	rng := rand.New(rand.NewPCG(30107, 3))
	b.draws = make([][]int, rounds)
	for r := range b.draws {
		b.draws[r] = make([]int, len(b.clusters))
		for j := range b.draws[r] {
			b.draws[r][j] = rng.IntN(len(b.clusters))
		}
	}
	return b
}

// upper is the 97.5th percentile over the resamples of the share of
// scores at or above threshold: the upper end of a 95% percentile
// interval, as wilsonUpper's (1 without samples).
func (b clusterBootstrap) upper(threshold float64) float64 {
	if len(b.clusters) == 0 {
		return 1
	}
	accepted, total := make([]int, len(b.clusters)), make([]int, len(b.clusters))
	for i, c := range b.clusters {
		total[i] = len(c)
		for _, s := range c {
			if s >= threshold {
				accepted[i]++
			}
		}
	}
	shares := make([]float64, len(b.draws))
	for r, draw := range b.draws {
		k, n := 0, 0
		for _, i := range draw {
			k, n = k+accepted[i], n+total[i]
		}
		shares[r] = float64(k) / float64(n)
	}
	slices.Sort(shares)
	return shares[min(len(shares)-1, int(math.Ceil(0.975*float64(len(shares))))-1)]
}

// livenessPoints measures operatingPoints and the policy's passive
// acceptance (band[1]) on the split's live colour faces and simulated
// attacks, scored by f; band[0] is the bottom of the band of doubt, below
// which a face is refused.
func livenessPoints(samples []livenessSample, f face.Fusion, split string, band [2]float64) []livenessPoint {
	challengeMin := band[0]
	live, clusteredAttacks := simulatedScores(samples, f, split)
	var attacks []float64
	for _, a := range clusteredAttacks {
		attacks = append(attacks, a.score)
	}
	share := func(v []float64, lo, hi float64) string {
		k := 0
		for _, x := range v {
			if x >= lo && x < hi {
				k++
			}
		}
		if len(v) == 0 {
			return "-"
		}
		return fmt.Sprintf("%d (%.1f%%)", k, 100*float64(k)/float64(len(v)))
	}
	var out []livenessPoint
	points := operatingPoints
	if !slices.Contains(points, band[1]) {
		points = append(slices.Clone(points), band[1])
		slices.Sort(points)
	}
	for _, t := range points {
		out = append(out, livenessPoint{PassiveMin: t, Policy: t == band[1],
			LiveAccepted: share(live, t, math.Inf(1)), LiveChallenged: share(live, challengeMin, t), LiveRefused: share(live, math.Inf(-1), challengeMin),
			AttacksAccepted: share(attacks, t, math.Inf(1)), AttacksDoubted: share(attacks, challengeMin, t)})
	}
	return out
}

func runEvalLiveness(ctx context.Context, env *Env, args []string) (any, error) {
	fs := newFlags(env, "eval liveness")
	data := fs.String("data", defaultDataDir(), "the shared data folder (liveness/, faces/)")
	split := fs.String("split", "test", "which half of interfaces_cc0 and its attacks to report: test, calibration or all")
	fit := fs.Bool("fit", false, "fit the fusion on the calibration half (instead of the shipped face.DefaultFusion) and report with it")
	bpcer := fs.Float64("bpcer", 0.05, "with --fit: the share of the calibration half's live faces the fused models may refuse (sets the bias)")
	sweep := fs.Int("attacks", 2, "screen, print and screen-replay attacks of the pitch/halftone sweep rendered from each portrait, each")
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
	if *fit {
		fit := fitPassiveMin(samples, res.Fusion, maxAPCER)
		res.ChallengeBand[1], res.PassiveFit = fit.PassiveMin, &fit
	}
	res.Rows = livenessTable(samples, res.Fusion, *split, res.ChallengeBand)
	res.OperatingPoints = livenessPoints(samples, res.Fusion, *split, res.ChallengeBand)
	return res, nil
}

// defaultDataDir is $KYC_SHARED_DIR/data, else ../shared/data.
func defaultDataDir() string {
	if d := os.Getenv("KYC_SHARED_DIR"); d != "" {
		return filepath.Join(d, "data")
	}
	return filepath.Join("..", "shared", "data")
}

// livenessEval holds the models the evaluation runs: the engine's, and
// faceplugin's fr_liveness beside them (a candidate fourth model, not
// fused: see face.FRLiveness).
type livenessEval struct {
	det *face.YuNet
	eng *face.Engine
	fr  *face.FRLiveness
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
	fr, err := store.Path("fr-liveness")
	if err != nil {
		return nil, err
	}
	ev := &livenessEval{}
	opt := ort.Options{IntraOpThreads: cfg.Threads}
	if ev.det, err = face.NewYuNet(cfg.DetectorModel, face.YuNetConfig{}, opt); err != nil {
		return nil, err
	}
	if ev.eng, err = face.New(cfg); err != nil {
		ev.det.Close()
		return nil, err
	}
	if ev.fr, err = face.NewFRLiveness(fr, opt); err != nil {
		ev.close()
		return nil, err
	}
	return ev, nil
}

func (ev *livenessEval) close() {
	ev.det.Close()
	ev.eng.Close()
	if ev.fr != nil {
		ev.fr.Close()
	}
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
	s.found, s.mono, s.black = true, r.Fused.Monochrome, r.Fused.BlackLevel
	for i, m := range r.Fused.Models {
		s.logOdds[i] = m.LogOdds
	}
	if t := r.Fused.Traces; t != nil {
		s.traceMass = t.ChromaMass + t.LumaMass
	}
	if s.frLogOdds, err = ev.fr.LiveLogit(ctx, img, f.Box); err != nil {
		return s, fmt.Errorf("%s: %w", s.file, err)
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
	fmt.Fprintf(env.Stderr, "eval liveness: %d portraits, %d attacks and a camera's bona fide control rendered from each\n", len(portraits), 2+6*sweep)
	for i, f := range portraits {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		img, err := read(f)
		if err != nil {
			return nil, err
		}
		calib := i%2 == 0
		base := filepath.Base(f)
		err = add(img, livenessSample{set: setColour, file: f, portrait: base, calibration: calib})
		for _, a := range renderAttacks(img, uint64(i), sweep) {
			if err == nil {
				err = add(a.img, livenessSample{set: a.set, file: base + " " + a.desc, portrait: base, attack: !a.live, calibration: calib})
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

// renderedAttack is one simulated presentation attack, or with live its
// bona fide control.
type renderedAttack struct {
	set, desc string
	img       gocv.Mat
	live      bool
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
		{setScreenDoc, fmt.Sprintf("screen pitch %.2f", doc.Pitch), synth.ScreenPhoto(img, doc), false},
		{setPrintDoc, "print halftone 4", synth.PrintPhoto(img, synth.PrintOptions{Period: 4, Blur: 0.01, JPEGQuality: 90, Seed: seed}), false},
	}
	for k := range sweep {
		s := synth.ScreenOptions{Pitch: u(0.6, 2.2), Angle: u(-4, 4), Blur: u(0.3, 0.9), Brightness: u(0.8, 1.05), Tint: u(-0.05, 0.05),
			Noise: u(1, 3), JPEGQuality: 85 + rng.IntN(11), Seed: seed*10 + uint64(k)}
		set := setScreenFine
		if s.Pitch >= 1.2 {
			set = setScreenCoarse
		}
		out = append(out, renderedAttack{set, fmt.Sprintf("screen pitch %.2f", s.Pitch), synth.ScreenPhoto(img, s), false})
		p := synth.PrintOptions{Period: u(1.2, 6), Angle: u(-4, 4), Blur: u(0.3, 0.9), Paper: u(0.85, 0.97), Light: u(0, 0.3),
			Noise: u(1, 3), JPEGQuality: 85 + rng.IntN(11), Seed: seed*10 + uint64(k)}
		set = setPrintFine
		if p.Period >= 2.5 {
			set = setPrintCoarse
		}
		out = append(out, renderedAttack{set, fmt.Sprintf("print halftone %.2f", p.Period), synth.PrintPhoto(img, p), false})
	}
	out = append(out, replayAttacks(img, seed, sweep)...)
	grey := gocv.NewMat()
	defer grey.Close()
	gocv.CvtColor(img, &grey, gocv.ColorBGRToGray)
	gocv.CvtColor(grey, &grey, gocv.ColorGrayToBGR)
	for k := range sweep {
		s := synth.ScreenOptions{Pitch: u(0.6, 2.2), Angle: u(-4, 4), Blur: u(0.3, 0.9), Brightness: u(0.8, 1.05), Tint: u(-0.05, 0.05),
			Noise: u(1, 3), JPEGQuality: 85 + rng.IntN(11), Seed: seed*10 + 5 + uint64(k)}
		out = append(out, renderedAttack{setGreyScreen, fmt.Sprintf("grey screen pitch %.2f", s.Pitch), synth.ScreenPhoto(grey, s), false})
		p := synth.PrintOptions{Period: u(1.2, 6), Angle: u(-4, 4), Blur: u(0.3, 0.9), Paper: u(0.85, 0.97), Light: u(0, 0.3),
			Noise: u(1, 3), JPEGQuality: 85 + rng.IntN(11), Seed: seed*10 + 5 + uint64(k)}
		out = append(out, renderedAttack{setGreyPrint, fmt.Sprintf("grey print halftone %.2f", p.Period), synth.PrintPhoto(grey, p), false})
	}
	return out
}

// replayAttacks films the portrait with synth.CameraPhoto once (the bona
// fide control: the same camera on the live face) and sweep times shown on
// a display with synth.ScreenReplay. Each parameter is drawn over the range
// that motivates it (see synth.ReplayOptions): camera blur 0.3-0.9 px,
// exposure 0.85-1.1, lens flare 0.2-1%, shot noise 1-3 grey levels,
// sharpening 0-0.8, JPEG 85-95 for both; screen pitch 0.6-2.2 px, angle
// +-4 degrees, panel gamma 2.0-2.5, white point +-5% blue-red and +-2%
// green, saturation 0.92-1.2, the reflected black 0.1-2% of the panel's
// white (log-uniform: a dim room to a bright office), a lamp's glare in
// half of them (up to 10% of the white), PWM banding 0-3% for the replays.
// Each replay is filmed again with the screen's edge in frame (10-30% of
// the width beyond it, a bezel of 1-5%, a wall of 5-40% of the panel's
// white), as a phone or a tablet held up to the camera shows it. Its own
// random streams (seed alone) leave renderAttacks' other draws as they
// were.
func replayAttacks(img gocv.Mat, seed uint64, sweep int) []renderedAttack {
	rng := rand.New(rand.NewPCG(seed, 101))
	u := func(lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }
	camera := func(k uint64) synth.CameraOptions {
		return synth.CameraOptions{Blur: u(0.3, 0.9), Exposure: u(0.85, 1.1), Flare: u(0.002, 0.01), Noise: u(1, 3), Sharpen: u(0, 0.8),
			JPEGQuality: 85 + rng.IntN(11), Seed: seed*10 + k}
	}
	edge := rand.New(rand.NewPCG(seed, 103))
	ue := func(lo, hi float64) float64 { return lo + (hi-lo)*edge.Float64() }
	out := []renderedAttack{{setCamera, "filmed live", synth.CameraPhoto(img, camera(9)), true}}
	for k := range sweep {
		o := synth.ReplayOptions{Pitch: u(0.6, 2.2), Angle: u(-4, 4), Gamma: u(2, 2.5), Tint: u(-0.05, 0.05), Green: u(-0.02, 0.02),
			Saturation: u(0.92, 1.2), Black: 0.001 * math.Pow(20, rng.Float64()), Glare: max(0, u(-0.1, 0.1)), GlareSize: u(0.15, 0.5),
			GlareAt: [2]float64{u(0, 1), u(0, 1)},
			Banding: u(0, 0.03), BandRows: u(40, 240), Camera: camera(uint64(k))}
		set := setReplayFine
		if o.Pitch >= 1.2 {
			set = setReplayCoarse
		}
		out = append(out, renderedAttack{set, fmt.Sprintf("screen replay pitch %.2f", o.Pitch), synth.ScreenReplay(img, o), false})
		o.Edge, o.Bezel, o.Wall = ue(0.1, 0.3)*float64(1-2*edge.IntN(2)), ue(0.01, 0.05), ue(0.05, 0.4)
		out = append(out, renderedAttack{setReplayEdge, fmt.Sprintf("screen replay pitch %.2f, edge %.2f", o.Pitch, o.Edge), synth.ScreenReplay(img, o), false})
	}
	return out
}

// fitFusion fits each model's Platt scaling on the calibration half (its
// live portraits against the attacks rendered from them; the camera's
// controls and the replays of synth.ScreenReplay, added later, are left out
// so that the models' calibration stays as shipped), sets the bias so that
// the fused models refuse at most the share bpcer of that half's live
// faces, the trace threshold to the lowest at which every live face of
// that half keeps a trace score of 1, at least the default, and the black
// threshold to the lowest grey level above the black of every bona fide
// colour face of that half (portraits and the camera's controls).
func fitFusion(samples []livenessSample, bpcer float64) (face.Fusion, error) {
	f := face.DefaultFusion
	var live []bool
	var z [3][]float64
	maxLiveMass, maxLiveBlack := 0.0, 0.0
	for _, s := range samples {
		// Monochrome faces are MiniFASNetV2-SE's alone.
		if !s.calibration || !s.found || s.mono {
			continue
		}
		if !s.attack {
			maxLiveBlack = math.Max(maxLiveBlack, s.black)
		}
		if s.set == setCamera || s.set == setReplayFine || s.set == setReplayCoarse || s.set == setReplayEdge {
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
		if s.set == setColour && s.calibration && s.found && !s.mono {
			fused = append(fused, f.LogOdds(s.logOdds))
		}
	}
	sort.Float64s(fused)
	// The k lowest may be refused; the next one sits at the operating
	// point, rounded towards accepting it.
	k := int(math.Floor(bpcer * float64(len(fused))))
	f.Bias = math.Ceil(-fused[k]*100) / 100
	f.TraceThreshold = math.Max(f.TraceThreshold, math.Ceil(2*maxLiveMass))
	f.BlackThreshold = math.Floor(maxLiveBlack) + 1
	return f, nil
}

func round4(v float64) float64 { return math.Round(v*1e4) / 1e4 }

// livenessTable counts each set's errors under fusion f: refused live
// faces (BPCER) and accepted attacks (APCER), at the threshold 0.5 of each
// probability and, for the product, at the policy's passive acceptance
// (band[1]: a live face under it is not accepted passively), and the
// product's scores in the band of doubt.
func livenessTable(samples []livenessSample, f face.Fusion, split string, band [2]float64) []livenessRow {
	order := []string{setColour, setCamera, setATT, setBBT, setMVLive, setMVAttacks, setScreenDoc, setPrintDoc, setScreenFine, setScreenCoarse,
		setPrintFine, setPrintCoarse, setGreyScreen, setGreyPrint, setReplayFine, setReplayCoarse, setReplayEdge}
	type counts struct {
		n, noFace, fr, fused, traces, black, product, challenge int
		models                                                  [3]int
		attack                                                  bool
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
		// errAt counts a decision that is wrong for the sample, accepting at
		// threshold: a live face not accepted, an attack accepted; err at
		// a probability of 0.5.
		errAt := func(p, threshold float64) int {
			if (p >= threshold) == s.attack {
				return 1
			}
			return 0
		}
		err := func(p float64) int { return errAt(p, 0.5) }
		for i, z := range s.logOdds {
			r.models[i] += err(1 / (1 + math.Exp(-z)))
		}
		r.fr += err(1 / (1 + math.Exp(-s.frLogOdds)))
		fl := s.fused(f)
		r.fused += err(fl.Passive)
		r.traces += err(fl.TraceScore)
		r.black += err(fl.BlackScore)
		product := fl.Score()
		r.product += errAt(product, band[1])
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
			FR: c(r.fr), Fused: c(r.fused), Traces: c(r.traces), Black: c(r.black), Product: c(r.product), Challenge: c(r.challenge)})
	}
	return out
}
