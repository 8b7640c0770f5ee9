package mrzread

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/document/mrz"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/engine/ocr"
	"github.com/openkyc/kyc/internal/testenv"
)

// specimenDate is "now" for the specimens: most expired long ago, which
// must not change how they read.
var specimenDate = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// newReader reads with the recognisers internal/engines.OCRConfig chooses
// (en_number_mobile_v2.0 for the page and the zone, then en_PP-OCRv4, then
// PP-OCRv4's Chinese recogniser for a zone whose check digits fail).
func newReader(t testing.TB, threads int) *Reader {
	t.Helper()
	testenv.ORT(t)
	keys := testenv.Model(t, "ppocr-keys-en")
	e, err := ocr.New(ocr.Config{
		DetModel:  testenv.Model(t, "ppocr-det"),
		RecModel:  testenv.Model(t, "ppocr-rec-en-number"),
		Keys:      keys,
		RecHeight: 32,
		MRZ: []ocr.Recognizer{{Model: testenv.Model(t, "ppocr-rec-en-number"), Keys: keys, Height: 32},
			{Model: testenv.Model(t, "ppocr-rec-en-v4"), Keys: keys},
			{Model: testenv.Model(t, "ppocr-rec"), Keys: testenv.Model(t, "ppocr-keys")}},
		Threads: threads,
		MaxSide: 640,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	r := New(e)
	r.Now = func() time.Time { return specimenDate }
	return r
}

func readImage(t testing.TB, path string) gocv.Mat {
	t.Helper()
	img, err := imageio.ReadFile(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { img.Close() })
	return img
}

var scoredName = regexp.MustCompile(`^(\d+)_`)

// targets turns on issue 4's acceptance check: every specimen at or above
// its reference score. It is not met yet (see the issue), so the default run
// guards the total against regressions and reports each specimen.
var targets = flag.Bool("targets", false, "assert every PassportEye specimen reaches its reference score")

// TestPassportEyeSpecimens reads every scored specimen and compares the
// share of check digits that validate with the reference reader's score in
// the file name. A specimen the reference could not read (score 0) passes
// with no zone or any zone.
func TestPassportEyeSpecimens(t *testing.T) {
	r := newReader(t, 2)
	dir := testenv.Data(t, "mrz", "passporteye")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got, ref, n int
	for _, e := range entries {
		m := scoredName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		want, _ := strconv.Atoi(m[1])
		n++
		ref += want
		t.Run(e.Name(), func(t *testing.T) {
			img := readImage(t, filepath.Join(dir, e.Name()))
			res, err := r.Read(context.Background(), img)
			score := 0
			switch {
			case errors.Is(err, ErrNoMRZ):
			case err != nil:
				t.Fatalf("Read: %v", err)
			default:
				score = res.ValidScore
				t.Logf("%s %v", res.Format, res.Lines)
			}
			got += score
			t.Logf("score %d, reference %d", score, want)
			if score < want {
				if *targets {
					t.Errorf("valid check digits %d%%, reference reader %d%%", score, want)
				} else {
					t.Logf("BELOW REFERENCE: valid check digits %d%%, reference reader %d%%", score, want)
				}
			}
		})
	}
	if n == 0 {
		t.Fatal("no scored specimens found")
	}
	t.Logf("total over %d specimens: %d, reference total %d", n, got, ref)
	// The regression guard: the reader as it stands reads 1950 against
	// the reference's 1694; losing more than a tenth of the reference
	// total fails.
	if got < ref*9/10 {
		t.Errorf("total %d is under 90%% of the reference total %d", got, ref)
	}
}

// TestICAOSpecimens checks the exact fields of the ICAO 9303 specimens.
func TestICAOSpecimens(t *testing.T) {
	r := newReader(t, 2)
	dir := testenv.Data(t, "mrz", "passporteye")
	raw, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	type expected struct {
		SameAs         string            `json:"same_as"`
		Format         string            `json:"format"`
		DocumentCode   string            `json:"document_code"`
		IssuingCountry string            `json:"issuing_country"`
		DocumentNumber string            `json:"document_number"`
		BirthDate      string            `json:"birth_date"`
		ExpiryDate     string            `json:"expiry_date"`
		Nationality    string            `json:"nationality"`
		Sex            string            `json:"sex"`
		Surname        string            `json:"surname"`
		GivenNames     string            `json:"given_names"`
		OptionalData   string            `json:"optional_data"`
		CheckDigits    map[string]string `json:"check_digits"`
	}
	all := map[string]expected{}
	for name, v := range doc {
		if strings.HasPrefix(name, "_") {
			continue
		}
		var e expected
		if err := json.Unmarshal(v, &e); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		all[name] = e
	}
	if len(all) == 0 {
		t.Fatal("expected.json lists no specimens")
	}
	for name, want := range all {
		if want.SameAs != "" {
			want = all[want.SameAs]
		}
		img := readImage(t, filepath.Join(dir, name))
		t.Run(name+"/read", func(t *testing.T) {
			res, err := r.Read(context.Background(), img)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			checkExpected(t, res, want.Format, want.DocumentCode, want.IssuingCountry, want.DocumentNumber, want.BirthDate,
				want.ExpiryDate, want.Nationality, want.Sex, want.Surname, want.GivenNames, want.OptionalData, want.CheckDigits)
		})
		// The page path: the zone's lines come from the page reading, and
		// must be found there (no fall back to a second detection).
		t.Run(name+"/page", func(t *testing.T) {
			lines, err := r.ocr.Read(context.Background(), img, ocr.DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if zl := zoneLines(lines); len(zl) != 2 {
				t.Errorf("%d zone lines in the page reading, want 2", len(zl))
			}
			res, err := r.ReadLines(context.Background(), img, lines)
			if err != nil {
				t.Fatalf("ReadLines: %v", err)
			}
			checkExpected(t, res, want.Format, want.DocumentCode, want.IssuingCountry, want.DocumentNumber, want.BirthDate,
				want.ExpiryDate, want.Nationality, want.Sex, want.Surname, want.GivenNames, want.OptionalData, want.CheckDigits)
		})
	}
}

// checkExpected compares a reading with a specimen's expected fields, and
// wants every check digit valid.
func checkExpected(t *testing.T, res *mrz.Result, format, code, country, number, birth, expiry, nationality, sex, surname, given, optional string, digits map[string]string) {
	t.Helper()
	f := res.Fields
	for _, c := range []struct{ field, got, want string }{
		{"format", string(res.Format), format},
		{"document_code", f.DocumentCode, code},
		{"issuing_country", f.IssuingCountry, country},
		{"document_number", f.DocumentNumber, number},
		{"birth_date", f.BirthDate, birth},
		{"expiry_date", f.ExpiryDate, expiry},
		{"nationality", f.Nationality, nationality},
		{"sex", f.Sex, sex},
		{"surname", f.Surname, surname},
		{"given_names", f.GivenNames, given},
		{"optional_data", f.OptionalData, optional},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q (lines %q)", c.field, c.got, c.want, res.Lines)
		}
	}
	found := map[string]string{}
	for _, c := range res.Checks {
		found[c.Name] = c.Found
		if !c.Valid {
			t.Errorf("check %s fails: %+v", c.Name, c)
		}
	}
	for name, digit := range digits {
		if found[name] != digit {
			t.Errorf("check digit %s = %q, want %q", name, found[name], digit)
		}
	}
	if res.ValidScore != 100 {
		t.Errorf("valid score %d, want 100", res.ValidScore)
	}
}

// TestNoZone: pages without a zone are ErrNoMRZ, not a crash or a guess.
func TestNoZone(t *testing.T) {
	r := newReader(t, 1)
	blank := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(255, 255, 255, 0), 400, 600, gocv.MatTypeCV8UC3)
	defer blank.Close()
	text := renderText(t, []string{"THE QUICK BROWN FOX", "JUMPS OVER THE LAZY DOG"}, textStyle{size: 40})
	for name, img := range map[string]gocv.Mat{"blank": blank, "prose": text} {
		t.Run(name, func(t *testing.T) {
			res, err := r.Read(context.Background(), img)
			if !errors.Is(err, ErrNoMRZ) || !errors.Is(err, mrz.ErrNoMRZ) {
				t.Fatalf("Read = %+v, %v; want ErrNoMRZ", res, err)
			}
		})
	}
	empty := gocv.NewMat()
	defer empty.Close()
	if _, err := r.Read(context.Background(), empty); !errors.Is(err, ocr.ErrBadImage) {
		t.Fatalf("Read(empty) = %v, want ocr.ErrBadImage", err)
	}
}

func TestLooksLikeMRZ(t *testing.T) {
	for _, c := range []struct {
		text string
		want bool
	}{
		{"NIK : 3171234508900001", false},
		{"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", true},
		{"P‹UTOERIKSSON‹‹ANNA", true},                   // fillers read as their look-alike
		{"L898902C36UTO7408122F1204159ZE184226B", true}, // a zone line whose fillers were lost
		{"Countrycode/CodedupaysPassportNumber/N°depasseport", false},
		{"", false},
	} {
		if got := LooksLikeMRZ(c.text); got != c.want {
			t.Errorf("%q: %v, want %v", c.text, got, c.want)
		}
	}
}

// BenchmarkReadLines is the zone reading of the document pipeline: the
// page is already read, and its zone lines are read again.
func BenchmarkReadLines(b *testing.B) {
	r := newReader(b, 2)
	img := readImage(b, filepath.Join(testenv.Data(b, "mrz", "passporteye"), "100_pass-lux.jpg"))
	ctx := context.Background()
	lines, err := r.ocr.Read(ctx, img, ocr.DecodeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if res, err := r.ReadLines(ctx, img, lines); err != nil || res.ValidScore != 100 {
			b.Fatal(res, err)
		}
	}
}

func BenchmarkRead(b *testing.B) {
	r := newReader(b, 2)
	img := readImage(b, filepath.Join(testenv.Data(b, "mrz", "passporteye"), "100_pass-lux.jpg"))
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.Read(ctx, img); err != nil {
			b.Fatal(err)
		}
	}
}

