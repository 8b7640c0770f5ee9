package ocr

import (
	"context"
	"fmt"

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

// orient turns, in place, every crop of batch the classifier finds upside
// down (one run for the batch), and records which it turned in turned,
// indexed like crops.
func (e *Engine) orient(ctx context.Context, crops []gocv.Mat, batch []int, turned []bool) error {
	in := ort.NewNCHW(len(batch), 3, clsHeight, clsWidth)
	for n, i := range batch {
		if err := fillPadded(in, n, crops[i], scaledWidth(crops[i], clsHeight, clsWidth), clsWidth); err != nil {
			return fmt.Errorf("classifying line orientation: %w", err)
		}
	}
	out, err := e.cls.Run(ctx, in)
	if err != nil {
		return fmt.Errorf("classifying line orientation: %w", err)
	}
	p := out[0]
	if len(p.Data) != 2*len(batch) {
		return fmt.Errorf("classifying line orientation: output shape %v, want [%d 2]", p.Shape, len(batch))
	}
	for n, i := range batch {
		// Class 1 is "180 degrees".
		if p.Data[2*n+1] > p.Data[2*n] && p.Data[2*n+1] > clsThreshold {
			gocv.Rotate(crops[i], &crops[i], gocv.Rotate180Clockwise)
			turned[i] = true
		}
	}
	return nil
}
