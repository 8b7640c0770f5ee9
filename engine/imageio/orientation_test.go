package imageio

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"testing"

	"gocv.io/x/gocv"
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

// pngChunk is a PNG chunk of type typ holding data, with its CRC.
func pngChunk(typ string, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	b = append(append(b, typ...), data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[4:]))
}

// stripTIFF is an uncompressed 8-bit grey TIFF of one strip whose first
// directory holds the Orientation tag o (none when 0).
func stripTIFF(w, h int, o uint16, pix []byte) []byte {
	le := binary.LittleEndian
	type entry struct {
		tag, typ uint16
		v        uint32
	}
	es := []entry{{256, 4, uint32(w)}, {257, 4, uint32(h)}, {258, 3, 8}, {259, 3, 1}, {262, 3, 1}, {273, 4, 0}}
	if o != 0 {
		es = append(es, entry{274, 3, uint32(o)})
	}
	es = append(es, entry{277, 3, 1}, entry{278, 4, uint32(h)}, entry{279, 4, uint32(len(pix))})
	b := le.AppendUint16([]byte("II*\x00\x08\x00\x00\x00"), uint16(len(es)))
	for _, e := range es {
		if e.tag == 273 { // the strip follows the directory
			e.v = uint32(len("II*\x00....") + 2 + 12*len(es) + 4)
		}
		b = le.AppendUint32(le.AppendUint16(le.AppendUint16(b, e.tag), e.typ), 1)
		if e.typ == 3 {
			b = le.AppendUint16(le.AppendUint16(b, uint16(e.v)), 0)
		} else {
			b = le.AppendUint32(b, e.v)
		}
	}
	return append(le.AppendUint32(b, 0), pix...)
}

// exifTurn is m shown as EXIF orientation o says (1 as stored).
func exifTurn(t *testing.T, m gocv.Mat, o int) gocv.Mat {
	t.Helper()
	out := gocv.NewMat()
	switch o {
	case 1:
		m.CopyTo(&out)
	case 2:
		gocv.Flip(m, &out, 1)
	case 3:
		gocv.Rotate(m, &out, gocv.Rotate180Clockwise)
	case 4:
		gocv.Flip(m, &out, 0)
	case 5:
		gocv.Transpose(m, &out)
	case 6:
		gocv.Rotate(m, &out, gocv.Rotate90Clockwise)
	case 7:
		gocv.Transpose(m, &out)
		gocv.Flip(out, &out, -1)
	case 8:
		gocv.Rotate(m, &out, gocv.Rotate90CounterClockwise)
	default:
		t.Fatalf("no orientation %d", o)
	}
	return out
}

// TestOrientationPNGAndTIFF: OpenCV turns a PNG by its eXIf chunk (the
// first whole one libpng accepts, before or after the image data) and a
// TIFF by its own Orientation tag, as it turns a JPEG; Orientation must
// say so, or the console draws the engine's boxes on a picture turned
// otherwise than the one the engine read (a phone's PNG held sideways had
// its portrait cut from the wrong place). The decoded picture is compared
// pixel for pixel with the stored one turned as Orientation says.
func TestOrientationPNGAndTIFF(t *testing.T) {
	png := encode(t, 64, 48, "png")
	idat := bytes.Index(png, []byte("IDAT")) - 4
	iend := bytes.Index(png, []byte("IEND")) - 4
	// withChunks puts chunks before the image data, and after it.
	withChunks := func(before, after [][]byte) []byte {
		out := bytes.Clone(png[:idat])
		out = append(out, bytes.Join(before, nil)...)
		out = append(out, png[idat:iend]...)
		out = append(out, bytes.Join(after, nil)...)
		return append(out, png[iend:]...)
	}
	be, le := binary.BigEndian, binary.LittleEndian
	exif := func(bo binary.AppendByteOrder, typ uint16, os ...uint32) []byte {
		return pngChunk("eXIf", exifOrientations(bo, typ, os...)[len("Exif\x00\x00"):])
	}
	badCRC := exif(be, 3, 8)
	badCRC[len(badCRC)-1] ^= 1
	pix := make([]byte, 64*48)
	for i := range pix {
		pix[i] = byte(i*7 + i/64*13)
	}
	cases := []struct {
		name string
		data []byte
		want int
	}{
		{"PNG, no eXIf", png, 1},
		{"PNG, a CRC-damaged eXIf of 8, then 6", withChunks([][]byte{badCRC, exif(be, 3, 6)}, nil), 6},
		{"PNG, eXIf without a byte order, then 5", withChunks([][]byte{pngChunk("eXIf", []byte("Exif\x00\x00MM")), exif(be, 3, 5)}, nil), 5},
		{"PNG, eXIf of 1, then 6", withChunks([][]byte{exif(be, 3, 1), exif(be, 3, 6)}, nil), 1},
		{"PNG, eXIf of 1 before the image data, 6 after", withChunks([][]byte{exif(be, 3, 1)}, [][]byte{exif(be, 3, 6)}), 1},
		{"PNG, eXIf of 9", withChunks([][]byte{exif(be, 3, 9)}, nil), 1},
		{"PNG, 6 as a big-endian LONG", withChunks([][]byte{exif(be, 4, 6)}, nil), 1},
		{"TIFF, no tag", stripTIFF(64, 48, 0, pix), 1},
		{"TIFF, 9", stripTIFF(64, 48, 9, pix), 1},
	}
	for o := 2; o <= 8; o++ {
		cases = append(cases,
			struct {
				name string
				data []byte
				want int
			}{fmt.Sprintf("PNG, eXIf of %d", o), withChunks([][]byte{exif(le, 3, uint32(o))}, nil), o},
			struct {
				name string
				data []byte
				want int
			}{fmt.Sprintf("PNG, eXIf of %d after the image data", o), withChunks(nil, [][]byte{exif(be, 3, uint32(o))}), o},
			struct {
				name string
				data []byte
				want int
			}{fmt.Sprintf("TIFF, %d", o), stripTIFF(64, 48, uint16(o), pix), o})
	}
	stored := map[bool]gocv.Mat{}
	for tiff, data := range map[bool][]byte{false: png, true: stripTIFF(64, 48, 0, pix)} {
		m, err := Decode(data, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		stored[tiff] = m
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := Orientation(c.data)
			if o != c.want {
				t.Errorf("Orientation = %d, want %d", o, c.want)
			}
			m, err := Decode(c.data, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			want := exifTurn(t, stored[bytes.HasPrefix(c.data, []byte("II*"))], o)
			defer want.Close()
			a, _ := m.DataPtrUint8()
			b, _ := want.DataPtrUint8()
			if m.Cols() != want.Cols() || m.Rows() != want.Rows() || !bytes.Equal(a, b) {
				t.Errorf("decoded %dx%d is not the stored picture turned as Orientation %d says", m.Cols(), m.Rows(), o)
			}
		})
	}
}
