package imageio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/internal/testenv"
)

func encode(t *testing.T, w, h int, format string) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(x + y), 255})
		}
	}
	var buf bytes.Buffer
	var err error
	if format == "png" {
		err = png.Encode(&buf, img)
	} else {
		err = jpeg.Encode(&buf, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecode(t *testing.T) {
	jpg := encode(t, 64, 48, "jpeg")
	pngb := encode(t, 64, 48, "png")
	cases := []struct {
		name    string
		data    []byte
		max     int
		wantErr error
	}{
		{"jpeg", jpg, 0, nil},
		{"png", pngb, 0, nil},
		{"empty", nil, 0, ErrNotImage},
		{"text", []byte("hello, I am not an image"), 0, ErrNotImage},
		{"truncated jpeg", jpg[:len(jpg)/2], 0, ErrTruncated},
		{"truncated png", pngb[:len(pngb)-20], 0, ErrTruncated},
		{"too many pixels", jpg, 64*48 - 1, ErrTooLarge},
	}
	for _, c := range cases {
		for _, d := range []struct {
			name     string
			decode   func([]byte, int) (gocv.Mat, error)
			channels int
		}{{"Decode", Decode, 3}, {"DecodeGrey", DecodeGrey, 1}} {
			t.Run(d.name+"/"+c.name, func(t *testing.T) {
				m, err := d.decode(c.data, c.max)
				defer m.Close()
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("%s = %v, want %v", d.name, err, c.wantErr)
				}
				if err == nil && (m.Cols() != 64 || m.Rows() != 48 || m.Channels() != d.channels) {
					t.Fatalf("decoded %dx%dx%d, want 64x48x%d", m.Cols(), m.Rows(), m.Channels(), d.channels)
				}
			})
		}
	}
}

// A 50-megapixel JPEG is refused from its header, before any decoding.
func TestDecodeRefusesHugeFromHeader(t *testing.T) {
	data := encode(t, 16, 16, "jpeg")
	// Patch the SOF0 frame size to 10000x5000 without decoding anything.
	i := bytes.Index(data, []byte{0xFF, 0xC0})
	if i < 0 {
		t.Fatal("no SOF0 marker")
	}
	data[i+5], data[i+6] = 5000>>8, 5000&0xff
	data[i+7], data[i+8] = 10000>>8, 10000&0xff
	m, err := Decode(data, 0)
	m.Close()
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Decode(50 MP header) = %v, want ErrTooLarge", err)
	}
}

func TestReadFileRealFormats(t *testing.T) {
	for _, p := range []string{
		testenv.Data(t, "faces", "att_faces", "s1", "1.pgm"),
		testenv.Data(t, "mrz", "passporteye", "passport-td3.png"),
	} {
		m, err := ReadFile(p, 0)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if m.Channels() != 3 || m.Empty() {
			t.Fatalf("%s: decoded %d channels", p, m.Channels())
		}
		m.Close()
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "absent.jpg"), 0); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ReadFile(absent) = %v", err)
	}
}

// TestReadFileRefusesWhatIsNotAFile: a FIFO no one writes to, a device
// that never ends and a folder are refused at once, never waited on nor
// read to the limit; a symbolic link to an image is read.
func TestReadFileRefusesWhatIsNotAFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "photo.jpg")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.png")
	if err := os.Symlink(testenv.Data(t, "mrz", "passporteye", "passport-td3.png"), link); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		want error
	}{
		{fifo, ErrNotImage},
		{"/dev/zero", ErrNotImage},
		{dir, ErrNotImage},
		{link, nil},
	} {
		done := make(chan error, 1)
		go func() {
			m, err := ReadFile(c.path, 0)
			m.Close()
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, c.want) || (err == nil) != (c.want == nil) {
				t.Errorf("ReadFile(%s) = %v, want %v", c.path, err, c.want)
			}
		case <-time.After(time.Minute):
			// Let the reader blocked in open go: a writer comes and leaves.
			if w, err := os.OpenFile(c.path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				w.Close()
			}
			t.Errorf("ReadFile(%s) still blocked after a minute", c.path)
		}
	}
}

