package mrz

import (
	"fmt"
	"strings"
)

// Reasons of character corrections.
const (
	reasonNumeric   = "letter in a numeric field"
	reasonAlpha     = "digit in an alphabetic field"
	reasonFiller    = "K read for a filler inside a run of fillers"
	reasonCountry   = "K read for a filler: only then is the country code known"
	reasonCode      = "document code of an identity card starts with I, A or C"
	reasonAfterName = "letters after the name's end, read for fillers"
	reasonOther     = "unknown country code, one character from the zone's other code"
	reasonDoubtful  = "letter in the name the recogniser nearly read as a filler"
)

// fixCharacters corrects OCR confusions the layout proves (a letter in a
// date, a digit in a name), then the ones only check digits can decide.
func (p *parser) fixCharacters() {
	for _, f := range p.l.fields() {
		p.fixClass(f)
	}
	p.fixCardCode()
	p.fixNameFillers()
	for _, s := range []span{p.l.number, p.l.optional, p.l.optional2} {
		p.fixTrailingFillers(s)
	}
	for _, s := range []span{p.l.issuer, p.l.nationality} {
		p.fixCountryFillers(s)
	}
	p.fixCountryFromOther(p.l.issuer, p.l.nationality)
	p.fixCountryFromOther(p.l.nationality, p.l.issuer)
	// The check digit of a long document number sits in the optional data,
	// an alphanumeric field, but is a digit.
	if _, digit, ext := p.numberSpans(); ext > 0 {
		p.fixClass(field{digit, classDigit})
	}

	if !p.valid(CheckDocumentNumber) {
		num, _, _ := p.numberSpans()
		p.repairByCheck(CheckDocumentNumber, num)
	}
	if !p.l.optionalCheck.empty() && !p.valid(CheckOptionalData) {
		p.repairByCheck(CheckOptionalData, []span{p.l.optional})
	}
	// TD1 and TD2 optional data have no check digit of their own: only the
	// composite can vouch for a correction there, and only when every other
	// check already validates.
	if p.l.format == TD1 || p.l.format == TD2 {
		if !p.valid(CheckComposite) && p.fieldChecksValid() {
			p.repairByCheck(CheckComposite, []span{p.optionalData(), p.l.optional2})
		}
	}
}

// fixCardCode corrects the first letter of a TD1/TD2 card's document code,
// which ICAO 9303 restricts to I, A or C: a T, L, J or 1 there is an I
// whose serif the OCR lost or added (no check digit covers the code, but
// the layout does).
func (p *parser) fixCardCode() {
	if p.l.format != TD1 && p.l.format != TD2 {
		return
	}
	row := p.grid[p.l.code.line]
	c := p.l.code.start
	switch row[c] {
	case 'T', 'L', 'J', '1':
		p.set(p.l.code.line, c, 'I', reasonCode)
	}
}

// fixClass maps letters in numeric fields to digits ('K' to a filler where
// fillers are allowed) and digits in alphabetic fields to letters.
func (p *parser) fixClass(f field) {
	row := p.grid[f.at.line]
	for c := f.at.start; c < f.at.end; c++ {
		switch f.class {
		case classNumeric, classDigit:
			if d := letterToDigit(row[c]); d != 0 {
				p.set(f.at.line, c, d, reasonNumeric)
			} else if row[c] == 'K' && f.class == classNumeric {
				p.set(f.at.line, c, '<', reasonFiller)
			}
		case classAlpha:
			if a := digitToLetter(row[c]); a != 0 {
				p.set(f.at.line, c, a, reasonAlpha)
			}
		}
	}
}

// fixNameFillers turns a K into a filler in the padding of the name field:
// after the primary/secondary separator "<<", a K that follows two fillers
// and precedes a filler, a K or the end. Given names are separated by a
// single filler, so such a K cannot start one, except right after the
// separator.
func (p *parser) fixNameFillers() {
	n := p.l.name
	p.fixDoubtfulFillers(n)
	row := p.grid[n.line][n.start:n.end]
	sep := strings.Index(string(row), "<<")
	if sep < 0 {
		return
	}
	for c := sep + 3; c < len(row); c++ {
		if row[c] == 'K' && row[c-1] == '<' && row[c-2] == '<' &&
			(c+1 == len(row) || row[c+1] == '<' || row[c+1] == 'K') {
			p.set(n.line, n.start+c, '<', reasonFiller)
		}
	}
	// The secondary identifier's components are parted by single fillers,
	// so three fillers in a row end the name: what follows is padding the
	// OCR misread (the end of a line read past its last filler).
	if end := strings.Index(string(row[sep+2:]), "<<<"); end >= 0 {
		for c := sep + 2 + end; c < len(row); c++ {
			if row[c] != '<' {
				p.set(n.line, n.start+c, '<', reasonAfterName)
			}
		}
	}
}

// fillerOddsCut is the least odds of a filler over the letter read
// (Reading.FillerOdds) at which a letter of the name is read as a filler.
// Set on the tuning half (even lines) of the doubango lines read by the
// product's first MRZ recogniser: there the letters that are letters
// reached 0.0021 at most and the fillers read as letters 0.90 at least
// (TestMRZNames in package ocr reports the other half).
const fillerOddsCut = 0.05

