package document

import (
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/engine/document/fields"
)

// TestDateLogic: dates that cannot all be true fire the check and are named
// in its evidence; the dates of honest documents (a child's passport, one
// renewed with the old one's months carried over, a card valid 15 years)
// and too few dates read do not.
func TestDateLogic(t *testing.T) {
	dates := func(birth, issue, expiry string) map[string]fields.Field {
		m := map[string]fields.Field{}
		for k, v := range map[string]string{fields.FieldBirthDate: birth, fields.FieldIssueDate: issue, fields.FieldExpiryDate: expiry} {
			if v != "" {
				m[k] = fields.Field{Value: v}
			}
		}
		return m
	}
	for _, c := range []struct {
		name       string
		typ        fields.DocType
		fs         map[string]fields.Field
		applicable bool
		found      string // a word of the problem named, "" when none
	}{
		{"nothing read", fields.TypePassport, nil, false, ""},
		{"expiry alone", fields.TypePassport, dates("", "", "2031-04-15"), false, ""},
		{"KTP for life", fields.TypeKTP, dates("1990-01-02", "", fields.Lifetime), false, ""},
		{"passport, ten years", fields.TypePassport, dates("1974-08-12", "2021-04-16", "2031-04-15"), true, ""},
		{"passport, old one's months carried over", fields.TypePassport, dates("1974-08-12", "2016-04-16", "2026-12-31"), true, ""},
		{"child's passport", fields.TypePassport, dates("2011-01-01", "2011-03-01", "2016-02-28"), true, ""},
		{"birth and expiry, month only", fields.TypePassport, dates("1974-08", "", "2031-04-15"), true, ""},
		{"identity card, 15 years", fields.TypeIDCard, dates("1960-04-10", "2014-06-05", "2029-06-04"), true, ""},
		{"passport, expiry moved on 20 years", fields.TypePassport, dates("1974-08-12", "2007-04-16", "2032-04-15"), true, "longer than 11 years"},
		{"expiry before issue", fields.TypeIDCard, dates("1974-08-12", "2017-04-16", "2012-04-15"), true, "not after its issue"},
		{"issued before the birth", fields.TypePassport, dates("1994-08-12", "1990-04-16", "2000-04-15"), true, "before the birth"},
		{"expires before the birth", fields.TypeIDCard, dates("1994-08-12", "", "1990-04-15"), true, "before the birth"},
		{"unparsable issue date left out", fields.TypePassport, dates("1974-08-12", "16 APR", "2031-04-15"), true, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			ch := dateLogic(c.typ, c.fs)
			if ch.Name != CheckDateLogic || ch.Applicable != c.applicable || (ch.Score < 0.5) != (c.found != "") {
				t.Fatalf("got %+v, want applicable %v, fired %v", ch, c.applicable, c.found != "")
			}
			found, _ := ch.Evidence["found"].([]string)
			if c.found != "" && (len(found) != 1 || !strings.Contains(found[0], c.found)) {
				t.Fatalf("evidence %v does not name %q", ch.Evidence, c.found)
			}
		})
	}
}

// TestPortraitAge: a portrait far younger than the holder will be at the
// expiry of a valid document fires (an expired document's expiry pushed on
// 22 years); an honest portrait, an old one on a document near its
// expiry, an expired document, a "for life" expiry and missing dates do
// not.
func TestPortraitAge(t *testing.T) {
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	dates := func(birth, expiry string) map[string]fields.Field {
		return map[string]fields.Field{fields.FieldBirthDate: {Value: birth}, fields.FieldExpiryDate: {Value: expiry}}
	}
	for _, c := range []struct {
		name       string
		fs         map[string]fields.Field
		apparent   float64
		applicable bool
		fired      bool
	}{
		{"expiry moved from 2012 to 2034", dates("1974-08-12", "2034-04-15"), 27, true, true},
		{"honest portrait", dates("1974-08-12", "2034-04-15"), 50, true, false},
		{"ten-year-old portrait seen 8 years young", dates("1974-08-12", "2027-04-15"), 35, true, false},
		{"expired", dates("1974-08-12", "2012-04-15"), 21, false, false},
		{"for life, written as a far date", dates("1950-01-01", "9999-12-31"), 70, false, false},
		{"no birth date", dates("", "2034-04-15"), 27, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ch := portraitAge(c.fs, c.apparent, now)
			if ch.Name != CheckPortraitAge || ch.Applicable != c.applicable || (ch.Score < 0.5) != c.fired {
				t.Fatalf("got %+v, want applicable %v, fired %v", ch, c.applicable, c.fired)
			}
		})
	}
}
