package fields

import (
	"strings"
	"time"

	"github.com/openkyc/kyc/engine/document/mrz"
)

// Confidence of an MRZ field: one its check digit validates is all but
// certain; names have no check digit and share the zone's overall score.
const (
	checkedConf   = 0.98
	uncheckedConf = 0.5
)

// mrzFields are the MRZ's fields as Fields.
func mrzFields(m *mrz.Result) map[string]Field {
	valid := map[string]bool{}
	for _, c := range m.Checks {
		valid[c.Name] = c.Valid
	}
	conf := func(check string) float64 {
		if valid[check] {
			return checkedConf
		}
		return uncheckedConf
	}
	zone := round(uncheckedConf + (checkedConf-uncheckedConf)*float64(m.ValidScore)/100)
	f := m.Fields
	out := map[string]Field{}
	for _, v := range []struct {
		field, value string
		conf         float64
	}{
		{FieldSurname, f.Surname, zone},
		{FieldGivenNames, f.GivenNames, zone},
		{FieldDocumentNumber, f.DocumentNumber, conf(mrz.CheckDocumentNumber)},
		{FieldIssuingCountry, strings.TrimRight(f.IssuingCountry, "<"), zone},
		{FieldNationality, strings.TrimRight(f.Nationality, "<"), zone},
		{FieldBirthDate, f.BirthDateISO, conf(mrz.CheckBirthDate)},
		{FieldSex, f.Sex, zone},
		{FieldExpiryDate, f.ExpiryDateISO, conf(mrz.CheckExpiryDate)},
	} {
		if v.value != "" {
			out[v.field] = Field{Value: v.value, Source: SourceMRZ, Confidence: v.conf}
		}
	}
	return out
}

// truncated reports whether the MRZ name field is full, so that the name
// may have been cut short.
func truncated(m *mrz.Result) bool {
	line := 0
	if m.Format == mrz.TD1 {
		line = 2
	}
	return line < len(m.Lines) && m.Lines[line] != "" && !strings.HasSuffix(m.Lines[line], "<")
}

// nameWords splits a name into folded words; hyphens and apostrophes
// separate words or vanish in an MRZ, so words are letters only.
func nameWords(s string, expand bool) []string {
	return strings.FieldsFunc(fold(s, expand).text, func(r rune) bool { return r < 'A' || r > 'Z' })
}

// How well a printed name agrees with the MRZ's.
const (
	nameDiffers = iota
	nameFuzzy   // within the OCR errors sameName allows
	nameExact   // the same letters, once transliterated (or cut short)
)

// compareName compares a printed name with the MRZ's: word by word in
// order, allowing one OCR error in five letters in the printed word, the
// other transliteration of Ä, Ö, Ü and Å, and, when the MRZ name field is
// full, a last MRZ word cut short.
func compareName(mrzName, visual string, cut bool) int {
	mw := nameWords(mrzName, false)
	level := nameDiffers
	for _, expand := range []bool{false, true} {
		switch wordsAgree(mw, nameWords(visual, expand), cut) {
		case nameExact:
			return nameExact
		case nameFuzzy:
			level = nameFuzzy
		}
	}
	return level
}

// wordsAgree compares MRZ name words with printed ones.
func wordsAgree(mw, vw []string, cut bool) int {
	if strings.Join(mw, "") == strings.Join(vw, "") {
		return nameExact
	}
	if len(mw) == 0 || len(mw) > len(vw) || (!cut && len(mw) != len(vw)) {
		return nameDiffers
	}
	level := nameExact
	for i, w := range mw {
		if cut && i == len(mw)-1 && strings.HasPrefix(vw[i], w) {
			break
		}
		switch d := levenshtein(w, vw[i]); {
		case d > len(w)/5:
			return nameDiffers
		case d > 0:
			level = nameFuzzy
		}
	}
	return level
}

func sameName(mrzName, visual string, cut bool) bool {
	return compareName(mrzName, visual, cut) != nameDiffers
}

