package face

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/engine/ort"
)

var (
	// ErrNoFace is returned when an image holds no face the detector finds.
	ErrNoFace = errors.New("no face found")
	// ErrMultipleFaces is returned when an image that must show one person
	// (a selfie) holds a second face nearly as large as the first.
	ErrMultipleFaces = errors.New("more than one face")
)

// DominanceRatio is how much smaller in area than the largest face a second
// face must be for the largest to count as the only subject: a face of half
// the side (a bystander far behind, a document's ghost portrait) is
// tolerated, a second person beside the first is not.
const DominanceRatio = 0.25

// Largest returns the largest face, or ErrNoFace. faces must be sorted
// largest first, as detectors return them.
func Largest(faces []Face) (Face, error) {
	if len(faces) == 0 {
		return Face{}, ErrNoFace
	}
	return faces[0], nil
}

// Dominant returns the only prominent face: the largest, provided every
// other face is under DominanceRatio of its area.
func Dominant(faces []Face) (Face, error) {
	f, err := Largest(faces)
	if err != nil {
		return f, err
	}
	if len(faces) > 1 && faces[1].Box.Area() > DominanceRatio*f.Box.Area() {
		return Face{}, fmt.Errorf("%w: %d faces, the second %.0f%% of the first's area", ErrMultipleFaces, len(faces), 100*faces[1].Box.Area()/f.Box.Area())
	}
	return f, nil
}

// Config names the model files and execution settings of an Engine.
type Config struct {
	DetectorModel string // YuNet 2023mar
	EmbedderModel string // fr_feature
	LivenessModel string // MiniFASNetV2-SE; "" disables liveness
	// MiniFASV2Model and MiniFASV1SEModel are minivision's pair
	// (MiniFASNetV2 at crop scale 2.7, MiniFASNetV1SE at 4.0). With both
	// set (and LivenessModel), liveness fuses the three models and the
	// face's screen and print traces (Fusion); without them it is
	// MiniFASNetV2-SE alone, as before.
	MiniFASV2Model   string
	MiniFASV1SEModel string
	// Fusion calibrates the three models; the zero value means
	// DefaultFusion.
	Fusion Fusion
	// Threads is the intra-op thread count of each model session. Match
	// already works on its two images concurrently.
	Threads  int
	Detector YuNetConfig
	Quality  QualityThresholds // zero value means DefaultQuality
	Matcher  Matcher           // zero value means DefaultMatcher()
	// LiveThreshold is the live probability at or above which a selfie is
	// live; 0 means DefaultLiveThreshold.
	LiveThreshold float64
}

// Engine runs the whole face pipeline. It is safe for concurrent use.
type Engine struct {
	det           *YuNet
	emb           *Embedder
	live          *Liveness
	miniV2        *MiniFAS
	miniV1SE      *MiniFAS
	fusion        Fusion
	quality       QualityThresholds
	matcher       Matcher
	liveThreshold float64
}

// New loads the models named in cfg.
func New(cfg Config) (*Engine, error) {
	opt := ort.Options{IntraOpThreads: max(cfg.Threads, 1)}
	e := &Engine{quality: cfg.Quality, matcher: cfg.Matcher, liveThreshold: cfg.LiveThreshold, fusion: cfg.Fusion}
	if e.fusion.Models == ([3]Platt{}) {
		e.fusion = DefaultFusion
	}
	e.fusion = e.fusion.withDefaults()
	if (cfg.MiniFASV2Model == "") != (cfg.MiniFASV1SEModel == "") || (cfg.MiniFASV2Model != "" && cfg.LivenessModel == "") {
		return nil, errors.New("face engine: the minivision liveness pair needs both its models and MiniFASNetV2-SE")
	}
	if e.quality == (QualityThresholds{}) {
		e.quality = DefaultQuality
	}
	if e.matcher == (Matcher{}) {
		e.matcher = DefaultMatcher()
	}
	if e.liveThreshold <= 0 {
		e.liveThreshold = DefaultLiveThreshold
	}
	var err error
	if e.det, err = NewYuNet(cfg.DetectorModel, cfg.Detector, opt); err != nil {
		return nil, err
	}
	if e.emb, err = NewEmbedder(cfg.EmbedderModel, opt); err != nil {
		e.Close()
		return nil, err
	}
	if cfg.LivenessModel != "" {
		if e.live, err = NewLiveness(cfg.LivenessModel, opt); err != nil {
			e.Close()
			return nil, err
		}
	}
	if cfg.MiniFASV2Model != "" {
		if e.miniV2, err = NewMiniFAS(cfg.MiniFASV2Model, miniFASV2Scale, opt); err != nil {
			e.Close()
			return nil, err
		}
		if e.miniV1SE, err = NewMiniFAS(cfg.MiniFASV1SEModel, miniFASV1SEScale, opt); err != nil {
			e.Close()
			return nil, err
		}
	}
	return e, nil
}

