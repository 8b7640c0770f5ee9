// Package facematch is the engine behind central's Face Match API (seed
// 001): a partnerapi.FaceMatcher that compares a selfie with a reference
// image using the on-device face engine, exactly as `kyc face-match` does
// (YuNet detection, fr_feature embeddings, the calibrated matcher and the
// fused passive liveness `kyc verify` and the app run).
//
// It is, with the hosted capture flow, the one central package that links
// the engine, and with it cgo, OpenCV and ONNX Runtime: a backend-to-
// backend comparison has no device to run the models on, so central runs
// them itself. Everything else in central stays pure Go, and kyc-central
// runs without this matcher (the API answers 503) when the models are not
// installed.
//
// Models come from the verified store `kyc models install` fills
// (models.Store: default ~/.cache/openkyc/models, KYC_HOME, KYC_MODELS_DIR),
// each file checked against the manifest before it is loaded. Partner bytes
// are untrusted: engine/imageio decodes them, refusing what is not an
// image, what was cut short and decompression bombs before OpenCV spends
// memory on them. At most MaxConcurrent comparisons run at once (one per
// core: each already works on its two images in parallel, and ONNX Runtime
// sessions serve concurrent runs); the others wait their turn for as long
// as their context allows.
package facematch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/internal/engines"
	"github.com/openkyc/kyc/models"
	"github.com/openkyc/kyc/sync/central/partnerapi"
)

// Config configures a Matcher.
type Config struct {
	// Store is the verified model store; nil means models.DefaultStore()
	// (KYC_MODELS_DIR, else $KYC_HOME/models, else ~/.cache/openkyc/models).
	Store *models.Store
	// FAR is the false-accept target of the decision; 0 means
	// face.DefaultFAR, as `kyc face-match`.
	FAR float64
	// LiveThreshold is the live probability at or above which a selfie is
	// live; 0 means face.DefaultLiveThreshold.
	LiveThreshold float64
	// MaxConcurrent bounds the comparisons running at once; 0 means one
	// per core.
	MaxConcurrent int
	// MaxPixels bounds each decoded image, by its header; 0 means
	// partnerapi.MaxFaceMatchPixels.
	MaxPixels int
}

// Matcher is the engine-backed partnerapi.FaceMatcher. It is safe for
// concurrent use.
type Matcher struct {
	eng       *face.Engine
	slots     chan struct{}
	maxPixels int
}

var _ partnerapi.FaceMatcher = (*Matcher)(nil)

// Open loads ONNX Runtime and the face models (with the fused liveness)
// from the verified store. Models that are not installed give an error
// wrapping models.ErrNotInstalled, an altered file models.ErrCorrupt.
func Open(cfg Config) (*Matcher, error) {
	store := cfg.Store
	if store == nil {
		var err error
		if store, err = models.DefaultStore(); err != nil {
			return nil, err
		}
	}
	far := cfg.FAR
	if far == 0 {
		far = face.DefaultFAR
	}
	m, err := face.NewMatcher(far)
	if err != nil {
		return nil, err
	}
	if cfg.LiveThreshold < 0 || cfg.LiveThreshold > 1 {
		return nil, fmt.Errorf("facematch: live threshold %g outside (0, 1]", cfg.LiveThreshold)
	}
	eng, err := engines.OpenFace(store, engines.FaceOptions{Matcher: m, LiveThreshold: cfg.LiveThreshold, Threads: 1, Liveness: true})
	if err != nil {
		return nil, fmt.Errorf("facematch: %w", err)
	}
	n := cfg.MaxConcurrent
	if n <= 0 {
		n = runtime.NumCPU()
	}
	px := cfg.MaxPixels
	if px <= 0 {
		px = partnerapi.MaxFaceMatchPixels
	}
	return &Matcher{eng: eng, slots: make(chan struct{}, n), maxPixels: px}, nil
}

// Close releases the models.
func (m *Matcher) Close() error { return m.eng.Close() }

// Warm runs each model once, so that the first partner request does not pay
// ONNX Runtime's and OpenCV's first-call costs.
func (m *Matcher) Warm(ctx context.Context) error { return m.eng.Warm(ctx) }

// Engine returns the face engine, for measuring it alone.
func (m *Matcher) Engine() *face.Engine { return m.eng }

