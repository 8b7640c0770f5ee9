package screening

import (
	"slices"
	"strings"
	"sync"

	"golang.org/x/text/language"
	"golang.org/x/text/language/display"

	"github.com/openkyc/kyc/engine/screening/names"
)

// countryKey returns a comparable key for a country given as an ISO 3166
// alpha-2 or alpha-3 code, an MRZ nationality code, or an English name in
// any of the spellings lists use ("Korea, North", "Russian Federation",
// "Iran (Islamic Republic of)"). Known countries map to their alpha-3 code;
// anything else to its folded text, so that unknown names still compare
// equal to themselves.
func countryKey(s string) string {
	f := foldCountry(s)
	if f == "" {
		return ""
	}
	if code, ok := countryTable()[f]; ok {
		return code
	}
	return f
}

// foldCountry folds a country name and drops the connectives that
// spellings disagree on ("Trinidad & Tobago", "Gambia, The").
func foldCountry(s string) string {
	words := strings.Fields(names.Fold(s))
	words = slices.DeleteFunc(words, func(w string) bool { return w == "and" || w == "the" })
	return strings.Join(words, " ")
}

// countryTable maps folded country names and codes to alpha-3 codes. It is
// built once from CLDR's English region names (via x/text) plus the list
// spellings CLDR lacks, and never changes afterwards.
var countryTable = sync.OnceValue(func() map[string]string {
	m := make(map[string]string, 1200)
	regions := display.English.Regions()
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'A'; b <= 'Z'; b++ {
			r, err := language.ParseRegion(string([]rune{a, b}))
			if err != nil || !r.IsCountry() || r.Canonicalize() != r || r.ISO3() == "" {
				continue
			}
			iso3 := r.ISO3()
			m[strings.ToLower(r.String())] = iso3
			m[strings.ToLower(iso3)] = iso3
			if n := foldCountry(regions.Name(r)); n != "" {
				m[n] = iso3
			}
		}
	}
	for alpha2, spellings := range countryAliases {
		iso3 := m[strings.ToLower(alpha2)]
		for _, s := range spellings {
			m[foldCountry(s)] = iso3
		}
	}
	return m
})

// countryAliases are spellings used by OFAC, the UN and ICAO documents that
// CLDR's short English names do not cover, keyed by alpha-2 code.
var countryAliases = map[string][]string{
	"KP": {"Korea, North", "North Korea", "Democratic People's Republic of Korea", "DPRK"},
	"KR": {"Korea, South", "South Korea", "Republic of Korea"},
	"MM": {"Burma", "Myanmar"},
	"CD": {"Congo, Democratic Republic of the", "Democratic Republic of the Congo", "DRC", "Congo (Kinshasa)"},
	"CG": {"Congo, Republic of the", "Republic of the Congo", "Congo", "Congo (Brazzaville)"},
	"RU": {"Russian Federation"},
	"IR": {"Iran (Islamic Republic of)", "Islamic Republic of Iran"},
	"SY": {"Syrian Arab Republic"},
	"PS": {"Palestinian", "Palestine", "State of Palestine", "West Bank", "Gaza", "Occupied Palestinian Territory"},
	"CI": {"Cote d Ivoire", "Ivory Coast"},
	"CV": {"Cabo Verde", "Cape Verde"},
	"MK": {"Macedonia, The Former Yugoslav Republic of", "North Macedonia", "Macedonia"},
	"KN": {"Saint Kitts and Nevis", "St. Kitts and Nevis"},
	"VC": {"Saint Vincent and the Grenadines", "St. Vincent and the Grenadines"},
	"LC": {"Saint Lucia"},
	"VG": {"Virgin Islands, British", "British Virgin Islands"},
	"US": {"United States of America", "USA"},
	"GB": {"United Kingdom of Great Britain and Northern Ireland", "Great Britain", "UK"},
	"VN": {"Viet Nam"},
	"LA": {"Lao People's Democratic Republic"},
	"TZ": {"United Republic of Tanzania"},
	"VE": {"Venezuela (Bolivarian Republic of)"},
	"BO": {"Bolivia (Plurinational State of)"},
	"MD": {"Republic of Moldova"},
	"CZ": {"Czech Republic"},
	"TR": {"Turkiye"},
	"HK": {"Hong Kong"},
	"MO": {"Macau", "Macao"},
	"SZ": {"Swaziland", "Eswatini"},
	"TL": {"East Timor", "Timor Leste"},
	"BN": {"Brunei Darussalam"},
	"DE": {"D"}, // Germany's nationality code in machine-readable zones
}
