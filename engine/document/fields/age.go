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

// holderAge is the age by fs's birth date at now, nil when no full date
// was read (an MRZ may leave the day or month unknown).
func holderAge(fs map[string]Field, m *mrz.Result, nik *NIK, now time.Time) *Age {
	b, ok := fs[FieldBirthDate]
	if !ok {
		return nil
	}
	born, err := time.Parse(time.DateOnly, b.Value)
	if err != nil {
		return nil
	}
	years := now.Year() - born.Year()
	if now.Month() < born.Month() || now.Month() == born.Month() && now.Day() < born.Day() {
		years--
	}
	if years < 0 {
		return nil
	}
	a := &Age{Years: years}
	switch b.Source {
	case SourceMRZ:
		_, a.Vouched = validated(m)[FieldBirthDate]
	case SourceVisual:
		a.Vouched = nik != nil && nik.Valid && nik.sameBirthDate(b.Value)
	}
	return a
}
