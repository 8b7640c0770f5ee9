package imageio

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
)

// Orientation is the EXIF orientation (1-8) by which Decode turns a JPEG,
// a PNG or a TIFF, 1 when it turns it not (no tag, another format). In a
// JPEG OpenCV reads the first APP1 segment only, the first Orientation
// entry of its IFD0, its value as a SHORT whatever its type; so does this,
// so that whoever maps points to the decoded picture (the console drawing
// the engine's boxes) turns a file as the engine saw it even when its
// segments disagree (an XMP segment first, a second Exif one, a duplicate
// entry). A PNG's eXIf chunk and a TIFF's own first directory are read the
// same way (pngOrientation, tiffOrientation): OpenCV turns those too.
func Orientation(data []byte) int {
	switch {
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return valid(pngOrientation(data))
	case bytes.HasPrefix(data, []byte("II*\x00")), bytes.HasPrefix(data, []byte("MM\x00*")):
		return valid(tiffOrientation(data))
	}
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
			return valid(exifOrientation(data[i+4 : i+2+n]))
		}
		i += 2 + n
	}
	return 1
}

// valid is o when it is an orientation, else 1: OpenCV leaves a picture
// with any other value as stored.
func valid(o int) int {
	if o >= 1 && o <= 8 {
		return o
	}
	return 1
}

// pngOrientation is the orientation in a PNG's eXIf chunk (a TIFF
// structure without the JPEG's "Exif" header), 0 when there is none.
// libpng, which OpenCV reads it through, keeps the first eXIf chunk it
// accepts, before the image data or after it: whole (its CRC matches), of
// two bytes at least and starting with "II" or "MM"; it passes over the
// others.
func pngOrientation(d []byte) int {
	for i := 8; i+12 <= len(d); {
		n := int64(binary.BigEndian.Uint32(d[i:]))
		end := int64(i) + 12 + n
		if end > int64(len(d)) {
			return 0
		}
		typ, body := d[i+4:i+8], d[i+8:end-4]
		switch string(typ) {
		case "IEND":
			return 0
		case "eXIf":
			if crc32.ChecksumIEEE(d[i+4:end-4]) == binary.BigEndian.Uint32(d[end-4:]) &&
				len(body) >= 2 && body[0] == body[1] && (body[0] == 'I' || body[0] == 'M') {
				return tiffOrientation(body)
			}
		}
		i = int(end)
	}
	return 0
}

// exifOrientation is the value of the first Orientation (0x0112) entry of
// IFD0 in an APP1 segment's data, 0 when there is none.
func exifOrientation(d []byte) int {
	const header = "Exif\x00\x00"
	if !bytes.HasPrefix(d, []byte(header)) {
		return 0
	}
	return tiffOrientation(d[len(header):])
}

// tiffOrientation is the value of the first Orientation (0x0112) entry of
// the first directory of a TIFF structure, 0 when there is none.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 0
	}
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
