package imageio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"gocv.io/x/gocv"
)

// FuzzDecode: whatever the bytes, Decode gives an 8-bit BGR image no larger
// than allowed, or one of its sentinel errors; never a panic, and never an
// image for bytes that Size refuses; Orientation says 1-8. The seeds are small files of every
// format Decode takes, encoded here.
func FuzzDecode(f *testing.F) {
	src := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(30, 120, 210, 0), 12, 16, gocv.MatTypeCV8UC3)
	defer src.Close()
	for _, ext := range []string{".jpg", ".png", ".webp", ".bmp", ".tiff", ".ppm"} {
		buf, err := gocv.IMEncode(gocv.FileExt(ext), src)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(bytes.Clone(buf.GetBytes()))
		buf.Close()
	}
	prog, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, src, []int{gocv.IMWriteJpegProgressive, 1})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(withOrientation(bytes.Clone(prog.GetBytes()), 6))
	prog.Close()
	f.Add(tiledTIFF(16, 12, 256, 256))
	f.Add(stripTIFF(4, 3, 6, make([]byte, 12)))
	if png, err := gocv.IMEncode(gocv.PNGFileExt, src); err == nil {
		b := png.GetBytes()
		f.Add(slices.Concat(b[:33], pngChunk("eXIf", exifOrientations(binary.BigEndian, 3, 6)[6:]), b[33:]))
		png.Close()
	}
	const maxPixels = 1 << 16 // small, so a fuzzed header's size is refused quickly
	f.Fuzz(func(t *testing.T, data []byte) {
		if o := Orientation(data); o < 1 || o > 8 {
			t.Fatalf("Orientation = %d", o)
		}
		m, err := Decode(data, maxPixels)
		defer m.Close()
		if err != nil {
			if !errors.Is(err, ErrNotImage) && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Decode: %v is none of the sentinel errors", err)
			}
			return
		}
		if m.Empty() || m.Type() != gocv.MatTypeCV8UC3 || m.Rows()*m.Cols() > maxPixels {
			t.Fatalf("Decode gave a %dx%d image of type %v", m.Cols(), m.Rows(), m.Type())
		}
		if _, _, _, err := Size(data); err != nil {
			t.Fatalf("decoded bytes whose size was refused: %v", err)
		}
	})
}
