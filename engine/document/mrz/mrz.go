// Package mrz parses the machine readable zone (MRZ) of ICAO 9303 travel
// documents from OCR text: TD1, TD2 and TD3 documents and MRV-A and MRV-B
// visas. It tolerates OCR noise (spaces, lowercase, filler look-alikes,
// lines a few characters off, OCR-B confusions such as 0/O and 8/B), fixes
// what the layout and the check digits prove, reports every change, and
// scores the result by the share of check digits that validate.
package mrz

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

var (
	// ErrNoMRZ is returned by Parse when no input line looks like an MRZ line.
	ErrNoMRZ = errors.New("mrz: no machine readable zone in the input")
	// ErrUnknownFormat is returned by Parse for MRZ-looking lines whose count
	// or lengths fit no ICAO 9303 layout (such as a lone line, or two lines
	// of 30 characters).
	ErrUnknownFormat = errors.New("mrz: lines fit no ICAO 9303 layout")
)

// Names of the checks in Result.Checks.
const (
	CheckDocumentNumber = "document_number"
	CheckBirthDate      = "birth_date"
	CheckExpiryDate     = "expiry_date"
	CheckOptionalData   = "optional_data" // TD3: personal number or other optional data
	CheckComposite      = "composite"     // TD1, TD2, TD3
)

// Check is one check digit of the zone.
type Check struct {
	Name     string `json:"name"`
	Text     string `json:"text"`     // the characters the digit covers
	Expected string `json:"expected"` // the digit computed from Text
	Found    string `json:"found"`    // the character in the check digit position
	Valid    bool   `json:"valid"`
}

// Correction is one change made to the OCR text. Line and Column count from
// 1; Column is the position in the line as it stood when the change was
// made, and corrections are listed in the order made, so the last ones
// (OCR confusions) refer to Result.Lines. An insertion has an empty From,
// a removal an empty To.
type Correction struct {
	Line   int    `json:"line"`
	Column int    `json:"column"`
	From   string `json:"from"`
	To     string `json:"to"`
	Reason string `json:"reason"`
}

// Fields are the data elements of the zone. Codes and numbers lose their
// trailing fillers ("D<<" reads "D"); names read '<' as a space; optional
// data stays as printed. Dates are raw YYMMDD with an ISO 8601 reading
// (YYYY-MM or YYYY when the day or month is "<<", empty when unreadable).
type Fields struct {
	DocumentCode   string `json:"document_code"`
	IssuingCountry string `json:"issuing_country"`
	DocumentNumber string `json:"document_number"`
	Surname        string `json:"surname"`
	GivenNames     string `json:"given_names"`
	Nationality    string `json:"nationality"`
	BirthDate      string `json:"birth_date"`
	BirthDateISO   string `json:"birth_date_iso"`
	// Sex is M, F or X; empty when the zone says unspecified ('<').
	Sex           string `json:"sex"`
	ExpiryDate    string `json:"expiry_date"`
	ExpiryDateISO string `json:"expiry_date_iso"`
	// OptionalData excludes the overflow of a long TD1/TD2 document number.
	OptionalData  string `json:"optional_data"`
	OptionalData2 string `json:"optional_data_2,omitempty"` // TD1 line 2
}

// Result is a parsed zone. A zone with failing check digits is still a
// Result, with a low ValidScore.
type Result struct {
	Format Format   `json:"format"`
	Lines  []string `json:"lines"` // the zone after corrections
	// ValidScore is the percentage of Checks that validate.
	ValidScore  int          `json:"valid_score"`
	Checks      []Check      `json:"checks"`
	Fields      Fields       `json:"fields"`
	Corrections []Correction `json:"corrections"`
	// Expired is true when the expiry date is complete and before now's
	// date: a document is valid through its expiry day.
	Expired bool `json:"expired"`
	// Warnings name what could not be resolved: unknown country codes,
	// impossible dates, ambiguous corrections, a possibly truncated name.
	Warnings []string `json:"warnings"`
}

