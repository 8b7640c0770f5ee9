package screening

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/internal/testenv"
)

func TestImportUNXMLSample(t *testing.T) {
	f, err := os.Open(testenv.Data(t, "sanctions", "un_sample.xml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, err := ImportUNXML(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	if l.Name != ListUN || l.Version != "2026-02-27T00:00:09.554Z" ||
		!l.Date.Equal(time.Date(2026, 2, 27, 0, 0, 9, 554e6, time.UTC)) || !l.Published {
		t.Errorf("header = %q %q %v published %v", l.Name, l.Version, l.Date, l.Published)
	}
	var ids []string
	for _, e := range l.Entries {
		ids = append(ids, e.ID+":"+string(e.Kind))
	}
	want := []string{"CDi.001:individual", "CDi.002:individual", "CDi.003:individual", "CDi.004:individual", "CDe.001:entity", "CDe.002:entity"}
	if !slices.Equal(ids, want) {
		t.Fatalf("entries = %q, want %q", ids, want)
	}

	badege := entryByID(t, l, "CDi.001")
	if badege.Name != "ERIC BADEGE" || len(badege.Aliases) != 0 || !slices.Equal(badege.Programs, []string{"DRC"}) {
		t.Errorf("CDi.001 = %+v", badege)
	}
	if want := []DOB{{From: Date{Year: 1971}, To: Date{Year: 1971}}}; !slices.Equal(badege.DOBs, want) {
		t.Errorf("CDi.001 DOBs = %v, want %v", badege.DOBs, want)
	}
	if !slices.Equal(badege.Countries, []string{"Democratic Republic of the Congo"}) {
		t.Errorf("CDi.001 nationality = %q", badege.Countries)
	}
	if got := entryByID(t, l, "CDi.002").Name; got != "FRANK KAKOLELE BWAMBALE" {
		t.Errorf("CDi.002 name = %q", got)
	}

	iyamuremye := entryByID(t, l, "CDi.003")
	if got := aliasNames(iyamuremye, true); !slices.Equal(got, []string{"Rumuli"}) {
		t.Errorf("CDi.003 low-quality aliases = %q, want [Rumuli]", got)
	}
	if got := aliasNames(iyamuremye, false); len(got) != 3 {
		t.Errorf("CDi.003 good aliases = %q, want 3", got)
	}
	// A date given only as a note: "Nov. 1973".
	if want := []DOB{{From: Date{Year: 1973, Month: 11}, To: Date{Year: 1973, Month: 11}}}; !slices.Equal(entryByID(t, l, "CDi.004").DOBs, want) {
		t.Errorf("CDi.004 DOBs = %v, want %v", entryByID(t, l, "CDi.004").DOBs, want)
	}

	adf := entryByID(t, l, "CDe.001")
	if got := aliasNames(adf, false); len(got) != 4 || got[0] != "Allied Democratic Forces" {
		t.Errorf("CDe.001 aliases = %q", got)
	}
	if !slices.Equal(adf.Countries, []string{"Democratic Republic of the Congo"}) {
		t.Errorf("CDe.001 countries = %q", adf.Countries)
	}
}

// unFull exercises parts of the published layout the sample lacks: four
// name parts, original script, every TYPE_OF_DATE, several nationalities.
const unFull = `<?xml version="1.0" encoding="UTF-8"?>
<CONSOLIDATED_LIST dateGenerated="2025-01-02T03:04:05Z">
<INDIVIDUALS>
<INDIVIDUAL>
  <DATAID>1</DATAID><VERSIONNUM>2</VERSIONNUM>
  <FIRST_NAME>ABDUL</FIRST_NAME><SECOND_NAME>QADIR</SECOND_NAME><THIRD_NAME>BASIR</THIRD_NAME><FOURTH_NAME>ABDUL BASEER</FOURTH_NAME>
  <UN_LIST_TYPE>Al-Qaida</UN_LIST_TYPE><REFERENCE_NUMBER>QDi.999</REFERENCE_NUMBER>
  <LISTED_ON>2001-01-25</LISTED_ON>
  <NAME_ORIGINAL_SCRIPT>عبدالقادر بصیر عبد البصیر</NAME_ORIGINAL_SCRIPT>
  <TITLE><VALUE>Maulavi</VALUE></TITLE>
  <NATIONALITY><VALUE>Afghanistan</VALUE><VALUE>Pakistan</VALUE></NATIONALITY>
  <INDIVIDUAL_ALIAS><QUALITY>Good</QUALITY><ALIAS_NAME>Abdul Qadir Basir</ALIAS_NAME></INDIVIDUAL_ALIAS>
  <INDIVIDUAL_ALIAS><QUALITY>Low</QUALITY><ALIAS_NAME>Hajji Basir</ALIAS_NAME><DATE_OF_BIRTH>1965</DATE_OF_BIRTH></INDIVIDUAL_ALIAS>
  <INDIVIDUAL_ALIAS><QUALITY/><ALIAS_NAME/></INDIVIDUAL_ALIAS>
  <INDIVIDUAL_DATE_OF_BIRTH><TYPE_OF_DATE>EXACT</TYPE_OF_DATE><DATE>1964-01-01</DATE></INDIVIDUAL_DATE_OF_BIRTH>
  <INDIVIDUAL_DATE_OF_BIRTH><TYPE_OF_DATE>APPROXIMATELY</TYPE_OF_DATE><YEAR>1966</YEAR></INDIVIDUAL_DATE_OF_BIRTH>
  <INDIVIDUAL_DATE_OF_BIRTH><TYPE_OF_DATE>BETWEEN</TYPE_OF_DATE><FROM_YEAR>1960</FROM_YEAR><TO_YEAR>1962</TO_YEAR></INDIVIDUAL_DATE_OF_BIRTH>
  <INDIVIDUAL_DATE_OF_BIRTH><TYPE_OF_DATE>EXACT</TYPE_OF_DATE><NOTE>born in the mountains</NOTE></INDIVIDUAL_DATE_OF_BIRTH>
  <INDIVIDUAL_DOCUMENT><TYPE_OF_DOCUMENT>Passport</TYPE_OF_DOCUMENT><NUMBER>D 000974</NUMBER></INDIVIDUAL_DOCUMENT>
</INDIVIDUAL>
</INDIVIDUALS>
<ENTITIES>
<ENTITY>
  <DATAID>2</DATAID><FIRST_NAME>AL-RASHID TRUST</FIRST_NAME><REFERENCE_NUMBER>QDe.005</REFERENCE_NUMBER>
  <ENTITY_ALIAS><QUALITY>a.k.a.</QUALITY><ALIAS_NAME>Al-Rasheed Trust</ALIAS_NAME></ENTITY_ALIAS>
  <ENTITY_ADDRESS><COUNTRY>Pakistan</COUNTRY></ENTITY_ADDRESS>
  <ENTITY_ADDRESS><COUNTRY>Afghanistan</COUNTRY></ENTITY_ADDRESS>
</ENTITY>
</ENTITIES>
</CONSOLIDATED_LIST>`

func TestImportUNXMLFullLayout(t *testing.T) {
	l, err := ImportUNXML(context.Background(), strings.NewReader(unFull))
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Entries) != 2 {
		t.Fatalf("got %d entries, want 2", len(l.Entries))
	}
	e := entryByID(t, l, "QDi.999")
	if e.Name != "ABDUL QADIR BASIR ABDUL BASEER" {
		t.Errorf("name = %q, want all four parts", e.Name)
	}
	wantAliases := []Alias{{Name: "Abdul Qadir Basir"}, {Name: "Hajji Basir", Weak: true}, {Name: "عبدالقادر بصیر عبد البصیر"}}
	if !slices.Equal(e.Aliases, wantAliases) {
		t.Errorf("aliases = %v, want %v", e.Aliases, wantAliases)
	}
	wantDOBs := []DOB{
		{From: Date{1964, 1, 1}, To: Date{1964, 1, 1}},
		{From: Date{Year: 1966}, To: Date{Year: 1966}, Circa: true},
		{From: Date{Year: 1960}, To: Date{Year: 1962}},
	}
	if !slices.Equal(e.DOBs, wantDOBs) {
		t.Errorf("DOBs = %v, want %v (an unparseable note is skipped)", e.DOBs, wantDOBs)
	}
	if !slices.Equal(e.Countries, []string{"Afghanistan", "Pakistan"}) {
		t.Errorf("nationalities = %q", e.Countries)
	}
	if got := entryByID(t, l, "QDe.005").Countries; !slices.Equal(got, []string{"Pakistan", "Afghanistan"}) {
		t.Errorf("entity countries = %q", got)
	}
}

func TestImportUNXMLMalformed(t *testing.T) {
	full := func(old, new string) string {
		if !strings.Contains(unFull, old) {
			t.Fatalf("test fixture lacks %q", old)
		}
		return strings.Replace(unFull, old, new, 1)
	}
	tests := []struct {
		name, xml string
		want      error
	}{
		{"empty", "", ErrMalformed},
		{"not XML", "id,name\n1,John", ErrMalformed},
		{"wrong root", `<sdnList><sdnEntry/></sdnList>`, ErrMalformed},
		{"no dateGenerated", full(` dateGenerated="2025-01-02T03:04:05Z"`, ""), ErrMalformed},
		{"bad dateGenerated", full(`2025-01-02T03:04:05Z`, "yesterday"), ErrMalformed},
		{"truncated", unFull[:len(unFull)/2], ErrMalformed},
		{"no entries", `<CONSOLIDATED_LIST dateGenerated="2025-01-02T03:04:05Z"><INDIVIDUALS/><ENTITIES/></CONSOLIDATED_LIST>`, ErrNoEntries},
		{"no name", full("<FIRST_NAME>AL-RASHID TRUST</FIRST_NAME>", ""), ErrMalformed},
		{"no id", full("<DATAID>2</DATAID><FIRST_NAME>AL-RASHID TRUST</FIRST_NAME><REFERENCE_NUMBER>QDe.005</REFERENCE_NUMBER>", "<FIRST_NAME>X</FIRST_NAME>"), ErrMalformed},
		{"bad DATE", full("<DATE>1964-01-01</DATE>", "<DATE>1964-13-01</DATE>"), ErrBadDate},
		{"bad YEAR", full("<YEAR>1966</YEAR>", "<YEAR>sixties</YEAR>"), ErrBadDate},
		{"backwards range", full("<FROM_YEAR>1960</FROM_YEAR>", "<FROM_YEAR>1970</FROM_YEAR>"), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ImportUNXML(context.Background(), strings.NewReader(tt.xml))
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}
