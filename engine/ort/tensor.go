package ort

import (
	"errors"
	"fmt"
)

// Tensor is a dense float32 tensor in row-major order; image tensors are
// NCHW (batch, channel, height, width).
type Tensor struct {
	Shape []int64
	Data  []float32
}

// NewNCHW allocates a zeroed n x c x h x w tensor.
func NewNCHW(n, c, h, w int) Tensor {
	return Tensor{Shape: []int64{int64(n), int64(c), int64(h), int64(w)}, Data: make([]float32, n*c*h*w)}
}

// Len is the number of elements the shape describes.
func (t Tensor) Len() int {
	n := 1
	for _, d := range t.Shape {
		n *= int(d)
	}
	return n
}

func (t Tensor) validate() error {
	if len(t.Shape) == 0 {
		return errors.New("tensor has no shape")
	}
	for _, d := range t.Shape {
		if d <= 0 {
			return fmt.Errorf("tensor shape %v has a non-positive dimension", t.Shape)
		}
	}
	if t.Len() != len(t.Data) {
		return fmt.Errorf("tensor shape %v needs %d values, has %d", t.Shape, t.Len(), len(t.Data))
	}
	return nil
}

// Normalize says how one 8-bit channel value becomes a float:
// (v - Mean[c]) * Scale[c], with the channel order swapped first when SwapRB.
type Normalize struct {
	Mean   [3]float32
	Scale  [3]float32
	SwapRB bool
}

// Raw keeps 0..255 values in the source channel order.
var Raw = Normalize{Scale: [3]float32{1, 1, 1}}

// SetImage writes an interleaved 8-bit 3-channel image (HWC, as OpenCV
// stores a BGR Mat) into batch slot n of an NCHW tensor of the same height
// and width, normalising each value.
func (t Tensor) SetImage(n int, pix []byte, h, w int, norm Normalize) error {
	if len(t.Shape) != 4 || t.Shape[1] != 3 || int(t.Shape[2]) != h || int(t.Shape[3]) != w {
		return fmt.Errorf("tensor shape %v does not take a %dx%d 3-channel image", t.Shape, w, h)
	}
	if n < 0 || int64(n) >= t.Shape[0] {
		return fmt.Errorf("batch index %d out of range for shape %v", n, t.Shape)
	}
	if len(pix) != h*w*3 {
		return fmt.Errorf("image buffer has %d bytes, want %d for %dx%dx3", len(pix), h*w*3, w, h)
	}
	plane := h * w
	base := n * 3 * plane
	for c := 0; c < 3; c++ {
		src := c
		if norm.SwapRB {
			src = 2 - c
		}
		mean, scale := norm.Mean[c], norm.Scale[c]
		dst := t.Data[base+c*plane : base+(c+1)*plane]
		for i := range dst {
			dst[i] = (float32(pix[i*3+src]) - mean) * scale
		}
	}
	return nil
}
