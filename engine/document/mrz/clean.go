package mrz

import (
	"strings"
	"unicode"
)

// maxLengthRepair is how many characters a line may be too long or too
// short and still be repaired: beyond that the line is not the layout's.
const maxLengthRepair = 3

// maxLayoutWidth is the widest layout's width (TD3, MRV-A).
const maxLayoutWidth = 44

// maxCleanLen is as far as clean reads a line: one character more than
// the longest line any layout repairs, so a longer line still reads as
// too long for every layout, and a line of OCR run on (hundreds of
// thousands of characters) costs no more than that. Before, each foreign
// character of it became a Correction, and the time grew faster than the
// line.
const maxCleanLen = maxLayoutWidth + maxLengthRepair + 1

// cleanLine is one OCR line reduced to the MRZ alphabet.
type cleanLine struct {
	src    string // as given
	joined string // spaces dropped, the usual OCR noise
	fixes  []Correction
	// spaced reads spaces after the first character as fillers: some
	// engines print runs of '<' as blanks. Empty when there are none.
	spaced      string
	spacedFixes []Correction
}

// maxLines is the most lines Parse and FindLines read: no page's OCR
// holds as many, so more is no document's text (a flood of line breaks),
// and refusing it keeps their work bounded by maxLines lines of at most
// maxCleanLen characters each.
const maxLines = 1000

// tooManyLines reports whether text holds more than maxLines non-empty
// lines as splitLines breaks them, reading no further than the line after
// the last allowed.
func tooManyLines(text []string) bool {
	n := 0
	for _, t := range text {
		in := false
		for i := 0; i < len(t); i++ {
			if t[i] == '\n' || t[i] == '\r' {
				in = false
				continue
			}
			if !in {
				in = true
				if n++; n > maxLines {
					return true
				}
			}
		}
	}
	return false
}

// splitLines breaks every entry of text at line breaks.
func splitLines(text []string) []string {
	var out []string
	for _, t := range text {
		out = append(out, strings.FieldsFunc(t, func(r rune) bool { return r == '\n' || r == '\r' })...)
	}
	return out
}

func newCleanLine(src string) cleanLine {
	cl := cleanLine{src: src}
	cl.joined, cl.fixes = clean(src, false)
	if strings.IndexFunc(strings.TrimLeftFunc(src, unicode.IsSpace), unicode.IsSpace) >= 0 {
		cl.spaced, cl.spacedFixes = clean(src, true)
	}
	return cl
}

// variant returns the reading of the line closest to width, preferring the
// one without spaces on a tie.
func (cl cleanLine) variant(width int) (string, []Correction) {
	if cl.spaced != "" && abs(len(cl.spaced)-width) < abs(len(cl.joined)-width) {
		return cl.spaced, cl.spacedFixes
	}
	return cl.joined, cl.fixes
}

// distance is how far the closest reading is from width.
func (cl cleanLine) distance(width int) int {
	s, _ := cl.variant(width)
	return abs(len(s) - width)
}

// Reasons of the corrections made while cleaning.
const (
	reasonSpace     = "space read as filler"
	reasonLookAlike = "filler look-alike"
	reasonForeign   = "character outside the MRZ alphabet"
	reasonStroke    = "lowercase l in an uppercase line: a vertical stroke, I"
)

