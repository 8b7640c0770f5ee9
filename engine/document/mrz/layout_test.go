package mrz

import (
	"slices"
	"strings"
	"testing"
)

func TestLayoutFieldsCoverEveryPositionOnce(t *testing.T) {
	for _, l := range layouts {
		seen := make([][]int, l.height)
		for i := range seen {
			seen[i] = make([]int, l.width)
		}
		for _, f := range l.fields() {
			for c := f.at.start; c < f.at.end; c++ {
				seen[f.at.line][c]++
			}
		}
		for i, row := range seen {
			for c, n := range row {
				if n != 1 {
					t.Errorf("%s line %d column %d is covered %d times", l.format, i+1, c+1, n)
				}
			}
		}
	}
}

func TestLineRoles(t *testing.T) {
	tests := []struct {
		line string
		want []LineRole
	}{
		{specimenTD3[0], []LineRole{{TD3, 1}}},
		{specimenTD3[1], []LineRole{{TD3, 2}, {MRVA, 2}}},
		{specimenMRVA[0], []LineRole{{MRVA, 1}}},
		{specimenMRVA[1], []LineRole{{MRVA, 2}}}, // a letter where TD3 has its check digits
		{specimenTD2[0], []LineRole{{TD2, 1}}},
		{specimenTD2[1], []LineRole{{TD2, 2}, {MRVB, 2}}},
		{specimenMRVB[0], []LineRole{{MRVB, 1}}},
		{specimenTD1[0], []LineRole{{TD1, 1}}},
		{specimenTD1[1], []LineRole{{TD1, 2}}},
		{specimenTD1[2], []LineRole{{TD1, 1}, {TD1, 3}}}, // letters only: also a line 1 shape
		{specimenDEU[1], []LineRole{{TD1, 2}}},
		{"L898902C36UTO7408122F1204159ZE184226B<<<<<1", nil},                              // 43 characters
		{"L898902C36UTO74X8122F1204159ZE184226B<<<<<10", nil},                             // X in a date
		{"L898902C36UTO74O8122F1204159ZE184226B<<<<<10", []LineRole{{TD3, 2}, {MRVA, 2}}}, // O for 0
		{"L898902C36UTO7408122F1204159ZE184226B<<<<<1<", []LineRole{{MRVA, 2}}},           // no composite
		{"L898902C36UTO7408122Q1204159ZE184226B<<<<<10", nil},                             // sex Q
		{"L898902C36U7O7408122F1204159ZE184226B<<<<<10", nil},                             // 7 in nationality
		{"p<utoeriksson<<anna<maria<<<<<<<<<<<<<<<<<<<", nil},                             // not clean
		{"", nil},
	}
	for _, tc := range tests {
		if got := LineRoles(tc.line); !slices.Equal(got, tc.want) {
			t.Errorf("LineRoles(%q) = %v, want %v", tc.line, got, tc.want)
		}
	}
}

func TestFindLines(t *testing.T) {
	page := []string{
		"PASSPORT  PASSEPORT  UTOPIA",
		"Type/Type  Code/Code  Passport No./No. du passeport",
		"P  UTO  L898902C3",
		"Surname/Nom",
		"ERIKSSON",
		"Given names/Prénoms ANNA MARIA",
		"Date of birth 12 AUG/AOUT 74",
		"",
		"p<utoeriksson<<anna<maria<<<<<<<<<<<<<<<<<<<",
		"",
		"L898902C36UTO7408122F1204159ZE184226B<<<<<10",
		"Page 1",
	}
	got := FindLines(page)
	if !slices.Equal(got, []string{page[8], page[10]}) {
		t.Fatalf("FindLines = %q", got)
	}
	r, err := Parse(page, testNow)
	if err != nil || r.Fields.DocumentNumber != "L898902C3" || r.ValidScore != 100 {
		t.Fatalf("Parse(page) = %+v, %v", r, err)
	}

	// Two zones on one page (a visa stamped in a passport): the lower one.
	both := append(append(append([]string{}, specimenTD3...), "text between"), specimenMRVA...)
	if got := FindLines(both); !slices.Equal(got, specimenMRVA) {
		t.Errorf("FindLines(two zones) = %q, want the lower one", got)
	}
	if got := FindLines([]string{"no machine readable zone", "on this page"}); got != nil {
		t.Errorf("FindLines(prose) = %q, want nil", got)
	}
	if got := FindLines(nil); got != nil {
		t.Errorf("FindLines(nil) = %q", got)
	}
	// A lone MRZ line is returned so that Parse can say it fits no layout.
	if got := FindLines(append([]string{"header"}, specimenTD3[1])); !slices.Equal(got, specimenTD3[1:]) {
		t.Errorf("FindLines(one line) = %q", got)
	}
}

func TestKnownCountry(t *testing.T) {
	for _, c := range []string{"UTO", "D<<", "D", "DEU", "GBR", "GBD", "UNO", "UNA", "UNK", "XXA", "XXB", "XXC", "XXX", "EUE", "RKS", "XOM"} {
		if !KnownCountry(c) {
			t.Errorf("KnownCountry(%q) = false", c)
		}
	}
	for _, c := range []string{"", "ZZZ", "DE", "<<<", "UTOX", ",UT", "ATN", "YUG", "uto"} {
		if KnownCountry(c) {
			t.Errorf("KnownCountry(%q) = true", c)
		}
	}
	codes := strings.Split(strings.Trim(isoCountries, ","), ",")
	if len(codes) != 249 {
		t.Errorf("%d ISO 3166-1 codes, want 249", len(codes))
	}
	if !slices.IsSorted(codes) {
		t.Error("ISO codes are not sorted: a typo or a duplicate hides more easily")
	}
}
