package imageio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image/png"
	"io"

	"golang.org/x/image/webp"
)

// Accepted names the formats Decode takes, for error messages.
const Accepted = "JPEG, PNG, WebP, BMP, TIFF or PNM"

// Size reads an image's width and height from its header alone, for the
// formats Decode takes (ErrNotImage for any other; ErrTooLarge for a JPEG
// of more than MaxJPEGScans scans). OpenCV allocates the whole image from its header
// before reading any pixel, so a format whose size is not known first is
// refused rather than handed to it: a 420 KB deflated TIFF or a 340 KB WebP
// declaring 16000x12000 pixels took 1.6 GB and 0.8 GB to refuse afterwards.
func Size(data []byte) (w, h int, format string, err error) {
	switch {
	case bytes.HasPrefix(data, []byte{0xFF, 0xD8, 0xFF}):
		w, h, err = jpegSize(data)
		return w, h, "jpeg", err
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		cfg, err := png.DecodeConfig(bytes.NewReader(data))
		return cfg.Width, cfg.Height, "png", headerErr(err)
	case len(data) >= 12 && bytes.Equal(data[:4], []byte("RIFF")) && bytes.Equal(data[8:12], []byte("WEBP")):
		cfg, err := webp.DecodeConfig(bytes.NewReader(data))
		return cfg.Width, cfg.Height, "webp", headerErr(err)
	case bytes.HasPrefix(data, []byte("BM")):
		w, h, err = bmpSize(data)
		return w, h, "bmp", err
	case bytes.HasPrefix(data, []byte("II*\x00")), bytes.HasPrefix(data, []byte("MM\x00*")):
		w, h, err = tiffSize(data)
		return w, h, "tiff", err
	case len(data) >= 2 && data[0] == 'P' && data[1] >= '1' && data[1] <= '6':
		w, h, err = pnmSize(data)
		return w, h, "pnm", err
	}
	return 0, 0, "", fmt.Errorf("%w: not a %s file", ErrNotImage, Accepted)
}

// headerErr maps a Go decoder's header error: a header cut short is
// truncation, anything else is not an image.
func headerErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Errorf("%w: the header is cut short", ErrTruncated)
	}
	return fmt.Errorf("%w: %v", ErrNotImage, err)
}

var errNoHeader = fmt.Errorf("%w: the header is cut short", ErrTruncated)

// MaxJPEGScans bounds a progressive JPEG's scans. Each scan passes over
// the whole image, and a scan that refines nothing takes a dozen bytes: a
// 370 KB file of 30,000 of them at 1600x1000 took libjpeg-turbo 20 s of CPU.
// Encoders write about ten (jpegtran's default script has 10).
const MaxJPEGScans = 100

// jpegSize walks the marker segments to the frame header (any SOFn:
// baseline, progressive, lossless, arithmetic, which Go's own decoder
// refuses for the kinds it cannot decode but OpenCV can), then over every
// scan to the end-of-image marker, counting them (an embedded thumbnail's
// scans sit inside an APP segment and are skipped with it); a file that
// ends before that marker is ErrTruncated.
func jpegSize(b []byte) (w, h int, err error) {
	scans := 0
	for i := 2; ; {
		if i+2 > len(b) {
			// The walk ends only at the image's own end marker: an FF D9
			// elsewhere near the end (an embedded thumbnail's, a header
			// byte pair) does not make a file cut short whole.
			if h == 0 {
				return 0, 0, errNoHeader
			}
			return 0, 0, fmt.Errorf("%w: JPEG has no end-of-image marker", ErrTruncated)
		}
		if b[i] != 0xFF {
			return 0, 0, fmt.Errorf("%w: corrupt JPEG marker at byte %d", ErrNotImage, i)
		}
		m := b[i+1]
		i += 2
		switch {
		case m == 0xFF: // fill byte
			i--
			continue
		case m == 0x01 || (m >= 0xD0 && m <= 0xD8): // no length
			continue
		case m == 0xD9: // end of image
			if h == 0 {
				return 0, 0, fmt.Errorf("%w: JPEG has no frame header", ErrNotImage)
			}
			return w, h, nil
		}
		if i+2 > len(b) {
			return 0, 0, errNoHeader
		}
		n := int(binary.BigEndian.Uint16(b[i:]))
		if n < 2 {
			return 0, 0, fmt.Errorf("%w: corrupt JPEG segment at byte %d", ErrNotImage, i)
		}
		switch {
		case m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC:
			if n < 7 || i+7 > len(b) {
				return 0, 0, errNoHeader
			}
			if h != 0 {
				// libjpeg sizes the image by the first and decodes it
				// whole: a small second one hid a 20000x20000 first
				// (1.2 GB from a file of 700 bytes).
				return 0, 0, fmt.Errorf("%w: JPEG with a second frame header", ErrNotImage)
			}
			h, w = int(binary.BigEndian.Uint16(b[i+3:])), int(binary.BigEndian.Uint16(b[i+5:]))
			if h == 0 { // the height follows the first scan (a DNL marker)
				return 0, 0, fmt.Errorf("%w: JPEG without its height in the frame header", ErrNotImage)
			}
		case m == 0xDA:
			if h == 0 {
				return 0, 0, fmt.Errorf("%w: JPEG has scan data before its frame header", ErrNotImage)
			}
			if scans++; scans > MaxJPEGScans {
				return 0, 0, fmt.Errorf("%w: a JPEG of more than %d scans", ErrTooLarge, MaxJPEGScans)
			}
			i = entropyEnd(b, i+n)
			continue
		}
		i += n
	}
}