// TestGreyImage: a BGR Mat's grey levels as OpenCV converts them, a grey
// Mat's as they are; four channels are refused.
func TestGreyImage(t *testing.T) {
	bgr := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(10, 200, 90, 0), 6, 8, gocv.MatTypeCV8UC3)
	defer bgr.Close()
	grey := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(77, 0, 0, 0), 6, 8, gocv.MatTypeCV8UC1)
	defer grey.Close()
	bgra := gocv.NewMatWithSize(6, 8, gocv.MatTypeCV8UC4)
	defer bgra.Close()
	// 0.114 B + 0.587 G + 0.299 R.
	for m, want := range map[*gocv.Mat]uint8{&bgr: 145, &grey: 77} {
		g, err := GreyImage(*m)
		if err != nil || g.Rect.Dx() != 8 || g.Rect.Dy() != 6 || g.GrayAt(7, 5).Y != want {
			t.Errorf("GreyImage: %v, %v; want 8x6 of %d", g, err, want)
		}
	}
	if _, err := GreyImage(bgra); !errors.Is(err, ErrNotImage) {
		t.Errorf("four channels: %v, want ErrNotImage", err)
	}
}

// Every format Decode takes decodes, its size read from its header first;
// formats OpenCV knows but Decode does not bound are refused.
func TestDecodeFormats(t *testing.T) {
	colour := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(30, 120, 210, 0), 48, 64, gocv.MatTypeCV8UC3)
	defer colour.Close()
	grey := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(90, 0, 0, 0), 48, 64, gocv.MatTypeCV8UC1)
	defer grey.Close()
	for _, ext := range []string{".jpg", ".png", ".webp", ".bmp", ".tiff", ".ppm", ".pgm", ".pbm"} {
		t.Run(ext, func(t *testing.T) {
			src := colour
			if ext == ".pgm" || ext == ".pbm" {
				src = grey
			}
			buf, err := gocv.IMEncode(gocv.FileExt(ext), src)
			if err != nil {
				t.Fatal(err)
			}
			defer buf.Close()
			data := bytes.Clone(buf.GetBytes())
			w, h, _, err := Size(data)
			if err != nil || w != 64 || h != 48 {
				t.Fatalf("size = %dx%d, %v; want 64x48", w, h, err)
			}
			m, err := Decode(data, 0)
			defer m.Close()
			if err != nil || m.Cols() != 64 || m.Rows() != 48 {
				t.Fatalf("Decode = %dx%d, %v", m.Cols(), m.Rows(), err)
			}
			if _, err := Decode(data, 64*48-1); !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Decode with a pixel fewer allowed = %v, want ErrTooLarge", err)
			}
		})
	}
	for name, data := range map[string][]byte{
		"Radiance HDR":    []byte("#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 30000 +X 30000\n"),
		"JPEG 2000":       []byte("\x00\x00\x00\x0cjP  \r\n\x87\n\x00\x00\x00\x14ftypjp2 "),
		"OpenEXR":         []byte("v/1\x01\x02\x00\x00\x00channels\x00"),
		"Sun raster":      []byte("\x59\xa6\x6a\x95\x00\x00\x75\x30\x00\x00\x75\x30\x00\x00\x00\x18"),
		"GIF":             []byte("GIF89a\x40\x00\x30\x00\x00\x00\x00;"),
		"PAM":             []byte("P7\nWIDTH 30000\nHEIGHT 30000\nDEPTH 3\nMAXVAL 255\nTUPLTYPE RGB\nENDHDR\n"),
		"JPEG, no frame":  []byte("\xff\xd8\xff\xda\x00\x02\xff\xd9"),
		"BMP of width 0":  append([]byte("BM"), make([]byte, 40)...),
		"PNM, bad header": []byte("P6\n64 x48\n255\n\xff\xd9"),
	} {
		if m, err := Decode(data, 0); !errors.Is(err, ErrNotImage) {
			t.Errorf("%s: Decode = %v, want ErrNotImage", name, err)
			m.Close()
		}
	}
}

