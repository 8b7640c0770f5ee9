package screening

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
)

func TestParseDate(t *testing.T) {
	tests := []struct {
		in   string
		want Date
		err  bool
	}{
		{"1963-07-28", Date{1963, 7, 28}, false},
		{"1963-07", Date{1963, 7, 0}, false},
		{"1963", Date{1963, 0, 0}, false},
		{"1964-00-00", Date{1964, 0, 0}, false},
		{" 2000-02-29 ", Date{2000, 2, 29}, false},
		{"1999-02-29", Date{}, true},
		{"1963-13-01", Date{}, true},
		{"63-07-28", Date{}, true},
		{"28/07/1963", Date{}, true},
		{"1963-7-28", Date{}, true},
		{"1700", Date{}, true},
		{"", Date{}, true},
		{"1963-07-28-01", Date{}, true},
	}
	for _, tt := range tests {
		got, err := ParseDate(tt.in)
		if tt.err {
			if !errors.Is(err, ErrBadDate) {
				t.Errorf("ParseDate(%q) err = %v, want ErrBadDate", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseDate(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseDOBText(t *testing.T) {
	d := func(y, m, dd int) Date { return Date{y, m, dd} }
	tests := []struct {
		in   string
		want DOB
		err  bool
	}{
		{"28 Jul 1963", DOB{From: d(1963, 7, 28), To: d(1963, 7, 28)}, false},
		{"28 Jul 1963.", DOB{From: d(1963, 7, 28), To: d(1963, 7, 28)}, false},
		{"Jul 1963", DOB{From: d(1963, 7, 0), To: d(1963, 7, 0)}, false},
		{"Nov. 1973 ", DOB{From: d(1973, 11, 0), To: d(1973, 11, 0)}, false},
		{"September 1950", DOB{From: d(1950, 9, 0), To: d(1950, 9, 0)}, false},
		{"1963", DOB{From: d(1963, 0, 0), To: d(1963, 0, 0)}, false},
		{"circa 1963", DOB{From: d(1963, 0, 0), To: d(1963, 0, 0), Circa: true}, false},
		{"circa 01 Jan 1960", DOB{From: d(1960, 1, 1), To: d(1960, 1, 1), Circa: true}, false},
		{"1962 to 1964", DOB{From: d(1962, 0, 0), To: d(1964, 0, 0)}, false},
		{"circa 1960-1962", DOB{From: d(1960, 0, 0), To: d(1962, 0, 0), Circa: true}, false},
		{"01 Jan 1960 to 31 Dec 1962", DOB{From: d(1960, 1, 1), To: d(1962, 12, 31)}, false},
		{"Mar 1961 to Feb 1962", DOB{From: d(1961, 3, 0), To: d(1962, 2, 0)}, false},
		{"1964 to 1962", DOB{}, true},
		{"31 Feb 1970", DOB{}, true},
		{"born in the mountains", DOB{}, true},
		{"", DOB{}, true},
		{"12 Foo 1970", DOB{}, true},
		{"0 Jan 1970", DOB{}, true},
	}
	for _, tt := range tests {
		got, err := parseDOBText(tt.in)
		if tt.err {
			if !errors.Is(err, ErrBadDate) {
				t.Errorf("parseDOBText(%q) err = %v, want ErrBadDate", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseDOBText(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestDOBAgreement(t *testing.T) {
	exact := []DOB{{From: Date{1963, 7, 28}, To: Date{1963, 7, 28}}}
	year := []DOB{{From: Date{Year: 1963}, To: Date{Year: 1963}}}
	circa := []DOB{{From: Date{Year: 1970}, To: Date{Year: 1970}, Circa: true}}
	tests := []struct {
		name string
		q    Date
		dobs []DOB
		want Agreement
	}{
		{"same day", Date{1963, 7, 28}, exact, AgreeExact},
		{"same year, query precise", Date{1963, 3, 1}, year, AgreePartial},
		{"same year, query a year", Date{Year: 1963}, exact, AgreePartial},
		{"next day", Date{1963, 7, 29}, exact, AgreeNear},
		{"a year off", Date{1964, 7, 1}, exact, AgreeNear},
		{"ten years off", Date{1973, 7, 28}, exact, AgreeConflict},
		{"within circa", Date{1972, 1, 1}, circa, AgreePartial},
		{"beyond circa", Date{1975, 1, 1}, circa, AgreeConflict},
		{"best of several", Date{1963, 7, 28}, slices.Concat(circa, exact), AgreeExact},
		{"no query date", Date{}, exact, ""},
		{"no entry date", Date{1963, 7, 28}, nil, ""},
	}
	for _, tt := range tests {
		if got := dobAgreement(tt.q, tt.dobs); got != tt.want {
			t.Errorf("%s: dobAgreement = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestDateJSON(t *testing.T) {
	in := DOB{From: Date{1963, 7, 0}, To: Date{1964, 0, 0}, Circa: true}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"from":"1963-07","to":"1964","circa":true}` {
		t.Errorf("JSON = %s", b)
	}
	var out DOB
	if err := json.Unmarshal(b, &out); err != nil || out != in {
		t.Errorf("round trip = %+v, %v; want %+v", out, err, in)
	}
	if err := json.Unmarshal([]byte(`{"from":"1963-02-30"}`), &out); !errors.Is(err, ErrBadDate) {
		t.Errorf("bad date in JSON: err = %v, want ErrBadDate", err)
	}
}

func TestCountryKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"RUS", "RUS"}, {"ru", "RUS"}, {"Russia", "RUS"}, {"Russian Federation", "RUS"},
		{"Korea, North", "PRK"}, {"Democratic People's Republic of Korea", "PRK"},
		{"Congo, Democratic Republic of the", "COD"}, {"Democratic Republic of the Congo", "COD"},
		{"Côte d’Ivoire", "CIV"}, {"Cote d Ivoire", "CIV"},
		{"Iran (Islamic Republic of)", "IRN"}, {"Burma", "MMR"}, {"Trinidad and Tobago", "TTO"},
		{"The Gambia", "GMB"}, {"D", "DEU"}, {"Germany", "DEU"},
		{"Atlantis", "atlantis"}, {"", ""},
	}
	for _, tt := range tests {
		if got := countryKey(tt.in); got != tt.want {
			t.Errorf("countryKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
