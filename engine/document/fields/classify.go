package fields

import (
	"fmt"
	"strings"

	"github.com/openkyc/kyc/engine/document/mrz"
)

// keywordGroup is a set of synonyms (one word in several languages) that
// counts once, with the weight of its best match.
type keywordGroup struct {
	typ    DocType
	weight float64
	words  []pattern
}

// keywords are the printed words that tell the document types apart
// (none within a quarter of its letters of a common label: "NATIONAL ID"
// would match "NATIONALITY"). A
// KTP prints no title, only its header (PROVINSI, KABUPATEN/KOTA), the NIK
// and its labels; some of those labels also appear on Indonesian
// passports, so each weighs little and only together they make a KTP.
var keywords = []keywordGroup{
	{TypePassport, 0.75, pats("PASSPORT", "PASPOR", "PASSEPORT", "REISEPASS", "PASAPORTE", "PASSAPORTO", "PASAPORT", "PASZPORT", "PASSAPORTE", "PASPOORT")},
	{TypeDrivingLicence, 0.75, pats("DRIVING LICENCE", "DRIVING LICENSE", "DRIVER LICENSE", "DRIVERS LICENSE", "DRIVER LICENCE",
		"SURAT IZIN MENGEMUDI", "PERMIS DE CONDUIRE", "FUHRERSCHEIN", "FUEHRERSCHEIN", "PATENTE DI GUIDA", "PERMISO DE CONDUCCION",
		"CARTA DE CONDUCAO", "RIJBEWIJS", "KORKORT")},
	{TypeIDCard, 0.7, pats("IDENTITY CARD", "ID CARD", "IDENTIFICATION CARD", "CARTE NATIONALE D IDENTITE", "CARTE D IDENTITE",
		"PERSONALAUSWEIS", "DOCUMENTO NACIONAL DE IDENTIDAD", "CARTA D IDENTITA", "IDENTITEITSKAART", "DOWOD OSOBISTY")},
	{TypeKTP, 0.6, pats("KARTU TANDA PENDUDUK")},
	{TypeKTP, 0.35, pats("PROVINSI")},
	{TypeKTP, 0.2, pats("KABUPATEN", "KOTA")},
	{TypeKTP, 0.3, pats("NIK")},
	{TypeKTP, 0.1, pats("TEMPAT/TGL LAHIR")},
	{TypeKTP, 0.1, pats("GOL DARAH")},
	{TypeKTP, 0.1, pats("KEL/DESA")},
	{TypeKTP, 0.1, pats("KECAMATAN")},
	{TypeKTP, 0.1, pats("AGAMA")},
	{TypeKTP, 0.1, pats("STATUS PERKAWINAN")},
	{TypeKTP, 0.1, pats("PEKERJAAN")},
	{TypeKTP, 0.1, pats("BERLAKU HINGGA")},
	{TypeKTP, 0.1, pats("RT/RW")},
}

// nikWeight is how much a valid NIK says the document is a KTP.
const nikWeight = 0.4

// classify scores each type by its evidence, combined as independent
// clues (1 - prod(1 - w)), and picks the best; the confidence is its
// score less half the runner-up's.
func classify(p *page, m *mrz.Result, nik *NIK) (DocType, float64, []Evidence) {
	ev := []Evidence{}
	if m != nil && len(m.Fields.DocumentCode) > 0 {
		t := TypeUnknown
		switch m.Fields.DocumentCode[0] {
		case 'P':
			t = TypePassport
		case 'I', 'A', 'C':
			t = TypeIDCard
		case 'V':
			t = TypeVisa
		}
		if t != TypeUnknown {
			ev = append(ev, Evidence{t, SourceMRZ, fmt.Sprintf("%s %s", m.Format, strings.TrimRight(m.Fields.DocumentCode, "<")),
				round(0.5 + 0.45*float64(m.ValidScore)/100)})
		}
	}
	for _, g := range keywords {
		best, bestText := 0.0, ""
		for j := range g.words {
			w := &g.words[j]
			for i := range p.lines {
				for _, h := range p.lines[i].c.find(w) {
					if q := 1 - float64(h.dist)/float64(len(w.letters)+1); q > best {
						best, bestText = q, w.text
					}
				}
			}
		}
		if best > 0 {
			ev = append(ev, Evidence{g.typ, SourceKeyword, bestText, round(g.weight * best)})
		}
	}
	if nik != nil && nik.Valid {
		ev = append(ev, Evidence{TypeKTP, SourceNIK, nik.Number, nikWeight})
	}
	scores := map[DocType]float64{}
	for _, e := range ev {
		scores[e.Type] = 1 - (1-scores[e.Type])*(1-e.Weight)
	}
	best, first, second := TypeUnknown, 0.0, 0.0
	for _, t := range []DocType{TypePassport, TypeIDCard, TypeKTP, TypeDrivingLicence, TypeVisa} {
		switch s := scores[t]; {
		case s > first:
			best, first, second = t, s, first
		case s > second:
			second = s
		}
	}
	// A few KTP labels alone (also printed on other Indonesian documents)
	// are not enough.
	if first < 0.3 {
		return TypeUnknown, round(1 - first), ev
	}
	return best, round(first - second/2), ev
}

// countryWords are printed state names that give the issuing country when
// there is no MRZ; a starting set for the documents we see most.
var countryWords = []struct {
	words pattern
	code  string
}{
	{pats("REPUBLIK INDONESIA")[0], "IDN"}, {pats("SURAT IZIN MENGEMUDI")[0], "IDN"}, {pats("UNITED KINGDOM")[0], "GBR"}, {pats("UNITED STATES OF AMERICA")[0], "USA"},
	{pats("REPUBLIQUE FRANCAISE")[0], "FRA"}, {pats("BUNDESREPUBLIK DEUTSCHLAND")[0], "DEU"}, {pats("MALAYSIA")[0], "MYS"},
	{pats("REPUBLIC OF SINGAPORE")[0], "SGP"}, {pats("REPUBLIC OF THE PHILIPPINES")[0], "PHL"}, {pats("REPUBLIC OF INDIA")[0], "IND"},
	{pats("KINGDOM OF THAILAND")[0], "THA"}, {pats("COMMONWEALTH OF AUSTRALIA")[0], "AUS"}, {pats("REPUBLIC OF KOREA")[0], "KOR"},
}

// country is the issuing state: from the MRZ, else from a printed code,
// else from the type (a KTP, an SIM) or a printed state name.
func country(t DocType, m *mrz.Result, fields map[string]Field, p *page) string {
	if m != nil && mrz.KnownCountry(m.Fields.IssuingCountry) {
		return strings.TrimRight(m.Fields.IssuingCountry, "<")
	}
	if f, ok := fields[FieldIssuingCountry]; ok {
		return f.Value
	}
	if t == TypeKTP {
		return "IDN"
	}
	for _, cw := range countryWords {
		for i := range p.lines {
			if len(p.lines[i].c.find(&cw.words)) > 0 {
				return cw.code
			}
		}
	}
	return ""
}
