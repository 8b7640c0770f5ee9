package hostedflow

import (
	"strings"
	"testing"
)

// TestShortCodeUniform: codes of shortCodeLen letters of shortAlphabet,
// each letter as likely as any other. Over a million letters each is
// expected 32,258 times (standard deviation about 177): 6% off is 11
// deviations, where a byte taken modulo 31 made the first eight letters
// 12% more likely than the rest.
func TestShortCodeUniform(t *testing.T) {
	counts := map[rune]int{}
	n := 0
	for range 125_000 {
		c := newShortCode()
		if len(c) != shortCodeLen {
			t.Fatalf("code %q: %d letters, want %d", c, len(c), shortCodeLen)
		}
		for _, r := range c {
			if !strings.ContainsRune(shortAlphabet, r) {
				t.Fatalf("code %q: %q is not in the alphabet", c, r)
			}
			counts[r]++
			n++
		}
	}
	mean := float64(n) / float64(len(shortAlphabet))
	for _, r := range shortAlphabet {
		if d := float64(counts[r])/mean - 1; d > 0.06 || d < -0.06 {
			t.Errorf("letter %q drawn %d times, %.1f%% off the mean %.0f", r, counts[r], 100*d, mean)
		}
	}
}