// Close releases the models.
func (e *Engine) Close() error {
	var errs []error
	if e.det != nil {
		errs = append(errs, e.det.Close())
	}
	if e.emb != nil {
		errs = append(errs, e.emb.Close())
	}
	if e.live != nil {
		errs = append(errs, e.live.Close())
	}
	if e.miniV2 != nil {
		errs = append(errs, e.miniV2.Close())
	}
	if e.miniV1SE != nil {
		errs = append(errs, e.miniV1SE.Close())
	}
	return errors.Join(errs...)
}

// Matcher returns the matcher the engine decides with.
func (e *Engine) Matcher() Matcher { return e.matcher }

// Analysis is one image's face: where it is, how usable, and its
// embedding.
type Analysis struct {
	Face     Face    `json:"face"`
	Detected int     `json:"faces_detected"`
	Quality  Quality `json:"quality"`
	// Turned is how many degrees clockwise (90, 180 or 270) AnalyzeStill
	// turned the image to find its face upright, 0 if it was: Face is then
	// in the turned copy's pixels.
	Turned    int       `json:"turned,omitempty"`
	Embedding Embedding `json:"-"`
	// Norm is the embedding's length before normalisation (Embedder.Embed):
	// short for a face aligned as if upright in a still that came turned.
	Norm float64 `json:"-"`
}

// Selection says which face of an image is analysed.
type Selection func([]Face) (Face, error)

// Timings are the milliseconds each stage took.
type Timings map[string]float64

func (t Timings) since(stage string, start time.Time) {
	t[stage] = float64(time.Since(start).Microseconds()) / 1000
}

// Analyze detects the faces of img, picks one with pick (Dominant or
// Largest), and describes it (Describe). It records the stages in t under
// prefix.
func (e *Engine) Analyze(ctx context.Context, img gocv.Mat, pick Selection, t Timings, prefix string) (Analysis, error) {
	start := time.Now()
	faces, err := e.det.Detect(ctx, img)
	if err != nil {
		return Analysis{}, err
	}
	t.since(prefix+"detect", start)
	return e.describePicked(ctx, img, faces, pick, t, prefix)
}

func (e *Engine) describePicked(ctx context.Context, img gocv.Mat, faces []Face, pick Selection, t Timings, prefix string) (Analysis, error) {
	f, err := pick(faces)
	if err != nil {
		return Analysis{Detected: len(faces)}, err
	}
	a, err := e.Describe(ctx, img, f, t, prefix)
	a.Detected = len(faces)
	return a, err
}

// Upright is a still image as AnalyzeStill analysed it: the caller's own,
// or a copy turned so that its face stands upright.
type Upright struct {
	Mat    gocv.Mat
	Turned int // degrees clockwise; 0 when Mat is the caller's image
}

// Close releases a turned copy and leaves the caller's image alone.
func (u Upright) Close() {
	if u.Turned != 0 {
		u.Mat.Close()
	}
}

// uprightNorm is the embedding length (Analysis.Norm) at or above which
// AnalyzeStill takes a still's face as upright without trying the other
// turns: the longest (3.007) of a face found in a wrongly turned still of
// the calibration split (interfaces_cc0 portraits at even index,
// faceapi_bbt, AT&T s1-s20 images 1 and 6, each turned 90, 180 and 270).
// Upright faces there are at least 2.20 long, half above 3.59. It decides
// only when the search is paid for, never which turn wins.
const uprightNorm = 3.01

// AnalyzeStill is Analyze for a still image, which may come turned by a
// quarter (a phone held sideways, a file whose EXIF orientation a
// messenger stripped). When no face is found as the image comes, it tries
// the image turned by 90, 270 and 180 degrees (pixels moved, not
// resampled) and keeps the turn whose picked face is the most confident.
// The detector often finds a turned face anyway, its landmarks placed as
// if upright, and neither its score nor the box tells the turns apart;
// the embedding's length does (Analysis.Norm). So when the face found has
// an embedding shorter than uprightNorm, the other three turns are
// analysed too and the turn whose picked face has the longest embedding is
// kept. Everything after detection runs on the kept copy, which is
// returned for the stages that follow (liveness takes upright crops, as it
// was trained on); the caller closes it. An image whose face is found
// with a long embedding as it comes costs what Analyze does.
func (e *Engine) AnalyzeStill(ctx context.Context, img gocv.Mat, pick Selection, t Timings, prefix string) (Analysis, Upright, error) {
	up := Upright{Mat: img}
	start := time.Now()
	faces, err := e.det.Detect(ctx, img)
	if err != nil {
		return Analysis{}, up, err
	}
	t.since(prefix+"detect", start)
	if len(faces) == 0 {
		start = time.Now()
		if up, faces, err = e.turnUpright(ctx, img, pick); err != nil {
			return Analysis{}, up, err
		}
		t.since(prefix+"detect_turned", start)
	}
	a, err := e.describePicked(ctx, up.Mat, faces, pick, t, prefix)
	a.Turned = up.Turned
	if err != nil || up.Turned != 0 || a.Norm >= uprightNorm {
		return a, up, err
	}
	start = time.Now()
	a, up, err = e.longestTurn(ctx, img, a, pick)
	t.since(prefix+"turn_search", start)
	return a, up, err
}

