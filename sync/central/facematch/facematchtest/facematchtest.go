// Package facematchtest holds the Face Match tests' inputs, made from the
// real faces of the shared data (internal/testenv finds them), and one
// engine-backed matcher per test binary.
package facematchtest

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"sync"
	"testing"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/internal/testenv"
	"github.com/openkyc/kyc/sync/central/facematch"
)

var opened = sync.OnceValues(func() (*facematch.Matcher, error) { return facematch.Open(facematch.Config{}) })

// Matcher returns the matcher of the installed models, loaded once per test
// binary (loading hashes every model file); the test fails when they are
// not installed (`make setup`).
func Matcher(t testing.TB) *facematch.Matcher {
	t.Helper()
	m, err := opened()
	if err != nil {
		t.Fatalf("loading the face match engine: %v (run `make setup` to install the models)", err)
	}
	return m
}

// Face returns the file bytes of a face of the shared Big Bang Theory set
// ("leonard2": faces/faceapi_bbt/leonard/leonard2.png, 150x150).
func Face(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(testenv.Data(t, "faces", "faceapi_bbt", name[:len(name)-1], name+".png"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Turned returns Face(name) turned deg degrees clockwise (90, 180, 270),
// as a PNG: a photo taken sideways, or whose EXIF orientation a messenger
// stripped.
func Turned(t testing.TB, name string, deg int) []byte {
	t.Helper()
	m := read(t, "faces", "faceapi_bbt", name[:len(name)-1], name+".png")
	out, err := imageio.Turn(m, deg)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	return Encode(t, ".png", out)
}

// Blank is a 320x240 PNG of a gentle grey texture: an image with no face.
func Blank(t testing.TB) []byte {
	t.Helper()
	grey := image.NewGray(image.Rect(0, 0, 320, 240))
	for i := range grey.Pix {
		grey.Pix[i] = uint8(100 + i%50)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, grey); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TwoFaces is a 600x300 PNG of two people side by side (Leonard and Penny,
// the same size): a selfie with a second person in it.
func TwoFaces(t testing.TB) []byte {
	t.Helper()
	return Encode(t, ".png", Compose(t, 600, 300,
		Placed{Img: read(t, "faces", "faceapi_bbt", "leonard", "leonard1.png"), Scale: 1, At: image.Pt(50, 75)},
		Placed{Img: read(t, "faces", "faceapi_bbt", "penny", "penny1.png"), Scale: 1, At: image.Pt(350, 75)}))
}

// Bench returns the benchmark's inputs as JPEG files (quality 90), the same
// scenes as engine/face's BenchmarkFaceMatch: a 1280x720 selfie (the
// minivision live sample, 480x640, in a landscape frame) and a 1000x630
// document-like card with a portrait at the left; and the two decoded, for
// timing the engine alone on the same pixels.
func Bench(t testing.TB) (selfie, reference []byte, selfieMat, referenceMat gocv.Mat) {
	t.Helper()
	s := Compose(t, 1280, 720, Placed{Img: read(t, "liveness", "minivision_samples", "image_T1.jpg"), Scale: 1.1, At: image.Pt(380, 5)})
	r := Compose(t, 1000, 630, Placed{Img: read(t, "faces", "faceapi_bbt", "sheldon", "sheldon1.png"), Scale: 1.8, At: image.Pt(40, 140)})
	selfie, reference = Encode(t, ".jpg", s), Encode(t, ".jpg", r)
	// The engine alone gets what the API decodes from those files.
	for _, c := range []struct {
		data []byte
		dst  *gocv.Mat
	}{{selfie, &selfieMat}, {reference, &referenceMat}} {
		m, err := imageio.Decode(c.data, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		*c.dst = m
	}
	return selfie, reference, selfieMat, referenceMat
}

// Placed is an image pasted onto a canvas, scaled, its top-left at At.
type Placed struct {
	Img   gocv.Mat
	Scale float64
	At    image.Point
}

// Compose pastes parts onto a grey canvas of w x h.
func Compose(t testing.TB, w, h int, parts ...Placed) gocv.Mat {
	t.Helper()
	canvas := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(128, 128, 128, 0), h, w, gocv.MatTypeCV8UC3)
	t.Cleanup(func() { canvas.Close() })
	for _, p := range parts {
		sz := image.Pt(int(float64(p.Img.Cols())*p.Scale), int(float64(p.Img.Rows())*p.Scale))
		scaled := gocv.NewMat()
		gocv.Resize(p.Img, &scaled, sz, 0, 0, gocv.InterpolationLinear)
		roi := canvas.Region(image.Rect(p.At.X, p.At.Y, p.At.X+sz.X, p.At.Y+sz.Y))
		scaled.CopyTo(&roi)
		roi.Close()
		scaled.Close()
	}
	return canvas
}

// Encode encodes m as ext (".png", ".jpg").
func Encode(t testing.TB, ext string, m gocv.Mat) []byte {
	t.Helper()
	var buf *gocv.NativeByteBuffer
	var err error
	if ext == ".jpg" {
		buf, err = gocv.IMEncodeWithParams(gocv.JPEGFileExt, m, []int{gocv.IMWriteJpegQuality, 90})
	} else {
		buf, err = gocv.IMEncode(gocv.FileExt(ext), m)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer buf.Close()
	return append([]byte(nil), buf.GetBytes()...)
}

func read(t testing.TB, elem ...string) gocv.Mat {
	t.Helper()
	m, err := imageio.ReadFile(testenv.Data(t, elem...), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}
