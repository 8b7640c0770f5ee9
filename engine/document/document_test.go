package document

import (
	"testing"

	"github.com/openkyc/kyc/engine/ocr"
)

func TestHasMRZEvidence(t *testing.T) {
	cases := []struct {
		lines []string
		want  bool
	}{
		{[]string{"PROVINSI DKI JAKARTA", "NIK : 3171234508900001", "Nama : BUDI SANTOSO"}, false},
		{[]string{"Passport", "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<"}, true},
		{[]string{"P‹UTOERIKSSON‹‹ANNA"}, true},                   // fillers read as their look-alike
		{[]string{"L898902C36UTO7408122F1204159ZE184226B"}, true}, // a zone line whose fillers were lost
		{[]string{"Countrycode/CodedupaysPassportNumber/N°depasseport"}, false},
		{nil, false},
	}
	for _, c := range cases {
		var lines []ocr.Line
		for _, s := range c.lines {
			lines = append(lines, ocr.Line{Text: s})
		}
		if got := hasMRZEvidence(lines); got != c.want {
			t.Errorf("%q: %v, want %v", c.lines, got, c.want)
		}
	}
}
