package capture

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/document/locate"
	"github.com/openkyc/kyc/internal/synth"
)

// BenchmarkDocumentGuide measures guidance per 1280x720 frame (target 15 ms
// on one core: go test -bench Guide -cpu 1) at several locate work widths,
// and reports the share of placements found with every corner within 1%
// of the frame width (accurate) or found at all: the quality side of the speed trade.
func BenchmarkDocumentGuide(b *testing.B) {
	bg := synth.Background(1280, 720, 41)
	defer bg.Close()
	card := synth.Card(synth.CardOptions{Lines: []string{"NIK 3171012345678901", "NAMA RINA"}, Seed: 42})
	defer card.Close()
	type scene struct {
		img     gocv.Mat
		corners [4]gocv.Point2f
	}
	var scenes []scene
	for i := 0; i < 24; i++ {
		p := synth.Placement{
			CenterX: 0.42 + 0.16*math.Mod(float64(i)*0.37, 1), CenterY: 0.4 + 0.2*math.Mod(float64(i)*0.61, 1),
			WidthFrac: 0.5 + 0.3*math.Mod(float64(i)*0.29, 1), Rotate: -10 + 20*math.Mod(float64(i)*0.43, 1), Tilt: 15 * math.Mod(float64(i)*0.71, 1),
		}
		m, c := synth.Place(bg, card, p)
		scenes = append(scenes, scene{m, c})
	}
	defer func() {
		for _, s := range scenes {
			s.img.Close()
		}
	}()
	for _, ww := range []int{320, 384, 480} {
		b.Run(fmt.Sprintf("work%d", ww), func(b *testing.B) {
			cfg := DefaultDocumentConfig()
			cfg.WorkWidth = ww
			g, err := NewDocumentGuide(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer g.Close()
			hits, found := 0, 0
			for _, s := range scenes {
				r, _ := locate.Find(s.img, g.loc)
				ok := r.Found
				if ok {
					found++
				}
				for k := 0; ok && k < 4; k++ {
					ok = math.Hypot(r.Quad[k].X-float64(s.corners[k].X), r.Quad[k].Y-float64(s.corners[k].Y)) <= 12.8
				}
				if ok {
					hits++
				}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// Analysing the same moving scene keeps the guide from
				// capturing (and cloning frames) mid-benchmark.
				f := Frame{Seq: i, Time: time.Duration(i) * time.Second / 30, Image: scenes[i%len(scenes)].img}
				if _, err := g.Analyse(context.Background(), f); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(found)/float64(len(scenes)), "found")
			b.ReportMetric(float64(hits)/float64(len(scenes)), "accurate")
		})
	}
}

// BenchmarkSelfieGuide measures selfie guidance per 1280x720 frame with
// YuNet on one thread (target 25 ms on one core).
func BenchmarkSelfieGuide(b *testing.B) {
	det := yunet(b)
	s := newSelfieScene(b, det, "penny/penny1.png")
	frame := s.frame(0.5, 0.45, 1, 1)
	defer frame.Close()
	g, err := NewSelfieGuide(det, DefaultSelfieConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Each call is a fresh first frame (no motion reference), so the
		// guide never fills its window.
		g.prev = nil
		if _, err := g.Analyse(context.Background(), Frame{Seq: i, Image: frame}); err != nil {
			b.Fatal(err)
		}
	}
}
