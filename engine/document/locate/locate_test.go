package locate

import (
	"errors"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"testing"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/internal/synth"
)

// maxCornerError is the largest distance between a found corner and the
// true one, as a fraction of the card's width.
func maxCornerError(r Result, truth [4]gocv.Point2f, cardWidth float64) float64 {
	worst := 0.0
	for i := 0; i < 4; i++ {
		d := math.Hypot(r.Quad[i].X-float64(truth[i].X), r.Quad[i].Y-float64(truth[i].Y))
		worst = math.Max(worst, d)
	}
	return worst / cardWidth
}

func TestFindSyntheticScenes(t *testing.T) {
	card := synth.Card(synth.CardOptions{Width: 856, Lines: []string{"NIK 3171234567890001", "NAMA BUDI SANTOSO"}, Seed: 1})
	defer card.Close()
	// Seed 7: the options were developed on other seeds; this set only reports.
	rng := rand.New(rand.NewPCG(7, 1))
	const n = 40
	found, worst := 0, 0.0
	for i := 0; i < n; i++ {
		bg := synth.Background(1280, 720, uint64(500+i))
		// A whole card in view: guidance asks for that before anything is
		// searched for (a card cut by the frame is "move back", not a find).
		var p synth.Placement
		for {
			p = synth.Placement{
				CenterX: 0.4 + rng.Float64()*0.2, CenterY: 0.4 + rng.Float64()*0.2,
				WidthFrac: 0.45 + rng.Float64()*0.3,
				Rotate:    rng.Float64()*40 - 20,
				Tilt:      rng.Float64() * 30,
			}
			if inside(p.Corners(1280, 720, 85.6/54), 1280, 720) {
				break
			}
		}
		scene, truth := synth.Place(bg, card, p)
		bg.Close()
		r, err := Find(scene, Options{})
		scene.Close()
		if err != nil {
			t.Fatal(err)
		}
		cardW := p.WidthFrac * 1280
		if !r.Found {
			t.Logf("scene %d %+v: not found (score %.2f)", i, p, r.Score)
			continue
		}
		e := maxCornerError(r, truth, cardW)
		worst = math.Max(worst, e)
		if e > 0.02 {
			t.Logf("scene %d %+v: corner error %.3f of card width", i, p, e)
			continue
		}
		if r.Format != FormatID1 {
			t.Logf("scene %d: format %s (aspect %.3f)", i, r.Format, r.Aspect)
			continue
		}
		if math.Abs(r.Tilt-p.Rotate) > 4 {
			t.Errorf("scene %d: tilt %.1f, placed at %.1f", i, r.Tilt, p.Rotate)
		}
		found++
	}
	t.Logf("found %d of %d synthetic scenes within 2%% corner error; worst %.2f%%", found, n, 100*worst)
	if found < n*9/10 {
		t.Fatalf("found only %d of %d scenes", found, n)
	}
}

func TestFindNothingInClutter(t *testing.T) {
	falseAlarms := 0
	for i := 0; i < 20; i++ {
		bg := synth.Background(1280, 720, uint64(2000+i))
		r, err := Find(bg, Options{})
		bg.Close()
		if err != nil {
			t.Fatal(err)
		}
		if r.Found && r.AreaFraction > 0.2 {
			falseAlarms++
			t.Logf("clutter %d: found %+v", i, r)
		}
	}
	if falseAlarms > 2 {
		t.Fatalf("%d of 20 empty scenes reported a large document", falseAlarms)
	}
}

func TestRectifyRestoresCard(t *testing.T) {
	card := synth.Card(synth.CardOptions{Width: 856, Seed: 3})
	defer card.Close()
	for _, rot := range []float64{0, 90, -15} {
		t.Run(fmt.Sprint(rot), func(t *testing.T) {
			bg := synth.Background(1280, 960, 5)
			defer bg.Close()
			scene, _ := synth.Place(bg, card, synth.Placement{CenterX: 0.5, CenterY: 0.5, WidthFrac: 0.5, Rotate: rot, Tilt: 10})
			defer scene.Close()
			r, err := Find(scene, Options{})
			if err != nil || !r.Found {
				t.Fatalf("Find: %+v %v", r, err)
			}
			if rot == 90 && !r.Portrait {
				t.Errorf("card standing on its side not reported as portrait: %+v", r)
			}
			out, err := Rectify(scene, r, 856)
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			if out.Cols() != 856 || math.Abs(float64(out.Rows())-856*54/85.6) > 1 {
				t.Fatalf("rectified to %dx%d", out.Cols(), out.Rows())
			}
			// The rectified image matches the card up to a half-turn (the
			// content decides 0 vs 180): compare both ways.
			diff := func(img gocv.Mat) float64 {
				d := gocv.NewMat()
				defer d.Close()
				resized := gocv.NewMat()
				defer resized.Close()
				gocv.Resize(img, &resized, image.Pt(card.Cols(), card.Rows()), 0, 0, gocv.InterpolationLinear)
				gocv.AbsDiff(resized, card, &d)
				return d.Mean().Val1
			}
			flipped, _ := imageio.Turn(out, 180)
			defer flipped.Close()
			if m := math.Min(diff(out), diff(flipped)); m > 25 {
				t.Errorf("rectified card differs from the original by %.1f per pixel", m)
			}
		})
	}
}