// sameNumber compares document numbers with the letters OCR confuses
// with digits read as digits, since the MRZ's check digit already
// settled which is which.
func sameNumber(a, b string) bool {
	fa, _, _ := fixDigits(a)
	fb, _, _ := fixDigits(b)
	return fa == fb
}

// crossCheck compares the MRZ with the visual zone, field by field.
func crossCheck(m *mrz.Result, mf, visual map[string]Field) []Mismatch {
	var ms []Mismatch
	cut := truncated(m)
	same := map[string]func(a, b string) bool{
		FieldSurname:        func(a, b string) bool { return sameName(a, b, cut) },
		FieldGivenNames:     func(a, b string) bool { return sameName(a, b, cut) },
		FieldDocumentNumber: sameNumber,
		FieldIssuingCountry: func(a, b string) bool { return a == b },
		FieldSex:            func(a, b string) bool { return a == b },
		// An MRZ date may lack its day or month.
		FieldBirthDate:  func(a, b string) bool { return strings.HasPrefix(b, a) },
		FieldExpiryDate: func(a, b string) bool { return strings.HasPrefix(b, a) },
		// A printed nationality is compared only when it is a code
		// ("UTOPIAN" says nothing without a table of demonyms).
		FieldNationality: func(a, b string) bool {
			c, ok := parseCountryCode(b, time.Time{})
			return !ok || c == a
		},
	}
	for _, field := range []string{FieldSurname, FieldGivenNames, FieldDocumentNumber, FieldIssuingCountry,
		FieldNationality, FieldBirthDate, FieldSex, FieldExpiryDate} {
		a, okA := mf[field]
		b, okB := visual[field]
		if okA && okB && !same[field](a.Value, b.Value) {
			ms = append(ms, Mismatch{field, SourceMRZ, a.Value, b.Value})
		}
	}
	// A full name printed as one field holds the MRZ's names in some order.
	if v, ok := visual[FieldName]; ok {
		_, hasS := visual[FieldSurname]
		if !hasS {
			mrzName := m.Fields.Surname + " " + m.Fields.GivenNames
			alt := m.Fields.GivenNames + " " + m.Fields.Surname
			if !sameName(mrzName, v.Value, cut) && !sameName(alt, v.Value, cut) {
				ms = append(ms, Mismatch{FieldName, SourceMRZ, strings.TrimSpace(mrzName), v.Value})
			}
		}
	}
	return ms
}

// merge combines the MRZ's fields with the printed ones. Where both agree
// the confidences combine; names keep the printed spelling when it differs
// only by diacritics or the MRZ's truncation, dates the printed one when
// the MRZ's lacks its day, everything else the MRZ's. Where they disagree
// the more confident wins.
func merge(mf, visual map[string]Field) map[string]Field {
	out := make(map[string]Field, len(mf)+len(visual))
	for k, v := range visual {
		out[k] = v
	}
	for k, a := range mf {
		b, ok := visual[k]
		if !ok {
			out[k] = a
			continue
		}
		agree, printed := a.Value == b.Value, false
		switch k {
		case FieldSurname, FieldGivenNames:
			level := compareName(a.Value, b.Value, true)
			agree, printed = level != nameDiffers, level == nameExact
		}
		if !agree {
			switch k {
			case FieldDocumentNumber:
				agree = sameNumber(a.Value, b.Value)
			case FieldBirthDate, FieldExpiryDate:
				agree = strings.HasPrefix(b.Value, a.Value)
			}
		}
		switch {
		case agree && (printed || len(b.Value) > len(a.Value)):
			b.Confidence = round(1 - (1-a.Confidence)*(1-b.Confidence))
			out[k] = b
		case agree:
			a.Confidence = round(1 - (1-a.Confidence)*(1-b.Confidence))
			out[k] = a
		case a.Confidence >= b.Confidence:
			out[k] = a
		}
	}
	return out
}