// A header declaring a huge image is refused from the header: OpenCV would
// allocate the whole image before reading a pixel (a 420 KB TIFF took
// 1.6 GB). The pixels are absent here, so a decode that reached OpenCV
// would fail as not an image, not as too large.
func TestDecodeRefusesBombsFromHeader(t *testing.T) {
	le := binary.LittleEndian
	tiff := []byte("II*\x00\x08\x00\x00\x00\x02\x00")
	for _, tag := range []uint16{256, 257} { // ImageWidth, ImageLength: LONG 30000
		tiff = le.AppendUint16(tiff, tag)
		tiff = le.AppendUint16(tiff, 4)
		tiff = le.AppendUint32(tiff, 1)
		tiff = le.AppendUint32(tiff, 30000)
	}
	bmp := append([]byte("BM"), make([]byte, 24)...)
	le.PutUint32(bmp[14:], 40)
	le.PutUint32(bmp[18:], 30000)
	le.PutUint32(bmp[22:], uint32(0xFFFFFFFF-30000+1)) // -30000: top-down
	webp := []byte("RIFF\x16\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00\xff\x3f\x00\xff\x3f\x00")
	for name, data := range map[string][]byte{
		"TIFF": tiff, "BMP": bmp, "WebP": webp,
		"PPM": []byte("P6\n# a comment\n30000 30000\n255\n\x00\x00\x00"),
	} {
		m, err := Decode(data, 0)
		m.Close()
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "30000") && !strings.Contains(err.Error(), "16384") {
			t.Errorf("%s bomb: Decode = %v, want ErrTooLarge with its size", name, err)
		}
	}
	for name, data := range map[string][]byte{"TIFF": tiff[:12], "BMP": bmp[:20], "PPM": []byte("P6\n30000")} {
		if m, err := Decode(data, 0); !errors.Is(err, ErrTruncated) {
			t.Errorf("%s header cut short: Decode = %v, want ErrTruncated", name, err)
			m.Close()
		}
	}
}

// A progressive JPEG decodes with its encoder's scans; one whose scans are
// repeated past MaxJPEGScans is refused before decoding (each scan passes
// over the whole image: 30,000 of a dozen bytes took 20 s of CPU).
func TestDecodeJPEGScans(t *testing.T) {
	src := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(128, 128, 128, 0), 48, 64, gocv.MatTypeCV8UC3)
	defer src.Close()
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, src, []int{gocv.IMWriteJpegProgressive, 1})
	if err != nil {
		t.Fatal(err)
	}
	defer buf.Close()
	prog := bytes.Clone(buf.GetBytes())
	m, err := Decode(prog, 0)
	m.Close()
	if err != nil {
		t.Fatalf("progressive JPEG: %v", err)
	}
	// Repeat the last scan (header and data) until there are too many.
	sos := bytes.LastIndex(prog, []byte{0xFF, 0xDA})
	end := bytes.LastIndex(prog, []byte{0xFF, 0xD9})
	bomb := bytes.Clone(prog[:end])
	for range MaxJPEGScans {
		bomb = append(bomb, prog[sos:end]...)
	}
	bomb = append(bomb, 0xFF, 0xD9)
	m, err = Decode(bomb, 0)
	m.Close()
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "scans") {
		t.Fatalf("JPEG of %d+ scans: Decode = %v, want ErrTooLarge naming its scans", MaxJPEGScans, err)
	}
}

