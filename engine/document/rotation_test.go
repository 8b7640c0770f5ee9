package document

import (
	"context"
	"image"
	"path/filepath"
	"slices"
	"testing"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/document/forensics"
	"github.com/openkyc/kyc/engine/document/locate"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/internal/synth"
	"github.com/openkyc/kyc/internal/testenv"
)

// rotatedScene is one way a document is photographed: its specimen image
// turned a quarter at a time as a scan, or laid on a desk, tilted in its
// plane, and the photo then turned as a phone held upright turns it.
type rotatedScene struct {
	name string
	desk bool
	// tilt is the document's turn on the desk, in degrees; turn the
	// photo's (or the scan's) clockwise turn, a multiple of 90.
	tilt float64
	turn int
}

// render draws the scene from the specimen as a camera's single JPEG.
func (s rotatedScene) render(t *testing.T, specimen gocv.Mat) ([]byte, gocv.Mat) {
	t.Helper()
	src := specimen
	if s.desk {
		desk := synth.Background(1600, 1200, 5)
		defer desk.Close()
		src, _ = synth.Place(desk, specimen, synth.Placement{CenterX: 0.5, CenterY: 0.5, WidthFrac: 0.62, Rotate: s.tilt})
		defer src.Close()
	}
	turned, err := imageio.Turn(src, s.turn)
	if err != nil {
		t.Fatal(err)
	}
	defer turned.Close()
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, turned, []int{gocv.IMWriteJpegQuality, 92})
	if err != nil {
		t.Fatal(err)
	}
	defer buf.Close()
	raw := append([]byte(nil), buf.GetBytes()...)
	img, err := imageio.Decode(raw, 0)
	if err != nil {
		t.Fatal(err)
	}
	return raw, img
}

// flagged names the checks, forensic and liveness, that flag the document.
func flagged(res *Result) []string {
	var out []string
	for _, cs := range [][]forensics.Check{res.Forensics.Checks, res.Liveness.Checks} {
		for _, c := range cs {
			if c.Applicable && c.Score < 0.5 {
				out = append(out, c.Name)
			}
		}
	}
	return out
}

// TestRotatedDocuments: a document photographed the way people do, turned
// a quarter either way (a landscape card in the photo of a phone held
// upright), upside down, or tilted on a table, reads as it does upright:
// its MRZ with every check digit valid, and no forensic or liveness check
// flags it that does not flag it upright. The scans are specimens with no
// outline to rectify, so the page itself must be turned; the desk photos
// have one.
func TestRotatedDocuments(t *testing.T) {
	a, _ := newFaceAnalyzer(t)
	dir := testenv.Data(t, "mrz", "passporteye")
	scenes := []rotatedScene{
		{name: "scan"}, {name: "scan turned 90", turn: 90}, {name: "scan turned 180", turn: 180}, {name: "scan turned 270", turn: 270},
		{name: "desk", desk: true}, {name: "desk tilted 15", desk: true, tilt: 15}, {name: "desk photo turned 90", desk: true, turn: 90},
		{name: "desk photo turned 270", desk: true, turn: 270},
	}
	for _, name := range []string{"100_id-mac.jpg", "100_pass-hrv.jpg", "53_id-d.jpg"} {
		specimen, err := imageio.ReadFile(filepath.Join(dir, name), 0)
		if err != nil {
			t.Fatal(err)
		}
		// The flags of the upright scan and desk photo, which the turned
		// ones are held to.
		upright := map[bool][]string{}
		for _, s := range scenes {
			raw, img := s.render(t, specimen)
			res, err := a.Analyze(context.Background(), Image{Raw: raw, Mat: img}, nil, nil)
			img.Close()
			if err != nil {
				t.Fatalf("%s, %s: %v", name, s.name, err)
			}
			score := 0
			if res.MRZ != nil {
				score = res.MRZ.ValidScore
			}
			flags := flagged(res)
			t.Logf("%s, %-22s rotation %3d, MRZ %3d%%, flagged %v, %4.0f ms", name, s.name, res.Front.Rotation, score, flags, res.TimingsMS["total"])
			res.Close()
			if score != 100 {
				t.Errorf("%s, %s: MRZ check digits %d%% valid, want 100", name, s.name, score)
			}
			if s.tilt == 0 && s.turn == 0 {
				upright[s.desk] = flags
				continue
			}
			for _, f := range flags {
				if !slices.Contains(upright[s.desk], f) {
					t.Errorf("%s, %s: flagged by %s, which does not flag it upright", name, s.name, f)
				}
			}
		}
		specimen.Close()
	}
}

// TestTurnRect: a box turned with its page lands where locate.Rotate puts
// its pixels, and pageToPhoto takes it from the turned page back to the
// photo.
func TestTurnRect(t *testing.T) {
	size := image.Pt(40, 30)
	box := image.Rect(3, 5, 10, 20)
	for _, rot := range []int{0, 90, 180, 270} {
		photo := gocv.NewMatWithSize(size.Y, size.X, gocv.MatTypeCV8U)
		region := photo.Region(box)
		region.SetTo(gocv.NewScalar(255, 0, 0, 0))
		region.Close()
		turned, err := imageio.Turn(photo, rot)
		photo.Close()
		if err != nil {
			t.Fatal(err)
		}
		var lit image.Rectangle
		for y := 0; y < turned.Rows(); y++ {
			for x := 0; x < turned.Cols(); x++ {
				if turned.GetUCharAt(y, x) != 0 {
					lit = lit.Union(image.Rect(x, y, x+1, y+1))
				}
			}
		}
		page := image.Pt(turned.Cols(), turned.Rows())
		turned.Close()
		r := turnRect(rect{float64(box.Min.X), float64(box.Min.Y), float64(box.Max.X), float64(box.Max.Y)}, size, rot)
		if got := image.Rect(int(r.x0), int(r.y0), int(r.x1), int(r.y1)); got != lit {
			t.Errorf("turned %d: box %v, its pixels at %v", rot, got, lit)
		}
		if back := pageToPhoto(locate.Result{}, page, rot)(lit); back != box {
			t.Errorf("turned %d: %v on the page maps to %v in the photo, want %v", rot, lit, back, box)
		}
	}
}