// Parse reads a machine readable zone from OCR lines. lines may be just the
// zone (blank lines and line breaks inside entries are ignored) or a whole
// page, from which FindLines picks the zone. now decides the century of the
// dates and whether the document has expired; the zero time means
// time.Now().
//
// Text of more than maxLines (1000) lines is ErrNoMRZ, and a line is read
// no further than it could be an MRZ line, so the work is bounded whatever
// the OCR returns.
//
// Two-digit years resolve as follows: a birth date is the latest date not
// after now; an expiry year lies within 49 years before and 50 years after
// now's year.
func Parse(lines []string, now time.Time) (*Result, error) {
	return parse(lines, nil, now)
}

// Reading is one line as a recogniser read it, with what it said of each
// character: FillerOdds[i] (when set, one per byte of Text) is the
// probability it gave the filler '<' over the one it gave the letter it
// read at Text[i], where '<' was the runner-up; 0 otherwise.
type Reading struct {
	Text       string
	FillerOdds []float32
}

// ParseReadings is Parse for lines whose recogniser said how close each
// letter came to being a filler: a letter of the name field that came
// close enough (fillerOddsCut) is read as the filler it nearly was. The
// name is covered by no check digit, and K and '<' weigh the same in the
// others (20 and 0 modulo 10), so the recogniser's own doubt is the only
// evidence there is. The odds of a line the parser resized or cleaned are
// not used: its columns no longer match them.
func ParseReadings(rs []Reading, now time.Time) (*Result, error) {
	lines := make([]string, len(rs))
	odds := map[string][]float32{}
	for i, r := range rs {
		lines[i] = r.Text
		if len(r.FillerOdds) == len(r.Text) && len(r.Text) > 0 {
			odds[r.Text] = r.FillerOdds
		}
	}
	return parse(lines, odds, now)
}

func parse(lines []string, odds map[string][]float32, now time.Time) (*Result, error) {
	if now.IsZero() {
		now = time.Now()
	}
	if tooManyLines(lines) {
		return nil, fmt.Errorf("%w: more than %d lines, more than a page's text holds", ErrNoMRZ, maxLines)
	}
	// Lines given as the zone are taken as such when they fit a layout, are
	// all plausible and one at least looks like an MRZ line (a name line
	// may have no filler).
	ls := cleanLines(splitLines(lines))
	l, _, ok := detect(ls)
	like := false
	for _, cl := range ls {
		if ok {
			s, fixes := cl.variant(l.width)
			ok = plausible(s, fixes)
		}
		like = like || mrzLike(cl)
	}
	if !ok || !like {
		found := FindLines(lines)
		if found == nil {
			return nil, fmt.Errorf("%w: none of %d non-blank lines looks like an MRZ line", ErrNoMRZ, len(ls))
		}
		ls = cleanLines(found)
		if l, _, ok = detect(ls); !ok {
			return nil, fmt.Errorf("%w: %s", ErrUnknownFormat, describe(ls))
		}
	}
	p := newParser(l, ls)
	p.attachOdds(ls, odds)
	p.fixCharacters()
	return p.result(now), nil
}

// attachOdds gives each line of the zone the filler odds of its reading,
// when the line stands in the grid exactly as read.
func (p *parser) attachOdds(ls []cleanLine, odds map[string][]float32) {
	if len(odds) == 0 {
		return
	}
	p.odds = make([][]float32, len(p.grid))
	for i, cl := range ls {
		if o, ok := odds[cl.src]; ok && string(p.grid[i]) == cl.src && !slices.Contains(p.resized, i) {
			p.odds[i] = o
		}
	}
}

// cleanLines cleans every line and drops the blank ones.
func cleanLines(src []string) []cleanLine {
	var out []cleanLine
	for _, s := range src {
		if cl := newCleanLine(s); cl.joined != "" {
			out = append(out, cl)
		}
	}
	return out
}

// describe says what the lines are, for an error message.
func describe(ls []cleanLine) string {
	lens := make([]string, len(ls))
	for i, cl := range ls {
		lens[i] = fmt.Sprint(len(cl.joined))
	}
	return fmt.Sprintf("%d line(s) of %s characters", len(ls), strings.Join(lens, ", "))
}