// Match compares req's selfie (which must show one dominant face) with the
// largest face of its reference, scoring the selfie's passive liveness
// unless SkipLiveness. An unusable image gives a *partnerapi.FaceMatchError
// naming it; waiting for a turn ends with ctx's error.
func (m *Matcher) Match(ctx context.Context, req partnerapi.FaceMatchRequest) (partnerapi.FaceMatchResult, error) {
	start := time.Now()
	select {
	case m.slots <- struct{}{}:
	case <-ctx.Done():
		return partnerapi.FaceMatchResult{}, fmt.Errorf("facematch: waiting for a turn: %w", context.Cause(ctx))
	}
	defer func() { <-m.slots }()
	queued := time.Now()
	if err := ctx.Err(); err != nil {
		return partnerapi.FaceMatchResult{}, err
	}
	selfie, err := m.decode("selfie", req.Selfie)
	defer selfie.Close() // an empty Mat with an error, closed all the same
	if err != nil {
		return partnerapi.FaceMatchResult{}, err
	}
	ref, err := m.decode("reference", req.Reference)
	defer ref.Close()
	if err != nil {
		return partnerapi.FaceMatchResult{}, err
	}
	decoded := time.Now()
	res, err := m.eng.Match(ctx, selfie, ref, !req.SkipLiveness)
	if err != nil {
		return partnerapi.FaceMatchResult{}, matchError(err)
	}
	out := partnerapi.FaceMatchResult{
		Similarity: res.Similarity,
		Score:      100 * res.Score,
		Threshold:  100 * face.Score(res.Threshold),
		Decision:   res.Decision.Decision,
		Selfie:     faceInfo(res.Selfie),
		Reference:  faceInfo(res.Reference),
		TimingsMS:  map[string]float64(res.Timings),
	}
	if res.Liveness != nil {
		out.Liveness = &partnerapi.FaceLiveness{Score: res.Liveness.Score, Threshold: res.Liveness.Threshold, Live: res.Liveness.Live}
	}
	out.TimingsMS["queue"] = ms(queued.Sub(start))
	out.TimingsMS["decode_images"] = ms(decoded.Sub(queued))
	return out, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// decode turns one image's untrusted bytes into a Mat, or a
// *partnerapi.FaceMatchError naming the image with an empty Mat; the
// caller closes the Mat either way.
func (m *Matcher) decode(role string, data []byte) (gocv.Mat, error) {
	if len(data) > partnerapi.MaxFaceMatchImage {
		return gocv.NewMat(), &partnerapi.FaceMatchError{Image: role, Err: partnerapi.ErrTooLarge}
	}
	// Only the formats partners send (imageio bounds the others too).
	if !supported(data) {
		return gocv.NewMat(), &partnerapi.FaceMatchError{Image: role, Err: partnerapi.ErrNotImage}
	}
	img, err := imageio.Decode(data, m.maxPixels)
	if err == nil {
		return img, nil
	}
	img.Close() // the empty Mat imageio returns with an error
	var code error
	switch {
	case errors.Is(err, imageio.ErrTooLarge):
		code = partnerapi.ErrTooLarge
	case errors.Is(err, imageio.ErrTruncated):
		code = partnerapi.ErrTruncated
	default: // imageio.ErrNotImage, or bytes OpenCV could not decode
		code = partnerapi.ErrNotImage
	}
	return gocv.NewMat(), &partnerapi.FaceMatchError{Image: role, Err: code}
}

// supported reports whether data is a JPEG, PNG or WebP file, by its
// signature.
func supported(data []byte) bool {
	switch {
	case bytes.HasPrefix(data, []byte{0xFF, 0xD8, 0xFF}), bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return true
	case len(data) >= 12 && string(data[:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		return true
	}
	return false
}

// matchError turns the engine's input errors (no face, several faces in
// the selfie) into the API's, naming the image; others pass as they are.
func matchError(err error) error {
	var ie *face.ImageError
	if !errors.As(err, &ie) {
		return err
	}
	switch {
	case errors.Is(err, face.ErrNoFace):
		return &partnerapi.FaceMatchError{Image: ie.Image, Err: partnerapi.ErrNoFace}
	case errors.Is(err, face.ErrMultipleFaces):
		return &partnerapi.FaceMatchError{Image: ie.Image, Err: partnerapi.ErrManyFaces}
	}
	return err
}

// qualityChecks is how many checks face.AssessQuality makes (face.Fail*).
const qualityChecks = 8

// faceInfo is one image's face as the API reports it: the box rounded to
// pixels, the five landmarks (right eye, left eye, nose tip, right and
// left mouth corners) and the share of quality checks passed.
func faceInfo(a face.Analysis) partnerapi.FaceInfo {
	b := a.Face.Box
	fi := partnerapi.FaceInfo{
		Box:             [4]int{int(math.Round(b.X)), int(math.Round(b.Y)), int(math.Round(b.W)), int(math.Round(b.H))},
		Landmarks:       make([][2]float64, len(a.Face.Landmarks)),
		Quality:         math.Max(0, 1-float64(len(a.Quality.Failures))/qualityChecks),
		QualityFailures: append([]string{}, a.Quality.Failures...),
		Turned:          a.Turned,
	}
	for i, p := range a.Face.Landmarks {
		fi.Landmarks[i] = [2]float64{math.Round(p.X*10) / 10, math.Round(p.Y*10) / 10}
	}
	return fi
}