// fixDoubtfulFillers reads as fillers the letters of the name field s that
// the recogniser nearly read as fillers, but the first: a name starts with
// a letter.
func (p *parser) fixDoubtfulFillers(s span) {
	if s.line >= len(p.odds) || p.odds[s.line] == nil {
		return
	}
	row, odds := p.grid[s.line], p.odds[s.line]
	for c := s.start + 1; c < s.end && c < len(row) && c < len(odds); c++ {
		if row[c] >= 'A' && row[c] <= 'Z' && odds[c] >= fillerOddsCut {
			p.set(s.line, c, '<', reasonDoubtful)
		}
	}
}

// fixTrailingFillers turns K into fillers in the trailing padding of an
// alphanumeric field: the run of fillers and Ks at its end that starts with
// a filler. K and '<' weigh the same modulo 10 (20 and 0), so no check
// digit could tell them apart.
func (p *parser) fixTrailingFillers(s span) {
	if s.empty() {
		return
	}
	row := p.grid[s.line]
	start := s.end
	for start > s.start && (row[start-1] == '<' || row[start-1] == 'K') {
		start--
	}
	for start < s.end && row[start] == 'K' {
		start++
	}
	for c := start; c < s.end; c++ {
		if row[c] == 'K' {
			p.set(s.line, c, '<', reasonFiller)
		}
	}
}

// fixCountryFillers reads the Ks of an unknown country code as fillers when
// that gives a known code ("DKK" is "D<<").
func (p *parser) fixCountryFillers(s span) {
	code := p.text(s)
	if s.empty() || KnownCountry(code) || !KnownCountry(strings.ReplaceAll(code, "K", "<")) {
		return
	}
	for c := s.start; c < s.end; c++ {
		if p.grid[s.line][c] == 'K' {
			p.set(s.line, c, '<', reasonCountry)
		}
	}
}

// fixCountryFromOther takes the other country code of the zone for s
// when s reads no known code and differs from that known code in one
// character: the issuer and the holder's nationality are mostly the same
// state, and a code that exists nowhere is certainly misread (the Luxembourg
// specimen's "LUX" came out "LJX" after one grey level of rounding). No
// check digit covers either code, so a code known as read is never
// changed, and two unknown codes are left to the warnings.
func (p *parser) fixCountryFromOther(s, other span) {
	code, ref := p.text(s), p.text(other)
	if s.empty() || other.empty() || len(code) != len(ref) || KnownCountry(code) || !KnownCountry(ref) {
		return
	}
	diff := -1
	for i := range len(code) {
		if code[i] != ref[i] {
			if diff >= 0 {
				return
			}
			diff = i
		}
	}
	if diff >= 0 {
		p.set(s.line, s.start+diff, ref[diff], reasonOther)
	}
}

// substitution is one OCR-confusion reading of one character.
type substitution struct {
	line, col int
	from, to  byte
}

// repairByCheck looks for an OCR-confusion substitution in the
// alphanumeric spans that makes the check named guard validate. Both
// readings are legal there, so one is kept only when it is the single
// substitution that validates, and when it agrees with a neighbour (a digit
// next to a digit, a letter next to a letter): a check digit alone is
// fooled by one random substitution in ten, and an OCR slip breaks a run of
// one kind more often than a document number alternates kinds. Two
// substitutions are not tried: many pairs would validate.
//
// The composite cannot arbitrate between readings of one field: the field
// sits in the composite at an offset that is a multiple of 3, so every
// substitution shifts both sums by the same amount (only the overflow of a
// long TD1 number does not). When several readings validate, the field is
// left as read and a warning says so. Digit-for-digit misreadings (3 for
// 8) are not attempted: every digit is a legal reading of every other.
func (p *parser) repairByCheck(guard string, spans []span) {
	var found []substitution
	for _, s := range spans {
		for c := s.start; c < s.end; c++ {
			from := p.grid[s.line][c]
			to := alternative(from)
			if to == 0 {
				continue
			}
			p.grid[s.line][c] = to
			if p.valid(guard) {
				found = append(found, substitution{s.line, c, from, to})
			}
			p.grid[s.line][c] = from
		}
	}
	switch {
	case len(found) > 1:
		p.warn("%s: %d different OCR-confusion readings satisfy the check digit; kept as read", guard, len(found))
	case len(found) == 1 && !p.agreesWithNeighbour(found[0], spans):
		p.warn("%s: the only OCR-confusion reading that satisfies the check digit breaks a run of its kind; kept as read", guard)
	case len(found) == 1:
		s := found[0]
		p.set(s.line, s.col, s.to, fmt.Sprintf("OCR confusion: the %s check digit validates only with this reading", guard))
	}
}

// agreesWithNeighbour reports whether s puts a digit next to a digit or a
// letter next to a letter within its span.
func (p *parser) agreesWithNeighbour(s substitution, spans []span) bool {
	row := p.grid[s.line]
	for _, sp := range spans {
		if sp.line != s.line || s.col < sp.start || s.col >= sp.end {
			continue
		}
		return (s.col > sp.start && sameKind(row[s.col-1], s.to)) ||
			(s.col+1 < sp.end && sameKind(row[s.col+1], s.to))
	}
	return false
}

// sameKind reports whether a and b are both digits or both letters.
func sameKind(a, b byte) bool {
	digit := func(c byte) bool { return c >= '0' && c <= '9' }
	letter := func(c byte) bool { return c >= 'A' && c <= 'Z' }
	return (digit(a) && digit(b)) || (letter(a) && letter(b))
}
