// Package fields is the text half of document understanding: from the OCR
// lines of a rectified document image and, when the document has one, its
// parsed machine readable zone, it classifies the document (passport, ID
// card, Indonesian KTP, driving licence), names its country, extracts its
// fields (with the NIK of a KTP decoded and checked), cross-checks the MRZ
// and the NIK against the printed text, and flags an expired document.
// It works on text and boxes only, so it is fast and needs no model.
package fields

import (
	"image"
	"time"

	"github.com/openkyc/kyc/engine/document/mrz"
)

// Line is one OCR text line of the rectified document image.
type Line struct {
	Text string
	Box  image.Rectangle // in the rectified image
	Conf float32         // recognition confidence in [0, 1]
}

// DocType is the kind of document.
type DocType string

// The document types Extract tells apart.
const (
	TypeUnknown        DocType = "unknown"
	TypePassport       DocType = "passport"
	TypeIDCard         DocType = "id_card"
	TypeKTP            DocType = "ktp" // Indonesian Kartu Tanda Penduduk
	TypeDrivingLicence DocType = "driving_licence"
	TypeVisa           DocType = "visa" // from an MRV-A/MRV-B zone only
)

// Where a field's value came from.
const (
	SourceMRZ    = "mrz"
	SourceVisual = "visual" // the printed text
	SourceNIK    = "nik"    // decoded from a KTP's NIK
	// SourceKeyword marks Evidence from a printed keyword.
	SourceKeyword = "keyword"
)

// Field names, the keys of Result.Fields. Dates are ISO 8601 (an MRZ date
// may lack its day or month); sex is M, F or X.
const (
	FieldSurname        = "surname"
	FieldGivenNames     = "given_names"
	FieldName           = "name" // a full name printed as one field
	FieldDocumentNumber = "document_number"
	FieldIssuingCountry = "issuing_country"
	FieldNationality    = "nationality"
	FieldBirthDate      = "birth_date"
	FieldBirthPlace     = "birth_place"
	FieldSex            = "sex"
	FieldExpiryDate     = "expiry_date" // a date, or Lifetime
	FieldIssueDate      = "issue_date"

	// KTP fields.
	FieldNIK           = "nik"
	FieldProvince      = "province"
	FieldRegency       = "regency" // "KABUPATEN ..." or "KOTA ..."
	FieldBloodType     = "blood_type"
	FieldAddress       = "address"
	FieldRTRW          = "rt_rw"
	FieldVillage       = "village"  // Kel/Desa
	FieldDistrict      = "district" // Kecamatan
	FieldReligion      = "religion"
	FieldMaritalStatus = "marital_status"
	FieldOccupation    = "occupation"
)

// Lifetime is the expiry_date of a KTP valid for life ("SEUMUR HIDUP").
const Lifetime = "lifetime"

// Field is one extracted value.
type Field struct {
	Value      string  `json:"value"`
	Source     string  `json:"source"`
	Confidence float64 `json:"confidence"`
}

// Evidence is one clue to the document's type.
type Evidence struct {
	Type   DocType `json:"type"`
	Source string  `json:"source"` // SourceMRZ, SourceKeyword or SourceNIK
	Text   string  `json:"text"`   // the MRZ document code, the keyword, the NIK
	Weight float64 `json:"weight"` // in [0, 1]
}

// Mismatch is a field on which the printed text disagrees with the MRZ or
// with what the NIK encodes.
type Mismatch struct {
	Field  string `json:"field"`
	Source string `json:"source"` // SourceMRZ or SourceNIK
	Value  string `json:"value"`  // the value from Source
	Visual string `json:"visual"` // the printed value
}

// Result is what Extract found.
type Result struct {
	Type    DocType `json:"type"`
	Country string  `json:"country"` // ICAO 9303 code (ISO 3166-1 alpha-3); "" when unknown
	// Confidence is in Type, in [0, 1]; for TypeUnknown, one less the best
	// type's score.
	Confidence float64          `json:"confidence"`
	Evidence   []Evidence       `json:"evidence"`
	Fields     map[string]Field `json:"fields"`
	Mismatches []Mismatch       `json:"mismatches"`
	// Expired is true when the expiry date is before now's date; a KTP
	// valid for life never expires.
	Expired bool `json:"expired"`
	NIK     *NIK `json:"nik,omitempty"`
	// Age is the holder's age by the birth date read (the youngest it
	// allows when the MRZ leaves its day or month unknown); nil when none
	// was read.
	Age *Age `json:"age,omitempty"`
}

// Extract classifies the document and extracts its fields from the OCR
// lines of its rectified image, size the image's size (zero when unknown),
// and m its parsed MRZ (nil when it has none). now decides the century of
// two-digit years and expiry; the zero time means time.Now(). Garbage in
// gives an unknown document with few or no fields, never a panic; only the
// first 300 non-blank lines and 256 bytes of each line are read.
func Extract(lines []Line, size image.Point, m *mrz.Result, now time.Time) Result {
	if now.IsZero() {
		now = time.Now()
	}
	p := newPage(lines, size)
	r := Result{Fields: map[string]Field{}, Mismatches: []Mismatch{}}
	nik := p.scanNIK(now)
	r.Type, r.Confidence, r.Evidence = classify(p, m, nik)

	var visual map[string]Field
	if r.Type == TypeKTP {
		visual, r.NIK = p.ktpFields(nik, now)
		r.Mismatches = append(r.Mismatches, nikMismatches(r.NIK, visual)...)
		addNIKFields(r.NIK, visual)
	} else {
		want := validated(m)
		visual = p.fields(genericSpecs, false, now, agreement(want))
		if _, ok := visual[FieldExpiryDate]; !ok && want[FieldExpiryDate] != "" {
			if f, ok := p.unlabeledExpiry(want[FieldExpiryDate], now); ok {
				visual[FieldExpiryDate] = f
			}
		}
		if _, ok := visual[FieldIssueDate]; !ok {
			if f, ok := p.unlabeledIssue(want[FieldBirthDate], want[FieldExpiryDate], visual, now); ok {
				visual[FieldIssueDate] = f
			}
		}
	}
	r.Fields = visual
	if m != nil {
		mf := mrzFields(m)
		r.Mismatches = append(r.Mismatches, crossCheck(m, mf, visual)...)
		r.Fields = merge(mf, visual)
	}
	r.Country = country(r.Type, m, r.Fields, p)
	if e, ok := r.Fields[FieldExpiryDate]; ok && e.Value != Lifetime && len(e.Value) == len("2006-01-02") {
		r.Expired = e.Value < now.Format(time.DateOnly)
	}
	r.Age = holderAge(r.Fields, m, r.NIK, now)
	return r
}
