package fields

import (
	"errors"
	"testing"
	"time"
)

func TestParseNIK(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		err     error
		birth   string
		sex     string
		prov    string
		fixed   string
		correct int
	}{
		{"man", "3171011708900001", nil, "1990-08-17", "M", "DKI JAKARTA", "3171011708900001", 0},
		{"woman, day plus 40", "3273015712850003", nil, "1985-12-17", "F", "JAWA BARAT", "3273015712850003", 0},
		{"born this century", "9601010101200001", nil, "2020-01-01", "M", "PAPUA BARAT DAYA", "9601010101200001", 0},
		{"spaces and OCR letters", "3171 O117 O89O OOOl", nil, "1990-08-17", "M", "DKI JAKARTA", "3171011708900001", 7},
		{"too short", "317101170890001", ErrNIKLength, "", "", "", "317101170890001", 0},
		{"too long", "31710117089000011", ErrNIKLength, "", "", "", "31710117089000011", 0},
		{"letters", "3171011708X00001", ErrNIKLength, "", "", "", "3171011708X00001", 0},
		{"empty", "", ErrNIKLength, "", "", "", "", 0},
		{"unknown province 20", "2071011708900001", ErrNIKProvince, "1990-08-17", "M", "", "2071011708900001", 0},
		{"unknown province 99", "9971011708900001", ErrNIKProvince, "1990-08-17", "M", "", "9971011708900001", 0},
		{"day 32", "3171013208900001", ErrNIKDate, "", "", "DKI JAKARTA", "3171013208900001", 0},
		{"woman's day 72", "3171017208900001", ErrNIKDate, "", "", "DKI JAKARTA", "3171017208900001", 0},
		{"month 13", "3171011713900001", ErrNIKDate, "", "", "DKI JAKARTA", "3171011713900001", 0},
		{"30 February", "3171013002900001", ErrNIKDate, "", "", "DKI JAKARTA", "3171013002900001", 0},
		{"29 February, leap year", "3171012902000001", nil, "2000-02-29", "M", "DKI JAKARTA", "3171012902000001", 0},
		{"serial 0000", "3171011708900000", ErrNIKZero, "1990-08-17", "M", "DKI JAKARTA", "3171011708900000", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := ParseNIK(tt.in, now)
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if n.Valid != (err == nil) || (len(n.Problems) == 0) != (err == nil) {
				t.Errorf("valid %v with problems %q for error %v", n.Valid, n.Problems, err)
			}
			if n.Number != tt.fixed || n.BirthDate != tt.birth || n.Sex != tt.sex || n.Province != tt.prov || n.Corrected != tt.correct {
				t.Errorf("got %s %s %s %q corrected %d, want %s %s %s %q corrected %d",
					n.Number, n.BirthDate, n.Sex, n.Province, n.Corrected, tt.fixed, tt.birth, tt.sex, tt.prov, tt.correct)
			}
		})
	}
}

func TestProvinces(t *testing.T) {
	if len(provinces) != 38 {
		t.Errorf("%d provinces, want Indonesia's 38", len(provinces))
	}
	for code := range provinces {
		if len(code) != 2 || code < "11" || code > "96" {
			t.Errorf("province code %q outside 11..96", code)
		}
	}
	if Province("34") != "DI YOGYAKARTA" || Province("00") != "" {
		t.Errorf("Province(34) = %q, Province(00) = %q", Province("34"), Province("00"))
	}
}

