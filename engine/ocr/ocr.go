// Package ocr reads printed text in images with PaddleOCR's networks run
// in ONNX Runtime: the DB detector finds text boxes, an optional classifier
// turns upside-down lines, and a CTC recogniser reads each line with a
// confidence for every character. Machine readable zones may have
// recognisers of their own (Config.MRZ), asked in turn. Decoding can be limited to a set of
// characters, which is how machine-readable zones are read.
package ocr

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/ort"
)

// ErrBadImage is returned for an image that is empty or not 8-bit
// 3-channel BGR.
var ErrBadImage = errors.New("ocr: image is empty or not 8-bit BGR")

// ErrNoOpinion is returned for MRZ lines asked of a recogniser
// (DecodeOptions.Opinion) that Config.MRZ does not hold.
var ErrNoOpinion = errors.New("ocr: no such MRZ recogniser")

// Config names the model files and the tuning of the engine. Zero values
// take PaddleOCR's defaults.
type Config struct {
	DetModel string // ch_PP-OCRv4_det_infer.onnx
	RecModel string // e.g. ch_PP-OCRv4_rec_infer.onnx
	Keys     string // e.g. ppocr_keys_v1.txt, the recogniser's classes
	// RecHeight is RecModel's input height when the model leaves it open
	// (see Recognizer.Height).
	RecHeight int
	// MRZ are the recognisers of the lines of machine readable zones
	// (DecodeOptions.Kind MRZLines), in the order a reader asks them
	// (DecodeOptions.Opinion): the cheapest first, the next only when the
	// zone's check digits fail. Empty reads them with RecModel.
	MRZ []Recognizer
	// ClsModel (ch_ppocr_mobile_v2.0_cls_infer.onnx) turns lines read upside
	// down; empty skips the step.
	ClsModel string

	// Threads is ONNX Runtime's intra-op thread count per session.
	Threads int
	// DetThreads is the detector's (0: the larger of Threads and
	// Workers).
	DetThreads int
	// MaxSide bounds the longer side of the image given to the detector
	// (960).
	MaxSide int
	// PixelThreshold binarises the detector's probability map (0.3).
	PixelThreshold float32
	// BoxThreshold drops boxes whose mean probability is lower (0.6).
	BoxThreshold float32
	// UnclipRatio grows each box, as DB shrinks text regions in training
	// (1.5).
	UnclipRatio float64
	// RecBatch is how many lines are recognised in one run (8).
	RecBatch int
	// Workers is how many recognition runs go on at once (1).
	Workers int
}

func (c Config) withDefaults() Config {
	if c.Threads <= 0 {
		c.Threads = 1
	}
	if c.MaxSide <= 0 {
		c.MaxSide = 960
	}
	if c.PixelThreshold <= 0 {
		c.PixelThreshold = 0.3
	}
	if c.BoxThreshold <= 0 {
		c.BoxThreshold = 0.6
	}
	if c.UnclipRatio <= 0 {
		c.UnclipRatio = 1.5
	}
	if c.RecBatch <= 0 {
		c.RecBatch = 8
	}
	if c.Workers <= 0 {
		c.Workers = 1
	}
	return c
}

// Recognizer names a recogniser network and its class list.
type Recognizer struct {
	Model string // e.g. en_PP-OCRv4_rec.onnx
	Keys  string // e.g. en_dict.txt
	// Height is the input height the network was trained at, for a model
	// that leaves it open (32 for en_number_mobile_v2.0); 0 takes the
	// model's own, else PP-OCR's 48.
	Height int
}

// Engine holds the loaded networks. It has no mutable state after New, so
// one Engine serves concurrent calls.
type Engine struct {
	cfg Config
	det *ort.Session
	cls *ort.Session // nil when no classifier is configured
	// rec is RecModel; mrz are Config.MRZ's (rec alone when empty), a
	// model named twice loaded once.
	rec *recognizer
	mrz []*recognizer
}

// recognizer is one loaded recogniser network.
type recognizer struct {
	sess *ort.Session
	// height is the input height the network was exported for (48 for
	// PP-OCRv3/v4, 32 for en_number_mobile_v2.0).
	height  int
	classes []rune // class i is classes[i-1]; 0 is the CTC blank
	classOf map[rune][]int
}

// New loads the networks named in cfg. ort.Init must have been called.
func New(cfg Config) (*Engine, error) {
	cfg = cfg.withDefaults()
	if cfg.DetModel == "" || cfg.RecModel == "" || cfg.Keys == "" {
		return nil, errors.New("ocr: DetModel, RecModel and Keys must all be set")
	}
	e := &Engine{cfg: cfg}
	opt := ort.Options{IntraOpThreads: cfg.Threads}
	var err error
	// The detector is one run the whole reading waits on, while the
	// recognition workers have nothing to do yet: by default it gets their
	// threads.
	detThreads := cfg.DetThreads
	if detThreads <= 0 {
		detThreads = max(cfg.Threads, cfg.Workers)
	}
	if e.det, err = ort.NewSession(cfg.DetModel, ort.Options{IntraOpThreads: detThreads}); err != nil {
		return nil, fmt.Errorf("ocr detector: %w", err)
	}
	main := Recognizer{Model: cfg.RecModel, Keys: cfg.Keys, Height: cfg.RecHeight}
	if e.rec, err = newRecognizer(main, opt); err != nil {
		e.Close()
		return nil, err
	}
	// A model named twice is one session: each holds its weights.
	loaded := map[Recognizer]*recognizer{main: e.rec}
	for i, r := range cfg.MRZ {
		if loaded[r] == nil {
			if loaded[r], err = newRecognizer(r, opt); err != nil {
				e.Close()
				return nil, fmt.Errorf("MRZ recogniser %d: %w", i+1, err)
			}
		}
		e.mrz = append(e.mrz, loaded[r])
	}
	if len(e.mrz) == 0 {
		e.mrz = []*recognizer{e.rec}
	}
	if cfg.ClsModel != "" {
		if e.cls, err = ort.NewSession(cfg.ClsModel, opt); err != nil {
			e.Close()
			return nil, fmt.Errorf("ocr orientation classifier: %w", err)
		}
	}
	return e, nil
}

