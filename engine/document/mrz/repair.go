package mrz

import (
	"fmt"
	"strings"
)

// edit removes the character at col, or inserts a filler before col; col
// is a position in the line before any edit.
type edit struct {
	col    int
	insert bool
}

// slot is a place where up to room fillers may be removed (from col on) or
// inserted (before col).
type slot struct {
	col, room int
	insert    bool
}

// fitLength brings line i to the layout width. A line that ends in the name
// field is trimmed or padded at its end: the name is the last element and
// is not covered by any check digit (see leadingNoise for the exception).
// A data line tries every way of
// removing or inserting fillers inside filler runs (and of dropping a stray
// first or last character) and keeps the one under which the most check
// digits on the line validate and the most characters fit their fields,
// the plain trim or pad at the end on a tie.
func (p *parser) fitLength(i int) {
	row, width := p.grid[i], p.l.width
	d := len(row) - width
	if d == 0 {
		return
	}
	var trailing []edit
	for k := 0; k < abs(d); k++ {
		if d > 0 {
			trailing = append(trailing, edit{col: len(row) - 1 - k})
		} else {
			trailing = append(trailing, edit{col: len(row), insert: true})
		}
	}
	best := trailing
	switch {
	case p.l.name.line == i && i == p.l.code.line && d > 0:
		best = p.leadingNoise(row, d, trailing)
	case p.l.name.line != i:
		bestValid, bestFit := p.scoreLine(i, apply(row, trailing))
		enumerate(slots(row, d), abs(d), nil, func(es []edit) {
			v, f := p.scoreLine(i, apply(row, es))
			if v > bestValid || (v == bestValid && f > bestFit) {
				best, bestValid, bestFit = append([]edit(nil), es...), v, f
			}
		})
	}
	p.grid[i] = apply(row, best)
	p.resized = append(p.resized, i)
	reason := fmt.Sprintf("line had %d characters, %s needs %d", len(row), p.l.format, width)
	for _, e := range best {
		c := Correction{Line: i + 1, Column: e.col + 1, Reason: reason}
		if e.insert {
			c.To = "<"
		} else {
			c.From = string(row[e.col])
		}
		p.fixes = append(p.fixes, c)
	}
}

// leadingNoise handles a too long first line of a two-line zone, which
// holds the document code, the issuer and the name: when dropping k <= d
// leading characters, and d-k at the end, is what puts a letter first and
// a known country code at the issuer's place, the extra characters were
// noise before the zone. Otherwise the end is trimmed.
func (p *parser) leadingNoise(row []byte, d int, trailing []edit) []edit {
	is := p.l.issuer
	for k := 1; k <= d; k++ {
		if !KnownCountry(string(row[is.start:is.end])) && row[k] >= 'A' && row[k] <= 'Z' &&
			KnownCountry(string(row[k+is.start:k+is.end])) {
			es := trailing[: d-k : d-k]
			for j := 0; j < k; j++ {
				es = append(es, edit{col: j})
			}
			return es
		}
	}
	return trailing
}

// warnUnconfirmedLengths warns about resized lines that hold check digits
// not all of which validate in the end: the repair may have shifted fields.
func (p *parser) warnUnconfirmedLengths(checks []Check) {
	defs := p.checkDefs()
	for _, i := range p.resized {
		for k, d := range defs {
			if onLine(d, i) && !checks[k].Valid {
				p.warn("line %d: length repair not confirmed by the check digits on the line", i+1)
				break
			}
		}
	}
}

// slots lists where fillers can go (d < 0) or come from (d > 0): the filler
// runs, the line's end for insertions and its stray ends for removals.
func slots(row []byte, d int) []slot {
	var out []slot
	for a := 0; a < len(row); {
		if row[a] != '<' {
			a++
			continue
		}
		b := a
		for b < len(row) && row[b] == '<' {
			b++
		}
		if d > 0 {
			out = append(out, slot{col: a, room: b - a})
		} else {
			out = append(out, slot{col: b, room: -d, insert: true})
		}
		a = b
	}
	switch n := len(row); {
	case d > 0:
		if row[0] != '<' {
			out = append(out, slot{col: 0, room: 1})
		}
		if row[n-1] != '<' {
			out = append(out, slot{col: n - 1, room: 1})
		}
	case n == 0 || row[n-1] != '<':
		out = append(out, slot{col: n, room: -d, insert: true})
	}
	return out
}

// enumerate calls fn with every way of spreading n edits over the slots.
func enumerate(ss []slot, n int, es []edit, fn func([]edit)) {
	if n == 0 {
		fn(es)
		return
	}
	if len(ss) == 0 {
		return
	}
	s := ss[0]
	for k := 0; k <= min(n, s.room); k++ {
		next := es[:len(es):len(es)] // appends below must not share es's array
		for j := 0; j < k; j++ {
			if s.insert {
				next = append(next, edit{col: s.col, insert: true})
			} else {
				next = append(next, edit{col: s.col + j})
			}
		}
		enumerate(ss[1:], n-k, next, fn)
	}
}

// apply performs edits, given in any order, on a copy of row.
func apply(row []byte, es []edit) []byte {
	remove := map[int]bool{}
	inserts := map[int]int{}
	for _, e := range es {
		if e.insert {
			inserts[e.col]++
		} else {
			remove[e.col] = true
		}
	}
	out := make([]byte, 0, len(row)+len(es))
	for c := 0; c <= len(row); c++ {
		out = append(out, strings.Repeat("<", inserts[c])...)
		if c < len(row) && !remove[c] {
			out = append(out, row[c])
		}
	}
	return out
}

func onLine(d checkDef, i int) bool {
	if d.digit.line != i {
		return false
	}
	for _, s := range d.over {
		if s.line != i {
			return false
		}
	}
	return true
}

// scoreLine puts candidate in line i and counts the check digits on the
// line that validate and the characters that fit their field's class
// allowing for OCR confusions.
func (p *parser) scoreLine(i int, candidate []byte) (valid, fit int) {
	p.grid[i] = candidate
	for _, d := range p.checkDefs() {
		if onLine(d, i) && p.evaluate(d).Valid {
			valid++
		}
	}
	for _, f := range p.l.fields() {
		if f.at.line != i {
			continue
		}
		for c := f.at.start; c < f.at.end && c < len(candidate); c++ {
			if fits(candidate[c], f.class, true) {
				fit++
			}
		}
	}
	return valid, fit
}
