package mrz

import (
	"testing"
	"time"
)

func TestDateCenturies(t *testing.T) {
	now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		raw    string
		birth  string // "" when the date is invalid
		expiry string
	}{
		{"740812", "1974-08-12", "2074-08-12"},
		{"250101", "2025-01-01", "2025-01-01"},
		{"260601", "2026-06-01", "2026-06-01"}, // born today
		{"260602", "1926-06-02", "2026-06-02"}, // tomorrow: not a birth date
		{"261231", "1926-12-31", "2026-12-31"},
		{"760101", "1976-01-01", "2076-01-01"}, // 50 years ahead: last year of the expiry window
		{"770101", "1977-01-01", "1977-01-01"}, // 51 years ahead: read as 49 years back
		{"000229", "2000-02-29", "2000-02-29"}, // leap day
		{"990229", "", ""},                     // 1999 and 2099 have no 29 February
		{"7408<<", "1974-08", "2074-08"},       // unknown day
		{"74<<<<", "1974", "2074"},             // unknown month
		{"2606<<", "2026-06", "2026-06"},
		{"2607<<", "1926-07", "2026-07"},
		{"741301", "", ""},
		{"740800", "", ""},
		{"74AB12", "", ""},
		{"<<0812", "", ""},
	}
	for _, tc := range tests {
		d, err := readDate(tc.raw)
		var birth, expiry string
		if err == nil {
			birth, _ = d.iso(d.birthYear(now))
			expiry, _ = d.iso(d.expiryYear(now))
		}
		if birth != tc.birth || expiry != tc.expiry {
			t.Errorf("%s: birth %q expiry %q, want %q %q", tc.raw, birth, expiry, tc.birth, tc.expiry)
		}
	}
}

func TestExpired(t *testing.T) {
	lines := func(expiry, check string) []string {
		return []string{specimenTD3[0], "L898902C36UTO7408122F" + expiry + check + "ZE184226B<<<<<10"}
	}
	now := time.Date(2026, 6, 1, 23, 59, 0, 0, time.UTC)
	tests := []struct {
		expiry, check string
		expired       bool
	}{
		{"260601", "5", false}, // valid through its expiry day
		{"260531", "7", true},
		{"360601", "2", false},
		{"2605<<", "7", false}, // incomplete: not judged
	}
	for _, tc := range tests {
		r, err := Parse(lines(tc.expiry, tc.check), now)
		if err != nil {
			t.Fatal(err)
		}
		if r.Expired != tc.expired {
			t.Errorf("expiry %s: expired = %v, want %v", tc.expiry, r.Expired, tc.expired)
		}
		for _, c := range r.Checks {
			if c.Name == CheckExpiryDate && !c.Valid {
				t.Errorf("test data: expiry check digit %s for %s, want %s", tc.check, tc.expiry, c.Expected)
			}
		}
	}
}
