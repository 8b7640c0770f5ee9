package mrz

import (
	"errors"
	"testing"
)

func TestCheckDigit(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		// ICAO 9303 Part 3 worked example and specimen fields.
		{"520727", 3},
		{"L898902C3", 6},
		{"740812", 2},
		{"120415", 9},
		{"ZE184226B<<<<<", 1},
		{"D23145890734", 9},
		{"L898902C3674081221204159ZE184226B<<<<<1", 0},
		{"", 0},
		{"<<<<<<<<<", 0},
		{"A", 0},  // 10*7 = 70
		{"Z", 5},  // 35*7 = 245
		{"<1", 3}, // 0*7 + 1*3
	}
	for _, tc := range tests {
		got, err := CheckDigit(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("CheckDigit(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestCheckDigitRejectsForeignCharacters(t *testing.T) {
	for _, in := range []string{"l898902c3", "L898 902", "74-08-12", "É", "\x00"} {
		if _, err := CheckDigit(in); !errors.Is(err, ErrInvalidChar) {
			t.Errorf("CheckDigit(%q) error = %v, want ErrInvalidChar", in, err)
		}
	}
}
