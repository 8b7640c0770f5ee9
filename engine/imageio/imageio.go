// Package imageio turns untrusted image bytes into OpenCV matrices, refusing
// what is not an image, what was cut short, and what is too large to decode
// safely, before OpenCV spends memory on it.
package imageio

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"syscall"

	"gocv.io/x/gocv"
)

// DefaultMaxPixels bounds a decoded image: 40 MP covers every phone and
// document camera while refusing decompression bombs.
const DefaultMaxPixels = 40_000_000

// MaxFileBytes bounds the file read before any decoding.
const MaxFileBytes = 64 << 20

// MaxSide bounds an image's width and height, whatever its pixel count:
// libjpeg's limit, so no camera writes more, and OpenCV's JPEG encoder
// aborts the process on a longer side (the document's forensics re-encode
// the photo).
const MaxSide = 65500

var (
	// ErrNotImage is returned for bytes that no decoder recognises.
	ErrNotImage = errors.New("not a decodable image")
	// ErrTruncated is returned for a JPEG or PNG whose end is missing: a
	// partial upload or copy whose lower part would decode as grey.
	ErrTruncated = errors.New("image file is truncated")
	// ErrTooLarge is returned when the image has more pixels than allowed
	// or the file is larger than MaxFileBytes.
	ErrTooLarge = errors.New("image too large")
)

// ReadFile loads and decodes the image at path (see ReadBytes, Decode).
func ReadFile(path string, maxPixels int) (gocv.Mat, error) {
	data, err := ReadBytes(path)
	if err != nil {
		return gocv.NewMat(), fmt.Errorf("reading image %s: %w", path, err)
	}
	m, err := Decode(data, maxPixels)
	if err != nil {
		return m, fmt.Errorf("image %s: %w", path, err)
	}
	return m, nil
}

// ReadBytes reads the file at path for Decode: a regular file (a symbolic
// link to one) of at most MaxFileBytes, read up to one byte more so that
// Decode refuses one that grew. Anything else is ErrNotImage before a byte
// is read: a FIFO without a writer would block the reader forever, a
// device such as /dev/zero never ends.
func ReadBytes(path string) ([]byte, error) {
	// Without O_NONBLOCK, opening a FIFO waits for a writer; a regular
	// file reads as it would without it.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	switch {
	case err != nil:
		return nil, err
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("%w: %s is not a regular file (%v)", ErrNotImage, path, st.Mode().Type())
	case st.Size() > MaxFileBytes:
		return nil, fmt.Errorf("%w: file over %d MB", ErrTooLarge, MaxFileBytes>>20)
	}
	return io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
}

// Decode decodes an image into a 3-channel BGR Mat. maxPixels <= 0 means
// DefaultMaxPixels. The caller closes the Mat.
func Decode(data []byte, maxPixels int) (gocv.Mat, error) {
	return decode(data, maxPixels, gocv.IMReadColor)
}

// DecodeGrey decodes an image into a 1-channel grey Mat, as Decode does
// otherwise; a JPEG's luma is read without its colour.
func DecodeGrey(data []byte, maxPixels int) (gocv.Mat, error) {
	return decode(data, maxPixels, gocv.IMReadGrayScale)
}

func decode(data []byte, maxPixels int, flags gocv.IMReadFlag) (gocv.Mat, error) {
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	if len(data) > MaxFileBytes {
		return gocv.NewMat(), fmt.Errorf("%w: file over %d MB", ErrTooLarge, MaxFileBytes>>20)
	}
	if len(data) == 0 {
		return gocv.NewMat(), fmt.Errorf("%w: empty file", ErrNotImage)
	}
	if err := checkComplete(data); err != nil {
		return gocv.NewMat(), err
	}
	w, h, format, err := Size(data)
	if err != nil {
		return gocv.NewMat(), err
	}
	if int64(w)*int64(h) > int64(maxPixels) {
		return gocv.NewMat(), fmt.Errorf("%w: %dx%d %s is over %d pixels", ErrTooLarge, w, h, format, maxPixels)
	}
	if max(w, h) > MaxSide {
		return gocv.NewMat(), fmt.Errorf("%w: %dx%d %s has a side over %d pixels", ErrTooLarge, w, h, format, MaxSide)
	}
	m, err := gocv.IMDecode(data, flags)
	if err != nil || m.Empty() {
		m.Close()
		return gocv.NewMat(), ErrNotImage
	}
	if m.Rows()*m.Cols() > maxPixels {
		w, h := m.Cols(), m.Rows()
		m.Close()
		return gocv.NewMat(), fmt.Errorf("%w: %dx%d is over %d pixels", ErrTooLarge, w, h, maxPixels)
	}
	return m, nil
}

// GreyImage copies m's grey levels into an image.Gray: a 1-channel Mat's
// own, a 3-channel (BGR) one's converted.
func GreyImage(m gocv.Mat) (*image.Gray, error) {
	src := m
	if m.Channels() == 3 {
		src = gocv.NewMat()
		defer src.Close()
		gocv.CvtColor(m, &src, gocv.ColorBGRToGray)
	}
	if src.Channels() != 1 || src.Type() != gocv.MatTypeCV8UC1 {
		return nil, fmt.Errorf("%w: a %d-channel image of type %v", ErrNotImage, m.Channels(), m.Type())
	}
	pix, err := src.DataPtrUint8()
	if err != nil {
		return nil, err
	}
	g := image.NewGray(image.Rect(0, 0, src.Cols(), src.Rows()))
	copy(g.Pix, pix) // a Mat's data is continuous here, as DataPtrUint8 checks
	return g, nil
}

// checkComplete looks for a PNG's end chunk; OpenCV would otherwise
// decode a truncated file into an image with a grey lower part. A JPEG's
// end is found by walking its segments (jpegSize).
func checkComplete(data []byte) error {
	if bytes.HasPrefix(data, []byte("\x89PNG")) && !bytes.Contains(data[max(0, len(data)-64):], []byte("IEND")) {
		return fmt.Errorf("%w: PNG has no IEND chunk", ErrTruncated)
	}
	return nil
}

// Turn returns img turned by a multiple of 90 degrees clockwise (any sign)
// into a new Mat the caller closes: its pixels moved, never resampled, so
// a turn keeps every pixel and, turned back, gives img exactly.
func Turn(img gocv.Mat, degrees int) (gocv.Mat, error) {
	out := gocv.NewMat()
	switch ((degrees % 360) + 360) % 360 {
	case 0:
		img.CopyTo(&out)
	case 90:
		gocv.Rotate(img, &out, gocv.Rotate90Clockwise)
	case 180:
		gocv.Rotate(img, &out, gocv.Rotate180Clockwise)
	case 270:
		gocv.Rotate(img, &out, gocv.Rotate90CounterClockwise)
	default:
		out.Close()
		return gocv.NewMat(), fmt.Errorf("turning an image: %d is not a multiple of 90 degrees", degrees)
	}
	return out, nil
}
