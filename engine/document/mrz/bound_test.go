package mrz

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// longInputs are OCR runs on: one line of non-ASCII characters (with
// spaces, with filler look-alikes), a flood of short lines, and MRZ-like
// lines repeated. Each takes a number of runes.
var longInputs = []struct {
	name string
	make func(runes int) string
}{
	{"non-ASCII line", func(n int) string { return strings.Repeat("É", n) }},
	{"non-ASCII with spaces", func(n int) string { return strings.Repeat("É ", n/2) }},
	{"filler look-alikes", func(n int) string { return strings.Repeat("«", n) }},
	{"short lines", func(n int) string { return strings.Repeat("É\n", n/2) }},
	{"MRZ-like lines", func(n int) string {
		line := specimenTD3[1] + "\n"
		return strings.Repeat(line, n/len(line))
	}},
}

// TestParseWorkBounded: Parse's work on OCR run on does not grow with it:
// 300,000 runes cost no more allocations than 10,000 (counted, not
// timed). Before, every foreign character of a line became a Correction
// and its cost grew faster than the line; text of thousands of lines is
// ErrNoMRZ, not read line by line.
func TestParseWorkBounded(t *testing.T) {
	for _, in := range longInputs {
		t.Run(in.name, func(t *testing.T) {
			allocs := func(runes int) float64 {
				text := in.make(runes)
				return testing.AllocsPerRun(2, func() {
					if _, err := Parse([]string{text}, testNow); err != nil && !errors.Is(err, ErrNoMRZ) && !errors.Is(err, ErrUnknownFormat) {
						t.Errorf("%d runes: %v", runes, err)
					}
				})
			}
			small, large := allocs(10_000), allocs(300_000)
			if large > small+16 {
				t.Errorf("300k runes: %.0f allocations, 10k runes: %.0f; want no more for the longer", large, small)
			}
		})
	}
	// What a page holds still parses: a zone at the foot of maxLines lines.
	page := append(strings.Split(strings.Repeat("REPUBLIC OF UTOPIA\n", maxLines-2), "\n")[:maxLines-2], specimenTD3...)
	if _, err := Parse(page, testNow); err != nil {
		t.Errorf("a zone on a page of %d lines: %v", len(page), err)
	}
	if _, err := Parse(append([]string{"x"}, page...), testNow); !errors.Is(err, ErrNoMRZ) || !strings.Contains(err.Error(), "lines") {
		t.Errorf("a zone on a page of %d lines: %v, want ErrNoMRZ saying there are too many lines", len(page)+1, err)
	}
}

// BenchmarkParseLong parses OCR run on at 10k, 100k and 300k runes;
// ns/rune should fall, not rise, with the length.
func BenchmarkParseLong(b *testing.B) {
	for _, in := range longInputs {
		for _, n := range []int{10_000, 100_000, 300_000} {
			text := in.make(n)
			b.Run(fmt.Sprintf("%s/%d", in.name, n), func(b *testing.B) {
				for b.Loop() {
					Parse([]string{text}, testNow)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/rune")
			})
		}
	}
}
