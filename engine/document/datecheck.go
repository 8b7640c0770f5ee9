package document

import (
	"math"
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

// CheckPortraitAge is the name of the check that the portrait is not far
// younger than the holder's dates allow: a portrait is taken at most a
// document's validity before its expiry, so the holder's age at the
// expiry, by the date of birth, less the portrait's apparent age is at most
// the validity plus the age model's error. An expiry pushed on by an edit
// (an expired document made valid again) ages the holder by as many years
// and leaves the face as young as it was. A weak signal: the model errs by
// about 8 years (a median; more on the old, whom it sees younger), so the
// check sends a case to review and never rejects (forensics.ReviewOnly).
const CheckPortraitAge = "portrait_age"

// portraitAgeGap (years) is the most the holder's age at the expiry may
// exceed the portrait's apparent age: 10 years of validity (ICAO 9303's
// advice for passports) and 20 of the model's error. On the calibration
// half of `kyc eval documents` its genuine documents measure up to 16.9
// (62 of the 112 judged as if they were still valid: all have expired),
// the full forgeries of 100_pass2-uto (its expiry moved from 2012 to 2033)
// 36.8 to 37.5. The report half's genuine documents, judged so, reach 35.9
// (100_pass-polx, a specimen born in 1960 whose face the model puts at
// 19): on real documents the model's error decides how often it fires.
const portraitAgeGap = 30

// portraitAgeHorizon (years): an expiry further from today than any
// document is issued for (15 years, some identity cards) with a margin is
// no expiry the holder ages towards (a card "for life" written as a far
// date); the check does not apply.
const portraitAgeHorizon = 20

// portraitAge judges the portrait's apparent age (years) against the
// holder's age at the expiry, by the dates the field reader resolved. It
// applies to a document valid at now (an expired one is refused for that
// already) whose birth and expiry dates were read; the evidence gives the
// ages compared.
func portraitAge(fs map[string]fields.Field, apparent float64, now time.Time) forensics.Check {
	birth, okB := dateParts(fs[fields.FieldBirthDate].Value)
	expiry, okE := dateParts(fs[fields.FieldExpiryDate].Value)
	switch {
	case !okB || !okE:
		return forensics.Check{Name: CheckPortraitAge, Score: 1, Evidence: map[string]any{"reason": "no birth or expiry date read"}}
	case !expiry.After(now):
		return forensics.Check{Name: CheckPortraitAge, Score: 1, Evidence: map[string]any{"reason": "the document has expired"}}
	case expiry.After(now.AddDate(portraitAgeHorizon, 0, 0)):
		return forensics.Check{Name: CheckPortraitAge, Score: 1, Evidence: map[string]any{"reason": "the expiry is further away than any validity"}}
	}
	atExpiry := expiry.Sub(birth).Hours() / 24 / 365.2425
	gap := atExpiry - apparent
	round := func(v float64) float64 { return math.Round(v*10) / 10 }
	score := 1.0
	if gap > portraitAgeGap {
		score = 0
	}
	return forensics.Check{Name: CheckPortraitAge, Applicable: true, Score: score, Evidence: map[string]any{
		"age_at_expiry": round(atExpiry),
		"apparent_age":  round(apparent),
		"gap":           round(gap),
		"max_gap":       portraitAgeGap,
	}}
}
