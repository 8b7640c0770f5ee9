package fields

import (
	"encoding/json"
	"image"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/engine/document/mrz"
)

// wantFields checks every expected field's value (and source, when given
// as "value@source").
func wantFields(t *testing.T, got map[string]Field, want map[string]string) {
	t.Helper()
	for k, w := range want {
		value, source, hasSource := strings.Cut(w, "@")
		f, ok := got[k]
		switch {
		case !ok:
			t.Errorf("field %s missing, want %q", k, value)
		case f.Value != value:
			t.Errorf("field %s = %q, want %q", k, f.Value, value)
		case hasSource && f.Source != source:
			t.Errorf("field %s source = %q, want %q", k, f.Source, source)
		case f.Confidence <= 0 || f.Confidence > 1:
			t.Errorf("field %s confidence %v outside (0, 1]", k, f.Confidence)
		}
	}
}

func TestExtractKTP(t *testing.T) {
	tests := []struct {
		name       string
		lines      []Line
		want       map[string]string
		wantNIK    NIK
		expired    bool
		mismatches []string
	}{
		{
			name:  "clean",
			lines: ktpClean(),
			want: map[string]string{
				FieldNIK: "3171011708900001", FieldName: "BUDI SANTOSO", FieldBirthPlace: "JAKARTA",
				FieldBirthDate: "1990-08-17@visual", FieldSex: "M@visual", FieldBloodType: "O",
				FieldAddress: "JL. MERDEKA NO. 10", FieldRTRW: "001/002", FieldVillage: "SENAYAN",
				FieldDistrict: "KEBAYORAN BARU", FieldReligion: "ISLAM", FieldMaritalStatus: "BELUM KAWIN",
				FieldOccupation: "KARYAWAN SWASTA", FieldNationality: "WNI", FieldExpiryDate: Lifetime,
				FieldProvince: "DKI JAKARTA", FieldRegency: "KOTA JAKARTA SELATAN", FieldIssueDate: "2016-08-12",
			},
			wantNIK: NIK{Number: "3171011708900001", Valid: true, ProvinceCode: "31", Province: "DKI JAKARTA",
				RegencyCode: "3171", DistrictCode: "317101", BirthDate: "1990-08-17", Sex: "M", Serial: "0001"},
		},
		{
			name:  "noisy",
			lines: ktpNoisy(),
			want: map[string]string{
				FieldNIK: "3204025711920013", FieldName: "SITI NURHALIZA", FieldBirthPlace: "BANDUNG",
				FieldBirthDate: "1992-11-17", FieldSex: "F", FieldBloodType: "AB", FieldRTRW: "003/011",
				FieldVillage: "CIBIRU WETAN", FieldDistrict: "CILEUNYI", FieldReligion: "ISLAM",
				FieldMaritalStatus: "KAWIN", FieldOccupation: "MENGURUS RUMAH TANGGA", FieldNationality: "WNI",
				FieldExpiryDate: "2017-11-17", FieldProvince: "JAWA BARAT", FieldRegency: "KABUPATEN BANDUNG",
			},
			wantNIK: NIK{Number: "3204025711920013", Valid: true, ProvinceCode: "32", Province: "JAWA BARAT",
				RegencyCode: "3204", DistrictCode: "320402", BirthDate: "1992-11-17", Sex: "F", Serial: "0013", Corrected: 4},
			expired: true,
		},
		{
			name: "printed fields disagree with the NIK",
			lines: withText(t, withText(t, ktpClean(), ": JAKARTA, 17-08-1990", ": JAKARTA, 18-08-1990"),
				": LAKI-LAKI", ": PEREMPUAN"),
			want:       map[string]string{FieldBirthDate: "1990-08-18@visual", FieldSex: "F@visual"},
			wantNIK:    NIK{Number: "3171011708900001", Valid: true, BirthDate: "1990-08-17", Sex: "M"},
			mismatches: []string{"birth_date nik 1990-08-17 1990-08-18", "sex nik M F"},
		},
		{
			name:       "province disagrees with the NIK",
			lines:      withText(t, ktpClean(), "PROVINSI DKI JAKARTA", "PROVINSI BALI"),
			want:       map[string]string{FieldProvince: "BALI@visual"},
			wantNIK:    NIK{Number: "3171011708900001", Valid: true},
			mismatches: []string{"province nik DKI JAKARTA BALI"},
		},
		{
			name: "missing printed date and sex come from the NIK",
			lines: withText(t, withText(t, ktpClean(), ": JAKARTA, 17-08-1990", ": JAKARTA"),
				": LAKI-LAKI", ":"),
			want:    map[string]string{FieldBirthDate: "1990-08-17@nik", FieldSex: "M@nik", FieldBirthPlace: "JAKARTA"},
			wantNIK: NIK{Number: "3171011708900001", Valid: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Extract(tt.lines, cardSize, nil, now)
			if r.Type != TypeKTP || r.Country != "IDN" {
				t.Fatalf("type %s country %q, want ktp IDN (evidence %+v)", r.Type, r.Country, r.Evidence)
			}
			if r.Confidence < 0.8 {
				t.Errorf("confidence %v, want at least 0.8", r.Confidence)
			}
			wantFields(t, r.Fields, tt.want)
			if r.NIK == nil {
				t.Fatal("no NIK")
			}
			checkNIK(t, *r.NIK, tt.wantNIK)
			if r.Expired != tt.expired {
				t.Errorf("expired %v, want %v", r.Expired, tt.expired)
			}
			var ms []string
			for _, m := range r.Mismatches {
				ms = append(ms, strings.Join([]string{m.Field, m.Source, m.Value, m.Visual}, " "))
			}
			if strings.Join(ms, "|") != strings.Join(tt.mismatches, "|") {
				t.Errorf("mismatches %q, want %q", ms, tt.mismatches)
			}
		})
	}
}

