package imageio

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// app1 is an APP1 segment of payload.
func app1(payload []byte) []byte {
	return append(binary.BigEndian.AppendUint16([]byte{0xFF, 0xE1}, uint16(len(payload)+2)), payload...)
}

// exifOrientations is an Exif APP1 payload whose IFD0 holds an Orientation
// entry for each of os, of the TIFF type typ (3 SHORT, 4 LONG).
func exifOrientations(bo binary.AppendByteOrder, typ uint16, os ...uint32) []byte {
	t := []byte("MM\x00*")
	if bo == binary.AppendByteOrder(binary.LittleEndian) {
		t = []byte("II*\x00")
	}
	t = bo.AppendUint32(t, 8)
	t = bo.AppendUint16(t, uint16(len(os)))
	for _, o := range os {
		t = bo.AppendUint16(t, 0x0112)
		t = bo.AppendUint16(t, typ)
		t = bo.AppendUint32(t, 1)
		if typ == 3 { // a SHORT sits left-aligned in the value field
			t = bo.AppendUint16(bo.AppendUint16(t, uint16(o)), 0)
		} else {
			t = bo.AppendUint32(t, o)
		}
	}
	return append(append([]byte("Exif\x00\x00"), t...), 0, 0, 0, 0)
}

// TestOrientation: Orientation is the turn Decode (OpenCV) gives the
// picture, however the file's APP1 segments and entries disagree: OpenCV
// reads the first APP1 segment only, the first Orientation entry, as a
// SHORT.
func TestOrientation(t *testing.T) {
	jpg := encode(t, 64, 48, "jpeg")
	xmp := []byte("http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta/>")
	be, le := binary.BigEndian, binary.LittleEndian
	for _, c := range []struct {
		name string
		segs [][]byte
		want int
	}{
		{"none", nil, 1},
		{"6", [][]byte{exifOrientations(be, 3, 6)}, 6},
		{"8, little-endian", [][]byte{exifOrientations(le, 3, 8)}, 8},
		{"3", [][]byte{exifOrientations(be, 3, 3)}, 3},
		{"XMP first, then 6", [][]byte{xmp, exifOrientations(be, 3, 6)}, 1},
		{"1, then a second Exif segment of 6", [][]byte{exifOrientations(be, 3, 1), exifOrientations(be, 3, 6)}, 1},
		{"1 and 6 in one directory", [][]byte{exifOrientations(be, 3, 1, 6)}, 1},
		{"6 and 1 in one directory", [][]byte{exifOrientations(be, 3, 6, 1)}, 6},
		{"6 as a big-endian LONG", [][]byte{exifOrientations(be, 4, 6)}, 1},
		{"6 as a little-endian LONG", [][]byte{exifOrientations(le, 4, 6)}, 6},
		{"9, no orientation", [][]byte{exifOrientations(be, 3, 9)}, 1},
	} {
		data := bytes.Clone(jpg[:2])
		for _, s := range c.segs {
			data = append(data, app1(s)...)
		}
		data = append(data, jpg[2:]...)
		m, err := Decode(data, 0)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		// The source's top-left pixel is its darkest: where the turn put it.
		w, h, dark := m.Cols(), m.Rows(), [2]int{-1, -1}
		for _, p := range [][2]int{{0, 0}, {w - 1, 0}, {0, h - 1}, {w - 1, h - 1}} {
			if m.GetUCharAt(p[1], p[0]*m.Channels()) < 12 {
				dark = p
			}
		}
		m.Close()
		o := Orientation(data)
		want := map[int][3]int{1: {64, 48, 0}, 3: {64, 48, 3}, 6: {48, 64, 1}, 8: {48, 64, 2}}[c.want]
		corner := map[[2]int]int{{0, 0}: 0, {w - 1, 0}: 1, {0, h - 1}: 2, {w - 1, h - 1}: 3}[dark]
		if o != c.want {
			t.Errorf("%s: Orientation %d, want %d", c.name, o, c.want)
		}
		if w != want[0] || h != want[1] || corner != want[2] {
			t.Errorf("%s: decoded %dx%d with the source's corner at %v: not as orientation %d", c.name, w, h, dark, c.want)
		}
	}
	for _, data := range [][]byte{nil, {0xFF, 0xD8}, encode(t, 8, 8, "png"), append([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF}, exifOrientations(be, 3, 6)...)} {
		if o := Orientation(data); o != 1 {
			t.Errorf("Orientation(%q) = %d, want 1", data, o)
		}
	}
}
