package fields

import (
	"strings"
	"time"
	"unicode"

	"github.com/openkyc/kyc/engine/document/mrz"
)

// genericSpecs are the visual zone labels of passports, ID cards and
// driving licences: English with the French of ICAO 9303 bilingual pages,
// and common German, Spanish and Indonesian ones.
var genericSpecs = []spec{
	{FieldSurname, pats("SURNAME", "NOM", "FAMILY NAME", "APELLIDOS", "NACHNAME", "NAME/NOM", "COGNOME"), parseName},
	{FieldGivenNames, pats("GIVEN NAMES", "GIVEN NAME", "PRENOMS", "FORENAMES", "FIRST NAME", "VORNAMEN", "NOMBRES", "NOME"), parseName},
	{FieldName, pats("FULL NAME", "NAMA LENGKAP", "NAME", "NAMA"), parseName},
	{FieldDocumentNumber, pats("PASSPORT NO", "PASSPORT NUMBER", "DOCUMENT NO", "DOCUMENT NUMBER", "N DE PASSEPORT",
		"NO PASPOR", "NOMOR PASPOR", "CARD NO", "LICENCE NO", "LICENSE NO", "NO DU DOCUMENT", "PASS NR", "DOKUMENTENNUMMER", "NUMERO"), parseDocumentNumber},
	{FieldIssuingCountry, pats("CODE", "COUNTRY CODE", "CODE OF ISSUING STATE", "KODE NEGARA", "CODE DU PAYS", "ISSUING STATE"), parseCountryCode},
	{FieldNationality, pats("NATIONALITY", "NATIONALITE", "KEWARGANEGARAAN", "STAATSANGEHORIGKEIT", "NACIONALIDAD", "CITIZENSHIP"), parseText},
	{FieldBirthDate, pats("DATE OF BIRTH", "DATE DE NAISSANCE", "BIRTH DATE", "TANGGAL LAHIR", "GEBURTSDATUM", "GEBURTSTAG", "FECHA DE NACIMIENTO", "DOB"), datePast},
	{FieldBirthPlace, pats("PLACE OF BIRTH", "LIEU DE NAISSANCE", "TEMPAT LAHIR", "GEBURTSORT", "LUGAR DE NACIMIENTO"), parseText},
	{FieldSex, pats("SEX", "SEXE", "JENIS KELAMIN", "GESCHLECHT", "SEXO", "GENDER"), parseSex},
	{FieldExpiryDate, pats("DATE OF EXPIRY", "DATE D EXPIRATION", "EXPIRY DATE", "DATE OF EXPIRATION", "VALID UNTIL",
		"TANGGAL HABIS BERLAKU", "BERLAKU HINGGA", "GULTIG BIS", "FECHA DE CADUCIDAD", "EXPIRES", "VALIDE JUSQU AU"), dateExpiry},
	{FieldIssueDate, pats("DATE OF ISSUE", "DATE DE DELIVRANCE", "ISSUE DATE", "TANGGAL PENGELUARAN", "AUSSTELLUNGSDATUM", "FECHA DE EXPEDICION"), datePast},
	{"", pats("TYPE", "AUTHORITY", "AUTORITE", "PERSONAL NO", "SIGNATURE", "PLACE OF ISSUE", "KANTOR YANG MENGELUARKAN"), nil},
	// Other dates' labels: the date after them is none of the fields
	// (a United States permanent resident card's "Resident since", read
	// as its expiry when "Card expires" was misread).
	{"", pats("RESIDENT SINCE", "RESIDENT", "VALID FROM", "MEMBER SINCE"), nil},
}

func datePast(raw string, now time.Time) (string, bool)   { return parseDate(raw, pastDate, now) }
func dateExpiry(raw string, now time.Time) (string, bool) { return parseDate(raw, expiryDate, now) }

// parseText keeps letters, digits and the punctuation of names and
// addresses, in upper case.
func parseText(raw string, _ time.Time) (string, bool) {
	s := spaces(strings.Map(func(r rune) rune {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			return unicode.ToUpper(r)
		case strings.ContainsRune(" -'.,/", r):
			return r
		}
		return ' '
	}, raw))
	s = strings.Trim(s, " -.,/")
	return s, letters(fold(s, false).text) != ""
}

// parseName is parseText without digits, which OCR adds to names only as
// noise.
func parseName(raw string, now time.Time) (string, bool) {
	return parseText(strings.Map(func(r rune) rune {
		if unicode.IsDigit(r) {
			return -1
		}
		return r
	}, raw), now)
}

// parseSex reads M, F or X from a sex field in any of the spellings of the
// labels' languages (H for homme, W for weiblich, L and P for laki-laki and
// perempuan), bilingual ones ("F/F") included.
func parseSex(raw string, _ time.Time) (string, bool) {
	if v, _, ok := nearest(raw, []string{"LAKI-LAKI", "PEREMPUAN", "MALE", "FEMALE", "MASCULIN", "FEMININ"}); ok {
		if v == "LAKI-LAKI" || v == "MALE" || v == "MASCULIN" {
			return "M", true
		}
		return "F", true
	}
	f := strings.FieldsFunc(fold(raw, false).text, func(r rune) bool { return !unicode.IsLetter(r) })
	if len(f) == 0 || len(f[0]) != 1 {
		return "", false
	}
	switch f[0] {
	case "M", "H", "L":
		return "M", true
	case "F", "W", "P":
		return "F", true
	case "X":
		return "X", true
	}
	return "", false
}

// parseDocumentNumber takes the first word of 5 to 20 letters and digits
// with at least one digit.
func parseDocumentNumber(raw string, _ time.Time) (string, bool) {
	for _, w := range strings.FieldsFunc(fold(raw, false).text, func(r rune) bool { return !isAlnum(byte(r)) || r > 0x7f }) {
		if len(w) >= 5 && len(w) <= 20 && strings.ContainsAny(w, "0123456789") {
			return w, true
		}
	}
	return "", false
}

// parseCountryCode takes the first ICAO 9303 country code.
func parseCountryCode(raw string, _ time.Time) (string, bool) {
	for _, w := range strings.Fields(strings.Map(func(r rune) rune {
		if isLetter(byte(r)) && r < 0x80 {
			return r
		}
		return ' '
	}, fold(raw, false).text)) {
		if len(w) == 3 && mrz.KnownCountry(w) {
			return w, true
		}
	}
	return "", false
}
