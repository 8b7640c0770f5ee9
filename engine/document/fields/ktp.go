package fields

import (
	"strings"
	"time"
)

// fieldBirth is the KTP's "Tempat/Tgl Lahir" row before it is split into
// place and date.
const fieldBirth = "tempat_tgl_lahir"

// ktpSpecs are the labels of an e-KTP, top to bottom.
var ktpSpecs = []spec{
	{FieldProvince, pats("PROVINSI"), parseText},
	{FieldNIK, pats("NIK"), parseNIKDigits},
	{FieldName, pats("NAMA"), parseName},
	{fieldBirth, pats("TEMPAT/TGL LAHIR", "TEMPAT TGL LAHIR", "TEMPAT/TANGGAL LAHIR"), parseText},
	{FieldSex, pats("JENIS KELAMIN"), parseSex},
	{FieldBloodType, pats("GOL DARAH", "GOL. DARAH"), parseBloodType},
	{FieldAddress, pats("ALAMAT"), parseText},
	{FieldRTRW, pats("RT/RW"), parseRTRW},
	{FieldVillage, pats("KEL/DESA", "KELURAHAN", "DESA"), parseText},
	{FieldDistrict, pats("KECAMATAN"), parseText},
	{FieldReligion, pats("AGAMA"), choice(religions)},
	{FieldMaritalStatus, pats("STATUS PERKAWINAN"), choice([]string{"BELUM KAWIN", "KAWIN", "CERAI HIDUP", "CERAI MATI"})},
	{FieldOccupation, pats("PEKERJAAN"), parseText},
	{FieldNationality, pats("KEWARGANEGARAAN"), choice([]string{"WNI", "WNA"})},
	{FieldExpiryDate, pats("BERLAKU HINGGA"), parseValidUntil},
}

// religions are the religions a KTP may state.
var religions = []string{"ISLAM", "KRISTEN", "KATOLIK", "HINDU", "BUDDHA", "KONGHUCU", "KEPERCAYAAN TERHADAP TUHAN YME"}

// choice reads a value from a closed list, forgiving OCR errors.
func choice(values []string) func(string, time.Time) (string, bool) {
	return func(raw string, _ time.Time) (string, bool) {
		// Digits in a word are letters misread ("WN1", "1SLAM").
		v, _, ok := nearest(strings.Map(func(r rune) rune {
			if r < 0x80 && isDigit(byte(r)) {
				if l := digitLetters[r-'0']; l != 0 {
					return rune(l)
				}
			}
			return r
		}, raw), values)
		return v, ok
	}
}

// parseNIKDigits takes the first word of 16 digits, look-alike letters
// read as digits.
func parseNIKDigits(raw string, _ time.Time) (string, bool) {
	for _, w := range strings.Fields(raw) {
		if fixed, _, all := fixDigits(w); all && len(fixed) == 16 {
			return fixed, true
		}
	}
	return "", false
}

// parseBloodType reads A, B, AB or O with an optional rhesus sign; "-"
// (unknown) is no value.
func parseBloodType(raw string, _ time.Time) (string, bool) {
	f := strings.Fields(strings.ReplaceAll(fold(raw, false).text, "0", "O"))
	if len(f) == 0 {
		return "", false
	}
	w := strings.Trim(f[0], separators)
	base := strings.TrimRight(w, "+-")
	switch base {
	case "A", "B", "AB", "O":
		return w, true
	}
	return "", false
}

// parseRTRW reads "001/002" (neighbourhood and hamlet numbers).
func parseRTRW(raw string, _ time.Time) (string, bool) {
	a, b, ok := strings.Cut(strings.ReplaceAll(raw, " ", ""), "/")
	if !ok {
		return "", false
	}
	a, _, okA := fixDigits(a)
	b, _, okB := fixDigits(b)
	if !okA || !okB || a == "" || b == "" || len(a) > 3 || len(b) > 3 {
		return "", false
	}
	return a + "/" + b, true
}

// parseValidUntil reads "SEUMUR HIDUP" (for life) or a date.
func parseValidUntil(raw string, now time.Time) (string, bool) {
	if _, _, ok := nearest(raw, []string{"SEUMUR HIDUP"}); ok {
		return Lifetime, true
	}
	return parseDate(raw, expiryDate, now)
}

