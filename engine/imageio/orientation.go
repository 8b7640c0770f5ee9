package imageio

import (
	"bytes"
	"encoding/binary"
)

// Orientation is the EXIF orientation (1-8) by which Decode turns a JPEG,
// 1 when it turns it not (no tag, another format). OpenCV reads the first
// APP1 segment only, the first Orientation entry of its IFD0, its value as
// a SHORT whatever its type; so does this, so that whoever maps points to
// the decoded picture (the console drawing the engine's boxes) turns a
// file as the engine saw it even when its segments disagree (an XMP
// segment first, a second Exif one, a duplicate entry).
func Orientation(data []byte) int {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return 1
	}
	for i := 2; i+4 <= len(data); {
		if data[i] != 0xFF {
			return 1
		}
		m := data[i+1]
		switch {
		case m == 0xFF: // fill byte
			i++
			continue
		case m == 0x01 || m >= 0xD0 && m <= 0xD8: // no length
			i += 2
			continue
		case m == 0xDA || m == 0xD9: // the headers end
			return 1
		}
		n := int(binary.BigEndian.Uint16(data[i+2:]))
		if n < 2 || i+2+n > len(data) {
			return 1
		}
		if m == 0xE1 {
			if o := exifOrientation(data[i+4 : i+2+n]); o >= 1 && o <= 8 {
				return o
			}
			return 1
		}
		i += 2 + n
	}
	return 1
}

// exifOrientation is the value of the first Orientation (0x0112) entry of
// IFD0 in an APP1 segment's data, 0 when there is none.
func exifOrientation(d []byte) int {
	const header = "Exif\x00\x00"
	if !bytes.HasPrefix(d, []byte(header)) || len(d) < len(header)+8 {
		return 0
	}
	t := d[len(header):]
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 0
	}
	off := int64(bo.Uint32(t[4:]))
	if off < 8 || off+2 > int64(len(t)) {
		return 0
	}
	n := int64(bo.Uint16(t[off:]))
	for e := off + 2; e+12 <= int64(len(t)) && e < off+2+12*n; e += 12 {
		if bo.Uint16(t[e:]) == 0x0112 {
			return int(bo.Uint16(t[e+8:]))
		}
	}
	return 0
}
