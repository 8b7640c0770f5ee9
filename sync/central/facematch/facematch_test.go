package facematch_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/jpeg"
	"image/png"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/sync/central/facematch"
	"github.com/openkyc/kyc/sync/central/facematch/facematchtest"
	"github.com/openkyc/kyc/sync/central/partnerapi"
)

func TestMatchDecides(t *testing.T) {
	m := facematchtest.Matcher(t)
	face := func(name string) []byte { return facematchtest.Face(t, name) }
	for _, c := range []struct {
		name              string
		selfie, reference []byte
		skipLiveness      bool
		decision          string
	}{
		{"same person", face("leonard2"), face("leonard4"), false, "match"},
		{"different people", face("raj2"), face("howard2"), false, "no_match"},
		{"same person, liveness skipped", face("penny5"), face("penny2"), true, "match"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := m.Match(context.Background(), partnerapi.FaceMatchRequest{Selfie: c.selfie, Reference: c.reference, SkipLiveness: c.skipLiveness})
			if err != nil {
				t.Fatal(err)
			}
			if res.Decision != c.decision {
				t.Errorf("decision %q (similarity %.3f, score %.1f, threshold %.1f), want %q", res.Decision, res.Similarity, res.Score, res.Threshold, c.decision)
			}
			// The score and threshold are on one 0-100 scale, and the
			// decision follows them.
			if res.Score < 0 || res.Score > 100 || res.Threshold <= 0 || res.Threshold >= 100 || (res.Score >= res.Threshold) != (res.Decision == "match") {
				t.Errorf("score %.2f threshold %.2f decision %s", res.Score, res.Threshold, res.Decision)
			}
			if (res.Liveness != nil) == c.skipLiveness {
				t.Errorf("liveness %+v with skip=%v", res.Liveness, c.skipLiveness)
			}
			if res.Liveness != nil && (res.Liveness.Threshold <= 0 || res.Liveness.Score < 0 || res.Liveness.Score > 1) {
				t.Errorf("liveness %+v", res.Liveness)
			}
			for role, f := range map[string]partnerapi.FaceInfo{"selfie": res.Selfie, "reference": res.Reference} {
				if f.Box[2] <= 0 || f.Box[3] <= 0 || f.Box[0]+f.Box[2] > 160 || len(f.Landmarks) != 5 || f.Quality < 0 || f.Quality > 1 || f.QualityFailures == nil {
					t.Errorf("%s face %+v", role, f)
				}
			}
			if res.TimingsMS["total"] <= 0 || res.TimingsMS["decode_images"] <= 0 {
				t.Errorf("timings %v", res.TimingsMS)
			}
		})
	}
}

// TestMatchTurnedReference: a reference photo that came turned (a phone
// held sideways, EXIF orientation stripped) is matched upright, and the
// answer says by how much it was turned; another person's still does not
// match.
func TestMatchTurnedReference(t *testing.T) {
	m := facematchtest.Matcher(t)
	for _, c := range []struct {
		selfie, reference string
		turn              int
		decision          string
	}{
		{"amy2", "amy1", 90, "match"},
		{"leonard2", "leonard1", 270, "match"},
		{"penny2", "amy1", 90, "no_match"},
	} {
		name := fmt.Sprintf("%s vs %s turned %d", c.selfie, c.reference, c.turn)
		res, err := m.Match(context.Background(), partnerapi.FaceMatchRequest{Selfie: facematchtest.Face(t, c.selfie), Reference: facematchtest.Turned(t, c.reference, c.turn)})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res.Decision != c.decision || res.Reference.Turned != 360-c.turn || res.Selfie.Turned != 0 {
			t.Errorf("%s: %s (similarity %.3f), reference turned %d, selfie %d; want %s, %d, 0", name, res.Decision, res.Similarity, res.Reference.Turned, res.Selfie.Turned, c.decision, 360-c.turn)
		}
	}
}