// checkNIK compares the non-empty fields of want.
func checkNIK(t *testing.T, got, want NIK) {
	t.Helper()
	pairs := [][3]string{
		{"number", got.Number, want.Number}, {"province code", got.ProvinceCode, want.ProvinceCode},
		{"province", got.Province, want.Province}, {"regency", got.RegencyCode, want.RegencyCode},
		{"district", got.DistrictCode, want.DistrictCode}, {"birth date", got.BirthDate, want.BirthDate},
		{"sex", got.Sex, want.Sex}, {"serial", got.Serial, want.Serial},
	}
	for _, p := range pairs {
		if p[2] != "" && p[1] != p[2] {
			t.Errorf("NIK %s = %q, want %q", p[0], p[1], p[2])
		}
	}
	if got.Valid != want.Valid {
		t.Errorf("NIK valid = %v, want %v (problems %q)", got.Valid, want.Valid, got.Problems)
	}
	if want.Corrected != 0 && got.Corrected != want.Corrected {
		t.Errorf("NIK corrected %d characters, want %d", got.Corrected, want.Corrected)
	}
}

func TestExtractPassport(t *testing.T) {
	in2010 := time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		lines      []Line
		mrz        bool
		now        time.Time
		want       map[string]string
		absent     []string // fields that must not be read
		mismatches []string
		expired    bool
	}{
		{
			name: "visual zone only", lines: passportLines(), now: in2010,
			want: map[string]string{
				FieldSurname: "ERIKSSON@visual", FieldGivenNames: "ANNA MARIA", FieldDocumentNumber: "L898902C3",
				FieldIssuingCountry: "UTO", FieldNationality: "UTOPIAN", FieldBirthDate: "1974-08-12",
				FieldSex: "F", FieldBirthPlace: "ZENITH", FieldIssueDate: "2007-04-16", FieldExpiryDate: "2012-04-15",
			},
		},
		{
			name: "with its MRZ, agreeing", lines: passportLines(), mrz: true, now: in2010,
			want: map[string]string{
				FieldSurname: "ERIKSSON@visual", FieldGivenNames: "ANNA MARIA@visual", FieldDocumentNumber: "L898902C3@mrz",
				FieldNationality: "UTO@mrz", FieldBirthDate: "1974-08-12@mrz", FieldSex: "F@mrz", FieldExpiryDate: "2012-04-15@mrz",
			},
		},
		{
			name: "expired today", lines: passportLines(), mrz: true, now: now,
			want: map[string]string{FieldExpiryDate: "2012-04-15"}, expired: true,
		},
		{
			name: "tampered visual zone",
			lines: withText(t, withText(t, withText(t, passportLines(), "ERIKSSON", "ERIKSEN"),
				"12 AUG/AOÛT 74", "12 AUG/AOÛT 79"), "F", "M"),
			mrz: true, now: in2010,
			want: map[string]string{FieldBirthDate: "1974-08-12@mrz"},
			mismatches: []string{"surname mrz ERIKSSON ERIKSEN", "birth_date mrz 1974-08-12 1979-08-12",
				"sex mrz F M"},
		},
		{
			// A United States card's "Resident since" under its misread
			// "Card expires": that date is no expiry.
			name: "another date's label is no expiry",
			lines: withText(t, withText(t, passportLines(), "Date of expiry/Date d'expiration", "Dale of cxpry"),
				"15 APR/AVR 12", "Resident since 15 APR 97"),
			mrz: true, now: in2010,
			want: map[string]string{FieldExpiryDate: "2012-04-15@mrz"},
		},
		{
			name: "the value under a label printed on two lines",
			lines: append(withText(t, withText(t, passportLines(), "Date of expiry/Date d'expiration", "Valid until/"),
				"15 APR/AVR 12", "Valide jusqu'au"), ln("15 APR/AVR 31", 380, 660, 620, 695)),
			mrz: true, now: in2010,
			want:       map[string]string{FieldExpiryDate: "2012-04-15@mrz"},
			mismatches: []string{"expiry_date mrz 2012-04-15 2031-04-15"},
		},
		{
			// OCR took a date from the next column into the label's line:
			// the date under the label, which the MRZ validates, is the
			// expiry.
			name:  "the value the MRZ validates is preferred",
			lines: withText(t, passportLines(), "Date of expiry/Date d'expiration", "Date of expiry/Date d'expiration 16 APR 07"),
			mrz:   true, now: in2010,
			want: map[string]string{FieldExpiryDate: "2012-04-15"},
		},
		{
			name: "labels unreadable, the expiry found by the MRZ's",
			lines: withText(t, withText(t, passportLines(), "Date of expiry/Date d'expiration", "Dalco"),
				"Date of issue/Date de délivrance", "Dnte"),
			mrz: true, now: in2010,
			want: map[string]string{FieldExpiryDate: "2012-04-15"},
		},
		{
			// Only a later year on the expiry's day and month: the visual
			// zone's expiry moved (an earlier one may be an issue date).
			name: "labels unreadable, the expiry moved",
			lines: withText(t, withText(t, withText(t, passportLines(), "Date of expiry/Date d'expiration", "Dalco"),
				"Date of issue/Date de délivrance", "Dnte"), "15 APR/AVR 12", "15 APR/AVR 31"),
			mrz: true, now: in2010,
			want:       map[string]string{FieldExpiryDate: "2012-04-15@mrz"},
			mismatches: []string{"expiry_date mrz 2012-04-15 2031-04-15"},
		},
		{
			// The MRZ names the birth and the expiry among the page's
			// dates: the one between them is the issue.
			name: "labels unreadable, the issue is the other date",
			lines: withText(t, withText(t, passportLines(), "Date of expiry/Date d'expiration", "Dalco"),
				"Date of issue/Date de délivrance", "Dnte"),
			mrz: true, now: in2010,
			want: map[string]string{FieldIssueDate: "2007-04-16@visual", FieldExpiryDate: "2012-04-15@mrz"},
		},
		{
			name: "labels unreadable, two other dates: no issue",
			lines: append(withText(t, withText(t, passportLines(), "Date of expiry/Date d'expiration", "Dalco"),
				"Date of issue/Date de délivrance", "Dnte"), ln("01 JAN 2001", 380, 700, 620, 735)),
			mrz: true, now: in2010,
			want:   map[string]string{FieldExpiryDate: "2012-04-15@mrz"},
			absent: []string{FieldIssueDate},
		},
		{
			name: "labels unreadable, an earlier year is no expiry",
			lines: withText(t, withText(t, withText(t, passportLines(), "Date of expiry/Date d'expiration", "Dalco"),
				"Date of issue/Date de délivrance", "Dnte"), "15 APR/AVR 12", "15 APR/AVR 02"),
			mrz: true, now: in2010,
			want: map[string]string{FieldExpiryDate: "2012-04-15@mrz"},
		},
		{
			name: "diacritics and OCR noise are no mismatch",
			lines: withText(t, withText(t, withText(t, passportLines(), "ERIKSSON", "ÉRIKSSON"),
				"ANNA MARIA", "ANNA MARlA"), "L898902C3", "L8989O2C3"),
			mrz: true, now: in2010,
			want: map[string]string{FieldSurname: "ÉRIKSSON@visual", FieldGivenNames: "ANNA MARIA@mrz",
				FieldDocumentNumber: "L898902C3@mrz"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m = specimenMRZ(t, tt.now)
			if !tt.mrz {
				m = nil
			}
			r := Extract(tt.lines, pageSize, m, tt.now)
			if r.Type != TypePassport || r.Country != "UTO" || r.Confidence < 0.7 {
				t.Fatalf("type %s country %q confidence %v, want a confident passport of UTO (evidence %+v)",
					r.Type, r.Country, r.Confidence, r.Evidence)
			}
			wantFields(t, r.Fields, tt.want)
			for _, k := range tt.absent {
				if f, ok := r.Fields[k]; ok {
					t.Errorf("field %s read as %+v, want none", k, f)
				}
			}
			var ms []string
			for _, m := range r.Mismatches {
				ms = append(ms, strings.Join([]string{m.Field, m.Source, m.Value, m.Visual}, " "))
			}
			if strings.Join(ms, "|") != strings.Join(tt.mismatches, "|") {
				t.Errorf("mismatches %q, want %q", ms, tt.mismatches)
			}
			if r.Expired != tt.expired {
				t.Errorf("expired %v, want %v", r.Expired, tt.expired)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name    string
		lines   []string
		want    DocType
		country string
	}{
		{"ktp", []string{"PROVINSI JAWA TIMUR", "KOTA SURABAYA", "NIK : 3578010101900001", "Nama : AHMAD"}, TypeKTP, "IDN"},
		{"ktp by its labels and NIK, header unread", []string{"NIK 3578010101900001", "Agama ISLAM", "Kecamatan : GUBENG", "Pekerjaan : PELAJAR"}, TypeKTP, "IDN"},
		{"indonesian passport", []string{"REPUBLIK INDONESIA", "PASPOR/PASSPORT", "Nama Lengkap/Full Name", "Jenis Kelamin/Sex"}, TypePassport, "IDN"},
		{"german passport, noisy", []string{"BUNDESREPUBLIK DEUTSCHLAND", "REISEPAS5 / PASSP0RT"}, TypePassport, "DEU"},
		{"indonesian driving licence", []string{"SURAT IZIN MENGEMUDI", "SIM C"}, TypeDrivingLicence, "IDN"},
		{"uk driving licence", []string{"DRIVING LICENCE", "UNITED KINGDOM", "1. SMITH"}, TypeDrivingLicence, "GBR"},
		{"french id card", []string{"REPUBLIQUE FRANCAISE", "CARTE NATIONALE D'IDENTITÉ"}, TypeIDCard, "FRA"},
		{"german licence", []string{"FÜHRERSCHEIN"}, TypeDrivingLicence, ""},
		{"receipt", []string{"TOTAL 12.50", "THANK YOU"}, TypeUnknown, ""},
		{"nothing", nil, TypeUnknown, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var lines []Line
			for i, s := range tt.lines {
				lines = append(lines, ln(s, 50, 30+i*50, 600, 70+i*50))
			}
			r := Extract(lines, cardSize, nil, now)
			if r.Type != tt.want || r.Country != tt.country {
				t.Errorf("type %s country %q, want %s %q (evidence %+v)", r.Type, r.Country, tt.want, tt.country, r.Evidence)
			}
			if r.Confidence < 0.3 || r.Confidence > 1 {
				t.Errorf("confidence %v outside [0.3, 1]", r.Confidence)
			}
			if tt.want != TypeUnknown && len(r.Evidence) == 0 {
				t.Error("no evidence")
			}
		})
	}
}

func TestClassifyByMRZ(t *testing.T) {
	tests := []struct {
		name    string
		zone    []string
		want    DocType
		surname string
	}{
		{"TD3 passport", []string{
			"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
			"L898902C36UTO7408122F1204159ZE184226B<<<<<10",
		}, TypePassport, "ERIKSSON"},
		{"TD1 ID card", []string{
			"I<UTOD231458907<<<<<<<<<<<<<<<",
			"7408122F1204159UTO<<<<<<<<<<<6",
			"ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
		}, TypeIDCard, "ERIKSSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := mrz.Parse(tt.zone, now)
			if err != nil {
				t.Fatal(err)
			}
			r := Extract(nil, image.Point{}, m, now)
			if r.Type != tt.want || r.Country != "UTO" || r.Confidence < 0.9 {
				t.Errorf("type %s country %q confidence %v, want a confident %s of UTO", r.Type, r.Country, r.Confidence, tt.want)
			}
			if len(r.Evidence) != 1 || r.Evidence[0].Source != SourceMRZ {
				t.Errorf("evidence %+v, want the MRZ alone", r.Evidence)
			}
			if f := r.Fields[FieldSurname]; f.Value != tt.surname || f.Source != SourceMRZ {
				t.Errorf("surname %+v, want %s from the MRZ", f, tt.surname)
			}
			if !r.Expired {
				t.Error("the specimen expired in 2012")
			}
		})
	}
}

func TestLinesWithoutBoxes(t *testing.T) {
	// Without geometry lines are rows in order: label and value on one line
	// still work.
	var lines []Line
	for _, s := range []string{"PROVINSI BALI", "KABUPATEN BADUNG", "NIK : 5103014506850002", "Nama : NI LUH AYU"} {
		lines = append(lines, Line{Text: s, Conf: 0.9})
	}
	r := Extract(lines, image.Point{}, nil, now)
	wantFields(t, r.Fields, map[string]string{FieldName: "NI LUH AYU", FieldSex: "F@nik", FieldBirthDate: "1985-06-05@nik"})
}

func TestResultJSON(t *testing.T) {
	b, err := json.Marshal(Extract(ktpClean(), cardSize, nil, now))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"type":"ktp"`, `"country":"IDN"`, `"fields":{`, `"source":"visual"`, `"mismatches":[]`, `"expired":false`, `"nik":{`, `"province_code":"31"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON lacks %s: %s", key, b)
		}
	}
}