// longestTurn analyses img turned 90, 270 and 180 degrees and returns the
// analysis (and the copy) whose picked face has the longest embedding,
// upright the analysis a of img as it comes; a turn whose faces cannot be
// picked or described is passed over. Never chosen by similarity to
// another image, which would raise false accepts.
func (e *Engine) longestTurn(ctx context.Context, img gocv.Mat, a Analysis, pick Selection) (Analysis, Upright, error) {
	best := Upright{Mat: img}
	for _, deg := range [...]int{90, 270, 180} {
		m, err := imageio.Turn(img, deg)
		if err != nil {
			best.Close()
			return Analysis{}, Upright{Mat: img}, err
		}
		u := Upright{Mat: m, Turned: deg}
		faces, err := e.det.Detect(ctx, u.Mat)
		if err != nil {
			u.Close()
			best.Close()
			return Analysis{}, Upright{Mat: img}, err
		}
		c, err := e.describePicked(ctx, u.Mat, faces, pick, Timings{}, "")
		if err != nil || c.Norm <= a.Norm {
			u.Close()
			continue
		}
		best.Close()
		c.Turned = deg
		a, best = c, u
	}
	// A turn passed over for a cancelled context is not an answer.
	return a, best, ctx.Err()
}

// turnUpright detects faces in img turned each way and returns the turn
// whose picked face scores highest with its faces; if no turn's faces can
// be picked, the turn whose most confident face scores highest (so that
// pick's error, such as ErrMultipleFaces, is the answer), and img itself
// when no turn has any.
func (e *Engine) turnUpright(ctx context.Context, img gocv.Mat, pick Selection) (Upright, []Face, error) {
	best, fallback := Upright{Mat: img}, Upright{Mat: img}
	var bestFaces, fallbackFaces []Face
	bestScore, fallbackScore := -1.0, -1.0
	for _, deg := range [...]int{90, 270, 180} {
		m, err := imageio.Turn(img, deg)
		if err != nil {
			best.Close()
			fallback.Close()
			return Upright{Mat: img}, nil, err
		}
		u := Upright{Mat: m, Turned: deg}
		faces, err := e.det.Detect(ctx, u.Mat)
		if err != nil {
			u.Close()
			best.Close()
			fallback.Close()
			return Upright{Mat: img}, nil, err
		}
		switch f, err := pick(faces); {
		case err == nil && f.Score > bestScore:
			best.Close()
			best, bestFaces, bestScore = u, faces, f.Score
		case err != nil && topScore(faces) > fallbackScore:
			fallback.Close()
			fallback, fallbackFaces, fallbackScore = u, faces, topScore(faces)
		default:
			u.Close()
		}
	}
	if best.Turned != 0 {
		fallback.Close()
		return best, bestFaces, nil
	}
	return fallback, fallbackFaces, nil
}

// topScore is the highest score of faces, -1 when there are none.
func topScore(faces []Face) float64 {
	top := -1.0
	for _, f := range faces {
		top = max(top, f.Score)
	}
	return top
}

// Describe aligns face f of img, measures its quality and embeds it: the
// analysis of a face already found, such as a document's portrait found
// on the whole page. Detected is left at 1.
func (e *Engine) Describe(ctx context.Context, img gocv.Mat, f Face, t Timings, prefix string) (Analysis, error) {
	a := Analysis{Face: f, Detected: 1}
	start := time.Now()
	aligned, err := Align(img, f.Landmarks)
	if err != nil {
		return a, err
	}
	defer aligned.Close()
	a.Quality = AssessQuality(f, aligned, e.quality)
	t.since(prefix+"align_quality", start)
	start = time.Now()
	if a.Embedding, a.Norm, err = e.emb.Embed(ctx, aligned); err != nil {
		return a, err
	}
	t.since(prefix+"embed", start)
	return a, nil
}