// parser holds a zone being repaired, as a grid of lines.
type parser struct {
	l        *layout
	grid     [][]byte
	fixes    []Correction
	warnings []string
	resized  []int // lines fitLength changed
	// odds are the recogniser's filler odds of each grid line's
	// characters (Reading.FillerOdds), nil for a line without.
	odds [][]float32
}

func newParser(l *layout, ls []cleanLine) *parser {
	p := &parser{l: l, grid: make([][]byte, len(ls)), fixes: []Correction{}, warnings: []string{}}
	for i, cl := range ls {
		s, fixes := cl.variant(l.width)
		for _, f := range fixes {
			f.Line = i + 1
			p.fixes = append(p.fixes, f)
		}
		p.grid[i] = []byte(s)
	}
	for i := range p.grid {
		p.fitLength(i)
	}
	return p
}

// text returns the characters of s, reading beyond a short line as fillers
// so that a line being repaired never indexes out of range.
func (p *parser) text(s span) string {
	row := p.grid[s.line]
	if s.end <= len(row) {
		return string(row[s.start:s.end])
	}
	var b strings.Builder
	for c := s.start; c < s.end; c++ {
		if c < len(row) {
			b.WriteByte(row[c])
		} else {
			b.WriteByte('<')
		}
	}
	return b.String()
}

// set changes one character of the zone and records why.
func (p *parser) set(line, col int, to byte, reason string) {
	p.fixes = append(p.fixes, Correction{Line: line + 1, Column: col + 1,
		From: string(p.grid[line][col]), To: string(to), Reason: reason})
	p.grid[line][col] = to
}

func (p *parser) warn(format string, args ...any) {
	p.warnings = append(p.warnings, fmt.Sprintf(format, args...))
}

// checkDef is one check digit: the spans it covers and where it is.
type checkDef struct {
	name  string
	over  []span
	digit span
}

// numberSpans locates the document number and its check digit. A TD1 or
// TD2 number longer than 9 characters has '<' in the check digit position
// and continues in the optional data up to the first filler, whose last
// character is then the check digit; ext is how many optional data
// characters that takes.
func (p *parser) numberSpans() (over []span, digit span, ext int) {
	l := p.l
	if l.longNumber && p.text(l.numberCheck) == "<" {
		opt := p.text(l.optional)
		if n := strings.IndexByte(opt+"<", '<'); n >= 2 {
			o := l.optional
			return []span{l.number, {o.line, o.start, o.start + n - 1}},
				span{o.line, o.start + n - 1, o.start + n}, n
		}
	}
	return []span{l.number}, l.numberCheck, 0
}

// optionalData is the optional data field without the overflow of a long
// document number.
func (p *parser) optionalData() span {
	_, _, ext := p.numberSpans()
	s := p.l.optional
	s.start += ext
	return s
}

func (p *parser) checkDefs() []checkDef {
	l := p.l
	num, digit, _ := p.numberSpans()
	defs := []checkDef{
		{CheckDocumentNumber, num, digit},
		{CheckBirthDate, []span{l.birth}, l.birthCheck},
		{CheckExpiryDate, []span{l.expiry}, l.expiryCheck},
	}
	if !l.optionalCheck.empty() {
		defs = append(defs, checkDef{CheckOptionalData, []span{l.optional}, l.optionalCheck})
	}
	if !l.composite.empty() {
		defs = append(defs, checkDef{CheckComposite, l.compositeOver, l.composite})
	}
	return defs
}

func (p *parser) evaluate(d checkDef) Check {
	var b strings.Builder
	for _, s := range d.over {
		b.WriteString(p.text(s))
	}
	text := b.String()
	want := byte('0' + checkDigit(text))
	found := p.text(d.digit)
	// An unused optional data field may have a filler as its check digit
	// (Part 4, personal number).
	valid := found == string(want) ||
		(d.name == CheckOptionalData && found == "<" && strings.Trim(text, "<") == "")
	return Check{Name: d.name, Text: text, Expected: string(want), Found: found, Valid: valid}
}