func inside(c [4]gocv.Point2f, w, h float32) bool {
	for _, p := range c {
		if p.X < 0.02*w || p.Y < 0.02*h || p.X > 0.98*w || p.Y > 0.98*h {
			return false
		}
	}
	return true
}

func BenchmarkFind720p(b *testing.B) {
	card := synth.Card(synth.CardOptions{Width: 856, Seed: 1})
	defer card.Close()
	bg := synth.Background(1280, 720, 9)
	defer bg.Close()
	scene, _ := synth.Place(bg, card, synth.Placement{CenterX: 0.5, CenterY: 0.5, WidthFrac: 0.6, Rotate: 8, Tilt: 15})
	defer scene.Close()
	for b.Loop() {
		if r, err := Find(scene, Options{}); err != nil || !r.Found {
			b.Fatal("not found", err)
		}
	}
}

// TestFindRefusesOtherDepths: a 3-channel image of another depth than
// 8 bits (a 16-bit photo decoded as such, a float one) is ErrEmptyImage;
// OpenCV's edge detector aborted the whole process on it.
func TestFindRefusesOtherDepths(t *testing.T) {
	for _, c := range []struct {
		typ  gocv.MatType
		want error
	}{
		{gocv.MatTypeCV8UC3, nil},
		{gocv.MatTypeCV16UC3, ErrEmptyImage},
		{gocv.MatTypeCV32FC3, ErrEmptyImage},
		{gocv.MatTypeCV8SC3, ErrEmptyImage},
		{gocv.MatTypeCV8UC1, ErrEmptyImage},
	} {
		m := gocv.NewMatWithSize(300, 400, c.typ)
		if _, err := Find(m, Options{}); !errors.Is(err, c.want) || c.want == nil && err != nil {
			t.Errorf("a 400x300 image of type %v: Find = %v, want %v", c.typ, err, c.want)
		}
		m.Close()
	}
}

// TestFindInRegion: a region of a larger image (its rows apart in
// memory) gives the outline the same image gives copied whole, refined
// at full resolution: the refinement read its pixels as one array and
// skipped a region before.
func TestFindInRegion(t *testing.T) {
	card := synth.Card(synth.CardOptions{Width: 856, Lines: []string{"NIK 3171234567890001", "NAMA BUDI SANTOSO"}, Seed: 2})
	defer card.Close()
	bg := synth.Background(1280, 720, 77)
	defer bg.Close()
	scene, _ := synth.Place(bg, card, synth.Placement{CenterX: 0.5, CenterY: 0.5, WidthFrac: 0.6, Rotate: 7, Tilt: 10})
	defer scene.Close()
	wide := gocv.NewMatWithSize(820, 1480, gocv.MatTypeCV8UC3)
	defer wide.Close()
	region := wide.Region(image.Rect(100, 50, 1380, 770))
	defer region.Close()
	scene.CopyTo(&region)
	if region.IsContinuous() {
		t.Fatal("the region is continuous; the test needs one that is not")
	}
	whole, err := Find(scene, Options{})
	if err != nil || !whole.Found {
		t.Fatalf("Find on the scene = %+v, %v", whole, err)
	}
	got, err := Find(region, Options{})
	if err != nil || !got.Found {
		t.Fatalf("Find on the region = %+v, %v", got, err)
	}
	for i := range got.Quad {
		if d := math.Hypot(got.Quad[i].X-whole.Quad[i].X, got.Quad[i].Y-whole.Quad[i].Y); d > 0.01 {
			t.Errorf("corner %d: %v in the region, %v in the scene", i, got.Quad[i], whole.Quad[i])
		}
	}
}