// LivenessResult is the passive liveness verdict on the selfie.
type LivenessResult struct {
	// Score is the probability of a live face: with the fused models,
	// FusedLiveness.Score.
	Score     float64 `json:"score"`
	Threshold float64 `json:"threshold"`
	Live      bool    `json:"live"`
	// Fused says how Score came about; nil for MiniFASNetV2-SE alone.
	Fused *FusedLiveness `json:"fused,omitempty"`
}

// Liveness scores face f of img; it fails when the engine has no liveness
// model.
func (e *Engine) Liveness(ctx context.Context, img gocv.Mat, f Face) (LivenessResult, error) {
	if e.live == nil {
		return LivenessResult{}, errors.New("liveness model not loaded")
	}
	if e.miniV2 == nil {
		p, err := e.live.Score(ctx, img, f.Box)
		if err != nil {
			return LivenessResult{}, err
		}
		return LivenessResult{Score: p, Threshold: e.liveThreshold, Live: p >= e.liveThreshold}, nil
	}
	fl, err := e.fusedLiveness(ctx, img, f.Box)
	if err != nil {
		return LivenessResult{}, err
	}
	p := fl.Score()
	return LivenessResult{Score: p, Threshold: e.liveThreshold, Live: p >= e.liveThreshold, Fused: &fl}, nil
}

// Fusion returns the calibration the engine fuses liveness with.
func (e *Engine) Fusion() Fusion { return e.fusion }

// MatchResult is a 1:1 comparison of a selfie with a reference portrait.
type MatchResult struct {
	Decision
	Liveness  *LivenessResult `json:"liveness"` // nil when skipped
	Selfie    Analysis        `json:"selfie"`
	Reference Analysis        `json:"reference"`
	Timings   Timings         `json:"timings_ms"`
}

// ImageError says which of the two images an error belongs to.
type ImageError struct {
	Image string // "selfie" or "reference"
	Err   error
}

func (e *ImageError) Error() string { return e.Image + ": " + e.Err.Error() }
func (e *ImageError) Unwrap() error { return e.Err }

// Match compares the selfie's single dominant face with the largest face of
// the reference, scoring liveness on the selfie when withLiveness. The two
// images are worked on concurrently, each turned upright if it came turned
// (AnalyzeStill).
func (e *Engine) Match(ctx context.Context, selfie, reference gocv.Mat, withLiveness bool) (MatchResult, error) {
	if withLiveness && e.live == nil {
		return MatchResult{}, errors.New("liveness asked for but no liveness model loaded")
	}
	start := time.Now()
	ts, tr := Timings{}, Timings{}
	var res MatchResult
	var errS, errR error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var up Upright
		res.Reference, up, errR = e.AnalyzeStill(ctx, reference, Largest, tr, "reference_")
		up.Close()
	}()
	var up Upright
	res.Selfie, up, errS = e.AnalyzeStill(ctx, selfie, Dominant, ts, "selfie_")
	defer up.Close()
	if errS == nil && withLiveness {
		t0 := time.Now()
		var l LivenessResult
		if l, errS = e.Liveness(ctx, up.Mat, res.Selfie.Face); errS == nil {
			res.Liveness = &l
		}
		ts.since("selfie_liveness", t0)
	}
	wg.Wait()
	if errS != nil {
		return res, &ImageError{Image: "selfie", Err: errS}
	}
	if errR != nil {
		return res, &ImageError{Image: "reference", Err: errR}
	}
	res.Decision = e.matcher.Decide(Cosine(res.Selfie.Embedding, res.Reference.Embedding))
	res.Timings = ts
	for k, v := range tr {
		res.Timings[k] = v
	}
	res.Timings.since("total", start)
	return res, nil
}

// Warm runs each model once on a neutral grey input, so that ONNX
// Runtime's and OpenCV's first-call costs are not paid by the first
// customer. Nothing is detected; the results are discarded.
func (e *Engine) Warm(ctx context.Context) error {
	grey := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(128, 128, 128, 0), 480, 640, gocv.MatTypeCV8UC3)
	defer grey.Close()
	if _, err := e.det.Detect(ctx, grey); err != nil {
		return fmt.Errorf("warming the face detector: %w", err)
	}
	aligned := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(128, 128, 128, 0), AlignedSize, AlignedSize, gocv.MatTypeCV8UC3)
	defer aligned.Close()
	if _, _, err := e.emb.Embed(ctx, aligned); err != nil {
		return fmt.Errorf("warming the face embedder: %w", err)
	}
	if e.live != nil {
		if _, err := e.Liveness(ctx, grey, Face{Box: Box{X: 240, Y: 160, W: 160, H: 160}}); err != nil {
			return fmt.Errorf("warming the liveness models: %w", err)
		}
	}
	return nil
}
