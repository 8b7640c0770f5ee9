package forensics

import "image"

// CheckPortraitSex compares the portrait's apparent sex with the sex the
// MRZ states: a face pasted from another person may be of the other sex,
// which no pixel trace of the paste needs to betray. A weak signal: it
// sends a case to review, never rejects (ReviewOnly).
const CheckPortraitSex = "portrait_sex"

// portraitSexMinAge is the apparent age under which the check does not
// apply: a child's face tells its sex poorly.
const portraitSexMinAge = 13

// PortraitSex judges a portrait whose face (in the image's coordinates)
// a model put at pMale probability of being male and at the apparent age,
// against the MRZ's sex ("M", "F"; anything else, such as "X" or
// unspecified, makes the check not applicable).
func PortraitSex(mrzSex string, pMale, age float64, face image.Rectangle, opts Options) Check {
	opts = opts.withDefaults()
	var other float64
	switch mrzSex {
	case "M":
		other = 1 - pMale
	case "F":
		other = pMale
	default:
		return notApplicable(CheckPortraitSex, "the MRZ states no sex (M or F)")
	}
	if age < portraitSexMinAge {
		return notApplicable(CheckPortraitSex, "the portrait looks like a child's")
	}
	return Check{Name: CheckPortraitSex, Applicable: true, Score: ramp(other, opts.PortraitSexThreshold), Evidence: map[string]any{
		"mrz_sex":           mrzSex,
		"probability_other": round3(other),
		"apparent_age":      round3(age),
		"threshold":         opts.PortraitSexThreshold,
		"portrait_face":     regionOf(face),
	}}
}