func TestMatchInputErrors(t *testing.T) {
	m := facematchtest.Matcher(t)
	good := facematchtest.Face(t, "leonard1")
	jpg := facematchtest.Encode(t, ".jpg", facematchtest.Compose(t, 200, 200))
	var huge bytes.Buffer // 50 megapixels of flat grey: a small file, a bomb once decoded
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&huge, image.NewGray(image.Rect(0, 0, 8000, 6250))); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name              string
		selfie, reference []byte
		image             string
		want              error
	}{
		{"selfie not an image", []byte("this is not a photo"), good, "selfie", partnerapi.ErrNotImage},
		{"empty reference", good, nil, "reference", partnerapi.ErrNotImage},
		{"truncated reference", good, jpg[:len(jpg)/2], "reference", partnerapi.ErrTruncated},
		{"50 megapixel selfie", huge.Bytes(), good, "selfie", partnerapi.ErrTooLarge},
		{"selfie over 10 MB", make([]byte, partnerapi.MaxFaceMatchImage+1), good, "selfie", partnerapi.ErrTooLarge},
		{"no face in the selfie", facematchtest.Blank(t), good, "selfie", partnerapi.ErrNoFace},
		{"no face in the reference", good, facematchtest.Blank(t), "reference", partnerapi.ErrNoFace},
		{"two faces in the selfie", facematchtest.TwoFaces(t), good, "selfie", partnerapi.ErrManyFaces},
		{"reference cut off in its header", good, jpg[:20], "reference", partnerapi.ErrTruncated},
		{"BMP selfie (not a format the API takes)", facematchtest.Encode(t, ".bmp", facematchtest.Compose(t, 64, 64)), good, "selfie", partnerapi.ErrNotImage},
		{"WebP bomb: 16384x16384 in a 30-byte header", webpBomb(), good, "selfie", partnerapi.ErrTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := m.Match(context.Background(), partnerapi.FaceMatchRequest{Selfie: c.selfie, Reference: c.reference})
			fe, ok := errors.AsType[*partnerapi.FaceMatchError](err)
			if !ok || fe.Image != c.image || !errors.Is(err, c.want) {
				t.Errorf("error %v, want %s: %v", err, c.image, c.want)
			}
		})
	}
}

// webpBomb is an extended WebP header claiming a 16384x16384 canvas.
func webpBomb() []byte {
	b := []byte("RIFF\x16\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00")
	for range 2 { // canvas width and height minus one, 24 bits each
		b = append(b, 0xff, 0x3f, 0x00)
	}
	return b
}

// The API takes WebP as well as JPEG and PNG.
func TestMatchWebP(t *testing.T) {
	m := facematchtest.Matcher(t)
	selfie, _, selfieMat, _ := facematchtest.Bench(t)
	webp := facematchtest.Encode(t, ".webp", selfieMat)
	res, err := m.Match(context.Background(), partnerapi.FaceMatchRequest{Selfie: webp, Reference: selfie, SkipLiveness: true})
	if err != nil || res.Decision != "match" {
		t.Fatalf("WebP selfie against its JPEG: %+v, %v", res, err)
	}
}

// A reference holding two people is compared by its largest face: only the
// selfie must show one person.
func TestMatchGroupReference(t *testing.T) {
	m := facematchtest.Matcher(t)
	res, err := m.Match(context.Background(), partnerapi.FaceMatchRequest{Selfie: facematchtest.Face(t, "leonard3"), Reference: facematchtest.TwoFaces(t), SkipLiveness: true})
	if err != nil || (res.Decision != "match" && res.Decision != "no_match") {
		t.Fatalf("%+v, %v", res, err)
	}
}

// Matches beyond MaxConcurrent wait for a turn for as long as their context
// allows.
func TestMatchWaitsBoundedByContext(t *testing.T) {
	m, err := facematch.Open(facematch.Config{MaxConcurrent: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	release := m.Hold(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = m.Match(ctx, partnerapi.FaceMatchRequest{Selfie: facematchtest.Face(t, "leonard2"), Reference: facematchtest.Face(t, "leonard4")})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("queued past its deadline: %v", err)
	}
	release()
	if _, err := m.Match(context.Background(), partnerapi.FaceMatchRequest{Selfie: facematchtest.Face(t, "leonard2"), Reference: facematchtest.Face(t, "leonard4")}); err != nil {
		t.Fatalf("after the turn was released: %v", err)
	}
}

// TestMatchPixelBound: an image of exactly partnerapi.MaxFaceMatchPixels
// (4096x4096) is decoded and searched for a face; one pixel more
// (673x24929, 16,777,217) is refused as too large, judged from its header
// alone: a PNG that is nothing but a header claiming that size is refused
// as too large, not as an image that does not decode, while one claiming
// exactly the bound gets as far as decoding.
func TestMatchPixelBound(t *testing.T) {
	if partnerapi.MaxFaceMatchPixels != 16_777_216 || partnerapi.MaxFaceMatchPixels+1 != 673*24929 {
		t.Fatalf("the bound is %d pixels, want 4096x4096", partnerapi.MaxFaceMatchPixels)
	}
	m := facematchtest.Matcher(t)
	good := facematchtest.Face(t, "leonard1")
	for _, c := range []struct {
		name   string
		selfie []byte
		want   error
	}{
		{"4096x4096 flat grey, the bound", flatPNG(t, 4096, 4096), partnerapi.ErrNoFace},
		{"673x24929 flat grey, one pixel more", flatPNG(t, 673, 24929), partnerapi.ErrTooLarge},
		{"4097x4096 flat grey", flatPNG(t, 4097, 4096), partnerapi.ErrTooLarge},
		{"a PNG header of 4096x4096 alone", pngHeader(4096, 4096), partnerapi.ErrNotImage},
		{"a PNG header of 673x24929 alone", pngHeader(673, 24929), partnerapi.ErrTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := m.Match(context.Background(), partnerapi.FaceMatchRequest{Selfie: c.selfie, Reference: good, SkipLiveness: true})
			fe, ok := errors.AsType[*partnerapi.FaceMatchError](err)
			if !ok || fe.Image != "selfie" || !errors.Is(err, c.want) {
				t.Errorf("error %v, want selfie: %v", err, c.want)
			}
		})
	}
}

// flatPNG is a w x h PNG of one grey: a small file, cheap to encode.
func flatPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&b, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pngHeader is a PNG of a w x h 8-bit grey image without its pixels: its
// signature, IHDR and IEND, each chunk with its CRC.
func pngHeader(w, h int) []byte {
	out := []byte("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		out = binary.BigEndian.AppendUint32(out, uint32(len(data)))
		start := len(out)
		out = append(append(out, typ...), data...)
		out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[start:]))
	}
	ihdr := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, uint32(w)), uint32(h))
	chunk("IHDR", append(ihdr, 8, 0, 0, 0, 0)) // 8 bits, grey, deflate, no filter, no interlace
	chunk("IEND", nil)
	return out
}

