package ocr

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"math"
	"slices"
	"sync"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/ort"
)

const (
	// defaultRecHeight is the input height of a recogniser whose model
	// leaves it open, PaddleOCR's 48.
	defaultRecHeight = 48
	// recMinWidth is the narrowest input, in heights, a recogniser is run
	// at; shorter lines are padded. PaddleOCR pads to its training width,
	// 320 (6.7 heights), but short words read as well at 160 (TestShortWords
	// with PP-OCRv4: the same errors at 160 as at 320, one more at 96), and
	// a short field then costs half.
	recMinWidth = 160.0 / 48
	// recMaxWidth bounds one line's input, in heights, so a degenerate
	// sliver cannot ask for an enormous tensor; 80 heights hold any MRZ
	// line.
	recMaxWidth = 80
	// recSqueeze is the share of its natural width a line is read at
	// unless DecodeOptions.FullWidth: PaddleOCR trained the recogniser on
	// 48x320 inputs with every wider line squeezed to fit, so three
	// quarters of the width is well within what it learned, and costs a
	// quarter less. Chosen once, not swept; measured against reading at
	// full width with PP-OCRv4: the same 4 of 128 short words wrong
	// (TestShortWords), every synthetic KTP and PassportEye result
	// unchanged, free decoding of the doubango MRZ lines 3.83% -> 2.69% CER.
	// en_number_mobile_v2.0 likewise reads short words better squeezed (4
	// of 128 wrong, 9 at full width: TestRecognizers).
	recSqueeze = 0.75
)

// recNorm maps bytes to [-1, 1], PaddleOCR's recogniser and classifier
// normalisation; the padding value 128 is (almost) its zero.
var recNorm = ort.Normalize{
	Mean:  [3]float32{127.5, 127.5, 127.5},
	Scale: [3]float32{1 / 127.5, 1 / 127.5, 1 / 127.5},
}

var padGrey = color.RGBA{128, 128, 128, 0}

// Recognize reads the text inside each box of img, returning one Line per
// box in the order given.
func (e *Engine) Recognize(ctx context.Context, img gocv.Mat, boxes []Quad, opt DecodeOptions) ([]Line, error) {
	if err := checkImage(img); err != nil {
		return nil, fmt.Errorf("recognising text: %w", err)
	}
	crops := make([]gocv.Mat, 0, len(boxes))
	defer func() {
		for _, c := range crops {
			c.Close()
		}
	}()
	for _, q := range boxes {
		crops = append(crops, rectify(img, q))
	}
	var turned []bool
	if e.cls != nil {
		turned = make([]bool, len(crops))
	}
	lines, err := e.read(ctx, crops, opt, turned)
	if err != nil {
		return nil, err
	}
	for i := range lines {
		lines[i].Box = boxes[i]
		lines[i].Turned = turned != nil && turned[i]
	}
	return lines, nil
}

// rectify cuts the quad out of img as an upright rectangle, turning tall
// boxes a quarter so the text runs left to right.
func rectify(img gocv.Mat, q Quad) gocv.Mat {
	w := max(1, int(math.Round(q.Width())))
	h := max(1, int(math.Round(q.Height())))
	src := gocv.NewPoint2fVectorFromPoints([]gocv.Point2f{
		{X: float32(q[0].X), Y: float32(q[0].Y)}, {X: float32(q[1].X), Y: float32(q[1].Y)},
		{X: float32(q[2].X), Y: float32(q[2].Y)}, {X: float32(q[3].X), Y: float32(q[3].Y)},
	})
	defer src.Close()
	dst := gocv.NewPoint2fVectorFromPoints([]gocv.Point2f{
		{X: 0, Y: 0}, {X: float32(w), Y: 0}, {X: float32(w), Y: float32(h)}, {X: 0, Y: float32(h)},
	})
	defer dst.Close()
	m := gocv.GetPerspectiveTransform2f(src, dst)
	defer m.Close()
	out := gocv.NewMat()
	gocv.WarpPerspectiveWithParams(img, &out, m, image.Pt(w, h), gocv.InterpolationCubic, gocv.BorderReplicate, color.RGBA{})
	if float64(h) >= 1.5*float64(w) {
		gocv.Rotate(out, &out, gocv.Rotate90CounterClockwise)
	}
	return out
}

// ReadCrops reads images that each hold one line of text running left to
// right (crops from Recognize, or line images from elsewhere). Each line's
// Box is the whole crop.
func (e *Engine) ReadCrops(ctx context.Context, crops []gocv.Mat, opt DecodeOptions) ([]Line, error) {
	return e.read(ctx, crops, opt, nil)
}

// read reads the crops with the recogniser of opt.Kind. With turned not
// nil, crops are first turned upright (orient).
func (e *Engine) read(ctx context.Context, crops []gocv.Mat, opt DecodeOptions, turned []bool) ([]Line, error) {
	if opt.Kind != MRZLines {
		return e.readCrops(ctx, e.rec, crops, opt, turned)
	}
	if opt.Opinion < 0 || opt.Opinion >= len(e.mrz) {
		return nil, fmt.Errorf("%w: opinion %d of %d", ErrNoOpinion, opt.Opinion, len(e.mrz))
	}
	return e.readCrops(ctx, e.mrz[opt.Opinion], crops, opt, turned)
}

