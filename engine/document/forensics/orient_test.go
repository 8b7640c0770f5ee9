package forensics

import (
	"context"
	"image"
	"math"
	"testing"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/internal/synth"
)

// orientMat is m turned by the EXIF orientation o, pixel by pixel.
func orientMat(t testing.TB, m gocv.Mat, o int) gocv.Mat {
	t.Helper()
	w, h := m.Cols(), m.Rows()
	size := orientedSize(o, w, h)
	out := gocv.NewMatWithSize(size.Y, size.X, m.Type())
	src, _ := m.DataPtrUint8()
	dst, _ := out.DataPtrUint8()
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			p := orientPoint(o, x, y, w, h)
			copy(dst[3*(p.Y*size.X+p.X):][:3], src[3*(y*w+x):][:3])
		}
	}
	return out
}

// orientedJPEG saves picture as a camera held turned does: its sensor's
// pixels (the picture turned back) at quality q, with the EXIF
// orientation o that turns them into the picture.
func orientedJPEG(t testing.TB, picture gocv.Mat, o, q int) []byte {
	t.Helper()
	file := orientMat(t, picture, inverseOrientation(o))
	defer file.Close()
	return synth.WithOrientation(encodeJPEG(t, file, q), o)
}

// orientations are the EXIF orientations a camera writes, and the
// mirrored ones: the picture decodes the same whichever, and so must be
// judged the same.
var orientations = []int{1, 2, 3, 4, 5, 6, 7, 8}

// TestOrientedFile: a JPEG saved turned, with the EXIF orientation that
// turns it upright (as phones save a photo taken sideways), is decoded
// turned, its 8x8 grid moved with it. The checks of the file's grid read
// the file as stored, within the region asked for: they measure what they
// measure on the same file without the tag (its picture as stored, the
// region turned with it), and report their regions on the turned picture.
// A portrait pasted from another JPEG is found where it is in the picture.
// The card's sides are not multiples of 8, so that a turn moves the
// grid's origin.
func TestOrientedFile(t *testing.T) {
	const w, h = cardW + 3, cardH + 5
	seed := evalSeeds[0]
	genuine := renderCard(t, seed, w, h)
	defer genuine.Close()
	forged := renderCard(t, seed, w, h)
	defer forged.Close()
	dst := pastePortrait(t, forged, seed)
	// The region asked for: the card less a margin, off the grid, with the
	// portrait inside.
	region := image.Rect(13, 9, w-150, h-11)
	analyze := func(raw []byte, r image.Rectangle) (Report, gocv.Mat) {
		img := decodeBGR(t, raw)
		rep, err := Analyze(context.Background(), raw, img, Options{Region: r})
		if err != nil {
			t.Fatal(err)
		}
		return rep, img
	}
	caught := 0
	for _, o := range orientations {
		for _, c := range []struct {
			name    string
			picture gocv.Mat
			forged  bool
		}{{"genuine", genuine, false}, {"forged", forged, true}} {
			raw := orientedJPEG(t, c.picture, o, 90)
			// The same file untagged: its picture is the file as stored.
			stored := append([]byte{0xFF, 0xD8}, jpgBody(raw)...)
			rep, img := analyze(raw, region)
			d := meanAbsDiff(t, img, c.picture)
			img.Close()
			if d > 8 {
				t.Fatalf("orientation %d: decodes %.1f grey levels from the picture: not the picture as turned", o, d)
			}
			ref, sideways := analyze(stored, orientRect(inverseOrientation(o), region, w, h))
			sw, sh := sideways.Cols(), sideways.Rows()
			sideways.Close()
			for _, name := range []string{CheckELA, CheckDoubleJPEG, CheckBlockGrid} {
				got, want := check(t, rep, name), check(t, ref, name)
				if got.Score != want.Score || got.Evidence["anomaly_mass"] != want.Evidence["anomaly_mass"] {
					t.Errorf("orientation %d, %s: %s scores %.3f (%v), %.3f (%v) on the file untagged", o, c.name, name,
						got.Score, got.Evidence["anomaly_mass"], want.Score, want.Evidence["anomaly_mass"])
				}
				if r, ok := want.Evidence["region"].(Region); ok {
					r = regionOf(orientRect(o, image.Rect(r.X, r.Y, r.X+r.W, r.Y+r.H), sw, sh))
					if got.Evidence["region"] != r {
						t.Errorf("orientation %d, %s: %s region %v, want %v (%v untagged)", o, c.name, name, got.Evidence["region"], r, want.Evidence["region"])
					}
				}
			}
			grid := check(t, rep, CheckBlockGrid)
			if !flagged(grid) {
				continue
			}
			if !c.forged {
				t.Errorf("orientation %d: the block grid flags the genuine card (%v)", o, grid.Evidence)
				continue
			}
			caught++
			r, _ := grid.Evidence["region"].(Region)
			got := image.Rect(r.X, r.Y, r.X+r.W, r.Y+r.H)
			if in := got.Intersect(dst); in.Dx()*in.Dy()*2 < got.Dx()*got.Dy() {
				t.Errorf("orientation %d: block grid region %v, the paste is at %v", o, got, dst)
			}
		}
	}
	// A paste that lands on the file's grid leaves no offset grid: the
	// quarter turns that keep it off (6, taken sideways, among them) catch it.
	if caught < 4 {
		t.Errorf("the paste caught in %d orientations of 8, want 4 or more", caught)
	}
}

