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
// stores a BGR Mat) into batch slot n of an NCHW tensor, normalising each
// value. An image smaller than the tensor goes into its top-left corner
// and leaves the rest as it was (zero from NewNCHW): a letterbox without a
// padded copy of the image.
func (t Tensor) SetImage(n int, pix []byte, h, w int, norm Normalize) error {
	if len(t.Shape) != 4 || t.Shape[1] != 3 || int(t.Shape[2]) < h || int(t.Shape[3]) < w || h <= 0 || w <= 0 {
		return fmt.Errorf("tensor shape %v does not take a %dx%d 3-channel image", t.Shape, w, h)
	}
	if n < 0 || int64(n) >= t.Shape[0] {
		return fmt.Errorf("batch index %d out of range for shape %v", n, t.Shape)
	}
	if len(pix) != h*w*3 {
		return fmt.Errorf("image buffer has %d bytes, want %d for %dx%dx3", len(pix), h*w*3, w, h)
	}
	tw := int(t.Shape[3])
	plane := int(t.Shape[2]) * tw
	base := n * 3 * plane
	s0, s2 := 0, 2
	if norm.SwapRB {
		s0, s2 = 2, 0
	}
	// One pass over the pixels, three planes written: the image is read
	// once instead of once a channel.
	for y := range h {
		row := pix[y*w*3 : (y+1)*w*3]
		o := base + y*tw
		p0, p1, p2 := t.Data[o:o+w], t.Data[o+plane:o+plane+w], t.Data[o+2*plane:o+2*plane+w]
		for x := range p0 {
			px := row[3*x : 3*x+3]
			p0[x] = (float32(px[s0]) - norm.Mean[0]) * norm.Scale[0]
			p1[x] = (float32(px[1]) - norm.Mean[1]) * norm.Scale[1]
			p2[x] = (float32(px[s2]) - norm.Mean[2]) * norm.Scale[2]
		}
	}
	return nil
}
