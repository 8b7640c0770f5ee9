package document

import (
	"time"

	"github.com/openkyc/kyc/engine/document/fields"
	"github.com/openkyc/kyc/engine/document/forensics"
)

// CheckDateLogic is the name of the check that the document's dates can all
// be true together: a holder born before the document was issued and
// before it expires, a document issued before it expires, a passport valid
// no longer than any issuer makes one. A date moved by an edit (an expired
// document's expiry pushed on, a birth date moved to change an age) breaks
// one of these as often as not, and no honest document does.
const CheckDateLogic = "date_logic"

// maxPassportValidity (years) is the longest a passport is issued for:
// ICAO 9303 advises at most ten years, and issuers that carried over the
// unused months of the old passport (the United Kingdom until 2018) added
// at most nine; a year on top covers both. Identity cards, licences and
// visas are left out: some are valid for 15 years, until an age or for life.
const maxPassportValidity = 11

// dateLogic judges the dates of a document against each other, as the
// field reader resolved them (the MRZ's where its check digit validates,
// the printed ones otherwise; it already drops a birth or issue date after
// today or before 1900 as a misreading). It is applicable when at least two
// dates were read; each impossibility found is named with its dates in the
// evidence, for a reviewer to see which date is wrong. A date that does not
// parse is the reading's failure, not the document's, and is left out. The check never rejects on its own (it is not in the
// fitted calibration): a misread digit makes an impossible date too.
func dateLogic(typ fields.DocType, fs map[string]fields.Field) forensics.Check {
	date := func(name string) (time.Time, string, bool) {
		f, ok := fs[name]
		if !ok {
			return time.Time{}, "", false
		}
		t, ok := dateParts(f.Value)
		return t, f.Value, ok
	}
	birth, birthS, hasBirth := date(fields.FieldBirthDate)
	issue, issueS, hasIssue := date(fields.FieldIssueDate)
	expiry, expiryS, hasExpiry := date(fields.FieldExpiryDate)
	n := 0
	for _, ok := range []bool{hasBirth, hasIssue, hasExpiry} {
		if ok {
			n++
		}
	}
	if n < 2 {
		return forensics.Check{Name: CheckDateLogic, Score: 1, Evidence: map[string]any{"reason": "too few dates read"}}
	}
	var problems []string
	add := func(ok bool, what string) {
		if ok {
			problems = append(problems, what)
		}
	}
	if hasIssue {
		add(hasBirth && issue.Before(birth), "issued "+issueS+", before the birth on "+birthS)
		add(hasExpiry && !expiry.After(issue), "expires "+expiryS+", not after its issue on "+issueS)
		add(hasExpiry && typ == fields.TypePassport && expiry.After(issue.AddDate(maxPassportValidity, 0, 0)),
			"a passport issued "+issueS+" and valid until "+expiryS+": longer than 11 years")
	}
	add(hasBirth && hasExpiry && expiry.Before(birth), "expires "+expiryS+", before the birth on "+birthS)
	ev := map[string]any{"problems": len(problems)}
	score := 1.0
	if len(problems) > 0 {
		score = 0
		ev["found"] = problems
	}
	return forensics.Check{Name: CheckDateLogic, Applicable: true, Score: score, Evidence: ev}
}