func TestParseDate(t *testing.T) {
	tests := []struct {
		in   string
		kind dateKind
		want string // "" for no date
	}{
		{"12 AUG 1974", pastDate, "1974-08-12"},
		{"12 AOUT/AUG 74", pastDate, "1974-08-12"},
		{"12 AUG/AOÛT 74", pastDate, "1974-08-12"},
		{"12.08.1974", pastDate, "1974-08-12"},
		{"1974-08-12", pastDate, "1974-08-12"},
		{"12/08/1974", pastDate, "1974-08-12"},
		{"12-08-1974", pastDate, "1974-08-12"},
		{"12081974", pastDate, "1974-08-12"},
		{"19740812", pastDate, "1974-08-12"},
		{"1708-2020", expiryDate, "2020-08-17"}, // a separator lost to OCR
		{"17-082020", expiryDate, "2020-08-17"},
		{"1708 1990", pastDate, "1990-08-17"},
		{"1990 2020", pastDate, ""}, // two years, no date
		{"12AUG1974", pastDate, "1974-08-12"},
		{"1 JAN 2001", pastDate, "2001-01-01"},
		{"17 AGU 1945", pastDate, "1945-08-17"},
		{"17 AGS 1945", pastDate, "1945-08-17"},
		{"17 AGUSTUS 1945", pastDate, "1945-08-17"},
		{"5 MEI 1990", pastDate, "1990-05-05"},
		{"5 OKT 1990", pastDate, "1990-10-05"},
		{"25 DES 1990", pastDate, "1990-12-25"},
		{"25 DEZ 1990", pastDate, "1990-12-25"},
		{"14 MAR 1990", pastDate, "1990-03-14"},
		{"14 JUIL 1990", pastDate, "1990-07-14"},
		{"2O.O8.l974", pastDate, "1974-08-20"},
		{"JAKARTA, 17-08-1990", pastDate, "1990-08-17"},
		{"08/25/1990", pastDate, "1990-08-25"}, // month first: 25 is no month
		{"12 AUG 26", pastDate, "1926-08-12"},  // a birth date is not in the future
		{"12 AUG 30", expiryDate, "2030-08-12"},
		{"12 AUG 76", expiryDate, "2076-08-12"}, // within 50 years ahead
		{"12 AUG 80", expiryDate, "1980-08-12"},
		{"12 AUG 77", expiryDate, "1977-08-12"},
		{"31.02.1990", pastDate, ""},
		{"10104018", pastDate, ""},     // "10/04/49" misread: no birth in 4018
		{"10.04.2031", pastDate, ""},   // a birth or issue date is not in the future
		{"11.01.2094", expiryDate, ""}, // more than 50 years ahead
		{"11.01.1894", expiryDate, ""},
		{"12 XYZ 1974", pastDate, ""},
		{"SEUMUR HIDUP", expiryDate, ""},
		{"001/002", pastDate, ""},
		{"", pastDate, ""},
	}
	for _, tt := range tests {
		got, ok := parseDate(tt.in, tt.kind, now)
		if ok != (tt.want != "") || got != tt.want {
			t.Errorf("parseDate(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}

func TestParseValues(t *testing.T) {
	tests := []struct {
		name  string
		parse func(string, time.Time) (string, bool)
		in    string
		want  string // "" for no value
	}{
		{"sex M", parseSex, "M", "M"},
		{"sex bilingual", parseSex, "F/F", "F"},
		{"sex laki-laki", parseSex, "LAKI-LAKI", "M"},
		{"sex noisy perempuan", parseSex, "PEREMPUAM", "F"},
		{"sex homme", parseSex, "H", "M"},
		{"sex garbage", parseSex, "QQ", ""},
		{"religion noisy", choice(religions), "KRlSTEN", "KRISTEN"},
		{"religion budha", choice(religions), "BUDHA", "BUDDHA"},
		{"religion khonghucu", choice(religions), "KHONGHUCU", "KONGHUCU"},
		{"religion unknown", choice(religions), "SATANISME", ""},
		{"cerai mati", choice([]string{"BELUM KAWIN", "KAWIN", "CERAI HIDUP", "CERAI MATI"}), "CERAI MAT1", "CERAI MATI"},
		{"blood O read as zero", parseBloodType, "0", "O"},
		{"blood rhesus", parseBloodType, "AB+", "AB+"},
		{"blood unknown", parseBloodType, "-", ""},
		{"rt/rw", parseRTRW, "OO1 / 0O2", "001/002"},
		{"rt/rw garbage", parseRTRW, "JALAN", ""},
		{"valid for life", parseValidUntil, "SEUMUR HIDUP", Lifetime},
		{"valid for life noisy", parseValidUntil, "SEUMUR HlDUP", Lifetime},
		{"valid until a date", parseValidUntil, "17-08-2030", "2030-08-17"},
		{"document number", parseDocumentNumber, "P UTO L898902C3", "L898902C3"},
		{"document number none", parseDocumentNumber, "PASSEPORT", ""},
		{"country code", parseCountryCode, "UTOPIAN / UTO", "UTO"},
		{"name keeps diacritics", parseName, "Zoë O'Brien-Løvås 1", "ZOË O'BRIEN-LØVÅS"},
		{"name needs letters", parseName, ": 123", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.parse(tt.in, now)
			if ok != (tt.want != "") || got != tt.want {
				t.Errorf("parse(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
			}
		})
	}
}

func TestCompareName(t *testing.T) {
	tests := []struct {
		mrz, visual string
		cut         bool
		want        int
	}{
		{"ERIKSSON", "ERIKSSON", false, nameExact},
		{"MULLER", "MÜLLER", false, nameExact},
		{"MUELLER", "MÜLLER", false, nameExact},
		{"OBRIEN", "O'BRIEN", false, nameExact},
		{"SMITH JONES", "SMITH-JONES", false, nameExact},
		{"ANNA MARIA", "ANNA MARLA", false, nameFuzzy},
		{"ANNA MARIA", "ANNA", false, nameDiffers},
		{"ERIKSSON", "ERIKSEN", false, nameDiffers},
		{"MARIA DEL CARMEN GUADALUPE CONCEP", "MARIA DEL CARMEN GUADALUPE CONCEPCION", true, nameExact},
		{"MARIA DEL CARMEN GUADALUPE CONCEP", "MARIA DEL CARMEN GUADALUPE CONCEPCION", false, nameDiffers},
		{"", "ANNA", false, nameDiffers},
	}
	for _, tt := range tests {
		if got := compareName(tt.mrz, tt.visual, tt.cut); got != tt.want {
			t.Errorf("compareName(%q, %q, %v) = %d, want %d", tt.mrz, tt.visual, tt.cut, got, tt.want)
		}
	}
}

func TestFind(t *testing.T) {
	tests := []struct {
		text, pat string
		want      int // occurrences
	}{
		{"GIVEN NAMES/PRENOMS", "NOM", 0}, // short patterns are whole words
		{"SURNAME/NOM", "NOM", 1},
		{"STATUS PERKAWLNAN KAWLN", "STATUSPERKAWINAN", 1},
		{"G0L. DARAH", "GOLDARAH", 1},
		{"JAKARTA", "KOTA", 0},
		{"", "NIK", 0},
		{"NIK", "", 0},
	}
	for _, tt := range tests {
		c := newCompact(fold(tt.text, false).text)
		if got := len(c.find(&pats(tt.pat)[0])); got != tt.want {
			t.Errorf("find(%q in %q) = %d hits, want %d", tt.pat, tt.text, got, tt.want)
		}
	}
}
