package console

import (
	"slices"
	"testing"
)

// TestCSVSafe checks that no part of an exported cell starts a formula: a
// spreadsheet whose list separator is ";" (Indonesian and most European
// locales) splits "x;=cmd" into "x" and "=cmd", so each part is defused,
// and a cell that starts with spaces before "=" too.
func TestCSVSafe(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"passport", "passport"},
		{"FACE_MISMATCH LOW_QUALITY", "FACE_MISMATCH LOW_QUALITY"},
		{"2026-12-01T10:00:00Z", "2026-12-01T10:00:00Z"},
		{"=1+1", "'=1+1"},
		{"-2+3", "'-2+3"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\t=1", "'\t'=1"},
		{"  =1+1", "'  =1+1"},
		{"x;=cmd|' /C calc'!A0;", "x;'=cmd|' /C calc'!A0;"},
		{"a;b;+1;@x", "a;b;'+1;'@x"},
		{"x; =1", "x;' =1"},
		{"x\t=1", "x\t'=1"},
		{"a;b", "a;b"},
	} {
		got := csvSafe([]string{tc.in})
		if !slices.Equal(got, []string{tc.want}) {
			t.Errorf("csvSafe(%q) = %q, want %q", tc.in, got[0], tc.want)
		}
	}
}