// clean uppercases s and maps it onto the MRZ alphabet: filler look-alikes
// become '<' ('«' counts for two), full-width forms become ASCII and any
// other character becomes '<' so that it keeps its position. Spaces are
// dropped, or read as fillers when spaceAsFiller and after the first
// character. It stops past maxCleanLen characters: the line is then no
// MRZ line, whatever follows.
// Case and width changes are lossless and not reported; the rest is. In a
// mostly uppercase line a lowercase l is the OCR's reading of a vertical
// stroke, an I (or a 1, which the numeric fields then make of it), not L.
func clean(s string, spaceAsFiller bool) (string, []Correction) {
	if spaceAsFiller { // trailing blanks may be fillers the engine printed as spaces
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
	} else {
		s = strings.TrimFunc(s, unicode.IsSpace)
	}
	lower, upper := 0, 0
	for _, r := range s {
		lower += btoi(unicode.IsLower(r))
		upper += btoi(unicode.IsUpper(r))
	}
	var b strings.Builder
	b.Grow(min(len(s), maxCleanLen+1))
	var fixes []Correction
	note := func(from rune, to, reason string) {
		fixes = append(fixes, Correction{Column: b.Len() + 1, From: string(from), To: to, Reason: reason})
		b.WriteString(to)
	}
	for _, r := range s {
		if b.Len() >= maxCleanLen {
			break
		}
		if r >= 0xFF01 && r <= 0xFF5E { // full-width ASCII forms
			r -= 0xFEE0
		}
		switch {
		case r == 'l' && upper > lower:
			note(r, "I", reasonStroke)
		case r >= 'a' && r <= 'z':
			b.WriteByte(byte(r) - 'a' + 'A')
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '<':
			b.WriteByte(byte(r))
		case unicode.IsSpace(r):
			if spaceAsFiller {
				note(r, "<", reasonSpace)
			}
		case r == '«' || r == '≪':
			note(r, "<<", reasonLookAlike)
		case r == '‹' || r == '〈' || r == '⟨' || r == '(' || r == '[' || r == '{':
			note(r, "<", reasonLookAlike)
		default:
			note(r, "<", reasonForeign)
		}
	}
	return b.String(), fixes
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// plausible reports whether a cleaned line is mostly MRZ characters: a
// quarter of foreign characters is no OCR of an MRZ.
func plausible(s string, fixes []Correction) bool {
	foreign := 0
	for _, f := range fixes {
		if f.Reason == reasonForeign {
			foreign++
		}
	}
	return foreign*4 <= len(s)
}

// mrzLike reports whether a cleaned line could be an MRZ line: plausible
// at a layout width, holding a filler or reading as a data line (a line
// without any '<' is otherwise more likely printed text).
func mrzLike(cl cleanLine) bool {
	for _, l := range layouts {
		if cl.distance(l.width) > maxLengthRepair {
			continue
		}
		s, fixes := cl.variant(l.width)
		if !plausible(s, fixes) {
			return false
		}
		if strings.Contains(s, "<") {
			return true
		}
		for i := 0; i < l.height; i++ {
			if i != l.name.line && len(s) == l.width && l.lineFits(i, s, true) {
				return true
			}
		}
	}
	return false
}

// FindLines picks the machine readable zone out of the OCR lines of a page:
// the run of consecutive MRZ-looking lines (blank lines are skipped) whose
// count and lengths best fit a layout, the lowest on the page on a tie. It
// returns the chosen lines as given, or nil when no line looks like an MRZ
// line or when text has more than maxLines lines. A run that fits no layout
// is returned whole so that Parse can say why it is not an MRZ.
func FindLines(text []string) []string {
	if tooManyLines(text) {
		return nil
	}
	var (
		runs [][]cleanLine
		run  []cleanLine
	)
	for _, src := range splitLines(text) {
		cl := newCleanLine(src)
		if cl.joined == "" {
			continue
		}
		if mrzLike(cl) {
			run = append(run, cl)
			continue
		}
		if len(run) > 0 {
			runs = append(runs, run)
			run = nil
		}
	}
	if len(run) > 0 {
		runs = append(runs, run)
	}
	var best []cleanLine
	bestCost := -1
	for _, r := range runs {
		for start := range r {
			for _, h := range []int{2, 3} {
				if start+h > len(r) {
					continue
				}
				if _, cost, ok := detect(r[start : start+h]); ok && (bestCost < 0 || cost <= bestCost) {
					best, bestCost = r[start:start+h], cost
				}
			}
		}
	}
	if best == nil && len(runs) > 0 {
		best = runs[len(runs)-1]
	}
	if best == nil {
		return nil
	}
	out := make([]string, len(best))
	for i, cl := range best {
		out[i] = cl.src
	}
	return out
}

// misfitCost is what a line of the right length whose characters do not
// fit their fields adds to a layout's cost: more than any length repair, so
// that a window of lines in the right order wins.
const misfitCost = maxLengthRepair + 1

// detect finds the layout of cleaned lines from their count, their lengths
// and, between a document and a visa of the same size, the document code.
// cost counts the characters the lines are off the widths, plus misfitCost
// per line whose characters do not fit its fields.
func detect(ls []cleanLine) (l *layout, cost int, ok bool) {
	for _, cand := range layouts {
		if cand.height != len(ls) || (cand.height == 2 && cand.visa() != strings.HasPrefix(ls[0].joined, "V")) {
			continue
		}
		c := 0
		for i, cl := range ls {
			s, _ := cl.variant(cand.width)
			d := abs(len(s) - cand.width)
			if d > maxLengthRepair {
				c = -1
				break
			}
			c += d
			if d == 0 && !cand.lineFits(i, s, true) {
				c += misfitCost
			}
		}
		if c >= 0 && (l == nil || c < cost) {
			l, cost = cand, c
		}
	}
	return l, cost, l != nil
}