// TestMatchEncodings: what partners' systems write besides 8-bit RGB
// baseline files is matched as the same face (a 16-bit PNG, a grey one, a
// CMYK JPEG, a progressive JPEG), and a progressive JPEG whose frame
// header claims 50000x50000 pixels is refused as too large before any
// decoding.
func TestMatchEncodings(t *testing.T) {
	m := facematchtest.Matcher(t)
	face, ref := facematchtest.Face(t, "leonard2"), facematchtest.Face(t, "leonard4")
	src, err := png.Decode(bytes.NewReader(face))
	if err != nil {
		t.Fatal(err)
	}
	b := src.Bounds()
	rgb16, grey16, cmyk := image.NewRGBA64(b), image.NewGray16(b), image.NewCMYK(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := src.At(x, y)
			rgb16.Set(x, y, c)
			grey16.Set(x, y, c)
			cmyk.Set(x, y, c)
		}
	}
	encode := func(enc func(*bytes.Buffer) error) []byte {
		var buf bytes.Buffer
		if err := enc(&buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	mat, err := gocv.IMDecode(face, gocv.IMReadColor)
	if err != nil {
		t.Fatal(err)
	}
	defer mat.Close()
	pb, err := gocv.IMEncodeWithParams(".jpg", mat, []int{gocv.IMWriteJpegProgressive, 1})
	if err != nil {
		t.Fatal(err)
	}
	progressive := bytes.Clone(pb.GetBytes())
	pb.Close()
	sof := bytes.Index(progressive, []byte{0xFF, 0xC2}) // the progressive frame header
	if sof < 0 {
		t.Fatal("the progressive JPEG has no SOF2")
	}
	bomb := bytes.Clone(progressive)
	binary.BigEndian.PutUint16(bomb[sof+5:], 50000) // height
	binary.BigEndian.PutUint16(bomb[sof+7:], 50000) // width
	for _, c := range []struct {
		name   string
		selfie []byte
		want   error // nil: a match
	}{
		{"16-bit RGB PNG", encode(func(w *bytes.Buffer) error { return png.Encode(w, rgb16) }), nil},
		{"16-bit grey PNG", encode(func(w *bytes.Buffer) error { return png.Encode(w, grey16) }), nil},
		{"CMYK JPEG", encode(func(w *bytes.Buffer) error { return jpeg.Encode(w, cmyk, nil) }), nil},
		{"progressive JPEG", progressive, nil},
		{"progressive JPEG claiming 50000x50000", bomb, partnerapi.ErrTooLarge},
		{"progressive JPEG cut short", progressive[:len(progressive)/2], partnerapi.ErrTruncated},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := m.Match(context.Background(), partnerapi.FaceMatchRequest{Selfie: c.selfie, Reference: ref, SkipLiveness: true})
			if c.want == nil {
				if err != nil || res.Decision != "match" {
					t.Errorf("%+v, %v; want a match", res, err)
				}
				return
			}
			if fe, ok := errors.AsType[*partnerapi.FaceMatchError](err); !ok || fe.Image != "selfie" || !errors.Is(err, c.want) {
				t.Errorf("error %v, want selfie: %v", err, c.want)
			}
		})
	}
}