// readCrops reads the crops with rec; with turned not nil, the crops
// first go through the orientation classifier (orientAll).
func (e *Engine) readCrops(ctx context.Context, rec *recognizer, crops []gocv.Mat, opt DecodeOptions, turned []bool) ([]Line, error) {
	dec, err := rec.decoder(opt)
	if err != nil {
		return nil, err
	}
	minW := int(math.Ceil(recMinWidth * float64(rec.height)))
	maxW := recMaxWidth * rec.height
	if opt.MaxWidth > 0 {
		maxW = min(maxW, max(opt.MaxWidth, minW))
	}
	widths := make([]int, len(crops))
	for i, c := range crops {
		if err := checkImage(c); err != nil {
			return nil, fmt.Errorf("recognising line %d: %w", i, err)
		}
		widths[i] = scaledWidth(c, rec.height, maxW)
		if !opt.FullWidth {
			widths[i] = max(1, int(math.Ceil(float64(widths[i])*recSqueeze)))
		}
	}
	if turned != nil {
		if err := e.orientAll(ctx, crops, turned); err != nil {
			return nil, err
		}
	}
	// Lines of similar length share a batch, so little of it is padding;
	// the longest go first, so that no worker is left with a long line
	// when the others have finished (longest-processing-time-first).
	order := make([]int, len(crops))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return widths[b] - widths[a] })
	lines := make([]Line, len(crops))
	var batches [][]int
	for start := 0; start < len(order); start += e.cfg.RecBatch {
		batches = append(batches, order[start:min(start+e.cfg.RecBatch, len(order))])
	}
	// Batches are independent: with Workers > 1 they run side by side,
	// each on its own ONNX Runtime thread, which on a small CPU beats one
	// run with more intra-op threads.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan []int)
	errs := make(chan error, len(batches))
	var wg sync.WaitGroup
	for w := 0; w < min(e.cfg.Workers, len(batches)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range jobs {
				if err := e.recognizeBatch(ctx, rec, dec, crops, widths, batch, lines, opt); err != nil {
					errs <- err
					cancel()
				}
			}
		}()
	}
feed:
	for _, b := range batches {
		select {
		case jobs <- b:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("recognising text: %w", err)
	}
	return lines, nil
}

// recognizeBatch runs the recogniser on one batch of crops and writes the
// decoded lines to their slots of lines (each batch owns its slots).
func (e *Engine) recognizeBatch(ctx context.Context, rec *recognizer, dec decoder, crops []gocv.Mat, widths, batch []int, lines []Line, opt DecodeOptions) error {
	batchW := int(math.Ceil(recMinWidth * float64(rec.height)))
	for _, i := range batch {
		batchW = max(batchW, widths[i])
	}
	in := ort.NewNCHW(len(batch), 3, rec.height, batchW)
	for n, i := range batch {
		if err := fillPadded(in, n, crops[i], widths[i], batchW); err != nil {
			return fmt.Errorf("recognising line %d: %w", i, err)
		}
	}
	out, err := rec.sess.Run(ctx, in)
	if err != nil {
		return fmt.Errorf("recognising text: %w", err)
	}
	probs := out[0]
	if len(probs.Shape) != 3 || int(probs.Shape[0]) != len(batch) || int(probs.Shape[2]) != len(dec.symbol) {
		return fmt.Errorf("recognising text: output shape %v, want [%d T %d]", probs.Shape, len(batch), len(dec.symbol))
	}
	frames, classes := int(probs.Shape[1]), int(probs.Shape[2])
	for n, i := range batch {
		p := probs.Data[n*frames*classes : (n+1)*frames*classes]
		lines[i] = newLine(dec.decodeLine(p, frames, classes, opt))
		lines[i].Box = Quad{{0, 0}, {float64(crops[i].Cols()), 0},
			{float64(crops[i].Cols()), float64(crops[i].Rows())}, {0, float64(crops[i].Rows())}}
	}
	return nil
}

// scaledWidth is the width of img scaled to height h, at least 1 and at
// most maxW.
func scaledWidth(img gocv.Mat, h, maxW int) int {
	w := int(math.Ceil(float64(h) * float64(img.Cols()) / float64(img.Rows())))
	return min(max(w, 1), maxW)
}

// fillPadded writes img, scaled to the tensor's height and width w, into
// batch slot n of t, padding on the right with grey to the tensor's width
// batchW.
func fillPadded(t ort.Tensor, n int, img gocv.Mat, w, batchW int) error {
	h := int(t.Shape[2])
	resized := gocv.NewMat()
	defer resized.Close()
	interp := gocv.InterpolationLinear
	if img.Rows() > 2*h {
		// Linear sampling aliases when shrinking a lot.
		interp = gocv.InterpolationArea
	}
	gocv.Resize(img, &resized, image.Pt(w, h), 0, 0, interp)
	if w < batchW {
		gocv.CopyMakeBorder(resized, &resized, 0, 0, 0, batchW-w, gocv.BorderConstant, padGrey)
	}
	return t.SetImage(n, resized.ToBytes(), h, batchW, recNorm)
}