// scanNIK looks for a NIK anywhere on the page: a word of 16 digits (once
// look-alike letters are read as digits), the valid one if several.
func (p *page) scanNIK(now time.Time) *NIK {
	var found *NIK
	for i := range p.lines {
		for _, w := range strings.FieldsFunc(p.lines[i].Text, func(r rune) bool { return strings.ContainsRune(separators, r) }) {
			if fixed, _, all := fixDigits(w); !all || len(fixed) != 16 {
				continue
			}
			n, err := ParseNIK(w, now)
			if err == nil {
				return n
			}
			if found == nil {
				found = n
			}
		}
	}
	return found
}

// ktpFields extracts the fields of a KTP; nik is what scanNIK found.
func (p *page) ktpFields(nik *NIK, now time.Time) (map[string]Field, *NIK) {
	out := p.fields(ktpSpecs, true, now, nil)
	if f, ok := out[FieldNIK]; ok && (nik == nil || nik.Number != f.Value) {
		nik, _ = ParseNIK(f.Value, now)
	}
	if nik != nil {
		conf := 0.5
		if nik.Valid {
			conf = 0.95
		}
		out[FieldNIK] = Field{Value: nik.Number, Source: SourceVisual, Confidence: conf}
	}
	if f, ok := out[fieldBirth]; ok {
		delete(out, fieldBirth)
		place := f.Value
		if d, start, _, ok := findDate(f.Value); ok {
			out[FieldBirthDate] = Field{Value: d.resolve(pastDate, now).iso(), Source: SourceVisual, Confidence: f.Confidence}
			place = f.Value[:start]
		} else if before, _, cut := strings.Cut(place, ","); cut {
			place = before
		}
		if place = strings.Trim(place, " ,.-"); place != "" {
			out[FieldBirthPlace] = Field{Value: place, Source: SourceVisual, Confidence: f.Confidence}
		}
	}
	if r, ok := p.regency(); ok {
		out[FieldRegency] = r
	}
	p.issueDate(out, now)
	return out, nik
}

// regencyWords begin the second line of a KTP's header.
var regencyWords = pats("KABUPATEN", "KOTA")

// regency reads the second header line, "KABUPATEN ..." or "KOTA ...",
// keeping the word: a regency and a city may share a name.
func (p *page) regency() (Field, bool) {
	for _, l := range p.lines {
		for _, word := range regencyWords {
			for _, h := range l.c.find(&word) {
				if h.start > 1 {
					continue
				}
				rest, ok := parseName(l.f.original(l.c.off[h.end-1]+1, len(l.f.text)), time.Time{})
				if !ok {
					continue
				}
				q := 1 - float64(h.dist)/float64(len(word.letters)+1)
				return Field{Value: word.text + " " + rest, Source: SourceVisual, Confidence: round(q * l.conf)}, true
			}
		}
	}
	return Field{}, false
}

// issueDate reads the date printed under a KTP's photo: the only date in
// its right column.
func (p *page) issueDate(out map[string]Field, now time.Time) {
	for _, l := range p.lines {
		if float64(l.Box.Min.X) < rightColumn*float64(p.width) {
			continue
		}
		if d, _, _, ok := findDate(l.f.text); ok {
			out[FieldIssueDate] = Field{Value: d.resolve(pastDate, now).iso(), Source: SourceVisual, Confidence: round(l.conf)}
			return
		}
	}
}

// addNIKFields fills what the printed text lacks from the NIK.
func addNIKFields(n *NIK, out map[string]Field) {
	if n == nil || !n.Valid {
		return
	}
	for field, v := range map[string]string{FieldBirthDate: n.BirthDate, FieldSex: n.Sex, FieldProvince: n.Province} {
		if _, ok := out[field]; !ok {
			out[field] = Field{Value: v, Source: SourceNIK, Confidence: 0.9}
		}
	}
}

// nikMismatches compares what the NIK encodes with the printed birth date,
// sex and province.
func nikMismatches(n *NIK, out map[string]Field) []Mismatch {
	if n == nil || !n.Valid {
		return nil
	}
	var ms []Mismatch
	if f, ok := out[FieldBirthDate]; ok && !n.sameBirthDate(f.Value) {
		ms = append(ms, Mismatch{FieldBirthDate, SourceNIK, n.BirthDate, f.Value})
	}
	if f, ok := out[FieldSex]; ok && f.Value != n.Sex {
		ms = append(ms, Mismatch{FieldSex, SourceNIK, n.Sex, f.Value})
	}
	if f, ok := out[FieldProvince]; ok {
		if _, _, same := nearest(f.Value, []string{n.Province}); !same {
			ms = append(ms, Mismatch{FieldProvince, SourceNIK, n.Province, f.Value})
		}
	}
	return ms
}
