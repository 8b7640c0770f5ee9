package mrz

import (
	"strings"
	"testing"
)

// TestParseReadingsFillerOdds: a letter of the name that the recogniser
// nearly read as a filler is read as one, whatever the letter and wherever
// in the name; the same letter read surely stays, and so does one outside
// the name, or the name's first.
func TestParseReadingsFillerOdds(t *testing.T) {
	odds := func(line string, at map[int]float32) []float32 {
		o := make([]float32, len(line))
		for i, v := range at {
			o[i] = v
		}
		return o
	}
	for _, c := range []struct {
		name         string
		line         string
		odds         map[int]float32
		surname      string
		given        string
		firstLineOut string
	}{
		{"K ending the given names", "P<UTOERIKSSON<<ANNA<MARIAK<<<<<<<<<<<<<<<<<<", map[int]float32{25: 0.9},
			"ERIKSSON", "ANNA MARIA", specimenTD3[0]},
		{"K surely read stays", "P<UTOERIKSSON<<ANNA<MARIAK<<<<<<<<<<<<<<<<<<", map[int]float32{25: 0.002},
			"ERIKSSON", "ANNA MARIAK", "P<UTOERIKSSON<<ANNA<MARIAK<<<<<<<<<<<<<<<<<<"},
		{"C for the separator", "P<UTOERIKSSONC<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", map[int]float32{13: 0.5},
			"ERIKSSON", "ANNA MARIA", specimenTD3[0]},
		{"X between given names", "P<UTOERIKSSON<<ANNAXMARIA<<<<<<<<<<<<<<<<<<<", map[int]float32{19: 0.3},
			"ERIKSSON", "ANNA MARIA", specimenTD3[0]},
		{"first letter of the name", "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", map[int]float32{5: 0.9},
			"ERIKSSON", "ANNA MARIA", specimenTD3[0]},
		{"issuer is no name", "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", map[int]float32{3: 0.9},
			"ERIKSSON", "ANNA MARIA", specimenTD3[0]},
	} {
		res, err := ParseReadings([]Reading{{Text: c.line, FillerOdds: odds(c.line, c.odds)}, {Text: specimenTD3[1]}}, testNow)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if res.Fields.Surname != c.surname || res.Fields.GivenNames != c.given || res.Lines[0] != c.firstLineOut {
			t.Errorf("%s: %q, %q, %s; want %q, %q, %s", c.name, res.Fields.Surname, res.Fields.GivenNames, res.Lines[0], c.surname, c.given, c.firstLineOut)
		}
		if res.ValidScore != 100 {
			t.Errorf("%s: valid score %d", c.name, res.ValidScore)
		}
	}
	// Odds that do not match the line (a line resized by the parser) are
	// not used: the K stays, as from Parse.
	long := "P<UTOERIKSSON<<ANNA<MARIAK<<<<<<<<<<<<<<<<<<<"
	res, err := ParseReadings([]Reading{{Text: long, FillerOdds: odds(long, map[int]float32{25: 0.9})}, {Text: specimenTD3[1]}}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := Parse([]string{long, specimenTD3[1]}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if res.Lines[0] != plain.Lines[0] {
		t.Errorf("odds of a resized line used: %s, Parse gives %s", res.Lines[0], plain.Lines[0])
	}
	// FixReading does what ParseReadings does, for a line alone.
	fixed, _, ok := FixReading(Reading{Text: "P<UTOERIKSSON<<ANNA<MARIAK<<<<<<<<<<<<<<<<<<", FillerOdds: odds(specimenTD3[0], map[int]float32{25: 0.9})})
	if !ok || !strings.HasPrefix(fixed, "P<UTOERIKSSON<<ANNA<MARIA<<") {
		t.Errorf("FixReading: %s %v", fixed, ok)
	}
}
