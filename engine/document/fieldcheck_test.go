package document

import (
	"strings"
	"testing"

	"github.com/openkyc/kyc/engine/document/fields"
	"github.com/openkyc/kyc/engine/document/mrz"
)

// TestFieldConsistency: a date the visual zone and the MRZ state
// differently fires the check only where the MRZ's check digit vouches for
// its reading and the two are not one date written two ways (day and month
// swapped, a century apart); names, which genuine documents spell
// differently, and the document number, which the visual zone misreads,
// never do.
func TestFieldConsistency(t *testing.T) {
	checks := func(expiryValid bool) *mrz.Result {
		return &mrz.Result{Checks: []mrz.Check{{Name: mrz.CheckExpiryDate, Valid: expiryValid}, {Name: mrz.CheckBirthDate, Valid: true}}}
	}
	date := func(field, mrzValue, printed string) fields.Mismatch {
		return fields.Mismatch{Field: field, Source: fields.SourceMRZ, Value: mrzValue, Visual: printed}
	}
	expiry := date(fields.FieldExpiryDate, "2031-04-15", "2027-04-15")
	birth := date(fields.FieldBirthDate, "1974-08-12", "1974-08-21")
	name := fields.Mismatch{Field: fields.FieldSurname, Source: fields.SourceMRZ, Value: "ERIKSSON", Visual: "ERIKSON"}
	number := fields.Mismatch{Field: fields.FieldDocumentNumber, Source: fields.SourceMRZ, Value: "L898902C3", Visual: "L898902C4"}
	for _, c := range []struct {
		name       string
		m          *mrz.Result
		mm         []fields.Mismatch
		applicable bool
		fired      bool
		tolerated  string // a word the evidence's tolerated differences hold
	}{
		{"no MRZ", nil, []fields.Mismatch{expiry}, false, false, ""},
		{"no date check digit validates", &mrz.Result{Checks: []mrz.Check{{Name: mrz.CheckExpiryDate}, {Name: mrz.CheckDocumentNumber, Valid: true}}}, []fields.Mismatch{expiry, number}, false, false, ""},
		{"agreeing", checks(true), nil, true, false, ""},
		{"expiry edited in one zone", checks(true), []fields.Mismatch{expiry}, true, true, ""},
		{"birth day edited in one zone", checks(true), []fields.Mismatch{birth}, true, true, ""},
		{"expiry year edited, same last digits a century off and day changed", checks(true), []fields.Mismatch{date(fields.FieldExpiryDate, "2031-04-15", "1931-04-16")}, true, true, ""},
		{"expiry misread in the MRZ: invalid check digit", checks(false), []fields.Mismatch{expiry}, true, false, ""},
		{"birth date read day first", checks(true), []fields.Mismatch{date(fields.FieldBirthDate, "1974-08-12", "1974-12-08")}, true, false, "swapped"},
		{"birth date a century off", checks(true), []fields.Mismatch{date(fields.FieldBirthDate, "2012-08-12", "1912-08-12")}, true, false, "century"},
		{"MRZ date without its day, printed day first", checks(true), []fields.Mismatch{date(fields.FieldBirthDate, "1974-08", "1974-12-08")}, true, false, "swapped"},
		{"printed value not a date", checks(true), []fields.Mismatch{date(fields.FieldExpiryDate, "2031-04-15", fields.Lifetime)}, true, false, "not a full date"},
		{"names spelled differently", checks(true), []fields.Mismatch{name}, true, false, ""},
		{"number differs: evidence only", checks(true), []fields.Mismatch{number}, true, false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			ch := fieldConsistency(c.m, c.mm)
			if ch.Name != CheckFieldConsistency || ch.Applicable != c.applicable || (ch.Score < 0.5) != c.fired {
				t.Fatalf("got %+v, want applicable %v fired %v", ch, c.applicable, c.fired)
			}
			if c.fired {
				fs, _ := ch.Evidence["fields"].([]string)
				if len(fs) != 1 || !strings.Contains(fs[0], c.mm[0].Value) || !strings.Contains(fs[0], c.mm[0].Visual) {
					t.Fatalf("evidence %v does not show both values", ch.Evidence)
				}
			}
			if tol, _ := ch.Evidence["tolerated"].([]string); c.tolerated != "" && (len(tol) != 1 || !strings.Contains(tol[0], c.tolerated)) {
				t.Fatalf("evidence %v does not say the difference was tolerated as %q", ch.Evidence, c.tolerated)
			}
			if ch.Applicable && c.mm != nil && c.mm[0] == number {
				if ns, _ := ch.Evidence["document_number"].([]string); len(ns) != 1 || !strings.Contains(ns[0], number.Visual) {
					t.Fatalf("evidence %v does not show the differing number", ch.Evidence)
				}
			}
		})
	}
}
