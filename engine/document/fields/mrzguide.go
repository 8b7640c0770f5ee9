package fields

import (
	"slices"
	"strings"
	"time"

	"github.com/openkyc/kyc/engine/document/mrz"
)

// The MRZ guides the reading of the visual zone where its check digits
// validate: a label OCR misread, or a page whose labels are unreadable,
// should not make another date on the page the expiry.

// validated is the MRZ's fields whose check digits validate: dates (ISO,
// possibly without day or month) and the document number.
func validated(m *mrz.Result) map[string]string {
	if m == nil {
		return nil
	}
	out := map[string]string{}
	for _, c := range m.Checks {
		if !c.Valid {
			continue
		}
		switch c.Name {
		case mrz.CheckBirthDate:
			out[FieldBirthDate] = m.Fields.BirthDateISO
		case mrz.CheckExpiryDate:
			out[FieldExpiryDate] = m.Fields.ExpiryDateISO
		case mrz.CheckDocumentNumber:
			out[FieldDocumentNumber] = m.Fields.DocumentNumber
		}
	}
	for k, v := range out {
		if v == "" {
			delete(out, k)
		}
	}
	return out
}

// agreement returns whether a printed value agrees with the MRZ's
// validated one: the same number, or the same date (the MRZ's may lack
// its day or month; a printed date may be written month first, which
// swaps day and month, or have its two-digit year resolved to another
// century).
func agreement(mrzValues map[string]string) func(field, value string) bool {
	return func(field, value string) bool {
		want, ok := mrzValues[field]
		if !ok {
			return false
		}
		switch field {
		case FieldDocumentNumber:
			return sameNumber(want, value)
		case FieldBirthDate, FieldExpiryDate:
			return sameDate(want, value)
		}
		return false
	}
}

// sameDate compares an MRZ date (YYYY, YYYY-MM or YYYY-MM-DD) with a
// printed one (YYYY-MM-DD), day and month swapped or the century apart
// included.
func sameDate(mrzDate, printed string) bool {
	if strings.HasPrefix(printed, mrzDate) {
		return true
	}
	if len(mrzDate) != len(time.DateOnly) || len(printed) != len(time.DateOnly) {
		return false
	}
	if mrzDate[2:4] != printed[2:4] {
		return false
	}
	md, pd := mrzDate[5:], printed[5:]
	return md == pd || md == pd[3:]+"-"+pd[:2]
}

// unlabeledExpiry looks for the expiry among the visual zone's dates when
// no label led to one (labels misread, or printed where OCR lost them):
// a date the MRZ's validated expiry agrees with is taken; failing that, a
// date with the MRZ expiry's day and month (as read, not swapped) but a
// later year (the printed expiry moved, or the MRZ's moved back). An
// earlier year is left alone: an issue date often has the expiry's day
// and month. Dates after a label of another field are not looked at. It
// returns false when no such date is printed.
func (p *page) unlabeledExpiry(mrzExpiry string, now time.Time) (Field, bool) {
	if len(mrzExpiry) != len(time.DateOnly) {
		return Field{}, false
	}
	var same, later *Field
	p.unlabeledDates(FieldExpiryDate, expiryDate, now, func(f Field) bool {
		if sameDate(mrzExpiry, f.Value) {
			same = &f
			return false
		}
		if later == nil && f.Value[:4] > mrzExpiry[:4] && f.Value[5:] == mrzExpiry[5:] {
			later = &f
		}
		return true
	})
	switch {
	case same != nil:
		return *same, true
	case later != nil:
		return *later, true
	}
	return Field{}, false
}

// unlabeledDates calls visit with each plausible date of kind in the
// visual zone, in reading order, until it returns false: the MRZ's lines
// are left out, and a line's text after the label of a field other than
// field. Each date is a Field read from the visual zone at a confidence
// scaled by unlabeledConf.
func (p *page) unlabeledDates(field string, kind dateKind, now time.Time, visit func(Field) bool) {
	for i := range p.lines {
		l := &p.lines[i]
		if strings.Contains(l.Text, "<") {
			continue // the MRZ itself
		}
		text := l.f.text
		for _, h := range findLabels(l, genericSpecs) {
			if h.spec.field != field {
				text = text[:h.start]
				break
			}
		}
		for off := 0; off < len(text); {
			d, _, end, ok := findDate(text[off:])
			if !ok {
				break
			}
			off += end
			d = d.resolve(kind, now)
			if !plausible(d, kind, now) {
				continue
			}
			if !visit(Field{Value: d.iso(), Source: SourceVisual, Confidence: round(unlabeledConf * l.conf)}) {
				return
			}
		}
	}
}

// unlabeledConf scales the confidence of a date read without its label.
const unlabeledConf = 0.5

// unlabeledIssue looks for the issue date among the visual zone's dates
// when no label led to one: a passport or card prints the holder's birth,
// the issue and the expiry, and the MRZ's validated birth and expiry name
// two of them, so the one other date between them is the issue. Dates the
// MRZ or the printed birth and expiry state (any century or day-month
// order), dates after a label of another field, and dates after now are
// not candidates; with no candidate, or two different ones (a page that
// prints a date more, or an expiry edited in one zone), it returns false.
func (p *page) unlabeledIssue(birth, expiry string, printed map[string]Field, now time.Time) (Field, bool) {
	if len(birth) != len(time.DateOnly) || len(expiry) != len(time.DateOnly) {
		return Field{}, false
	}
	stated := []string{birth, expiry}
	for _, k := range []string{FieldBirthDate, FieldExpiryDate} {
		if f, ok := printed[k]; ok && len(f.Value) == len(time.DateOnly) {
			stated = append(stated, f.Value)
		}
	}
	var found *Field
	ambiguous := false
	p.unlabeledDates(FieldIssueDate, pastDate, now, func(f Field) bool {
		v := f.Value
		if v <= birth || v >= expiry || slices.ContainsFunc(stated, func(s string) bool { return sameDate(s, v) }) {
			return true
		}
		if found == nil {
			found = &f
			return true
		}
		ambiguous = found.Value != v
		return !ambiguous
	})
	if found == nil || ambiguous {
		return Field{}, false
	}
	return *found, true
}
