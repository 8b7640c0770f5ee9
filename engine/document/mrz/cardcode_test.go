package mrz

import (
	"testing"
	"time"
)

func TestCardCodeCorrection(t *testing.T) {
	// ICAO 9303 part 5's TD1 specimen, its document code misread.
	zone := []string{
		"I<UTOD231458907<<<<<<<<<<<<<<<",
		"7408122F1204159UTO<<<<<<<<<<<6",
		"ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
	}
	for _, misread := range []byte{'T', 'L', '1'} {
		lines := append([]string(nil), zone...)
		lines[0] = string(misread) + lines[0][1:]
		res, err := Parse(lines, time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		if res.Fields.DocumentCode != "I<" || res.Lines[0] != zone[0] {
			t.Errorf("%c: document code %q, line %q", misread, res.Fields.DocumentCode, res.Lines[0])
		}
		// A digit is already a letter's confusion in any alphabetic field;
		// a T or an L only here.
		if len(res.Corrections) != 1 || res.Corrections[0].To != "I" || (misread != '1' && res.Corrections[0].Reason != reasonCode) {
			t.Errorf("%c: corrections %+v", misread, res.Corrections)
		}
	}
	// A passport's P is never touched.
	res, err := Parse([]string{
		"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
		"L898902C36UTO7408122F1204159ZE184226B<<<<<10",
	}, time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil || len(res.Corrections) != 0 {
		t.Fatalf("TD3: %v %+v", err, res)
	}
}
