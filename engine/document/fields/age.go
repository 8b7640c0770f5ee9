package fields

import (
	"time"

	"github.com/openkyc/kyc/engine/document/mrz"
)

// Age is the holder's age by the document's birth date, for a minimum age
// a service may require.
type Age struct {
	// Years is the age in whole years on the day of the reading (a birthday
	// on 29 February comes on 1 March in other years).
	Years int `json:"years"`
	// Vouched: two readings of the birth date agree, the MRZ's check digit
	// validating it or a valid NIK encoding the printed one. A date read
	// once may be misread, so it should not refuse anyone on its own.
	Vouched bool `json:"vouched"`
}

// holderAge is the age by fs's birth date at now, nil when no date was
// read. An MRZ may leave the day, or the month and day, unknown ("<<"):
// the age is then the youngest the date allows (born on its last day), so
// that a holder born in 2016 is no adult for a service's minimum age, and
// vouched only when the date's first day gives the same age (a birth month
// whose every day is past this year's): otherwise the holder may be a year
// older, which no reading tells.
func holderAge(fs map[string]Field, m *mrz.Result, nik *NIK, now time.Time) *Age {
	b, ok := fs[FieldBirthDate]
	if !ok {
		return nil
	}
	first, last, ok := BirthSpan(b.Value)
	if !ok {
		return nil
	}
	years, oldest := yearsOld(last, now), yearsOld(first, now)
	if oldest < 0 {
		return nil
	}
	years = max(years, 0) // born this year, on a day not known to be past
	a := &Age{Years: years}
	switch b.Source {
	case SourceMRZ:
		_, a.Vouched = validated(m)[FieldBirthDate]
	case SourceVisual:
		a.Vouched = nik != nil && nik.Valid && nik.sameBirthDate(b.Value)
	}
	a.Vouched = a.Vouched && years == oldest
	return a
}

// BirthSpan is the first and the last day a birth date read as
// YYYY-MM-DD, YYYY-MM or YYYY may be (the oldest and the youngest the
// holder can be).
func BirthSpan(v string) (first, last time.Time, ok bool) {
	for _, f := range []struct {
		layout       string
		months, days int
	}{{time.DateOnly, 0, 1}, {"2006-01", 1, 0}, {"2006", 12, 0}} {
		if d, err := time.Parse(f.layout, v); err == nil {
			return d, d.AddDate(0, f.months, f.days-1), true
		}
	}
	return time.Time{}, time.Time{}, false
}

// yearsOld is the age in whole years at now of one born on born: a
// birthday on 29 February comes on 1 March in other years.
func yearsOld(born, now time.Time) int {
	years := now.Year() - born.Year()
	if now.Month() < born.Month() || now.Month() == born.Month() && now.Day() < born.Day() {
		years--
	}
	return years
}