// withOrientation inserts an APP1 Exif segment carrying the TIFF
// Orientation tag o after a JPEG's SOI, as a camera writes it.
func withOrientation(jpg []byte, o uint16) []byte {
	tiff := []byte("MM\x00*\x00\x00\x00\x08") // big-endian, IFD at 8
	ifd := make([]byte, 2+12+4)
	binary.BigEndian.PutUint16(ifd, 1)          // one entry
	binary.BigEndian.PutUint16(ifd[2:], 0x0112) // Orientation
	binary.BigEndian.PutUint16(ifd[4:], 3)      // SHORT
	binary.BigEndian.PutUint32(ifd[6:], 1)      // one value
	binary.BigEndian.PutUint16(ifd[10:], o)     // the value, left-aligned
	payload := append(append([]byte("Exif\x00\x00"), tiff...), ifd...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(2+len(payload)))
	out := append([]byte{}, jpg[:2]...)
	out = append(append(out, seg...), payload...)
	return append(out, jpg[2:]...)
}

// TestDecodeAppliesOrientation: a phone held sideways writes its pixels as
// the sensor sees them and says how to turn them in the Exif Orientation
// tag; the decoded image must be the upright one, whatever the size check
// read from the frame header (the same pixel count, turned).
func TestDecodeAppliesOrientation(t *testing.T) {
	jpg := encode(t, 64, 48, "jpeg")
	cases := []struct {
		o    uint16
		w, h int
		// corner is where the source's top-left (darkest) pixel lands.
		cornerX, cornerY int
	}{
		{1, 64, 48, 0, 0},
		{6, 48, 64, 47, 0},  // turned 90 clockwise to view
		{8, 48, 64, 0, 63},  // turned 90 counter-clockwise
		{3, 64, 48, 63, 47}, // turned 180
		{2, 64, 48, 63, 0},  // mirrored left to right
		{4, 64, 48, 0, 47},  // mirrored top to bottom
		{5, 48, 64, 0, 0},   // transposed
		{7, 48, 64, 47, 63}, // transposed the other way
	}
	for _, c := range cases {
		data := withOrientation(jpg, c.o)
		w, h, _, err := Size(data)
		if err != nil || w*h != 64*48 {
			t.Fatalf("orientation %d: Size = %dx%d, %v", c.o, w, h, err)
		}
		for _, dec := range []func([]byte, int) (gocv.Mat, error){Decode, DecodeGrey} {
			m, err := dec(data, 64*48)
			if err != nil {
				t.Fatalf("orientation %d: %v", c.o, err)
			}
			if m.Cols() != c.w || m.Rows() != c.h {
				t.Errorf("orientation %d: decoded %dx%d, want %dx%d", c.o, m.Cols(), m.Rows(), c.w, c.h)
			} else if v := m.GetUCharAt(c.cornerY, c.cornerX*m.Channels()); v > 12 {
				t.Errorf("orientation %d: pixel (%d,%d) = %d, want the source's dark top-left corner", c.o, c.cornerX, c.cornerY, v)
			}
			m.Close()
		}
	}
}

// TestTurn: a quarter turn moves a 3x2 image's pixels to where a clockwise
// turn puts them, any sign and multiple of 360 alike; turned back, the
// image is the same; a turn not of quarters is refused.
func TestTurn(t *testing.T) {
	img := gocv.NewMatWithSize(2, 3, gocv.MatTypeCV8U)
	defer img.Close()
	for i := range 6 {
		img.SetUCharAt(i/3, i%3, uint8(i+1)) // 1 2 3 / 4 5 6
	}
	for _, tc := range []struct {
		deg        int
		rows, cols int
		first      uint8 // the top-left pixel once turned
	}{
		{0, 2, 3, 1}, {90, 3, 2, 4}, {180, 2, 3, 6}, {270, 3, 2, 3}, {-90, 3, 2, 3}, {450, 3, 2, 4},
	} {
		out, err := Turn(img, tc.deg)
		if err != nil {
			t.Fatalf("Turn(%d): %v", tc.deg, err)
		}
		back, err := Turn(out, -tc.deg)
		if err != nil {
			t.Fatal(err)
		}
		if out.Rows() != tc.rows || out.Cols() != tc.cols || out.GetUCharAt(0, 0) != tc.first {
			t.Errorf("Turn(%d): %dx%d starting %d, want %dx%d starting %d", tc.deg, out.Cols(), out.Rows(), out.GetUCharAt(0, 0), tc.cols, tc.rows, tc.first)
		}
		diff := gocv.NewMat()
		gocv.AbsDiff(img, back, &diff)
		if n := gocv.CountNonZero(diff); n != 0 {
			t.Errorf("Turn(%d) and back differs in %d pixels", tc.deg, n)
		}
		for _, m := range []gocv.Mat{out, back, diff} {
			m.Close()
		}
	}
	if out, err := Turn(img, 45); err == nil {
		out.Close()
		t.Error("Turn(45) gave no error")
	}
}

