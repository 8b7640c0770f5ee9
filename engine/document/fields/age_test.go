package fields

import (
	"image"
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
		// A date the MRZ leaves partly unknown: the youngest age it allows,
		// vouched only when every day it allows gives that age.
		{"MRZ date without its day, in its month", birth("2008-08", SourceMRZ), mrzBirth(true), nil, "2026-08-17", &Age{17, false}},
		{"MRZ date without its day, after its month", birth("2008-08", SourceMRZ), mrzBirth(true), nil, "2026-09-01", &Age{18, true}},
		{"MRZ date without its day, before its month", birth("2008-08", SourceMRZ), mrzBirth(true), nil, "2026-07-31", &Age{17, true}},
		{"MRZ year alone, a child", birth("2016", SourceMRZ), mrzBirth(true), nil, "2026-12-05", &Age{9, false}},
		{"MRZ year alone, on 31 December", birth("2008", SourceMRZ), mrzBirth(true), nil, "2026-12-31", &Age{18, true}},
		{"MRZ year alone, born this year", birth("2026", SourceMRZ), mrzBirth(true), nil, "2026-06-01", &Age{0, true}},
		{"MRZ date without its day, check digit fails", birth("2016-05", SourceMRZ), mrzBirth(false), nil, "2026-12-05", &Age{10, false}},
		{"not a date", birth("2016-13", SourceMRZ), mrzBirth(true), nil, "2026-12-05", nil},
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

// tdThree is a TD3 zone of a passport with the birth date given, every
// check digit computed.
func tdThree(t *testing.T, birth string) *mrz.Result {
	t.Helper()
	digit := func(s string) string {
		d, err := mrz.CheckDigit(s)
		if err != nil {
			t.Fatal(err)
		}
		return string(rune('0' + d))
	}
	l2 := "L898902C3" + digit("L898902C3") + "UTO" + birth + digit(birth) + "F" + "301231" + digit("301231") + "ZE184226B<<<<<"
	l2 += digit("ZE184226B<<<<<")
	l2 += digit(l2[0:10] + l2[13:20] + l2[21:43])
	m, err := mrz.Parse([]string{"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", l2}, time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC))
	if err != nil || m.ValidScore != 100 {
		t.Fatalf("zone %s: %v, %+v", l2, err, m)
	}
	return m
}

// TestExtractAgeOfPartialBirthDate: a passport whose MRZ gives the
// holder's birth year alone (every check digit valid) gives the youngest
// age it allows, for a service's minimum age to judge: a child born in
// 2016 is not left unjudged (no age), as if no birth date had been read.
func TestExtractAgeOfPartialBirthDate(t *testing.T) {
	now := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		birth string
		want  *Age
	}{
		{"160704", &Age{10, true}},
		{"16<<<<", &Age{9, false}},
		{"1607<<", &Age{10, true}},
		{"1612<<", &Age{9, false}},
	} {
		r := Extract(nil, image.Point{}, tdThree(t, c.birth), now)
		if r.Age == nil || *r.Age != *c.want {
			t.Errorf("birth date %s: age %+v, want %+v", c.birth, r.Age, c.want)
		}
	}
}
