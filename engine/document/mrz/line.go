package mrz

import "strings"

// FixLine corrects one MRZ line read on its own, as Parse corrects it
// within a zone: the layout's character classes (a digit in a name, a
// letter in a date) and the check digits on the line (a document number,
// TD3's composite) decide, with the other lines of the zone unknown. Of the
// layout lines it can be, the one under which the most check digits on
// the line validate for the fewest corrections and unknown country codes
// wins.
// ok is false, and the line returned as given, when it fits no layout line.
//
// It serves to measure the reader line by line (a line crop has no zone):
// Result.Lines, what a caller of Parse gets, are corrected the same way.
func FixLine(line string) (fixed string, role LineRole, ok bool) {
	return FixReading(Reading{Text: line})
}

// FixReading is FixLine for a line with its recogniser's filler odds (see
// ParseReadings).
func FixReading(r Reading) (fixed string, role LineRole, ok bool) {
	line := r.Text
	var odds map[string][]float32
	if len(r.FillerOdds) == len(line) && line != "" {
		odds = map[string][]float32{line: r.FillerOdds}
	}
	cl := newCleanLine(line)
	if cl.joined == "" {
		return line, LineRole{}, false
	}
	best, bestFixes := 0, 0
	for _, l := range layouts {
		if cl.distance(l.width) > maxLengthRepair {
			continue
		}
		filler := newCleanLine(strings.Repeat("<", l.width))
		for i := 0; i < l.height; i++ {
			ls := make([]cleanLine, l.height)
			for j := range ls {
				ls[j] = filler
			}
			ls[i] = cl
			p := newParser(l, ls)
			if !l.lineFits(i, string(p.grid[i]), true) {
				continue
			}
			read := string(p.grid[i])
			p.attachOdds(ls, odds)
			p.fixCharacters()
			valid := 0
			for _, d := range p.checkDefs() {
				// A check digit counts as read: one a correction made up
				// validates by chance one time in ten.
				if onLine(d, i) && p.evaluate(d).Valid && isDigit(read[d.digit.start]) {
					valid++
				}
			}
			// A correction claims an OCR error, as does a country code
			// that names no country; a check digit that validates is
			// what pays for one.
			score := valid - len(p.fixes)
			for _, c := range []span{l.issuer, l.nationality} {
				if c.line == i && !c.empty() && !KnownCountry(p.text(c)) {
					score--
				}
			}
			if !ok || score > best || (score == best && len(p.fixes) < bestFixes) {
				best, bestFixes = score, len(p.fixes)
				fixed, role, ok = string(p.grid[i]), LineRole{Format: l.format, Line: i + 1}, true
			}
		}
	}
	if !ok {
		return line, LineRole{}, false
	}
	return fixed, role, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