// newRecognizer loads one recogniser and checks its output against its
// classes.
func newRecognizer(r Recognizer, opt ort.Options) (*recognizer, error) {
	if r.Model == "" || r.Keys == "" {
		return nil, errors.New("ocr: a recogniser needs both Model and Keys")
	}
	classes, err := readKeys(r.Keys)
	if err != nil {
		return nil, err
	}
	rec := &recognizer{classes: classes, classOf: make(map[rune][]int, len(classes)), height: defaultRecHeight}
	for i, c := range classes {
		rec.classOf[c] = append(rec.classOf[c], i+1)
	}
	if rec.sess, err = ort.NewSession(r.Model, opt); err != nil {
		return nil, fmt.Errorf("ocr recogniser: %w", err)
	}
	if in := rec.sess.Inputs(); len(in) == 1 && len(in[0].Shape) == 4 && in[0].Shape[2] > 0 {
		rec.height = int(in[0].Shape[2])
	} else if r.Height > 0 {
		rec.height = r.Height
	}
	if out := rec.sess.Outputs(); len(out) != 1 || len(out[0].Shape) != 3 ||
		(out[0].Shape[2] > 0 && int(out[0].Shape[2]) != len(classes)+1) {
		rec.sess.Close()
		return nil, fmt.Errorf("ocr recogniser %s: output %+v does not match %d classes from %s plus the blank",
			r.Model, out, len(classes), r.Keys)
	}
	return rec, nil
}

// MRZOpinions is how many recognisers read MRZ lines (Config.MRZ, at
// least one): DecodeOptions.Opinion ranges over them.
func (e *Engine) MRZOpinions() int { return len(e.mrz) }

// readKeys reads the recogniser's class list, one character a line, and
// appends the space PP-OCR adds as its last class.
func readKeys(path string) ([]rune, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading OCR keys: %w", err)
	}
	defer f.Close()
	var classes []rune
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		rs := []rune(line)
		if len(rs) != 1 {
			return nil, fmt.Errorf("reading OCR keys %s: line %d holds %q, want one character", path, n, line)
		}
		classes = append(classes, rs[0])
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading OCR keys %s: %w", path, err)
	}
	if len(classes) == 0 {
		return nil, fmt.Errorf("reading OCR keys %s: no classes", path)
	}
	return append(classes, ' '), nil
}

// Close releases the networks.
func (e *Engine) Close() error {
	var errs []error
	for _, s := range []*ort.Session{e.det, e.cls} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	closed := map[*recognizer]bool{}
	for _, r := range append([]*recognizer{e.rec}, e.mrz...) {
		if r != nil && !closed[r] {
			closed[r] = true
			errs = append(errs, r.sess.Close())
		}
	}
	return errors.Join(errs...)
}

// Char is one recognised character and the recogniser's probability for it.
type Char struct {
	Rune rune
	Conf float32
	// Alt is the likeliest other character the decoding allowed at the
	// frame where Rune was likeliest, and AltConf its probability there
	// (0 when there is none): how close the reading came to another one.
	// A caller that knows which characters may stand at a place (an MRZ
	// name's filler '<' read as K) can weigh the two.
	Alt     rune
	AltConf float32
}

// Line is one recognised line of text.
type Line struct {
	Text  string
	Box   Quad
	Conf  float32 // mean of the character confidences; 0 for an empty line
	Chars []Char
	// Turned is true when the orientation classifier found the line (on
	// an image of many lines, most of its longest: orientAll) upside
	// down and it was read turned by 180 degrees (Box stays as detected).
	Turned bool
}

// FillerOdds are, per character, the odds that the recogniser saw an MRZ
// filler where it read a letter: the probability of '<' over the
// letter's, where '<' was its runner-up, else 0 (mrz.Reading.FillerOdds);
// nil for a line whose characters are not one byte each.
func (l Line) FillerOdds() []float32 {
	if len(l.Chars) != len(l.Text) {
		return nil
	}
	odds := make([]float32, len(l.Chars))
	for i, c := range l.Chars {
		if c.Alt == '<' && c.Rune >= 'A' && c.Rune <= 'Z' && c.Conf > 0 {
			odds[i] = c.AltConf / c.Conf
		}
	}
	return odds
}

// Read finds and reads every text line in a BGR image, in reading order.
func (e *Engine) Read(ctx context.Context, img gocv.Mat, opt DecodeOptions) ([]Line, error) {
	boxes, err := e.Detect(ctx, img)
	if err != nil {
		return nil, err
	}
	return e.Recognize(ctx, img, boxes, opt)
}

func checkImage(img gocv.Mat) error {
	if img.Empty() || img.Channels() != 3 || img.Type() != gocv.MatTypeCV8UC3 {
		return fmt.Errorf("%w (want 8-bit BGR, got %dx%d type %v)", ErrBadImage, img.Cols(), img.Rows(), img.Type())
	}
	return nil
}
