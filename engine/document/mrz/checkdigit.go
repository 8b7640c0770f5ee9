package mrz

import (
	"errors"
	"fmt"
)

// ErrInvalidChar is returned by CheckDigit for a character outside the MRZ
// alphabet (A-Z, 0-9 and the filler '<').
var ErrInvalidChar = errors.New("mrz: character outside the MRZ alphabet")

// checkWeights are the ICAO 9303 Part 3 weights, repeated along the field.
var checkWeights = [3]int{7, 3, 1}

// charValue is the check-digit value of an MRZ character: digits are
// themselves, A-Z are 10-35 and the filler '<' is 0.
func charValue(c byte) (int, bool) {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0'), true
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10, true
	case c == '<':
		return 0, true
	}
	return 0, false
}

// CheckDigit computes the ICAO 9303 check digit of s (weights 7-3-1, modulo
// 10). s must hold only MRZ characters; lowercase is not accepted because
// an MRZ has none.
func CheckDigit(s string) (int, error) {
	for i := 0; i < len(s); i++ {
		if _, ok := charValue(s[i]); !ok {
			return 0, fmt.Errorf("computing check digit of %q: %w at position %d", s, ErrInvalidChar, i+1)
		}
	}
	return checkDigit(s), nil
}

// checkDigit is CheckDigit for text already reduced to the MRZ alphabet.
func checkDigit(s string) int {
	sum := 0
	for i := 0; i < len(s); i++ {
		v, _ := charValue(s[i])
		sum += v * checkWeights[i%3]
	}
	return sum % 10
}
