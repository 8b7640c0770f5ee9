package capture

import (
	"image"
	"math"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/internal/synth"
)

// segment is a stretch of a synthetic document video and the message
// guidance must give for most of its frames.
type segment struct {
	name   string
	frames int
	want   Message
	render func(i int) gocv.Mat
}

// docScene renders the document scenes of the test videos.
type docScene struct {
	w, h        int
	bg          gocv.Mat
	front, back gocv.Mat
}

func newDocScene(t *testing.T, w, h int) *docScene {
	t.Helper()
	s := &docScene{
		w: w, h: h,
		bg:    synth.Background(w, h, 3),
		front: synth.Card(synth.CardOptions{Lines: []string{"NIK 3171012345678901", "NAMA BUDI SANTOSO", "LAHIR 17-08-1985"}, Seed: 5}),
		back:  synth.Card(synth.CardOptions{Lines: []string{"ALAMAT JL MERDEKA 1", "RT 001 RW 002", "BERLAKU SEUMUR HIDUP", "KOTA JAKARTA"}, Seed: 77}),
	}
	t.Cleanup(func() { s.bg.Close(); s.front.Close(); s.back.Close() })
	return s
}

func (s *docScene) place(card gocv.Mat, p synth.Placement) (gocv.Mat, [4]gocv.Point2f) {
	return synth.Place(s.bg, card, p)
}

var centred = synth.Placement{CenterX: 0.5, CenterY: 0.5, WidthFrac: 0.6}

// segments is the document video: every way to get it wrong, then held
// steady; with two sides, removed and shown again turned over.
func (s *docScene) segments(sides int) []segment {
	plain := func(card gocv.Mat, p synth.Placement) func(int) gocv.Mat {
		return func(int) gocv.Mat { m, _ := s.place(card, p); return m }
	}
	// steady jitters by a fraction of a pixel and softens every frame but
	// the fourth a little, so the sharpest frame of the window is known.
	steady := func(card gocv.Mat) func(int) gocv.Mat {
		return func(i int) gocv.Mat {
			p := centred
			p.CenterX += 0.0003 * math.Sin(float64(i))
			m, _ := s.place(card, p)
			if i != 3 {
				gocv.GaussianBlur(m, &m, image.Pt(0, 0), 0.8, 0, gocv.BorderDefault)
			}
			return m
		}
	}
	segs := []segment{
		{"empty", 5, MoveIntoFrame, func(int) gocv.Mat { return s.bg.Clone() }},
		{"small", 5, MoveCloser, plain(s.front, synth.Placement{CenterX: 0.5, CenterY: 0.5, WidthFrac: 0.38})},
		{"turned", 5, AlignDocument, plain(s.front, synth.Placement{CenterX: 0.5, CenterY: 0.5, WidthFrac: 0.6, Rotate: 25})},
		{"sliding", 5, HoldSteady, func(i int) gocv.Mat {
			p := centred
			p.CenterX = 0.4 + 0.05*float64(i)
			m, _ := s.place(s.front, p)
			return m
		}},
		{"blurred", 5, HoldSteady, func(int) gocv.Mat {
			m, _ := s.place(s.front, centred)
			gocv.GaussianBlur(m, &m, image.Pt(0, 0), 4, 0, gocv.BorderDefault)
			return m
		}},
		{"glare", 5, ReduceGlare, func(int) gocv.Mat {
			m, c := s.place(s.front, centred)
			synth.AddGlare(&m, image.Pt(int(c[0].X+c[2].X)/2+60, int(c[0].Y+c[2].Y)/2), 70)
			return m
		}},
		// A thumb about 20 mm wide over the bottom edge: the card is 85.6 mm
		// across 768 pixels.
		{"finger", 5, RemoveObstruction, func(int) gocv.Mat {
			m, c := s.place(s.front, centred)
			synth.AddFinger(&m, image.Pt(int(c[2].X+c[3].X)/2, int(c[2].Y+c[3].Y)/2-90), 90, 180)
			return m
		}},
		{"dark", 5, ImproveLighting, func(int) gocv.Mat {
			m, _ := s.place(s.front, centred)
			m.ConvertToWithParams(&m, gocv.MatTypeCV8UC3, 0.4, 0)
			return m
		}},
		{"steady", 8, Capturing, steady(s.front)},
	}
	if sides == 2 {
		segs = append(segs,
			segment{"removed", 4, FlipDocument, func(int) gocv.Mat { return s.bg.Clone() }},
			segment{"back", 8, Capturing, steady(s.back)},
		)
	}
	return segs
}

// writeVideo renders segs to an MJPG video and returns its path and the
// first frame index of each segment.
func writeVideo(t *testing.T, segs []segment) (string, []int) {
	t.Helper()
	var starts []int
	var render []func() gocv.Mat
	for _, sg := range segs {
		starts = append(starts, len(render))
		for i := 0; i < sg.frames; i++ {
			render = append(render, func() gocv.Mat { return sg.render(i) })
		}
	}
	path := filepath.Join(t.TempDir(), "scene.avi")
	if err := synth.WriteVideo(path, 15, len(render), func(i int) gocv.Mat { return render[i]() }); err != nil {
		t.Fatal(err)
	}
	return path, starts
}
