package mrz

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// testNow is a fixed "today" so that centuries and expiry do not drift.
var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// ICAO 9303 specimen zones, as printed in the specification.
var (
	specimenTD3 = []string{ // Part 4
		"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
		"L898902C36UTO7408122F1204159ZE184226B<<<<<10",
	}
	specimenTD2 = []string{ // Part 6
		"I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
		"D231458907UTO7408122F1204159<<<<<<<6",
	}
	specimenTD1 = []string{ // Part 5
		"I<UTOD231458907<<<<<<<<<<<<<<<",
		"7408122F1204159UTO<<<<<<<<<<<6",
		"ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
	}
	specimenTD1Long = []string{ // Part 5, document number D23145890734
		"I<UTOD23145890<7349<<<<<<<<<<<",
		"7408122F1204159UTO<<<<<<<<<<<6",
		"ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
	}
	specimenMRVA = []string{ // Part 7
		"V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
		"L8988901C4XXX4009078F96121096ZE184226B<<<<<<",
	}
	specimenMRVB = []string{ // Part 7
		"V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
		"L8988901C4XXX4009078F9612109<<<<<<<<",
	}
	// The German identity card specimen (Erika Mustermann): issuer and
	// nationality "D<<", sex unspecified.
	specimenDEU = []string{
		"IDD<<T220001293<<<<<<<<<<<<<<<",
		"6408125<2010315D<<<<<<<<<<<<<4",
		"MUSTERMANN<<ERIKA<<<<<<<<<<<<<",
	}
)

func mustParse(t *testing.T, lines []string) *Result {
	t.Helper()
	r, err := Parse(lines, testNow)
	if err != nil {
		t.Fatalf("Parse(%q): %v", lines, err)
	}
	return r
}

func checkFound(r *Result) map[string]string {
	m := map[string]string{}
	for _, c := range r.Checks {
		m[c.Name] = c.Found
	}
	return m
}

