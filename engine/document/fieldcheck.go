package document

import (
	"github.com/openkyc/kyc/engine/document/fields"
	"github.com/openkyc/kyc/engine/document/forensics"
	"github.com/openkyc/kyc/engine/document/mrz"
)

// CheckFieldConsistency is the name of the check that the visual zone and
// the MRZ state the same dates and document number.
const CheckFieldConsistency = "mrz_visual_consistency"

// consistencyFields are the fields an edit changes (a date moved, a number
// altered) that the MRZ protects with a check digit: a mismatch on one of
// them, where that digit validates, is the visual zone or the MRZ edited
// alone. Names are left out: the visual zone spells them with diacritics
// and line breaks the MRZ cannot, so they disagree on genuine documents.
//
// Measured by `kyc eval documents` on the calibration half, the visual
// zone as read disagreed with the MRZ on 9% of the genuine documents (a
// document number misread or another number taken for it, a United States
// birth date read day first), so its calibration keeps it from firing
// until the reading improves.
var consistencyFields = map[string]string{
	fields.FieldExpiryDate:     mrz.CheckExpiryDate,
	fields.FieldBirthDate:      mrz.CheckBirthDate,
	fields.FieldDocumentNumber: mrz.CheckDocumentNumber,
}

// fieldConsistency turns the MRZ-vs-visual mismatches into a forensic
// check: applicable when the page has an MRZ one of whose protected fields
// validates, fired by a mismatch on such a field. The evidence names the
// fields with both values, for a reviewer to see which zone was edited.
func fieldConsistency(m *mrz.Result, mismatches []fields.Mismatch) forensics.Check {
	if m == nil {
		return forensics.Check{Name: CheckFieldConsistency, Score: 1, Evidence: map[string]any{"reason": "no MRZ read"}}
	}
	valid := map[string]bool{}
	for _, c := range m.Checks {
		valid[c.Name] = c.Valid
	}
	protected := 0
	for _, c := range consistencyFields {
		if valid[c] {
			protected++
		}
	}
	if protected == 0 {
		return forensics.Check{Name: CheckFieldConsistency, Score: 1, Evidence: map[string]any{"reason": "no MRZ check digit of a date or the number validates"}}
	}
	var diffs []string
	for _, mm := range mismatches {
		if c, ok := consistencyFields[mm.Field]; ok && mm.Source == fields.SourceMRZ && valid[c] {
			diffs = append(diffs, mm.Field+": MRZ "+mm.Value+", printed "+mm.Visual)
		}
	}
	score := 1.0
	if len(diffs) > 0 {
		score = 0
	}
	ev := map[string]any{"mismatches": len(diffs)}
	if len(diffs) > 0 {
		ev["fields"] = diffs
	}
	return forensics.Check{Name: CheckFieldConsistency, Applicable: true, Score: score, Evidence: ev}
}
