package face

import (
	"context"
	"fmt"
	"image"
	"sort"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/ort"
	"github.com/openkyc/kyc/internal/testenv"
)

// benchImages composes the benchmark inputs from shared photos: a
// 1280x720 selfie (the minivision live sample, 480x640, placed in a
// landscape frame) and a 1000x630 document-like card with a portrait at
// the left.
func benchImages(b *testing.B) (selfie, doc gocv.Mat) {
	b.Helper()
	selfie = compose(b, 1280, 720, placed{readImage(b, "liveness", "minivision_samples", "image_T1.jpg"), 1.1, image.Pt(380, 5)})
	doc = compose(b, 1000, 630, placed{bbt(b, "sheldon1"), 1.8, image.Pt(40, 140)})
	return selfie, doc
}

// reportP50 runs f b.N times and adds the median latency to the result.
func reportP50(b *testing.B, f func() error) {
	b.Helper()
	d := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(t0))
	}
	b.StopTimer()
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, "p50-ms")
}

func BenchmarkStages(b *testing.B) {
	ctx := context.Background()
	for _, threads := range []int{1, 2} {
		e := newTestEngine(b, threads)
		selfie, doc := benchImages(b)
		sf := detectOne(b, e.det, selfie)
		aligned, err := Align(selfie, sf.Landmarks)
		if err != nil {
			b.Fatal(err)
		}
		defer aligned.Close()
		stages := []struct {
			name string
			f    func() error
		}{
			{"detect_selfie_1280x720", func() error { _, err := e.det.Detect(ctx, selfie); return err }},
			{"detect_document_1000x630", func() error { _, err := e.det.Detect(ctx, doc); return err }},
			{"align_quality", func() error {
				al, err := Align(selfie, sf.Landmarks)
				if err != nil {
					return err
				}
				AssessQuality(sf, al, DefaultQuality)
				return al.Close()
			}},
			{"embed", func() error { _, _, err := e.emb.Embed(ctx, aligned); return err }},
			{"liveness", func() error { _, err := e.live.Score(ctx, selfie, sf.Box); return err }},
		}
		for _, s := range stages {
			b.Run(fmt.Sprintf("%s/threads=%d", s.name, threads), func(b *testing.B) { reportP50(b, s.f) })
		}
	}
}

// BenchmarkFaceMatch is the whole comparison: detection on both images,
// alignment, quality, embedding of both, liveness on the selfie.
func BenchmarkFaceMatch(b *testing.B) {
	ctx := context.Background()
	for _, threads := range []int{1, 2} {
		e := newTestEngine(b, threads)
		selfie, doc := benchImages(b)
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			// The unit of the engine's speed targets: its CPU per match
			// holds up on a loaded machine, where wall time does not.
			testenv.ReportCPU(b)
			reportP50(b, func() error {
				r, err := e.Match(ctx, selfie, doc, true)
				if err == nil && r.Decision.Decision == "" {
					err = fmt.Errorf("no decision")
				}
				return err
			})
		})
	}
}

// BenchmarkFaceMatchTurned is BenchmarkFaceMatch with the selfie turned by
// a quarter, its face not found as it comes, and upside down, its face
// found as it comes with a short embedding: what the search of the other
// turns (AnalyzeStill) adds each way, in the same run as the upright match.
func BenchmarkFaceMatchTurned(b *testing.B) {
	ctx := context.Background()
	e := newTestEngine(b, 1)
	selfie, doc := benchImages(b)
	sideways := turned(b, selfie, 90)
	mustHideFace(b, e, sideways, "the benchmark selfie turned 90")
	upsideDown := turned(b, selfie, 180)
	mustFindFace(b, e, upsideDown, "the benchmark selfie turned 180")
	for _, c := range []struct {
		name   string
		selfie gocv.Mat
	}{{"upright", selfie}, {"turned_90", sideways}, {"turned_180_found", upsideDown}} {
		b.Run(c.name, func(b *testing.B) {
			testenv.ReportCPU(b)
			reportP50(b, func() error {
				r, err := e.Match(ctx, c.selfie, doc, true)
				if err == nil && r.Decision.Decision == "" {
					err = fmt.Errorf("no decision")
				}
				return err
			})
		})
	}
}

// BenchmarkLiveness is the passive liveness of one selfie (the 1280x720
// benchmark selfie, its face found beforehand) with one thread per model:
// the previous release's MiniFASNetV2-SE alone and the fused three models
// with the face's screen and print traces, in the same run. cpu-ms/op is
// the process CPU per selfie; run under `taskset -c 0` for one core.
func BenchmarkLiveness(b *testing.B) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		e    *Engine
	}{{"single=minifasnet_v2se", newSingleModelEngine(b, 1)}, {"fused=3_models+traces", newTestEngine(b, 1)}} {
		selfie, _ := benchImages(b)
		f := detectOne(b, c.e.det, selfie)
		b.Run(c.name, func(b *testing.B) {
			testenv.ReportCPU(b)
			reportP50(b, func() error {
				_, err := c.e.Liveness(ctx, selfie, f)
				return err
			})
		})
	}
}

// BenchmarkLivenessModels is each liveness model alone (crop,
// preprocessing and inference) on the benchmark selfie with one thread:
// the three fused ones and faceplugin's fr_liveness, which `kyc eval
// liveness` measures beside them, so that its cost is known in the same
// run.
func BenchmarkLivenessModels(b *testing.B) {
	ctx := context.Background()
	e := newTestEngine(b, 1)
	fr, err := NewFRLiveness(testenv.Model(b, "fr-liveness"), ort.Options{IntraOpThreads: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer fr.Close()
	selfie, _ := benchImages(b)
	box := detectOne(b, e.det, selfie).Box
	for _, m := range []struct {
		name string
		live interface {
			LiveLogit(context.Context, gocv.Mat, Box) (float64, error)
		}
	}{{ModelMiniFASNetV2SE, e.live}, {ModelMiniFASNetV2, e.miniV2}, {ModelMiniFASNetV1SE, e.miniV1SE}, {"fr_liveness", fr}} {
		b.Run(m.name, func(b *testing.B) {
			testenv.ReportCPU(b)
			reportP50(b, func() error { _, err := m.live.LiveLogit(ctx, selfie, box); return err })
		})
	}
}
