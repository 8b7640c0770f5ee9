package seal

import (
	"slices"
	"strings"
	"unicode"

	"golang.org/x/text/cases"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	"github.com/openkyc/kyc/sync/central"
)

// Normalize puts an identifier in the one form its blind-index token is
// computed over, so that the way it was typed or read does not matter:
//   - a NIK: its digits;
//   - a document number: its letters and digits, upper case;
//   - a name: case-folded, without diacritics, punctuation (an MRZ's '<'
//     included) or extra spaces, its words sorted, so "NURHALIZA, Sití"
//     and "siti nurhaliza" are one name.
//
// It reports false when nothing is left to index.
func Normalize(kind central.IdentifierKind, value string) (string, bool) {
	var out string
	switch kind {
	case central.IdentNIK:
		out = strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, value)
	case central.IdentDocumentNumber:
		out = strings.Map(func(r rune) rune {
			switch {
			case r >= '0' && r <= '9', r >= 'A' && r <= 'Z':
				return r
			case r >= 'a' && r <= 'z':
				return r - 'a' + 'A'
			}
			return -1
		}, value)
	case central.IdentName:
		out = foldName(value)
	}
	return out, out != ""
}

// foldName decomposes (NFKD), drops the combining marks, folds case and
// keeps words of letters and digits, sorted.
func foldName(s string) string {
	t := transform.Chain(norm.NFKD, runes.Remove(runes.In(unicode.Mn)), cases.Fold(), norm.NFC)
	folded, _, err := transform.String(t, s)
	if err != nil {
		return ""
	}
	words := strings.FieldsFunc(folded, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	slices.Sort(words)
	return strings.Join(words, " ")
}
