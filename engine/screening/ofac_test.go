package screening

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/openkyc/kyc/internal/testenv"
)

func entryByID(t *testing.T, l *List, id string) *Entry {
	t.Helper()
	for i := range l.Entries {
		if l.Entries[i].ID == id {
			return &l.Entries[i]
		}
	}
	t.Fatalf("list %s has no entry %s", l.Name, id)
	return nil
}

func aliasNames(e *Entry, weak bool) []string {
	var out []string
	for _, a := range e.Aliases {
		if a.Weak == weak {
			out = append(out, a.Name)
		}
	}
	return out
}

func TestImportOFACSample(t *testing.T) {
	l, err := ImportOFAC(context.Background(), testenv.Data(t, "sanctions", "ofac_sdn_sample"))
	if err != nil {
		t.Fatal(err)
	}
	if l.Name != ListOFAC || !strings.HasPrefix(l.Version, "sha256:") || l.Date.IsZero() || l.Published {
		t.Errorf("list header = %q %q %v published %v, want name %q, a digest version and a stand-in date (the CSV files carry none)",
			l.Name, l.Version, l.Date, l.Published, ListOFAC)
	}
	if len(l.Entries) != 17 {
		t.Fatalf("got %d entries, want 17", len(l.Entries))
	}
	kinds := map[Kind]int{}
	for _, e := range l.Entries {
		kinds[e.Kind]++
	}
	if want := map[Kind]int{KindIndividual: 4, KindEntity: 7, KindVessel: 4, KindAircraft: 2}; !mapsEqual(kinds, want) {
		t.Errorf("kinds = %v, want %v", kinds, want)
	}

	logan := entryByID(t, l, "10278")
	if logan.Name != "LOGAN MOREY, Elvis Angus" || logan.Kind != KindIndividual {
		t.Errorf("10278 = %q %s", logan.Name, logan.Kind)
	}
	if want := []DOB{{From: Date{1963, 7, 28}, To: Date{1963, 7, 28}}}; !slices.Equal(logan.DOBs, want) {
		t.Errorf("10278 DOBs = %v, want %v", logan.DOBs, want)
	}
	if got := aliasNames(logan, true); !slices.Equal(got, []string{"BURTON BURGESS"}) {
		t.Errorf("10278 weak aliases = %q", got)
	}
	// alt.csv row "10416,10278,..." belongs to entry 10416, absent here.
	if got := aliasNames(logan, false); len(got) != 0 {
		t.Errorf("10278 strong aliases = %q, want none", got)
	}

	kh := entryByID(t, l, "48603")
	wantStrong := []string{"KHOROSHEV, Dmitriy Yurevich", "YURIEVICH, Dmitry", "KHOROSHEV, Dmitrii Yuryevich"}
	if got := aliasNames(kh, false); !slices.Equal(got, wantStrong) {
		t.Errorf("48603 strong aliases = %q, want %q", got, wantStrong)
	}
	if got := aliasNames(kh, true); !slices.Equal(got, []string{"LOCKBITSUPP"}) {
		t.Errorf("48603 weak aliases = %q", got)
	}
	if !slices.Equal(kh.Countries, []string{"Russia"}) {
		t.Errorf("48603 countries = %q, want nationality and citizenship Russia once", kh.Countries)
	}
	if !slices.Equal(kh.Programs, []string{"CYBER2"}) {
		t.Errorf("48603 programs = %q", kh.Programs)
	}

	iami := entryByID(t, l, "11195")
	if got := len(aliasNames(iami, false)); got != 4 {
		t.Errorf("11195 has %d strong aliases, want the 4 rows of alt.csv", got)
	}
	if got := aliasNames(iami, true); len(got) != 9 || got[0] != "HESA" {
		t.Errorf("11195 weak aliases = %q, want 9 starting with HESA", got)
	}
	if !slices.Equal(iami.Programs, []string{"NPWMD", "IFSR", "IRAN-CON-ARMS-EO"}) {
		t.Errorf("11195 programs = %q", iami.Programs)
	}
	if !slices.Equal(iami.Countries, []string{"Iran"}) {
		t.Errorf("11195 countries = %q, want the address country Iran", iami.Countries)
	}

	// The a.k.a. of 33151 sits in the overflow of sdn_comments.csv.
	if got := aliasNames(entryByID(t, l, "33151"), true); !slices.Contains(got, "SUCCESSFUL EXCHANGE") {
		t.Errorf("33151 weak aliases = %q, want SUCCESSFUL EXCHANGE from sdn_comments.csv", got)
	}
	if got := entryByID(t, l, "47371").Countries; !slices.Contains(got, "Gabon") {
		t.Errorf("vessel 47371 countries = %q, want its flag Gabon", got)
	}
}