// A phone photo carries a thumbnail JPEG, end marker and all, in its Exif
// segment: the photo cut short a little past it is truncated, though an
// FF D9 sits in its last bytes.
func TestDecodeTruncatedAfterThumbnail(t *testing.T) {
	thumb := encode(t, 16, 12, "jpeg")
	photo := encode(t, 320, 240, "jpeg")
	payload := append([]byte("Exif\x00\x00"), thumb...)
	seg := binary.BigEndian.AppendUint16([]byte{0xFF, 0xE1}, uint16(2+len(payload)))
	data := append(append(append(bytes.Clone(photo[:2]), seg...), payload...), photo[2:]...)
	end := 2 + len(seg) + len(payload)
	for name, c := range map[string]struct {
		data []byte
		want error
	}{
		"whole":                  {data, nil},
		"cut past the thumbnail": {data[:end+len(photo)/3], ErrTruncated},
	} {
		for _, dec := range []func([]byte, int) (gocv.Mat, error){Decode, DecodeGrey} {
			m, err := dec(c.data, 0)
			if !errors.Is(err, c.want) || err == nil && m.Cols() != 320 {
				t.Errorf("%s: decoded %dx%d, %v; want %v", name, m.Cols(), m.Rows(), err, c.want)
			}
			m.Close()
		}
	}
}

// tiledTIFF writes a w x h RGB TIFF of one uncompressed tw x th tile,
// its pixels written for a tile of up to 1024 square.
func tiledTIFF(w, h, tw, th uint32) []byte {
	le := binary.LittleEndian
	n := tw * th * 3
	if tw*th > 1<<20 {
		n = 0
	}
	tags := []struct{ tag, typ, v uint32 }{
		{256, 4, w}, {257, 4, h}, {258, 3, 8}, {259, 3, 1}, {262, 3, 2}, {277, 3, 3},
		{322, 4, tw}, {323, 4, th}, {324, 4, 8 + 2 + 12*10 + 4}, {325, 4, n},
	}
	b := le.AppendUint16([]byte("II*\x00\x08\x00\x00\x00"), uint16(len(tags)))
	for _, e := range tags {
		b = le.AppendUint16(b, uint16(e.tag))
		b = le.AppendUint16(b, uint16(e.typ))
		b = le.AppendUint32(b, 1)
		b = le.AppendUint32(b, e.v) // a little-endian SHORT, left-aligned, alike
	}
	b = le.AppendUint32(b, 0) // no next directory
	return append(b, make([]byte, n)...)
}

// A TIFF is read a tile at a time into a buffer of the tile's size: a
// 16x12 image's tiles may be an encoder's usual 256 square, up to 1024
// square, but not 16384 square (a 1 KB file took 1.1 GB and 5 s to refuse).
func TestDecodeTIFFTiles(t *testing.T) {
	for _, c := range []struct {
		tile uint32
		want error
	}{{256, nil}, {1024, nil}, {2048, ErrTooLarge}, {16384, ErrTooLarge}} {
		m, err := Decode(tiledTIFF(16, 12, c.tile, c.tile), 0)
		if !errors.Is(err, c.want) || err == nil && (m.Cols() != 16 || m.Rows() != 12) {
			t.Errorf("tiles of %d: Decode = %dx%d, %v; want %v", c.tile, m.Cols(), m.Rows(), err, c.want)
		}
		m.Close()
	}
}

