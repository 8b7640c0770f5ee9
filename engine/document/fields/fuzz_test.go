package fields

import (
	"image"
	"strings"
	"testing"

	"github.com/openkyc/kyc/engine/document/mrz"
)

// FuzzExtract feeds arbitrary lines and boxes to Extract, which must never
// panic and must keep its confidences in [0, 1].
func FuzzExtract(f *testing.F) {
	for _, lines := range [][]Line{ktpClean(), ktpNoisy(), passportLines()} {
		var texts []string
		for _, l := range lines {
			texts = append(texts, l.Text)
		}
		f.Add(strings.Join(texts, "\n"), 1000, 630, 40)
	}
	f.Add("NIK : ØØØØ\x00\xff", -5, 0, -100)
	f.Add("12 AUG/AOÛT 74\nP<UTO", 0, 0, 0)
	m := specimenMRZ(f, now)
	f.Fuzz(func(t *testing.T, text string, w, h, step int) {
		var lines []Line
		for i, s := range strings.Split(text, "\n") {
			y := i * step
			lines = append(lines, Line{Text: s, Box: image.Rect(i*7%max(w, 1), y, w-i, y+step/2), Conf: float32(i%3) / 2})
		}
		for _, mr := range []*mrz.Result{nil, m} {
			r := Extract(lines, image.Pt(w, h), mr, now)
			if r.Confidence < 0 || r.Confidence > 1 {
				t.Fatalf("confidence %v", r.Confidence)
			}
			for k, f := range r.Fields {
				if f.Confidence < 0 || f.Confidence > 1 || f.Value == "" {
					t.Fatalf("field %s = %+v", k, f)
				}
			}
		}
	})
}

func BenchmarkExtractKTP(b *testing.B) {
	lines := ktpNoisy()
	for b.Loop() {
		Extract(lines, cardSize, nil, now)
	}
}

func BenchmarkExtractPassport(b *testing.B) {
	lines := passportLines()
	m := specimenMRZ(b, now)
	for b.Loop() {
		Extract(lines, pageSize, m, now)
	}
}