// TestImportOFACBench checks the importer against counts taken from the
// raw files by simpler means than the importer's.
func TestImportOFACBench(t *testing.T) {
	dir := testenv.Data(t, "sanctions", "ofac_sdn_bench")
	l := benchList(t)
	if len(l.Entries) != 8976 {
		t.Fatalf("got %d entries, want 8976", len(l.Entries))
	}
	ids := map[string]bool{}
	for _, e := range l.Entries {
		ids[e.ID] = true
	}
	wantStrong := 0
	for _, line := range readLines(t, filepath.Join(dir, "alt.csv")) {
		if id, _, ok := strings.Cut(line, ","); ok && ids[id] {
			wantStrong++
		}
	}
	// Count DOB remarks in sdn.csv and its overflow file.
	dobRE := regexp.MustCompile(`(^|; |")(alt\. )?DOB `)
	akaRE := regexp.MustCompile(`[afn]\.k\.a\. '`)
	wantDOB, wantWeak := 0, 0
	for _, f := range []string{"sdn.csv", "sdn_comments.csv"} {
		for _, line := range readLines(t, filepath.Join(dir, f)) {
			wantDOB += len(dobRE.FindAllString(line, -1))
			wantWeak += len(akaRE.FindAllString(line, -1))
		}
	}
	var strong, weak, dobs, individuals int
	for _, e := range l.Entries {
		for _, a := range e.Aliases {
			if a.Weak {
				weak++
			} else {
				strong++
			}
		}
		dobs += len(e.DOBs)
		if e.Kind == KindIndividual {
			individuals++
		}
	}
	t.Logf("strong %d weak %d dobs %d", strong, weak, dobs)
	if strong != wantStrong {
		t.Errorf("strong aliases = %d, want %d rows of alt.csv", strong, wantStrong)
	}
	if weak != wantWeak {
		t.Errorf("weak aliases = %d, want %d a.k.a. remarks", weak, wantWeak)
	}
	if dobs != wantDOB {
		t.Errorf("dates of birth = %d, want %d DOB remarks (every one must parse)", dobs, wantDOB)
	}
	if individuals != 4620 {
		t.Errorf("individuals = %d, want 4620", individuals)
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// writeOFAC writes a minimal OFAC directory; files maps file name to content.
func writeOFAC(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const (
	okSDN = `1,"DOE, John","individual","SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"DOB circa 1970; nationality Syria; a.k.a. 'JD'."` + "\r\n"
	okAlt = `1,10,"aka","DOE, Jon",-0- ` + "\r\n"
	okAdd = `1,20,-0- ,"Damascus","Syria",-0- ` + "\r\n"
)

func TestImportOFACSynthetic(t *testing.T) {
	dir := writeOFAC(t, map[string]string{
		"sdn.csv": okSDN + `2,"CAFÉ Ĳ TRADING",-0- ,"SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"DOB 1960 to 1962"` + "\r\n\x1a",
		"alt.csv": okAlt, "add.csv": okAdd + `2,21,-0- ,"Beirut","Lebanon",-0- ` + "\r\n",
	})
	l, err := ImportOFAC(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	doe := entryByID(t, l, "1")
	if want := []DOB{{From: Date{Year: 1970}, To: Date{Year: 1970}, Circa: true}}; !slices.Equal(doe.DOBs, want) {
		t.Errorf("DOBs = %v, want %v", doe.DOBs, want)
	}
	if !slices.Equal(doe.Countries, []string{"Syria"}) {
		t.Errorf("individual countries = %q, want nationality only, not the address", doe.Countries)
	}
	if want := []Alias{{Name: "JD", Weak: true}, {Name: "DOE, Jon"}}; !slices.Equal(doe.Aliases, want) {
		t.Errorf("aliases = %v, want %v", doe.Aliases, want)
	}
	cafe := entryByID(t, l, "2")
	if cafe.Name != "CAFÉ Ĳ TRADING" || cafe.Kind != KindEntity || !slices.Equal(cafe.Countries, []string{"Lebanon"}) {
		t.Errorf("entity = %+v", cafe)
	}
	if want := []DOB{{From: Date{Year: 1960}, To: Date{Year: 1962}}}; !slices.Equal(cafe.DOBs, want) {
		t.Errorf("range DOB = %v, want %v", cafe.DOBs, want)
	}

	// Older publications are Windows-1252.
	dir = writeOFAC(t, map[string]string{
		"sdn.csv": "3,\"P\xc9REZ, Jos\xe9\",\"individual\",\"SDNT\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n",
		"alt.csv": "", "add.csv": "",
	})
	l, err = ImportOFAC(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Entries[0].Name; got != "PÉREZ, José" {
		t.Errorf("Windows-1252 name = %q, want PÉREZ, José", got)
	}
}

func TestImportOFACMalformed(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  error
	}{
		{"missing sdn.csv", map[string]string{"alt.csv": okAlt, "add.csv": okAdd}, os.ErrNotExist},
		{"missing alt.csv", map[string]string{"sdn.csv": okSDN, "add.csv": okAdd}, os.ErrNotExist},
		{"empty sdn.csv", map[string]string{"sdn.csv": "\x1a", "alt.csv": okAlt, "add.csv": okAdd}, ErrNoEntries},
		{"too few fields", map[string]string{"sdn.csv": `1,"DOE, John","individual"` + "\n", "alt.csv": okAlt, "add.csv": okAdd}, ErrMalformed},
		{"ent_num not a number", map[string]string{"sdn.csv": strings.Replace(okSDN, "1,", "x1,", 1), "alt.csv": okAlt, "add.csv": okAdd}, ErrMalformed},
		{"no name", map[string]string{"sdn.csv": strings.Replace(okSDN, `"DOE, John"`, "-0- ", 1), "alt.csv": okAlt, "add.csv": okAdd}, ErrMalformed},
		{"unknown type", map[string]string{"sdn.csv": strings.Replace(okSDN, `"individual"`, `"spaceship"`, 1), "alt.csv": okAlt, "add.csv": okAdd}, ErrMalformed},
		{"duplicate ent_num", map[string]string{"sdn.csv": okSDN + okSDN, "alt.csv": okAlt, "add.csv": okAdd}, ErrMalformed},
		{"bad DOB", map[string]string{"sdn.csv": strings.Replace(okSDN, "circa 1970", "31 Feb 1970", 1), "alt.csv": okAlt, "add.csv": okAdd}, ErrBadDate},
		{"bad alt ent_num", map[string]string{"sdn.csv": okSDN, "alt.csv": "-0- ,10,\"aka\",\"X\",-0- \n", "add.csv": okAdd}, ErrMalformed},
		{"unterminated quote", map[string]string{"sdn.csv": okSDN, "alt.csv": okAlt, "add.csv": "1,20,\"Damascus,\"Syria\",-0- \n"}, ErrMalformed},
		{"binary garbage", map[string]string{"sdn.csv": "\x00\x01\x02\xff\xfe", "alt.csv": okAlt, "add.csv": okAdd}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ImportOFAC(context.Background(), writeOFAC(t, tt.files))
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestImportOFACCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ImportOFAC(ctx, testenv.Data(t, "sanctions", "ofac_sdn_sample")); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}
