package mrz

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/openkyc/kyc/internal/testenv"
)

// TestPassportEyeSpecimens compares the parser with the exact fields that
// expected.json gives for the ICAO specimen images. The json holds no MRZ
// text, so the zones printed on those specimens are typed here.
func TestPassportEyeSpecimens(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(testenv.Data(t, "mrz", "passporteye"), "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var entries map[string]json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil {
		t.Fatalf("reading expected.json: %v", err)
	}
	zones := map[string][]string{
		"passport-td3.jpg": specimenTD3,
		"passport-td2.jpg": specimenTD2,
	}
	type expected struct {
		SameAs      string            `json:"same_as"`
		Format      Format            `json:"format"`
		CheckDigits map[string]string `json:"check_digits"`
		Fields
	}
	compared := 0
	for name, msg := range entries {
		if strings.HasPrefix(name, "_") {
			continue
		}
		var want expected
		if err := json.Unmarshal(msg, &want); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want.SameAs != "" {
			if _, ok := entries[want.SameAs]; !ok {
				t.Errorf("%s: same_as %q is not in the file", name, want.SameAs)
			}
			continue
		}
		zone, ok := zones[name]
		if !ok {
			t.Errorf("%s: no MRZ text typed for this specimen", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			r := mustParse(t, zone)
			got := r.Fields
			if r.Format != want.Format || got.DocumentCode != want.DocumentCode ||
				got.IssuingCountry != want.IssuingCountry || got.DocumentNumber != want.DocumentNumber ||
				got.BirthDate != want.BirthDate || got.ExpiryDate != want.ExpiryDate ||
				got.Nationality != want.Nationality || got.Sex != want.Sex || got.Surname != want.Surname ||
				got.GivenNames != want.GivenNames || got.OptionalData != want.OptionalData {
				t.Errorf("got %s %+v\nwant %s %+v", r.Format, got, want.Format, want.Fields)
			}
			if found := checkFound(r); !equalMaps(found, want.CheckDigits) {
				t.Errorf("check digits %v, want %v", found, want.CheckDigits)
			}
			if r.ValidScore != 100 {
				t.Errorf("valid_score = %d", r.ValidScore)
			}
		})
		compared++
	}
	if compared != len(zones) {
		t.Errorf("compared %d specimens, want %d", compared, len(zones))
	}
}

// TestDoubangoGroundTruthLines runs the line-level validator over the
// ground-truth text of the doubango MRZ line crops. They come from real and
// specimen documents, including national layouts that only share the MRZ
// widths (French ID cards, EU driving licences), so not every line of a
// layout width is an ICAO line. The test asserts acceptance where there is
// independent evidence of an ICAO line, and logs the rest:
//   - a line of letters and fillers only (a name line) must be accepted;
//   - a line on which at least two check digits of a layout line validate
//     must be accepted as one of the lines so evidenced (TD3 and MRV-A
//     second lines share those check digits, as do TD2 and MRV-B);
//   - a line of another length must be rejected.
func TestDoubangoGroundTruthLines(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(testenv.Data(t, "mrz", "doubango_mrz_lines"), "*.gt.txt"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no ground truth lines: %v", err)
	}
	perWidth := map[int][2]int{} // width -> accepted, total
	var rejected []string
	evidenced := 0
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		line := strings.TrimSpace(string(b))
		roles := LineRoles(line)
		switch len(line) {
		case 30, 36, 44:
		default:
			if roles != nil {
				t.Errorf("%s: %d characters accepted as %v", filepath.Base(path), len(line), roles)
			}
			continue
		}
		n := perWidth[len(line)]
		n[1]++
		if roles != nil {
			n[0]++
		} else {
			rejected = append(rejected, line)
		}
		perWidth[len(line)] = n
		if strings.Trim(line, "ABCDEFGHIJKLMNOPQRSTUVWXYZ<") == "" && roles == nil {
			t.Errorf("%s: name line %q rejected", filepath.Base(path), line)
		}
		if want := evidencedRoles(line); want != nil {
			evidenced++
			if !slices.ContainsFunc(want, func(r LineRole) bool { return slices.Contains(roles, r) }) {
				t.Errorf("%s: %q has validating check digits of %v but was accepted as %v", filepath.Base(path), line, want, roles)
			}
		}
	}
	widths := []int{30, 36, 44}
	for _, w := range widths {
		t.Logf("width %d: %d of %d lines accepted", w, perWidth[w][0], perWidth[w][1])
	}
	slices.Sort(rejected)
	t.Logf("%d lines with check-digit evidence of their role; rejected lines of a layout width:\n%s", evidenced, strings.Join(rejected, "\n"))
}

// evidencedRoles returns the data-line roles of which at least two check
// digits validate on line.
func evidencedRoles(line string) []LineRole {
	var out []LineRole
	for _, l := range layouts {
		if len(line) != l.width {
			continue
		}
		p := &parser{l: l, grid: make([][]byte, l.height)}
		for i := 0; i < l.height; i++ {
			p.grid[i] = []byte(strings.Repeat("<", l.width))
		}
		for i := 0; i < l.height; i++ {
			if i == l.name.line {
				continue
			}
			p.grid[i] = []byte(line)
			valid := 0
			for _, d := range p.checkDefs() {
				if onLine(d, i) && p.text(d.digit) != "<" && p.evaluate(d).Valid {
					valid++
				}
			}
			if valid >= 2 {
				out = append(out, LineRole{l.format, i + 1})
			}
			p.grid[i] = []byte(strings.Repeat("<", l.width))
		}
	}
	return out
}
