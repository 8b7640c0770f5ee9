package forensics

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrNotJPEG is returned by parseJPEG for bytes that do not start with a
// JPEG start-of-image marker; the JPEG checks report "not applicable".
var ErrNotJPEG = errors.New("not a JPEG file")

// ErrMalformedJPEG is returned for a JPEG whose marker segments are cut
// short or inconsistent.
var ErrMalformedJPEG = errors.New("malformed JPEG")

// segment is one APPn or COM marker segment (payload without the length).
type segment struct {
	marker byte
	data   []byte
}

// jpegInfo is what the checks need from a JPEG's headers: everything before
// the first scan.
type jpegInfo struct {
	width, height int
	components    int
	progressive   bool
	// quant holds the quantisation tables in natural (row-major) order,
	// indexed by table id; nil where the file defines none.
	quant [4]*[64]uint16
	// lumaTable is the table id of the first (luminance) component.
	lumaTable int
	segments  []segment
}

// zigzag maps the zig-zag position in a DQT segment to the natural index.
var zigzag = [64]int{
	0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
}

// parseJPEG reads the marker segments of raw up to the first scan. It never
// reads past the slice and rejects lengths that do not fit.
func parseJPEG(raw []byte) (jpegInfo, error) {
	var info jpegInfo
	if len(raw) < 4 || raw[0] != 0xFF || raw[1] != 0xD8 {
		return info, ErrNotJPEG
	}
	sawFrame := false
	for p := 2; ; {
		// Markers may be preceded by any number of 0xFF fill bytes.
		for p < len(raw) && raw[p] == 0xFF {
			p++
		}
		if p >= len(raw) || raw[p-1] != 0xFF {
			return info, fmt.Errorf("%w: no marker at offset %d", ErrMalformedJPEG, p)
		}
		marker := raw[p]
		p++
		if marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7) {
			continue // standalone markers carry no length
		}
		if marker == 0xD9 {
			return info, fmt.Errorf("%w: end of image before any scan", ErrMalformedJPEG)
		}
		if p+2 > len(raw) {
			return info, fmt.Errorf("%w: segment %#02x cut short", ErrMalformedJPEG, marker)
		}
		n := int(binary.BigEndian.Uint16(raw[p:]))
		if n < 2 || p+n > len(raw) {
			return info, fmt.Errorf("%w: segment %#02x length %d does not fit", ErrMalformedJPEG, marker, n)
		}
		data := raw[p+2 : p+n]
		p += n
		switch {
		case marker == 0xDA: // start of scan: the headers are over
			if !sawFrame {
				return info, fmt.Errorf("%w: scan before frame header", ErrMalformedJPEG)
			}
			return info, nil
		case marker == 0xDB:
			if err := info.parseDQT(data); err != nil {
				return info, err
			}
		case marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC:
			if err := info.parseSOF(data); err != nil {
				return info, err
			}
			info.progressive = marker == 0xC2 || marker == 0xC6 || marker == 0xCA || marker == 0xCE
			sawFrame = true
		case marker >= 0xE0 && marker <= 0xEF, marker == 0xFE:
			info.segments = append(info.segments, segment{marker: marker, data: data})
		}
	}
}

func (info *jpegInfo) parseDQT(d []byte) error {
	for len(d) > 0 {
		prec, id := d[0]>>4, int(d[0]&0x0F)
		size := 64
		if prec == 1 {
			size = 128
		}
		if id > 3 || prec > 1 || len(d) < 1+size {
			return fmt.Errorf("%w: bad quantisation table", ErrMalformedJPEG)
		}
		var t [64]uint16
		for i := 0; i < 64; i++ {
			v := uint16(d[1+i])
			if prec == 1 {
				v = binary.BigEndian.Uint16(d[1+2*i:])
			}
			t[zigzag[i]] = v
		}
		info.quant[id] = &t
		d = d[1+size:]
	}
	return nil
}

func (info *jpegInfo) parseSOF(d []byte) error {
	if len(d) < 6 {
		return fmt.Errorf("%w: frame header cut short", ErrMalformedJPEG)
	}
	info.height = int(binary.BigEndian.Uint16(d[1:]))
	info.width = int(binary.BigEndian.Uint16(d[3:]))
	info.components = int(d[5])
	if info.components < 1 || len(d) < 6+3*info.components {
		return fmt.Errorf("%w: frame header has %d components", ErrMalformedJPEG, info.components)
	}
	info.lumaTable = int(d[8] & 0x03)
	return nil
}

// stdLuminance is the example luminance table of ITU T.81 Annex K (natural
// order), which the IJG encoder (libjpeg, OpenCV, most phones' software
// paths) scales by quality.
var stdLuminance = [64]uint16{
	16, 11, 10, 16, 24, 40, 51, 61,
	12, 12, 14, 19, 26, 58, 60, 55,
	14, 13, 16, 24, 40, 57, 69, 56,
	14, 17, 22, 29, 51, 87, 80, 62,
	18, 22, 37, 56, 68, 109, 103, 77,
	24, 35, 55, 64, 81, 104, 113, 92,
	49, 64, 78, 87, 103, 121, 120, 101,
	72, 92, 95, 98, 112, 100, 103, 99,
}

// ijgTable returns the IJG luminance table for quality q (1..100).
func ijgTable(q int) [64]uint16 {
	scale := 200 - 2*q
	if q < 50 {
		scale = 5000 / q
	}
	var t [64]uint16
	for i, v := range stdLuminance {
		e := (int(v)*scale + 50) / 100
		t[i] = uint16(min(max(e, 1), 255))
	}
	return t
}

// estimateQuality returns the IJG quality whose luminance table is closest
// to t, and whether t is exactly that table. Tables from other encoders
// (camera firmware, Photoshop) still get the nearest IJG-equivalent quality.
func estimateQuality(t *[64]uint16) (quality int, exact bool) {
	best, bestErr := 0, -1
	for q := 1; q <= 100; q++ {
		ref := ijgTable(q)
		e := 0
		for i := range ref {
			d := int(ref[i]) - int(t[i])
			e += d * d
		}
		if bestErr < 0 || e < bestErr {
			best, bestErr = q, e
		}
	}
	return best, bestErr == 0
}
