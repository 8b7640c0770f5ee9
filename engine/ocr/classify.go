package ocr

import (
	"context"
	"fmt"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/ort"
)

const (
	// clsWidth is the orientation classifier's input width (48x192).
	clsWidth = 192
	// clsThreshold is how sure the classifier must be before a line is
	// turned (PaddleOCR's default).
	clsThreshold = 0.9
)

// orient turns, in place, every crop the classifier finds upside down,
// and reports which it turned.
func (e *Engine) orient(ctx context.Context, crops []gocv.Mat) ([]bool, error) {
	turned := make([]bool, len(crops))
	for start := 0; start < len(crops); start += e.cfg.RecBatch {
		batch := crops[start:min(start+e.cfg.RecBatch, len(crops))]
		in := ort.NewNCHW(len(batch), 3, recHeight, clsWidth)
		for n, c := range batch {
			if err := fillPadded(in, n, c, scaledWidth(c, recHeight, clsWidth), clsWidth); err != nil {
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
		for n := range batch {
			// Class 1 is "180 degrees".
			if p.Data[2*n+1] > p.Data[2*n] && p.Data[2*n+1] > clsThreshold {
				gocv.Rotate(batch[n], &batch[n], gocv.Rotate180Clockwise)
				turned[start+n] = true
			}
		}
	}
	return turned, nil
}