// TestNameLineSurestReading: no check digit covers a zone's name line, so
// the zone chosen for its check digits may bring a name line its
// recogniser misread. On 25_pass-uto PP-OCRv4's Chinese recogniser, the
// one that validates the second line, read the fillers of the first as K,
// C and S ("PCUTOERIKSSONSKANNACNARIAKKKKCKK..."), a surname of 39 letters
// and no given names; the English one read it surer and in shape. On
// 100_pass-bdr a surer reading with three fillers inside the name
// ("MUSTERMANN<<<ERIKA"), no ICAO name, is not taken.
func TestNameLineSurestReading(t *testing.T) {
	r := newReader(t, 2)
	dir := testenv.Data(t, "mrz", "passporteye")
	for _, c := range []struct {
		file, surnameWords, givenWords string
		line                           string // the name line, when known exactly
	}{
		{"25_pass-uto.jpg", "1", "2", ""},
		{"100_pass-bdr.jpg", "1", "1", "P<BDRMUSTERMANN<<ERIKA<<<<<<<<<<<<<<<<<<<<<<"},
	} {
		img := readImage(t, filepath.Join(dir, c.file))
		res, err := r.Read(context.Background(), img)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		t.Logf("%s: %v %q %q", c.file, res.Lines, res.Fields.Surname, res.Fields.GivenNames)
		words := func(s string) string { return strconv.Itoa(len(strings.Fields(s))) }
		if words(res.Fields.Surname) != c.surnameWords || words(res.Fields.GivenNames) != c.givenWords {
			t.Errorf("%s: surname %q, given names %q: want %s and %s words", c.file, res.Fields.Surname, res.Fields.GivenNames, c.surnameWords, c.givenWords)
		}
		if !wellFormedName(res.Lines[0], res.Format) || !strings.HasSuffix(res.Lines[0], strings.Repeat("<", 15)) {
			t.Errorf("%s: name line %s is no ICAO name padded with fillers", c.file, res.Lines[0])
		}
		if c.line != "" && res.Lines[0] != c.line {
			t.Errorf("%s: name line %s, want %s", c.file, res.Lines[0], c.line)
		}
	}
}
