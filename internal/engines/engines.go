// Package engines loads every model the verification needs from the
// verified model store, with the threading the product runs them with, so
// the desktop app and the command line build the same engines the same way.
package engines

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/openkyc/kyc/engine/document"
	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/ocr"
	"github.com/openkyc/kyc/engine/ort"
	"github.com/openkyc/kyc/engine/screening"
	"github.com/openkyc/kyc/internal/runtimeinfo"
	"github.com/openkyc/kyc/internal/synth"
	"github.com/openkyc/kyc/models"
)

// Engines are the loaded models a verification runs: the document analyzer, the
// face engine, the selfie guidance's detector and the watchlist index.
type Engines struct {
	Document *document.Analyzer
	Face     *face.Engine
	// Guide is the face detector of live selfie guidance: its own session,
	// so guidance never waits for a verification.
	Guide *face.YuNet
	// Screening is nil when no watchlist is installed: the sanctions signal
	// is then missing, which the risk policy handles.
	Screening *screening.Index

	ocr       *ocr.Engine
	docFaces  *face.YuNet
	ageGender *face.AgeGender
}

// Open loads every model from the verified store and the watchlists
// from watchlistDir (an empty or missing folder leaves Screening nil).
// Each model gets one thread: the stages already run in parallel on a
// machine that also decodes the camera.
func Open(ctx context.Context, store *models.Store, watchlistDir string) (*Engines, error) {
	if err := runtimeinfo.LoadRuntime(store); err != nil {
		return nil, fmt.Errorf("loading ONNX Runtime: %w", err)
	}
	paths := map[string]string{}
	for _, name := range []string{"yunet", "fr-feature", "minifasnet-v2se", "minifasnet-v2-2.7", "minifasnet-v1se-4.0",
		"faceapi-age-gender", "faceapi-age-gender-weights"} {
		p, err := store.Path(name)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", name, err)
		}
		paths[name] = p
	}
	e := &Engines{}
	one := ort.Options{IntraOpThreads: 1, InterOpThreads: 1}
	cfg, err := OCRConfig(store)
	if err != nil {
		return nil, err
	}
	if e.ocr, err = ocr.New(cfg); err != nil {
		return nil, fmt.Errorf("loading OCR: %w", err)
	}
	if e.docFaces, err = face.NewYuNet(paths["yunet"], face.YuNetConfig{}, one); err != nil {
		e.Close()
		return nil, fmt.Errorf("loading the portrait detector: %w", err)
	}
	if e.Guide, err = face.NewYuNet(paths["yunet"], face.YuNetConfig{}, one); err != nil {
		e.Close()
		return nil, fmt.Errorf("loading the guidance detector: %w", err)
	}
	// Liveness fuses MiniFASNetV2-SE with minivision's pair and the face's
	// screen and print traces (face.DefaultFusion).
	if e.Face, err = face.New(face.Config{Threads: 1, DetectorModel: paths["yunet"], EmbedderModel: paths["fr-feature"],
		LivenessModel: paths["minifasnet-v2se"], MiniFASV2Model: paths["minifasnet-v2-2.7"], MiniFASV1SEModel: paths["minifasnet-v1se-4.0"]}); err != nil {
		e.Close()
		return nil, fmt.Errorf("loading the face engine: %w", err)
	}
	if e.ageGender, err = face.NewAgeGender(paths["faceapi-age-gender"], paths["faceapi-age-gender-weights"], one); err != nil {
		e.Close()
		return nil, fmt.Errorf("loading the age and gender network: %w", err)
	}
	// The document analyzer describes the ghost image with the face
	// engine's embedder and judges the portrait's apparent sex against the
	// MRZ's.
	if e.Document, err = document.New(document.Config{OCR: e.ocr, Faces: e.docFaces, Embedder: e.Face, AgeGender: e.ageGender}); err != nil {
		e.Close()
		return nil, fmt.Errorf("building the document analyzer: %w", err)
	}
	if e.Screening, err = loadWatchlists(ctx, watchlistDir); err != nil {
		e.Close()
		return nil, err
	}
	// Loading read and rewrote every model file in Go memory before ORT
	// copied it: some 150 MB of garbage that the collector, at
	// runtimeinfo.GCPercent, would leave resident for a long while.
	debug.FreeOSMemory()
	return e, nil
}