// entropyEnd returns where the entropy-coded data from i ends: at the next
// marker, skipping stuffed zero bytes and restart markers.
func entropyEnd(b []byte, i int) int {
	for i < len(b) {
		k := bytes.IndexByte(b[i:], 0xFF)
		if k < 0 || i+k+1 >= len(b) {
			return len(b)
		}
		i += k + 1
		if c := b[i]; c != 0x00 && (c < 0xD0 || c > 0xD7) {
			return i - 1
		}
	}
	return len(b)
}

// bmpSize reads a BMP's size from its DIB header (OS/2's 12-byte one or
// Windows' 40 bytes and more; a negative height is a top-down image).
func bmpSize(b []byte) (w, h int, err error) {
	if len(b) < 26 {
		return 0, 0, errNoHeader
	}
	if binary.LittleEndian.Uint32(b[14:]) == 12 {
		return int(binary.LittleEndian.Uint16(b[18:])), int(binary.LittleEndian.Uint16(b[20:])), nil
	}
	w, h = int(int32(binary.LittleEndian.Uint32(b[18:]))), int(int32(binary.LittleEndian.Uint32(b[22:])))
	if w <= 0 || h == 0 {
		return 0, 0, fmt.Errorf("%w: BMP of %dx%d pixels", ErrNotImage, w, h)
	}
	return w, max(h, -h), nil
}

// maxTIFFTile bounds a TIFF tile's pixels when the image has fewer: 1024
// by 1024, above the 256 or 512 square encoders write.
const maxTIFFTile = 1 << 20

// tiffSize reads ImageWidth and ImageLength from the first image file
// directory, the page OpenCV decodes. OpenCV reads a tiled TIFF a tile at
// a time into a buffer of four bytes a tile pixel, which the image's size
// does not bound: a 1 KB file of a 16x12 image declaring 16384x16384
// tiles took 1.1 GB and 5 s to refuse. A tile larger than both the image
// and maxTIFFTile is ErrTooLarge.
func tiffSize(b []byte) (w, h int, err error) {
	var tw, th int
	var bo binary.ByteOrder = binary.LittleEndian
	if b[0] == 'M' {
		bo = binary.BigEndian
	}
	if len(b) < 8 {
		return 0, 0, errNoHeader
	}
	off := int64(bo.Uint32(b[4:]))
	if off+2 > int64(len(b)) {
		return 0, 0, errNoHeader
	}
	n := int64(bo.Uint16(b[off:]))
	if off+2+12*n > int64(len(b)) {
		return 0, 0, errNoHeader
	}
	// libtiff takes a tag's first entry and reads a size of any integer
	// type: one it would read otherwise than here (a SLONG, a second
	// entry) could hide the image's size, a 30000x30000 behind a 16x12.
	seen := map[uint16]bool{}
	for e := b[off+2 : off+2+12*n]; len(e) >= 12; e = e[12:] {
		var dim *int
		tag := bo.Uint16(e)
		switch tag {
		case 256:
			dim = &w
		case 257:
			dim = &h
		case 322:
			dim = &tw
		case 323:
			dim = &th
		default:
			continue
		}
		if seen[tag] {
			return 0, 0, fmt.Errorf("%w: TIFF with tag %d twice", ErrNotImage, tag)
		}
		seen[tag] = true
		switch typ := bo.Uint16(e[2:]); typ {
		case 3: // SHORT
			*dim = int(bo.Uint16(e[8:]))
		case 4: // LONG
			*dim = int(bo.Uint32(e[8:]))
		default:
			return 0, 0, fmt.Errorf("%w: TIFF tag %d of type %d", ErrNotImage, tag, typ)
		}
	}
	if w <= 0 || h <= 0 {
		return 0, 0, fmt.Errorf("%w: TIFF without its width and height", ErrNotImage)
	}
	if int64(tw)*int64(th) > max(int64(w)*int64(h), maxTIFFTile) {
		return 0, 0, fmt.Errorf("%w: TIFF tiles of %dx%d for a %dx%d image", ErrTooLarge, tw, th, w, h)
	}
	return w, h, nil
}

// pnmSize reads the width and height that follow a PBM/PGM/PPM's magic
// number, across whitespace and comments.
func pnmSize(b []byte) (w, h int, err error) {
	var dims [2]int
	i := 2
	for k := range dims {
		for i < len(b) && (isSpace(b[i]) || b[i] == '#') {
			if b[i] == '#' {
				for i < len(b) && b[i] != '\n' && b[i] != '\r' {
					i++
				}
				continue
			}
			i++
		}
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' && i-start < 9 {
			dims[k] = dims[k]*10 + int(b[i]-'0')
			i++
		}
		switch {
		case i == len(b):
			return 0, 0, errNoHeader
		case i == start || !isSpace(b[i]) || dims[k] == 0:
			return 0, 0, fmt.Errorf("%w: corrupt PNM header", ErrNotImage)
		}
	}
	return dims[0], dims[1], nil
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}
