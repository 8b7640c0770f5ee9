package capture

import (
	"fmt"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/internal/atomicfile"
)

// JPEGQuality is the quality captures are saved at (the product's q90).
const JPEGQuality = 90

// SaveJPEG writes img to path as a JPEG at JPEGQuality, through a synced
// temporary file renamed into place, so a crash never leaves half a capture.
// An empty image, or one not of 8-bit grey or BGR, is an error: OpenCV's
// encoder aborts the process on it.
func SaveJPEG(path string, img gocv.Mat) (err error) {
	if img.Empty() || img.Type() != gocv.MatTypeCV8UC3 && img.Type() != gocv.MatTypeCV8UC1 {
		return fmt.Errorf("encoding %s: want a non-empty 8-bit grey or BGR image, got %dx%d of type %v", path, img.Cols(), img.Rows(), img.Type())
	}
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, img, []int{gocv.IMWriteJpegQuality, JPEGQuality})
	if err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	defer buf.Close()
	if err := atomicfile.Write(path, buf.GetBytes()); err != nil {
		return fmt.Errorf("saving capture: %w", err)
	}
	return nil
}

// captured holds a guide's captures until the caller takes them.
type captured struct {
	captures []Capture
}

// Captures implements Guide: the captures so far, handed over to the
// caller, who closes their images.
func (c *captured) Captures() []Capture {
	out := c.captures
	c.captures = nil
	return out
}

func (c *captured) closeCaptures() {
	for _, x := range c.captures {
		x.Image.Close()
	}
	c.captures = nil
}
