package forensics

import (
	"bytes"
	"encoding/binary"
	"image"
	"testing"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/imageio"
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

// TestOrientationAsDecoded: the turn the checks map the file's grid and
// regions by is the one the decoder gave the picture, however the file's
// APP1 segments and entries disagree: OpenCV reads the first APP1 segment
// only, the first Orientation entry, as a SHORT.
func TestOrientationAsDecoded(t *testing.T) {
	src := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(90, 140, 200, 0), 48, 64, gocv.MatTypeCV8UC3)
	defer src.Close()
	jpg := encodeJPEG(t, src, 90)
	xmp := []byte("http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta/>")
	be, le := binary.BigEndian, binary.LittleEndian
	for _, c := range []struct {
		name string
		segs [][]byte
		want int
	}{
		{"none", nil, 1},
		{"6", [][]byte{exifOrientations(be, 3, 6)}, 6},
		{"XMP first, then 6", [][]byte{xmp, exifOrientations(be, 3, 6)}, 1},
		{"1, then a second Exif segment of 6", [][]byte{exifOrientations(be, 3, 1), exifOrientations(be, 3, 6)}, 1},
		{"1 and 6 in one directory", [][]byte{exifOrientations(be, 3, 1, 6)}, 1},
		{"6 and 1 in one directory", [][]byte{exifOrientations(be, 3, 6, 1)}, 6},
		{"6 as a big-endian LONG", [][]byte{exifOrientations(be, 4, 6)}, 1},
		{"6 as a little-endian LONG", [][]byte{exifOrientations(le, 4, 6)}, 6},
	} {
		data := bytes.Clone(jpg[:2])
		for _, s := range c.segs {
			data = append(data, app1(s)...)
		}
		data = append(data, jpg[2:]...)
		info, err := parseJPEG(data)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		m, err := imageio.Decode(data, 0)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		decoded := image.Pt(m.Cols(), m.Rows())
		m.Close()
		o := orientationOf(info)
		if o != c.want || orientedSize(o, 64, 48) != decoded {
			t.Errorf("%s: orientation %d (want %d), the picture decoded %v", c.name, o, c.want, decoded)
		}
	}
}
