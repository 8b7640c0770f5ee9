package ocr

import (
	"context"
	"fmt"
	"slices"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/ort"
)

const (
	// clsHeight is the classifier's input height.
	clsHeight = 48
	// clsWidth is the orientation classifier's input width (48x192).
	clsWidth = 192
	// clsThreshold is how sure the classifier must be before a line is
	// turned (PaddleOCR's default).
	clsThreshold = 0.9
)

// clsSample is how many lines decide the orientation of an image that
// holds more: a document's lines share one orientation, and its longest
// lines tell it most surely (classifying each of a KTP's 15 lines cost a
// sixth of its OCR).
const clsSample = 5

// orientAll turns the crops upright. Up to clsSample crops are classified
// each on its own (orient, one run); of more, the clsSample widest are,
// and when most of them are upside down every crop is turned.
func (e *Engine) orientAll(ctx context.Context, crops []gocv.Mat, turned []bool) error {
	all := make([]int, len(crops))
	for i := range all {
		all[i] = i
	}
	switch {
	case len(crops) == 0:
		return nil
	case len(crops) <= clsSample:
		return e.orient(ctx, crops, all, turned)
	}
	sample := slices.Clone(all)
	slices.SortStableFunc(sample, func(a, b int) int { return crops[b].Cols() - crops[a].Cols() })
	down, err := e.upsideDown(ctx, crops, sample[:clsSample])
	if err != nil {
		return err
	}
	n := 0
	for _, d := range down {
		if d {
			n++
		}
	}
	if 2*n <= clsSample {
		return nil
	}
	for i := range crops {
		gocv.Rotate(crops[i], &crops[i], gocv.Rotate180Clockwise)
		turned[i] = true
	}
	return nil
}

// orient turns, in place, every crop of batch the classifier finds upside
// down (one run for the batch), and records which it turned in turned,
// indexed like crops.
func (e *Engine) orient(ctx context.Context, crops []gocv.Mat, batch []int, turned []bool) error {
	down, err := e.upsideDown(ctx, crops, batch)
	if err != nil {
		return err
	}
	for n, i := range batch {
		if down[n] {
			gocv.Rotate(crops[i], &crops[i], gocv.Rotate180Clockwise)
			turned[i] = true
		}
	}
	return nil
}

// upsideDown classifies the crops of batch in one run: whether each is
// upside down.
func (e *Engine) upsideDown(ctx context.Context, crops []gocv.Mat, batch []int) ([]bool, error) {
	in := ort.NewNCHW(len(batch), 3, clsHeight, clsWidth)
	for n, i := range batch {
		if err := fillPadded(in, n, crops[i], scaledWidth(crops[i], clsHeight, clsWidth), clsWidth); err != nil {
			return nil, fmt.Errorf("classifying line orientation: %w", err)
		}
	}
	out, err := e.cls.Run(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("classifying line orientation: %w", err)
	}
	p := out[0]
	if len(p.Data) != 2*len(batch) {
		return nil, fmt.Errorf("classifying line orientation: output shape %v, want [%d 2]", p.Shape, len(batch))
	}
	down := make([]bool, len(batch))
	for n := range batch {
		// Class 1 is "180 degrees".
		down[n] = p.Data[2*n+1] > p.Data[2*n] && p.Data[2*n+1] > clsThreshold
	}
	return down, nil
}