// OCRConfig is the text reading the product runs, its models resolved
// from the verified store. Lines are recognised one per run, two runs at
// once: on a small CPU that beats batches (which pad to their widest line)
// and beats one run with two threads. Text is read by PaddleOCR's English
// recognisers (engine/ocr's TestRecognizers and mrzread's TestMRZReaders
// measure every recogniser at hand): free text by en_number_mobile_v2.0,
// several times cheaper than PP-OCRv4's Chinese recogniser and as good on
// Latin text once words of capitals are read as such; MRZ lines by it too,
// and a zone whose check digits fail with it by en_PP-OCRv4 (the fewest
// errors on the doubango lines, at six times the cost a column), then by
// the Chinese recogniser (the most PassportEye specimens read alone). The
// English recognisers have no accented letters and read them, confidently,
// as the bare letter, so no confidence tells which line holds one; the
// Chinese one kept 4 of 16 (TestRecognizers' accents column), too few to
// read every line twice for: the fields' cross-checks fold diacritics.
// The detector gets one thread: in a verification it runs beside the
// forensics, the portrait and the selfie, which keep both cores busy, and
// a second thread only added overhead (BenchmarkVerify 5% less CPU and
// wall with one).
func OCRConfig(store *models.Store) (ocr.Config, error) {
	paths := map[string]string{}
	for _, name := range []string{"ppocr-det", "ppocr-cls", "ppocr-rec-en-number", "ppocr-keys-en", "ppocr-rec-en-v4", "ppocr-rec", "ppocr-keys"} {
		p, err := store.Path(name)
		if err != nil {
			return ocr.Config{}, fmt.Errorf("model %s: %w", name, err)
		}
		paths[name] = p
	}
	return ocr.Config{DetModel: paths["ppocr-det"], ClsModel: paths["ppocr-cls"],
		RecModel: paths["ppocr-rec-en-number"], Keys: paths["ppocr-keys-en"], RecHeight: 32,
		MRZ: []ocr.Recognizer{{Model: paths["ppocr-rec-en-number"], Keys: paths["ppocr-keys-en"], Height: 32},
			{Model: paths["ppocr-rec-en-v4"], Keys: paths["ppocr-keys-en"]},
			{Model: paths["ppocr-rec"], Keys: paths["ppocr-keys"]}},
		Threads: 1, DetThreads: 1, Workers: 2, RecBatch: 1, MaxSide: 640}, nil
}

// loadWatchlists indexes every list in dir; none gives a nil index.
func loadWatchlists(ctx context.Context, dir string) (*screening.Index, error) {
	if dir == "" {
		return nil, nil
	}
	st, err := screening.OpenStore(dir)
	if err != nil {
		return nil, fmt.Errorf("opening watchlists %s: %w", dir, err)
	}
	lists, err := st.LoadAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading watchlists %s: %w", dir, err)
	}
	if len(lists) == 0 {
		return nil, nil
	}
	return screening.NewIndex(lists...), nil
}

// Close releases every model session.
func (e *Engines) Close() error {
	var errs []error
	if e.Face != nil {
		errs = append(errs, e.Face.Close())
	}
	if e.Guide != nil {
		errs = append(errs, e.Guide.Close())
	}
	if e.docFaces != nil {
		errs = append(errs, e.docFaces.Close())
	}
	if e.ageGender != nil {
		errs = append(errs, e.ageGender.Close())
	}
	if e.ocr != nil {
		errs = append(errs, e.ocr.Close())
	}
	return errors.Join(errs...)
}

// Warm runs the document pipeline once on a synthetic KTP on a desk and
// each face model once, so that the first verification after start-up does
// not pay the first-call costs of ONNX Runtime and OpenCV: on this 2-core
// machine a fresh engine's first verification took 840 ms on average, 711
// ms once warmed (six fresh engines each, mostly forensics and the selfie's
// models). It takes about a second; the app runs it while the operator
// signs in.
func (e *Engines) Warm(ctx context.Context) error {
	scene := synth.KTPOnDesk(1280, 720, 0.6, nil, 1)
	defer scene.Close()
	res, err := e.Document.Analyze(ctx, document.Image{Mat: scene}, nil, nil)
	if err != nil {
		return fmt.Errorf("warming the document pipeline: %w", err)
	}
	res.Close()
	if err := e.Face.Warm(ctx); err != nil {
		return err
	}
	// What loading and the first runs freed need not stay resident.
	runtimeinfo.ReleaseNativeMemory()
	return nil
}
