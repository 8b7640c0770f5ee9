package ocr

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/document/mrz"
	"github.com/openkyc/kyc/internal/testenv"
)

// measureNames turns on TestMRZNames, a measurement of about a minute.
var measureNames = flag.Bool("ocr.names", false, "TestMRZNames: name accuracy on the doubango name lines")

// nameField is the name field of an MRZ line playing role, or "" when the
// line holds none.
func nameField(line string, role mrz.LineRole) string {
	switch {
	case role.Format == mrz.TD1 && role.Line == 3:
		return line
	case role.Format != mrz.TD1 && role.Line == 1 && len(line) > 5:
		return line[5:]
	}
	return ""
}

// nameWords is a name field as the holder's names: primary and secondary
// identifiers, fillers read as spaces.
func nameWords(field string) string {
	sur, given, _ := strings.Cut(field, "<<")
	w := func(s string) string {
		return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '<' }), " ")
	}
	return w(sur) + "|" + w(given)
}

// fillerConfusion reports whether got and want differ at a position where
// one holds a filler and the other a K.
func fillerConfusion(got, want string) bool {
	for i := 0; i < min(len(got), len(want)); i++ {
		if (got[i] == 'K' && want[i] == '<') || (got[i] == '<' && want[i] == 'K') {
			return true
		}
	}
	return false
}

// fillerOdds is mrzread.Reading (package mrzread imports this one).
func fillerOdds(l Line) mrz.Reading {
	return mrz.Reading{Text: l.Text, FillerOdds: l.FillerOdds()}
}

// TestMRZNames reads the doubango name lines (TD1's third line, the first
// line of the others) as mrzread does with the product's first MRZ
// recogniser, and counts the names read exactly after mrz.FixLine (the
// text alone) and after mrz.FixReading (with the recogniser's filler
// odds), and the wrong ones where a K stands for a filler or a filler for
// a K. The lines are split in two halves by index: mrz's fillerOddsCut was
// set on the even lines; the odd ones report.
func TestMRZNames(t *testing.T) {
	if !*measureNames {
		t.Skip("a measurement: -ocr.names")
	}
	imgs, truth, paths := doubangoLines(t, 1)
	e := newEngineWith(t, "ppocr-rec-en-number", "ppocr-keys-en", 32)
	got, err := e.ReadCrops(context.Background(), imgs, DecodeOptions{Allow: MRZAlphabet, Lengths: []int{30, 36, 44}, MaxAdded: 4, FullWidth: true})
	if err != nil {
		t.Fatal(err)
	}
	type tally struct{ lines, right, kConf, rightOdds, kConfOdds int }
	var halves [2]tally
	for i, want := range truth {
		_, role, ok := mrz.FixLine(want)
		wantName := nameField(want, role)
		if !ok || wantName == "" {
			continue
		}
		h := &halves[i%2]
		h.lines++
		fixed, frole, _ := mrz.FixLine(got[i].Text)
		name := nameField(fixed, frole)
		right := nameWords(name) == nameWords(wantName)
		if right {
			h.right++
		} else if fillerConfusion(name, wantName) {
			h.kConf++
		}
		oddsFixed, orole, _ := mrz.FixReading(fillerOdds(got[i]))
		oname := nameField(oddsFixed, orole)
		oright := nameWords(oname) == nameWords(wantName)
		if oright {
			h.rightOdds++
		} else if fillerConfusion(oname, wantName) {
			h.kConfOdds++
		}
		if right != oright || fillerConfusion(oname, wantName) {
			t.Logf("%s\n  read  %s\n  text  %s\n  odds  %s\n  truth %s", paths[i], got[i].Text, fixed, oddsFixed, want)
		}
	}
	for k, h := range halves {
		t.Logf("%s half: %d name lines; names right %d (%.1f%%) from the text, %d (%.1f%%) with the filler odds; wrong with a K/filler confusion %d, %d",
			[]string{"tuning", "report"}[k], h.lines, h.right, 100*float64(h.right)/float64(max(h.lines, 1)),
			h.rightOdds, 100*float64(h.rightOdds)/float64(max(h.lines, 1)), h.kConf, h.kConfOdds)
	}
	if r := halves[1]; r.rightOdds < r.right {
		t.Errorf("report half: the filler odds lose names: %d right, %d from the text alone", r.rightOdds, r.right)
	}
}

// TestFillerOddsOnARealLine reads a doubango TD1 name line on which the
// product's first MRZ recogniser takes the filler after ERIKA for an X
// (the odds of '<' 0.9 of the X's): from the text alone the name is
// ERIKAX, with the recogniser's filler odds ERIKA.
func TestFillerOddsOnARealLine(t *testing.T) {
	path := filepath.Join(testenv.Data(t, "mrz", "doubango_mrz_lines"), "erika3.jpg-1")
	gt, err := os.ReadFile(path + ".gt.txt")
	if err != nil {
		t.Fatal(err)
	}
	img := gocv.IMRead(path+".tif", gocv.IMReadColor)
	if img.Empty() {
		t.Fatalf("cannot read %s.tif", path)
	}
	defer img.Close()
	e := newEngineWith(t, "ppocr-rec-en-number", "ppocr-keys-en", 32)
	got, err := e.ReadCrops(context.Background(), []gocv.Mat{img}, DecodeOptions{Allow: MRZAlphabet, Lengths: []int{30, 36, 44}, MaxAdded: 4, FullWidth: true})
	if err != nil {
		t.Fatal(err)
	}
	truth := strings.TrimSpace(string(gt))
	_, role, _ := mrz.FixLine(truth)
	want := nameWords(nameField(truth, role))
	text, trole, _ := mrz.FixLine(got[0].Text)
	fixed, frole, _ := mrz.FixReading(fillerOdds(got[0]))
	t.Logf("read %s, from the text %s, with the odds %s", got[0].Text, text, fixed)
	if nameWords(nameField(text, trole)) == want {
		t.Logf("the text alone reads the name right now: the recogniser changed")
	}
	if n := nameWords(nameField(fixed, frole)); n != want {
		t.Errorf("name with the filler odds %q, want %q", n, want)
	}
}
