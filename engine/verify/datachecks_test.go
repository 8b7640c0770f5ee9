package verify

import (
	"testing"

	"github.com/openkyc/kyc/engine/document"
	"github.com/openkyc/kyc/engine/document/fields"
	"github.com/openkyc/kyc/engine/document/mrz"
)

func TestDataChecks(t *testing.T) {
	expiry := func(v string) map[string]fields.Field {
		return map[string]fields.Field{fields.FieldExpiryDate: {Value: v}}
	}
	// passport is a passport whose expiry was read, with the zone m.
	passport := func(m *mrz.Result) document.Result {
		return document.Result{Type: fields.TypePassport, Fields: expiry("2030-12-31"), MRZ: m}
	}
	// mrzDates is a zone with the dates given, as read and as ISO dates,
	// and whether their check digits validate; the zone's score counts
	// only them.
	mrzDates := func(birth, birthISO string, birthOK bool, exp, expISO string, expOK bool) *mrz.Result {
		score := 0
		for _, ok := range []bool{birthOK, expOK} {
			if ok {
				score += 50
			}
		}
		return &mrz.Result{ValidScore: score,
			Checks: []mrz.Check{{Name: mrz.CheckBirthDate, Valid: birthOK}, {Name: mrz.CheckExpiryDate, Valid: expOK}},
			Fields: mrz.Fields{BirthDate: birth, BirthDateISO: birthISO, ExpiryDate: exp, ExpiryDateISO: expISO}}
	}
	for _, c := range []struct {
		name string
		doc  document.Result
		want float64
		ok   bool
	}{
		{"nothing readable", document.Result{Type: fields.TypeUnknown}, 0, false},
		{"KTP for life, valid NIK", document.Result{Type: fields.TypeKTP, Fields: expiry(fields.Lifetime), NIK: &fields.NIK{Valid: true}}, 1, true},
		{"KTP, expiry unreadable", document.Result{Type: fields.TypeKTP, NIK: &fields.NIK{Valid: true}}, 0.5, true},
		{"KTP, NIK invalid", document.Result{Type: fields.TypeKTP, Fields: expiry("2030-01-01"), NIK: &fields.NIK{}}, 0.5, true},
		{"passport, MRZ 80%, one mismatch", document.Result{Type: fields.TypePassport, Fields: expiry("2030-01-01"),
			MRZ: &mrz.Result{ValidScore: 80}, Mismatches: []fields.Mismatch{{Field: "surname"}}}, 1.8 / 3, true},
		// The MRZ's own dates: one its check digit vouches for that is no
		// date (30 February, month 13) fails; a date of fillers (unknown),
		// or one misread (its check digit fails, already counted), does not.
		{"passport, MRZ birth date 30 February", passport(mrzDates("740230", "", true, "301231", "2030-12-31", true)), 2.0 / 3, true},
		{"passport, MRZ expiry in month 13, printed expiry read", passport(mrzDates("740812", "1974-08-12", true, "301330", "", true)), 2.0 / 3, true},
		{"passport, MRZ birth date unknown", passport(mrzDates("<<<<<<", "", true, "301231", "2030-12-31", true)), 1, true},
		{"passport, MRZ birth date partly unknown", passport(mrzDates("74<<<<", "1974", true, "301231", "2030-12-31", true)), 1, true},
		{"passport, MRZ birth date misread", passport(mrzDates("740230", "", false, "301231", "2030-12-31", true)), 1.5 / 2, true},
	} {
		got, ok := dataChecks(&c.doc)
		if ok != c.ok || (ok && (got < c.want-1e-9 || got > c.want+1e-9)) {
			t.Errorf("%s: %.3f %v, want %.3f %v", c.name, got, ok, c.want, c.ok)
		}
	}
}
