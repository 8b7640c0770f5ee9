package mrz

// Format names an ICAO 9303 machine readable zone layout.
type Format string

// The layouts of ICAO Doc 9303.
const (
	TD1  Format = "TD1"  // ID card, 3 lines of 30 (Part 5)
	TD2  Format = "TD2"  // ID card, 2 lines of 36 (Part 6)
	TD3  Format = "TD3"  // passport, 2 lines of 44 (Part 4)
	MRVA Format = "MRVA" // visa type A, 2 lines of 44 (Part 7)
	MRVB Format = "MRVB" // visa type B, 2 lines of 36 (Part 7)
)

// span is a run of columns [start, end) on one line of the zone, 0-based.
type span struct{ line, start, end int }

func (s span) empty() bool { return s.end <= s.start }

// class is the character set of a field; all but classDigit allow the
// filler '<'.
type class uint8

const (
	classAlpha   class = iota + 1 // A-Z: codes and names
	classNumeric                  // 0-9: dates, check digits that may be '<'
	classDigit                    // 0-9 only: the date and composite check digits
	classAlnum                    // A-Z and 0-9: document numbers, optional data
	classSex                      // M, F or X
)

// field is one span of a layout with the characters it allows.
type field struct {
	at    span
	class class
}

// layout gives the position of every element of one format. Empty spans
// are elements the format does not have.
type layout struct {
	format        Format
	width, height int

	code, issuer, name  span
	number, numberCheck span
	nationality         span
	birth, birthCheck   span
	sex                 span
	expiry, expiryCheck span
	optional            span
	optionalCheck       span // TD3 only
	optional2           span // TD1 only
	composite           span
	compositeOver       []span
	// longNumber: a document number longer than 9 characters continues in
	// the optional data when the number's check digit position holds '<'
	// (Parts 5 and 6).
	longNumber bool
}

// dataLine builds the second line shared by TD2, TD3 and the visas, whose
// optional data ends at optionalEnd.
func dataLine(l *layout, optionalEnd int) {
	l.number = span{1, 0, 9}
	l.numberCheck = span{1, 9, 10}
	l.nationality = span{1, 10, 13}
	l.birth = span{1, 13, 19}
	l.birthCheck = span{1, 19, 20}
	l.sex = span{1, 20, 21}
	l.expiry = span{1, 21, 27}
	l.expiryCheck = span{1, 27, 28}
	l.optional = span{1, 28, optionalEnd}
}

func newTwoLine(f Format, width int) *layout {
	l := &layout{format: f, width: width, height: 2,
		code: span{0, 0, 2}, issuer: span{0, 2, 5}, name: span{0, 5, width}}
	switch f {
	case TD2:
		dataLine(l, 35)
		l.composite = span{1, 35, 36}
		l.compositeOver = []span{{1, 0, 10}, {1, 13, 20}, {1, 21, 35}}
		l.longNumber = true
	case TD3:
		dataLine(l, 42)
		l.optionalCheck = span{1, 42, 43}
		l.composite = span{1, 43, 44}
		l.compositeOver = []span{{1, 0, 10}, {1, 13, 20}, {1, 21, 43}}
	default: // visas: optional data to the end, no composite
		dataLine(l, width)
	}
	return l
}

var (
	layoutTD1 = &layout{format: TD1, width: 30, height: 3,
		code: span{0, 0, 2}, issuer: span{0, 2, 5},
		number: span{0, 5, 14}, numberCheck: span{0, 14, 15}, optional: span{0, 15, 30},
		birth: span{1, 0, 6}, birthCheck: span{1, 6, 7}, sex: span{1, 7, 8},
		expiry: span{1, 8, 14}, expiryCheck: span{1, 14, 15}, nationality: span{1, 15, 18},
		optional2: span{1, 18, 29}, composite: span{1, 29, 30},
		compositeOver: []span{{0, 5, 30}, {1, 0, 7}, {1, 8, 15}, {1, 18, 29}},
		name:          span{2, 0, 30},
		longNumber:    true,
	}
	layoutTD2  = newTwoLine(TD2, 36)
	layoutTD3  = newTwoLine(TD3, 44)
	layoutMRVA = newTwoLine(MRVA, 44)
	layoutMRVB = newTwoLine(MRVB, 36)

	layouts = []*layout{layoutTD1, layoutTD2, layoutTD3, layoutMRVA, layoutMRVB}
)

func (l *layout) visa() bool { return l.format == MRVA || l.format == MRVB }

// fields lists every element with its character class; together they cover
// each position of the zone exactly once.
func (l *layout) fields() []field {
	fs := []field{
		{l.code, classAlpha}, {l.issuer, classAlpha}, {l.name, classAlpha},
		{l.number, classAlnum}, {l.numberCheck, classNumeric},
		{l.nationality, classAlpha},
		{l.birth, classNumeric}, {l.birthCheck, classDigit},
		{l.sex, classSex},
		{l.expiry, classNumeric}, {l.expiryCheck, classDigit},
		{l.optional, classAlnum}, {l.optionalCheck, classNumeric},
		{l.optional2, classAlnum}, {l.composite, classDigit},
	}
	out := fs[:0]
	for _, f := range fs {
		if !f.at.empty() {
			out = append(out, f)
		}
	}
	return out
}

// fits reports whether c belongs to class k: strictly, or loosely, where a
// character an OCR confusion maps into the class also counts.
func fits(c byte, k class, loose bool) bool {
	if c == '<' {
		return k != classDigit
	}
	isDigit, isLetter := c >= '0' && c <= '9', c >= 'A' && c <= 'Z'
	switch k {
	case classDigit:
		return isDigit || (loose && letterToDigit(c) != 0)
	case classAlpha:
		return isLetter || (loose && digitToLetter(c) != 0)
	case classNumeric:
		return isDigit || (loose && letterToDigit(c) != 0)
	case classAlnum:
		return isDigit || isLetter
	case classSex:
		return c == 'M' || c == 'F' || c == 'X'
	}
	return false
}

// LineRole names one line of one layout; Line counts from 1.
type LineRole struct {
	Format Format `json:"format"`
	Line   int    `json:"line"`
}

// LineRoles is the line-level validator: it returns every layout line that
// line can be, judging its length and the character class of each field
// (letters in codes and names, digits or '<' in dates and check digits,
// M/F/X/< for sex) but not its check digits. It allows the OCR confusions
// the parser repairs (a letter O in a date reads as 0, a digit 1 in a name
// as I), except in the first character, which anchors the document code: a
// letter, V exactly for the visa layouts. The line must already be clean MRZ text: no
// spaces, uppercase.
func LineRoles(line string) []LineRole {
	var roles []LineRole
	for _, l := range layouts {
		if len(line) != l.width {
			continue
		}
		for i := 0; i < l.height; i++ {
			if l.lineFits(i, line, true) {
				roles = append(roles, LineRole{Format: l.format, Line: i + 1})
			}
		}
	}
	return roles
}

// lineFits reports whether line, of the layout's width, fits line i of the
// layout, strictly or allowing for OCR confusions (loose).
func (l *layout) lineFits(i int, line string, loose bool) bool {
	if i == l.code.line {
		first := line[l.code.start]
		if first < 'A' || first > 'Z' || (first == 'V') != l.visa() {
			return false
		}
	}
	for _, f := range l.fields() {
		if f.at.line != i {
			continue
		}
		for c := f.at.start; c < f.at.end; c++ {
			if !fits(line[c], f.class, loose) {
				return false
			}
		}
	}
	return true
}
