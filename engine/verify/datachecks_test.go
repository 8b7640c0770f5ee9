package verify

import (
	"testing"

	"github.com/openkyc/kyc/engine/document"
	"github.com/openkyc/kyc/engine/document/fields"
	"github.com/openkyc/kyc/engine/document/mrz"
)

func TestDataChecks(t *testing.T) {
	expiry := func(v string) map[string]fields.Field {
		return map[string]fields.Field{fields.FieldExpiryDate: {Value: v}}
	}
	for _, c := range []struct {
		name string
		doc  document.Result
		want float64
		ok   bool
	}{
		{"nothing readable", document.Result{Type: fields.TypeUnknown}, 0, false},
		{"KTP for life, valid NIK", document.Result{Type: fields.TypeKTP, Fields: expiry(fields.Lifetime), NIK: &fields.NIK{Valid: true}}, 1, true},
		{"KTP, expiry unreadable", document.Result{Type: fields.TypeKTP, NIK: &fields.NIK{Valid: true}}, 0.5, true},
		{"KTP, NIK invalid", document.Result{Type: fields.TypeKTP, Fields: expiry("2030-01-01"), NIK: &fields.NIK{}}, 0.5, true},
		{"passport, MRZ 80%, one mismatch", document.Result{Type: fields.TypePassport, Fields: expiry("2030-01-01"),
			MRZ: &mrz.Result{ValidScore: 80}, Mismatches: []fields.Mismatch{{Field: "surname"}}}, 1.8 / 3, true},
	} {
		got, ok := dataChecks(&c.doc)
		if ok != c.ok || (ok && (got < c.want-1e-9 || got > c.want+1e-9)) {
			t.Errorf("%s: %.3f %v, want %.3f %v", c.name, got, ok, c.want, c.ok)
		}
	}
}
