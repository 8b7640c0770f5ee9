package fields

import (
	"testing"
	"time"

	"github.com/openkyc/kyc/engine/document/mrz"
)

// TestHolderAge: the age turns on the birthday (1 March for one born on 29
// February, in other years), and is vouched only where a second reading
// agrees: the MRZ's check digit, or a valid NIK encoding the printed date.
func TestHolderAge(t *testing.T) {
	at := func(s string) time.Time {
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	birth := func(v, source string) map[string]Field {
		return map[string]Field{FieldBirthDate: {Value: v, Source: source}}
	}
	mrzBirth := func(valid bool) *mrz.Result {
		return &mrz.Result{Checks: []mrz.Check{{Name: mrz.CheckBirthDate, Valid: valid}}, Fields: mrz.Fields{BirthDateISO: "2008-08-17"}}
	}
	nik, err := ParseNIK("3171011708080001", at("2026-12-01"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		fs   map[string]Field
		m    *mrz.Result
		nik  *NIK
		now  string
		want *Age
	}{
		{"no birth date", nil, nil, nil, "2026-08-17", nil},
		{"MRZ date without its day", birth("2008-08", SourceMRZ), mrzBirth(true), nil, "2026-08-17", nil},
		{"eve of the 18th birthday", birth("2008-08-17", SourceMRZ), mrzBirth(true), nil, "2026-08-16", &Age{17, true}},
		{"18th birthday", birth("2008-08-17", SourceMRZ), mrzBirth(true), nil, "2026-08-17", &Age{18, true}},
		{"MRZ check digit fails", birth("2008-08-17", SourceMRZ), mrzBirth(false), nil, "2026-08-17", &Age{18, false}},
		{"born 29 February, 28 February", birth("2008-02-29", SourceVisual), nil, nil, "2026-02-28", &Age{17, false}},
		{"born 29 February, 1 March", birth("2008-02-29", SourceVisual), nil, nil, "2026-03-01", &Age{18, false}},
		{"printed date the NIK encodes", birth("2008-08-17", SourceVisual), nil, nik, "2026-12-01", &Age{18, true}},
		{"printed date the NIK contradicts", birth("2008-08-18", SourceVisual), nil, nik, "2026-12-01", &Age{18, false}},
		{"date from the NIK alone", birth("2008-08-17", SourceNIK), nil, nik, "2026-12-01", &Age{18, false}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := holderAge(c.fs, c.m, c.nik, at(c.now))
			if (got == nil) != (c.want == nil) || got != nil && *got != *c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}
