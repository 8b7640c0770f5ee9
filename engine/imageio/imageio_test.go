package imageio

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"

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
