package document

import (
	"strings"
	"testing"

	"github.com/openkyc/kyc/engine/document/fields"
	"github.com/openkyc/kyc/engine/document/mrz"
)

// TestFieldConsistency: a date the visual zone and the MRZ state
// differently fires the check only where the MRZ's check digit vouches for
// its reading; names, which genuine documents spell differently, never do.
func TestFieldConsistency(t *testing.T) {
	checks := func(expiryValid bool) *mrz.Result {
		return &mrz.Result{Checks: []mrz.Check{{Name: mrz.CheckExpiryDate, Valid: expiryValid}, {Name: mrz.CheckBirthDate, Valid: true}}}
	}
	expiry := fields.Mismatch{Field: fields.FieldExpiryDate, Source: fields.SourceMRZ, Value: "2031-04-15", Visual: "2027-04-15"}
	name := fields.Mismatch{Field: fields.FieldSurname, Source: fields.SourceMRZ, Value: "ERIKSSON", Visual: "ERIKSON"}
	number := fields.Mismatch{Field: fields.FieldDocumentNumber, Source: fields.SourceMRZ, Value: "L898902C3", Visual: "L898902C4"}
	for _, c := range []struct {
		name       string
		m          *mrz.Result
		mm         []fields.Mismatch
		applicable bool
		fired      bool
	}{
		{"no MRZ", nil, []fields.Mismatch{expiry}, false, false},
		{"no check digit validates", &mrz.Result{Checks: []mrz.Check{{Name: mrz.CheckExpiryDate}}}, []fields.Mismatch{expiry}, false, false},
		{"agreeing", checks(true), nil, true, false},
		{"expiry edited in one zone", checks(true), []fields.Mismatch{expiry}, true, true},
		{"expiry misread in the MRZ", checks(false), []fields.Mismatch{expiry}, true, false},
		{"names spelled differently", checks(true), []fields.Mismatch{name}, true, false},
		{"number edited in one zone", &mrz.Result{Checks: []mrz.Check{{Name: mrz.CheckDocumentNumber, Valid: true}}}, []fields.Mismatch{number}, true, true},
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
		})
	}
}