func TestParseSpecimens(t *testing.T) {
	tests := []struct {
		name   string
		lines  []string
		format Format
		fields Fields
		checks map[string]string // check name -> digit printed
	}{
		{"TD3", specimenTD3, TD3, Fields{
			DocumentCode: "P<", IssuingCountry: "UTO", DocumentNumber: "L898902C3",
			Surname: "ERIKSSON", GivenNames: "ANNA MARIA", Nationality: "UTO",
			BirthDate: "740812", BirthDateISO: "1974-08-12", Sex: "F",
			ExpiryDate: "120415", ExpiryDateISO: "2012-04-15", OptionalData: "ZE184226B<<<<<",
		}, map[string]string{"document_number": "6", "birth_date": "2", "expiry_date": "9", "optional_data": "1", "composite": "0"}},
		{"TD2", specimenTD2, TD2, Fields{
			DocumentCode: "I<", IssuingCountry: "UTO", DocumentNumber: "D23145890",
			Surname: "ERIKSSON", GivenNames: "ANNA MARIA", Nationality: "UTO",
			BirthDate: "740812", BirthDateISO: "1974-08-12", Sex: "F",
			ExpiryDate: "120415", ExpiryDateISO: "2012-04-15", OptionalData: "<<<<<<<",
		}, map[string]string{"document_number": "7", "birth_date": "2", "expiry_date": "9", "composite": "6"}},
		{"TD1", specimenTD1, TD1, Fields{
			DocumentCode: "I<", IssuingCountry: "UTO", DocumentNumber: "D23145890",
			Surname: "ERIKSSON", GivenNames: "ANNA MARIA", Nationality: "UTO",
			BirthDate: "740812", BirthDateISO: "1974-08-12", Sex: "F",
			ExpiryDate: "120415", ExpiryDateISO: "2012-04-15",
			OptionalData: "<<<<<<<<<<<<<<<", OptionalData2: "<<<<<<<<<<<",
		}, map[string]string{"document_number": "7", "birth_date": "2", "expiry_date": "9", "composite": "6"}},
		{"TD1 long document number", specimenTD1Long, TD1, Fields{
			DocumentCode: "I<", IssuingCountry: "UTO", DocumentNumber: "D23145890734",
			Surname: "ERIKSSON", GivenNames: "ANNA MARIA", Nationality: "UTO",
			BirthDate: "740812", BirthDateISO: "1974-08-12", Sex: "F",
			ExpiryDate: "120415", ExpiryDateISO: "2012-04-15",
			OptionalData: "<<<<<<<<<<<", OptionalData2: "<<<<<<<<<<<",
		}, map[string]string{"document_number": "9", "birth_date": "2", "expiry_date": "9", "composite": "6"}},
		{"MRV-A", specimenMRVA, MRVA, Fields{
			DocumentCode: "V<", IssuingCountry: "UTO", DocumentNumber: "L8988901C",
			Surname: "ERIKSSON", GivenNames: "ANNA MARIA", Nationality: "XXX",
			BirthDate: "400907", BirthDateISO: "1940-09-07", Sex: "F",
			ExpiryDate: "961210", ExpiryDateISO: "1996-12-10", OptionalData: "6ZE184226B<<<<<<",
		}, map[string]string{"document_number": "4", "birth_date": "8", "expiry_date": "9"}},
		{"MRV-B", specimenMRVB, MRVB, Fields{
			DocumentCode: "V<", IssuingCountry: "UTO", DocumentNumber: "L8988901C",
			Surname: "ERIKSSON", GivenNames: "ANNA MARIA", Nationality: "XXX",
			BirthDate: "400907", BirthDateISO: "1940-09-07", Sex: "F",
			ExpiryDate: "961210", ExpiryDateISO: "1996-12-10", OptionalData: "<<<<<<<<",
		}, map[string]string{"document_number": "4", "birth_date": "8", "expiry_date": "9"}},
		{"German ID card", specimenDEU, TD1, Fields{
			DocumentCode: "ID", IssuingCountry: "D", DocumentNumber: "T22000129",
			Surname: "MUSTERMANN", GivenNames: "ERIKA", Nationality: "D",
			BirthDate: "640812", BirthDateISO: "1964-08-12", Sex: "",
			ExpiryDate: "201031", ExpiryDateISO: "2020-10-31",
			OptionalData: "<<<<<<<<<<<<<<<", OptionalData2: "<<<<<<<<<<<",
		}, map[string]string{"document_number": "3", "birth_date": "5", "expiry_date": "5", "composite": "4"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustParse(t, tc.lines)
			if r.Format != tc.format {
				t.Errorf("format = %s, want %s", r.Format, tc.format)
			}
			if r.Fields != tc.fields {
				t.Errorf("fields =\n%+v\nwant\n%+v", r.Fields, tc.fields)
			}
			if got := checkFound(r); !equalMaps(got, tc.checks) {
				t.Errorf("check digits = %v, want %v", got, tc.checks)
			}
			for _, c := range r.Checks {
				if !c.Valid || c.Expected != c.Found {
					t.Errorf("check %+v does not validate", c)
				}
			}
			if r.ValidScore != 100 || len(r.Corrections) != 0 || len(r.Warnings) != 0 {
				t.Errorf("score %d, corrections %v, warnings %v; want 100 and none", r.ValidScore, r.Corrections, r.Warnings)
			}
			if strings.Join(r.Lines, "\n") != strings.Join(tc.lines, "\n") {
				t.Errorf("lines = %q, want the input", r.Lines)
			}
			if !r.Expired {
				t.Error("specimens expired long before the test date")
			}
		})
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestParseBadCheckDigitsIsAResult(t *testing.T) {
	// A made-up passport (from the product docs) whose check digits are all
	// wrong but the unused optional data's: a low score, not an error.
	r := mustParse(t, []string{
		"P<INDKUMAR<<NIVESH<<<<<<<<<<<<<<<<<<<<<<<<<<",
		"L1234567<8IND9003155M2912315<<<<<<<<<<<<<<<4",
	})
	valid := map[string]bool{}
	for _, c := range r.Checks {
		valid[c.Name] = c.Valid
	}
	want := map[string]bool{"document_number": false, "birth_date": false, "expiry_date": false, "optional_data": true, "composite": false}
	for k, v := range want {
		if valid[k] != v {
			t.Errorf("check %s valid = %v, want %v", k, valid[k], v)
		}
	}
	if r.ValidScore != 20 {
		t.Errorf("valid_score = %d, want 20 (1 of 5)", r.ValidScore)
	}
	if r.Fields.DocumentNumber != "L1234567" || r.Fields.Surname != "KUMAR" || r.Fields.GivenNames != "NIVESH" ||
		r.Fields.BirthDateISO != "1990-03-15" || r.Fields.ExpiryDateISO != "2029-12-31" || r.Expired {
		t.Errorf("fields = %+v, expired %v", r.Fields, r.Expired)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  error
	}{
		{"nil", nil, ErrNoMRZ},
		{"blank lines", []string{"", "   ", "\n"}, ErrNoMRZ},
		{"prose", []string{"REPUBLIC OF UTOPIA", "PASSPORT / PASSEPORT", "Surname / Nom"}, ErrNoMRZ},
		{"truncated to half", []string{specimenTD3[0][:22], specimenTD3[1][:22]}, ErrNoMRZ},
		{"binary garbage", []string{"\x00\x01\xff\xfe" + strings.Repeat("\x80", 40), strings.Repeat("\x00", 44)}, ErrNoMRZ},
		{"one line", specimenTD3[1:], ErrUnknownFormat},
		{"two TD1 lines", specimenTD1[:2], ErrUnknownFormat},
		{"mixed widths", []string{specimenTD3[0], specimenTD2[1]}, ErrUnknownFormat},
		{"four TD1-like lines", append(append([]string{}, specimenTD1...), specimenTD1[0]), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse(tc.lines, testNow)
			if tc.want == nil {
				if err != nil || strings.Join(r.Lines, "\n") != strings.Join(specimenTD1, "\n") {
					t.Fatalf("Parse = %v, %v; want the TD1 specimen from the 3 lines in order", r, err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Parse error = %v, want %v", err, tc.want)
			}
			if r != nil {
				t.Errorf("Parse returned a result with error %v", err)
			}
		})
	}
}

func TestParseNoise(t *testing.T) {
	tests := []struct {
		name    string
		lines   []string
		want    []string // the repaired zone
		fixes   int      // corrections expected
		warning bool     // whether a warning is expected
	}{
		{"lowercase, spaces and blank lines",
			[]string{"", "p<uto eriksson<<anna<maria<<<<<<<<<<<<<<<<<<<  ", "", " L898902C36 UTO7408122F 1204159ZE184226B<<<<<10"},
			specimenTD3, 0, false},
		{"guillemets as fillers",
			[]string{"P‹UTOERIKSSON«ANNA‹MARIA«««««««««‹", specimenTD3[1]}, specimenTD3, 13, false},
		{"lowercase l in uppercase lines",
			[]string{"P<UTOERlKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408l22F1204159ZE184226B<<<<<10"}, specimenTD3, 3, false},
		{"line break inside one entry", []string{specimenTD2[0] + "\n" + specimenTD2[1]}, specimenTD2, 0, false},
		{"name line too long", []string{specimenTD3[0] + "<<", specimenTD3[1]}, specimenTD3, 2, false},
		{"name line too short", []string{specimenTD3[0][:41], specimenTD3[1]}, specimenTD3, 3, false},
		{"noise before the first line", []string{"1" + specimenTD3[0], specimenTD3[1]}, specimenTD3, 1, false},
		{"noise around the first line", []string{". " + specimenTD2[0] + "|", specimenTD2[1]}, specimenTD2, 4, false},
		{"extra filler inside the optional data",
			[]string{specimenTD3[0], "L898902C36UTO7408122F1204159ZE184226B<<<<<<10"}, specimenTD3, 1, false},
		{"missing filler inside the optional data",
			[]string{specimenTD3[0], "L898902C36UTO7408122F1204159ZE184226B<<<<10"}, specimenTD3, 1, false},
		{"stray character after the zone",
			[]string{specimenTD2[0], specimenTD2[1] + "."}, specimenTD2, 2, false},
		{"spaces printed for fillers",
			[]string{"I UTOERIKSSON  ANNA MARIA           ", specimenTD2[1]}, specimenTD2, 15, false},
		{"K read for fillers in name padding and country",
			[]string{"IDDKKT220001293<<<<<<<<<<<<<<<", "6408125<2010315DK<<<<<<<<<<<<4", "MUSTERMANN<<ERIKA<<<<K<<<<<<KK"},
			specimenDEU, 6, false},
		{"unknown issuer one letter from the nationality",
			[]string{"P<UJOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", specimenTD3[1]}, specimenTD3, 1, false},
		{"unknown nationality one letter from the issuer",
			[]string{specimenTD3[0], "L898902C36UT07408122F1204159ZE184226B<<<<<10"}, specimenTD3, 1, false},
		{"unknown issuer two letters from the nationality is only warned about",
			[]string{"P<QJOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", specimenTD3[1]},
			[]string{"P<QJOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", specimenTD3[1]}, 0, true},
		{"a known issuer other than the nationality is kept",
			[]string{"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UGA7408122F1204159ZE184226B<<<<<10"},
			[]string{"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UGA7408122F1204159ZE184226B<<<<<10"}, 0, false},
		{"letters after three fillers end the name",
			[]string{"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<MM", specimenTD3[1]}, specimenTD3, 2, false},
		{"a given name after two fillers kept",
			[]string{"P<UTOERIKSSON<<ANNA<<MARIA<<<<<<<<<<<<<<<<<<", specimenTD3[1]},
			[]string{"P<UTOERIKSSON<<ANNA<<MARIA<<<<<<<<<<<<<<<<<<", specimenTD3[1]}, 0, false},
		{"K kept as a given name initial",
			[]string{"P<UTOERIKSSON<<K<<<<<<<<<<<<<<<<<<<<<<<<<<<<", specimenTD3[1]},
			[]string{"P<UTOERIKSSON<<K<<<<<<<<<<<<<<<<<<<<<<<<<<<<", specimenTD3[1]}, 0, false},
		{"letters in dates and check digits, digits in names",
			[]string{"P<UT0ER1KSSON<<ANNA<MAR1A<<<<<<<<<<<<<<<<<<<", "L898902C3GUTO74O8IZZF12O4IS9ZE184226B<<<<<1O"},
			specimenTD3, 12, false},
		{"length repair the check digits cannot confirm",
			[]string{specimenTD3[0], "L898902C36UTO7408122F1204159ZE184226B<<<<<<11"},
			// the composite is wrong: removing a filler from the run keeps
			// the other four check digits valid, trimming the end would not
			[]string{specimenTD3[0], "L898902C36UTO7408122F1204159ZE184226B<<<<<11"}, 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustParse(t, tc.lines)
			if strings.Join(r.Lines, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("lines =\n%s\nwant\n%s", strings.Join(r.Lines, "\n"), strings.Join(tc.want, "\n"))
			}
			if len(r.Corrections) != tc.fixes {
				t.Errorf("%d corrections, want %d: %+v", len(r.Corrections), tc.fixes, r.Corrections)
			}
			if (len(r.Warnings) > 0) != tc.warning {
				t.Errorf("warnings = %q, want some: %v", r.Warnings, tc.warning)
			}
			for _, c := range r.Corrections {
				if c.Line < 1 || c.Column < 1 || c.Reason == "" || c.From == c.To {
					t.Errorf("malformed correction %+v", c)
				}
			}
		})
	}
}

func TestParseUnknownCountryWarns(t *testing.T) {
	r := mustParse(t, []string{
		"P<ZZZERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
		"L898902C36UTO7408122F1204159ZE184226B<<<<<10",
	})
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], `"ZZZ"`) {
		t.Errorf("warnings = %q, want one about ZZZ", r.Warnings)
	}
	if r.ValidScore != 100 {
		t.Errorf("the issuer is not under a check digit, score = %d", r.ValidScore)
	}
}