// TestOrientedPortraitQuant: the portrait's quantisation check reads the
// picture, whose grid starts where GridOrigin says. A page first saved at
// quality 75, its portrait replaced in the file as stored and saved again
// at 95 (the tag kept), is caught whichever the orientation; the page
// saved once is not.
func TestOrientedPortraitQuant(t *testing.T) {
	const w, h = cardW + 3, cardH + 5
	seed := evalSeeds[0]
	card := renderCard(t, seed, w, h)
	defer card.Close()
	other := renderCard(t, seed+1000, w, h)
	defer other.Close()
	// The portrait's frame on the picture, and the face in it.
	frame := image.Rect(47, 121, 47+252, 121+320)
	face := image.Rect(frame.Min.X+frame.Dx()/5, frame.Min.Y+frame.Dy()/5, frame.Max.X-frame.Dx()/5, frame.Max.Y-frame.Dy()/5)
	for _, o := range orientations {
		page := orientedJPEG(t, card, o, 75)
		// The forger works on the file as stored: the frame where it lies
		// there gets another card's portrait, enlarged (no JPEG grid).
		file := decodeIgnoringOrientation(t, page)
		donor := orientMat(t, other, inverseOrientation(o))
		at := orientRect(inverseOrientation(o), frame, w, h)
		from := donor.Region(orientRect(inverseOrientation(o), image.Rect(43, 116, 43+200, 116+254), w, h))
		to := file.Region(at)
		gocv.Resize(from, &to, at.Size(), 0, 0, gocv.InterpolationLinear)
		from.Close()
		to.Close()
		donor.Close()
		jpg := encodeJPEG(t, file, 95)
		file.Close()
		swapped := append(append([]byte{}, page[:len(page)-len(jpgBody(page))]...), jpgBody(jpg)...)
		for _, c := range []struct {
			name   string
			raw    []byte
			forged bool
		}{{"genuine", page, false}, {"swapped", swapped, true}} {
			img := decodeBGR(t, c.raw)
			cs, err := AnalyzePortrait(context.Background(), img, face, Options{GridOrigin: GridOrigin(c.raw)})
			img.Close()
			if err != nil {
				t.Fatal(err)
			}
			var q Check
			for _, x := range cs {
				if x.Name == CheckPortraitQuant {
					q = x
				}
			}
			t.Logf("orientation %d, %s: grid origin %v, %v", o, c.name, GridOrigin(c.raw), q.Evidence)
			if !q.Applicable || flagged(q) != c.forged {
				t.Errorf("orientation %d, %s: quantisation check applicable %v, flagged %v, want flagged %v (%v)", o, c.name, q.Applicable, flagged(q), c.forged, q.Evidence)
			}
		}
	}
}

// decodeIgnoringOrientation decodes a JPEG as stored.
func decodeIgnoringOrientation(t testing.TB, raw []byte) gocv.Mat {
	t.Helper()
	m, err := gocv.IMDecode(raw, gocv.IMReadColor|gocv.IMReadIgnoreOrientation)
	if err != nil || m.Empty() {
		t.Fatalf("decode: %v", err)
	}
	return m
}

// jpgBody is a JPEG without its SOI marker and the APP segments after it.
func jpgBody(raw []byte) []byte {
	p := 2
	for p+4 <= len(raw) && raw[p] == 0xFF && raw[p+1] >= 0xE0 && raw[p+1] <= 0xEF {
		p += 2 + (int(raw[p+2])<<8 | int(raw[p+3]))
	}
	return raw[p:]
}

func meanAbsDiff(t testing.TB, a, b gocv.Mat) float64 {
	t.Helper()
	if a.Cols() != b.Cols() || a.Rows() != b.Rows() {
		return math.Inf(1)
	}
	pa, _ := a.DataPtrUint8()
	pb, _ := b.DataPtrUint8()
	var s float64
	for i := range pa {
		s += math.Abs(float64(pa[i]) - float64(pb[i]))
	}
	return s / float64(len(pa))
}