// checks evaluates every check digit of the zone.
func (p *parser) checks() []Check {
	defs := p.checkDefs()
	out := make([]Check, len(defs))
	for i, d := range defs {
		out[i] = p.evaluate(d)
	}
	return out
}

// valid reports whether the named check validates; false when the format
// has no such check.
func (p *parser) valid(name string) bool {
	for _, d := range p.checkDefs() {
		if d.name == name {
			return p.evaluate(d).Valid
		}
	}
	return false
}

// fieldChecksValid reports whether every check but the composite validates.
func (p *parser) fieldChecksValid() bool {
	for _, c := range p.checks() {
		if c.Name != CheckComposite && !c.Valid {
			return false
		}
	}
	return true
}

func (p *parser) result(now time.Time) *Result {
	l := p.l
	r := &Result{Format: l.format, Checks: p.checks(), Corrections: p.fixes}
	p.warnUnconfirmedLengths(r.Checks)
	for _, row := range p.grid {
		r.Lines = append(r.Lines, string(row))
	}
	valid := 0
	for _, c := range r.Checks {
		if c.Valid {
			valid++
		}
	}
	r.ValidScore = int(math.Round(100 * float64(valid) / float64(len(r.Checks))))

	num, _, _ := p.numberSpans()
	var number strings.Builder
	for _, s := range num {
		number.WriteString(p.text(s))
	}
	f := &r.Fields
	*f = Fields{
		DocumentCode:   p.text(l.code),
		IssuingCountry: strings.TrimRight(p.text(l.issuer), "<"),
		DocumentNumber: strings.TrimRight(number.String(), "<"),
		Nationality:    strings.TrimRight(p.text(l.nationality), "<"),
		BirthDate:      p.text(l.birth),
		ExpiryDate:     p.text(l.expiry),
		OptionalData:   p.text(p.optionalData()),
	}
	if !l.optional2.empty() {
		f.OptionalData2 = p.text(l.optional2)
	}
	f.Surname, f.GivenNames = p.names()
	f.Sex = p.sex()
	for _, c := range []struct{ name, code string }{
		{"issuing country", p.text(l.issuer)}, {"nationality", p.text(l.nationality)},
	} {
		if !KnownCountry(c.code) {
			p.warn("%s %q is not an ICAO 9303 code", c.name, c.code)
		}
	}
	if d, err := readDate(f.BirthDate); err != nil {
		p.warn("birth date: %v", err)
	} else if f.BirthDateISO, err = d.iso(d.birthYear(now)); err != nil {
		p.warn("birth date: %v", err)
	}
	if d, err := readDate(f.ExpiryDate); err != nil {
		p.warn("expiry date: %v", err)
	} else if f.ExpiryDateISO, err = d.iso(d.expiryYear(now)); err != nil {
		p.warn("expiry date: %v", err)
	} else if d.day != 0 {
		r.Expired = f.ExpiryDateISO < now.Format(time.DateOnly)
	}
	if f.BirthDateISO != "" && f.ExpiryDateISO != "" && f.ExpiryDateISO < f.BirthDateISO {
		p.warn("expiry date %s is before birth date %s", f.ExpiryDateISO, f.BirthDateISO)
	}
	r.Warnings = p.warnings
	return r
}

// names splits the name field at the first "<<" into the primary and
// secondary identifiers.
func (p *parser) names() (surname, given string) {
	name := p.text(p.l.name)
	if name[len(name)-1] != '<' {
		p.warn("name field is full: the name may be truncated")
	}
	surname, given, _ = strings.Cut(name, "<<")
	return words(surname), words(given)
}

// words turns '<'-separated name components into space-separated ones.
func words(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '<' }), " ")
}

func (p *parser) sex() string {
	switch s := p.text(p.l.sex); s {
	case "M", "F", "X":
		return s
	case "<":
		return ""
	default:
		p.warn("sex %q is not M, F, X or <", s)
		return s
	}
}