func TestResultJSONShape(t *testing.T) {
	b, err := json.Marshal(mustParse(t, specimenTD3))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"format", "lines", "valid_score", "checks", "fields", "corrections", "expired", "warnings"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
	if m["corrections"] == nil || m["warnings"] == nil {
		t.Errorf("empty lists must be [] not null: %s", b)
	}
	fields, _ := m["fields"].(map[string]any)
	for _, k := range []string{"document_code", "issuing_country", "document_number", "surname", "given_names",
		"nationality", "birth_date", "sex", "expiry_date", "optional_data"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("fields lack %q", k)
		}
	}
}

func TestParseZeroNowUsesClock(t *testing.T) {
	r, err := Parse(specimenTD3, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Fields.BirthDateISO != "1974-08-12" || !r.Expired {
		t.Errorf("with the clock's now: birth %s expired %v", r.Fields.BirthDateISO, r.Expired)
	}
}

func BenchmarkParse(b *testing.B) {
	for _, bc := range []struct {
		name  string
		lines []string
	}{
		{"TD3 clean", specimenTD3},
		{"TD1 clean", specimenTD1},
		{"TD3 noisy", []string{"p<uto eriksson<<anna<maria<<<<<<<<<<<<<<<<<<<<", "L8989O2C36UTO74O8122F1204159ZE184226B<<<<<<10"}},
		{"MRVA confusion", []string{specimenMRVA[0], "L89889O1C4XXX4009078F96121096ZE184226B<<<<<<"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Parse(bc.lines, testNow); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
