package document

import (
	"strings"
	"time"

	"github.com/openkyc/kyc/engine/document/fields"
	"github.com/openkyc/kyc/engine/document/forensics"
	"github.com/openkyc/kyc/engine/document/mrz"
)

// CheckFieldConsistency is the name of the check that the visual zone and
// the MRZ state the same dates.
const CheckFieldConsistency = "mrz_visual_consistency"

// consistencyDates are the fields an edit changes (a date moved) that the
// MRZ protects with a check digit: a mismatch on one of them, where that
// digit validates, is the visual zone or the MRZ edited alone. Names are
// left out: the visual zone spells them with diacritics and line breaks the
// MRZ cannot, so they disagree on genuine documents.
//
// The document number is evidence only, never firing: on the calibration
// half of `kyc eval documents` the visual zone as read misread it or took
// another number for it on genuine documents (with it and the dates
// compared strictly, 9% of them flagged). The dates alone, a swap or a
// century tolerated, flagged 2.7% (3 of 112: 33_id-usa re-saved, whose
// "resident since" date was read as its expiry, and a birth date misread
// as 4018) until the field reader learnt the labels of other dates, the
// dates a field cannot hold, and to prefer the value the MRZ validates;
// 33_id-usa's expiry misread 94 as 34 once (q95) is the one left.
var consistencyDates = map[string]string{
	fields.FieldExpiryDate: mrz.CheckExpiryDate,
	fields.FieldBirthDate:  mrz.CheckBirthDate,
}

// fieldConsistency turns the MRZ-vs-visual date mismatches into a forensic
// check: applicable when the page has an MRZ whose birth or expiry date's
// check digit validates, fired by a mismatch on such a date that is not
// the same date written another way (see dateEdited). The evidence names the
// fields with both values, for a reviewer to see which zone was edited,
// and lists the differences it tolerated and a differing document number.
func fieldConsistency(m *mrz.Result, mismatches []fields.Mismatch) forensics.Check {
	if m == nil {
		return forensics.Check{Name: CheckFieldConsistency, Score: 1, Evidence: map[string]any{"reason": "no MRZ read"}}
	}
	valid := map[string]bool{}
	for _, c := range m.Checks {
		valid[c.Name] = c.Valid
	}
	protected := false
	for _, c := range consistencyDates {
		protected = protected || valid[c]
	}
	if !protected {
		return forensics.Check{Name: CheckFieldConsistency, Score: 1, Evidence: map[string]any{"reason": "no MRZ check digit of a date validates"}}
	}
	var diffs, tolerated, number []string
	for _, mm := range mismatches {
		if mm.Source != fields.SourceMRZ {
			continue
		}
		line := mm.Field + ": MRZ " + mm.Value + ", printed " + mm.Visual
		if mm.Field == fields.FieldDocumentNumber {
			number = append(number, line)
			continue
		}
		c, ok := consistencyDates[mm.Field]
		if !ok || !valid[c] {
			continue
		}
		if edited, why := dateEdited(mm.Value, mm.Visual); !edited {
			tolerated = append(tolerated, line+" ("+why+")")
			continue
		}
		diffs = append(diffs, line)
	}
	score := 1.0
	ev := map[string]any{"mismatches": len(diffs)}
	if len(diffs) > 0 {
		score = 0
		ev["fields"] = diffs
	}
	if len(tolerated) > 0 {
		ev["tolerated"] = tolerated
	}
	if len(number) > 0 {
		ev["document_number"] = number
	}
	return forensics.Check{Name: CheckFieldConsistency, Applicable: true, Score: score, Evidence: ev}
}

// dateEdited reports whether the MRZ's date (YYYY, YYYY-MM or
// YYYY-MM-DD) and the printed one (YYYY-MM-DD) are different dates, and
// if not, why they read differently: the printed year may lie a century
// off (its two digits resolved another way than the MRZ's), and day and
// month may be swapped (a United States date read day first). A printed
// value that is not a date is no evidence of an edit: the reading, not the
// document, failed.
func dateEdited(mrzDate, printed string) (edited bool, why string) {
	my, ok := dateParts(mrzDate)
	py, pok := dateParts(printed)
	if !ok || !pok || len(printed) != len(time.DateOnly) {
		return false, "printed value not a full date"
	}
	var ways []string
	if my.Year() != py.Year() {
		if my.Year()%100 != py.Year()%100 {
			return true, ""
		}
		ways = append(ways, "century")
	}
	mm, md := int(my.Month()), my.Day()
	pm, pd := int(py.Month()), py.Day()
	switch {
	case len(mrzDate) == len("2006"),
		mm == pm && (len(mrzDate) == len("2006-01") || md == pd):
	case mm == pd && (len(mrzDate) == len("2006-01") || md == pm):
		ways = append(ways, "day and month swapped")
	default:
		return true, ""
	}
	if len(ways) == 0 {
		return false, "same date"
	}
	return false, strings.Join(ways, ", ")
}

// dateParts reads YYYY, YYYY-MM or YYYY-MM-DD.
func dateParts(s string) (time.Time, bool) {
	for _, layout := range []string{time.DateOnly, "2006-01", "2006"} {
		if len(s) == len(layout) {
			t, err := time.Parse(layout, s)
			return t, err == nil
		}
	}
	return time.Time{}, false
}