// A header the decoder reads otherwise than Size would hide the image's
// size: libjpeg sizes a JPEG by its first frame header and libtiff takes a
// tag's first entry, of any integer type. A second frame header, a size
// tag twice or of another type are refused from the header (a 700-byte
// JPEG of a 20000x20000 frame behind a 16x16 one took 1.2 GB, or aborted
// the process when that could not be allocated).
func TestDecodeRefusesHiddenSizes(t *testing.T) {
	jpg := encode(t, 16, 16, "jpeg")
	i := bytes.Index(jpg, []byte{0xFF, 0xC0})
	sof := bytes.Clone(jpg[i : i+2+int(binary.BigEndian.Uint16(jpg[i+2:]))])
	big := bytes.Clone(jpg)
	binary.BigEndian.PutUint16(big[i+5:], 6000) // height
	binary.BigEndian.PutUint16(big[i+7:], 8000) // width
	end := bytes.LastIndex(big, []byte{0xFF, 0xD9})
	twoFrames := append(append(big[:end], sof...), 0xFF, 0xD9)

	le := binary.LittleEndian
	tiff := func(entries ...[3]uint32) []byte { // tag, type, value
		b := le.AppendUint16([]byte("II*\x00\x08\x00\x00\x00"), uint16(len(entries)))
		for _, e := range entries {
			b = le.AppendUint16(le.AppendUint16(b, uint16(e[0])), uint16(e[1]))
			b = le.AppendUint32(le.AppendUint32(b, 1), e[2])
		}
		return le.AppendUint32(b, 0)
	}
	for name, data := range map[string][]byte{
		"JPEG, 8000x6000 frame then 16x16": twoFrames,
		"TIFF, width 30000 then 16":        tiff([3]uint32{256, 4, 30000}, [3]uint32{256, 4, 16}, [3]uint32{257, 4, 12}),
		"TIFF, width a SLONG 30000":        tiff([3]uint32{256, 9, 30000}, [3]uint32{256, 4, 16}, [3]uint32{257, 4, 12}),
		"TIFF, tile width twice":           tiff([3]uint32{256, 4, 16}, [3]uint32{257, 4, 12}, [3]uint32{322, 4, 16384}, [3]uint32{322, 4, 16}),
	} {
		if w, h, _, err := Size(data); !errors.Is(err, ErrNotImage) {
			t.Errorf("%s: Size = %dx%d, %v; want ErrNotImage", name, w, h, err)
		}
	}
}

// A side longer than MaxSide is refused from the header, however few its
// pixels: a 900 KB PNG of 64x400000 decoded, and OpenCV's JPEG encoder
// aborted the process when the document's forensics re-encoded it.
func TestDecodeRefusesLongSide(t *testing.T) {
	for _, c := range []struct {
		w, h int
		want error
	}{{64, MaxSide, nil}, {64, MaxSide + 1, ErrTooLarge}, {MaxSide + 1, 64, ErrTooLarge}} {
		var buf bytes.Buffer
		if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, image.NewGray(image.Rect(0, 0, c.w, c.h))); err != nil {
			t.Fatal(err)
		}
		m, err := Decode(buf.Bytes(), 0)
		if !errors.Is(err, c.want) || err == nil && m.Cols()*m.Rows() != c.w*c.h {
			t.Errorf("%dx%d: Decode = %dx%d, %v; want %v", c.w, c.h, m.Cols(), m.Rows(), err, c.want)
		}
		m.Close()
	}
}
