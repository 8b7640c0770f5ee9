package screening

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/openkyc/kyc/engine/screening/names"
)

// sampleVariantSeed drives the perturbations of the sample entries; it is
// not the seed the default minimum score was tuned with.
const sampleVariantSeed = 17

// combined perturbations stack two changes; the brief's requirement is on
// single ones, so these are measured and logged but held to a lower bar.
var combined = []string{"shuffle+typo", "drop-middle+transliterate"}

// TestScreenFindsSampleEntries garbles the name of every entry of the OFAC
// sample and screens it against the bench list plus the sample (about
// 9,000 entries) at the default minimum score. For individuals every
// single perturbation must leave the entry the top hit. Organisations and
// vessels often have one-word names or three-letter words, where one typo
// changes a fifth to a third of the name; they are held to 80% recall.
// Aircraft names are registration marks, so they are only re-cased and
// accented, not misspelt.
func TestScreenFindsSampleEntries(t *testing.T) {
	ix := fullIndex(t)
	r := rand.New(rand.NewPCG(sampleVariantSeed, 0))
	type tally struct{ tried, missed int }
	stats := map[string]*tally{}
	for _, e := range sampleList(t).Entries {
		person := e.Kind == KindIndividual
		for _, v := range variants(r, e.Name, person, 10) {
			if e.Kind == KindAircraft && !slices.Contains([]string{"exact", "case-punctuation", "diacritics"}, v.kind) {
				continue
			}
			group := "organisation"
			switch {
			case slices.Contains(combined, v.kind):
				group = "combined"
			case person:
				group = "individual"
			}
			key := group + " " + v.kind
			if stats[key] == nil {
				stats[key] = &tally{}
			}
			stats[key].tried++
			hits, err := ix.Screen(Query{Name: v.query, Entity: !person})
			if err != nil {
				t.Fatal(err)
			}
			if len(hits) > 0 && hits[0].EntryID == e.ID {
				continue
			}
			stats[key].missed++
			got := "no hit"
			if len(hits) > 0 {
				got = fmt.Sprintf("%s %q %.3f", hits[0].EntryID, hits[0].Name, hits[0].Score)
			}
			msg := fmt.Sprintf("%s %s: %q for %s %q: top hit %s", group, v.kind, v.query, e.ID, e.Name, got)
			if group == "individual" {
				t.Error(msg)
			} else {
				t.Log(msg)
			}
		}
	}
	totals := map[string]*tally{}
	keys := make([]string, 0, len(stats))
	for k, s := range stats {
		keys = append(keys, k)
		g, _, _ := strings.Cut(k, " ")
		if totals[g] == nil {
			totals[g] = &tally{}
		}
		totals[g].tried += s.tried
		totals[g].missed += s.missed
	}
	slices.Sort(keys)
	for _, k := range keys {
		t.Logf("%-40s %3d variants, %d missed", k, stats[k].tried, stats[k].missed)
	}
	for g, floor := range map[string]float64{"individual": 1, "organisation": 0.8, "combined": 0.8} {
		s := totals[g]
		if s == nil || s.tried == 0 {
			t.Errorf("no %s variants generated", g)
			continue
		}
		recall := 1 - float64(s.missed)/float64(s.tried)
		t.Logf("%s: recall %.3f over %d variants", g, recall, s.tried)
		if recall < floor {
			t.Errorf("%s: recall %.3f, want >= %.2f", g, recall, floor)
		}
	}
}

// behaviourIndex holds a person and a company of the same name, a person
// with a weak alias, and people with dates of birth and nationalities.
func behaviourIndex() *Index {
	return NewIndex(&List{Name: "test", Version: "1", Entries: []Entry{
		{ID: "p1", Kind: KindIndividual, Name: "ORLOV, Viktor Pavlovich",
			DOBs: []DOB{{From: Date{1965, 3, 14}, To: Date{1965, 3, 14}}}, Countries: []string{"Russia"}},
		{ID: "e1", Kind: KindEntity, Name: "VIKTOR ORLOV LLC", Countries: []string{"Cyprus"}},
		{ID: "p2", Kind: KindIndividual, Name: "BAKKER, Johannes", Aliases: []Alias{{Name: "THE DUTCHMAN", Weak: true}}},
		{ID: "p3", Kind: KindIndividual, Name: "OKONJO, Chidi", DOBs: []DOB{{From: Date{Year: 1980}, To: Date{Year: 1982}}}},
	}})
}

func screenOne(t *testing.T, ix *Index, q Query, id string) Hit {
	t.Helper()
	q.MinScore = 1e-9
	hits, err := ix.Screen(q)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hits {
		if h.EntryID == id {
			return h
		}
	}
	t.Fatalf("query %+v: no hit for %s in %+v", q, id, hits)
	return Hit{}
}

func TestScreenDOBAndCountry(t *testing.T) {
	ix := behaviourIndex()
	const name = "Viktor Orlov"
	base := screenOne(t, ix, Query{Name: name}, "p1")
	tests := []struct {
		name      string
		q         Query
		dob, ctry Agreement
		higher    bool
	}{
		{"exact DOB", Query{Name: name, DOB: Date{1965, 3, 14}}, AgreeExact, "", true},
		{"same year", Query{Name: name, DOB: Date{Year: 1965}}, AgreePartial, "", true},
		{"DOB ten years off", Query{Name: name, DOB: Date{1975, 3, 14}}, AgreeConflict, "", false},
		{"nationality as alpha-3", Query{Name: name, Country: "RUS"}, "", AgreeExact, true},
		{"nationality as name", Query{Name: name, Country: "Russian Federation"}, "", AgreeExact, true},
		{"other nationality", Query{Name: name, Country: "UA"}, "", AgreeConflict, false},
	}
	for _, tt := range tests {
		h := screenOne(t, ix, tt.q, "p1")
		if h.DOB != tt.dob || h.Country != tt.ctry {
			t.Errorf("%s: agreement dob=%q country=%q, want %q %q", tt.name, h.DOB, h.Country, tt.dob, tt.ctry)
		}
		if tt.higher && !(h.Score > base.Score) || !tt.higher && !(h.Score < base.Score) {
			t.Errorf("%s: score %.3f vs %.3f without it, want it %s", tt.name, h.Score, base.Score, map[bool]string{true: "higher", false: "lower"}[tt.higher])
		}
	}
	// A conflicting date of birth takes an exact name below the default.
	hits, err := ix.Screen(Query{Name: "Viktor Pavlovich Orlov", DOB: Date{1990, 1, 1}})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hits {
		if h.EntryID == "p1" {
			t.Errorf("exact name with a DOB 25 years off still hits at %.3f", h.Score)
		}
	}
	// A range in the list accepts any date inside it.
	if h := screenOne(t, ix, Query{Name: "Chidi Okonjo", DOB: Date{1981, 6, 1}}, "p3"); h.DOB != AgreePartial {
		t.Errorf("DOB inside listed range: %q, want partial", h.DOB)
	}
}

func TestScreenPrefersKind(t *testing.T) {
	ix := behaviourIndex()
	person, err := ix.Screen(Query{Name: "Viktor Orlov", MinScore: 0.5})
	if err != nil || len(person) < 2 || person[0].EntryID != "p1" {
		t.Fatalf("person query: %+v, %v; want the individual first", person, err)
	}
	org, err := ix.Screen(Query{Name: "Viktor Orlov LLC", Entity: true, MinScore: 0.5})
	if err != nil || len(org) < 2 || org[0].EntryID != "e1" || org[0].Kind != KindEntity {
		t.Fatalf("entity query: %+v, %v; want the company first", org, err)
	}
}

func TestScreenWeakAlias(t *testing.T) {
	ix := behaviourIndex()
	h := screenOne(t, ix, Query{Name: "The Dutchman"}, "p2")
	if h.Alias != "THE DUTCHMAN" || h.Name != "BAKKER, Johannes" {
		t.Errorf("hit = %+v, want the entry's name and the alias that matched", h)
	}
	if h.Score >= 1 || h.Score < 0.85 {
		t.Errorf("exact weak-alias score = %.3f, want discounted below 1 but still high", h.Score)
	}
}

func TestScreenHitDetails(t *testing.T) {
	ix := behaviourIndex()
	hits, err := ix.Screen(Query{Name: "orlov VIKTOR pavlovitch"})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) == 0 {
		t.Fatal("no hits")
	}
	h := hits[0]
	if h.List != "test" || h.EntryID != "p1" || h.Score <= 0 || h.Score > 1 {
		t.Errorf("hit = %+v", h)
	}
	want := []TokenMatch{{Query: "viktor", Entry: "viktor", Score: 1}, {Query: "orlov", Entry: "orlov", Score: 1},
		{Query: "pavlovitch", Entry: "pavlovich", Score: names.Similarity("pavlovitch", "pavlovich")}}
	if !slices.Equal(sortedMatches(h.Matched), sortedMatches(want)) {
		t.Errorf("matched = %+v, want %+v", h.Matched, want)
	}
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]any
	if err := json.Unmarshal(b, &keys); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"name", "list", "entry_id", "score", "matched"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("hit JSON %s lacks %q", b, k)
		}
	}
	for i := 1; i < len(hits); i++ {
		if hits[i].Score > hits[i-1].Score {
			t.Errorf("hits not sorted strongest first: %v", hits)
		}
	}
	if got := ix.Lists(); len(got) != 1 || got[0].Name != "test" || got[0].Entries != 4 {
		t.Errorf("Lists = %+v", got)
	}
}

func sortedMatches(m []TokenMatch) []TokenMatch {
	out := slices.Clone(m)
	slices.SortFunc(out, func(a, b TokenMatch) int { return strings.Compare(a.Query, b.Query) })
	return out
}

func TestScreenBadQueries(t *testing.T) {
	ix := behaviourIndex()
	tests := []struct {
		name string
		q    Query
		want error
	}{
		{"empty name", Query{Name: ""}, ErrEmptyName},
		{"punctuation only", Query{Name: " ,.-'  "}, ErrEmptyName},
		{"negative minimum", Query{Name: "Orlov", MinScore: -0.1}, ErrBadMinScore},
		{"minimum above 1", Query{Name: "Orlov", MinScore: 1.5}, ErrBadMinScore},
	}
	for _, tt := range tests {
		if _, err := ix.Screen(tt.q); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	// Garbage and very long names are screened, not refused.
	for _, name := range []string{"\x00\xff\xfe", strings.Repeat("Orlov ", 500), "日本語の名前", "Дмитрий"} {
		if _, err := ix.Screen(Query{Name: name}); err != nil && !errors.Is(err, ErrEmptyName) {
			t.Errorf("Screen(%.20q): %v", name, err)
		}
	}
}

func TestScreenMaxHits(t *testing.T) {
	ix := fullIndex(t)
	hits, err := ix.Screen(Query{Name: "Muhammad Ali", MinScore: 0.5, MaxHits: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 3 {
		t.Errorf("got %d hits, want MaxHits 3", len(hits))
	}
}

func TestScreenCyrillicQuery(t *testing.T) {
	ix := fullIndex(t)
	hits, err := ix.Screen(Query{Name: "Хорошев Дмитрий Юрьевич"})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) == 0 || hits[0].EntryID != "48603" {
		t.Errorf("Cyrillic query: hits %+v, want 48603 first", hits)
	}
}

// TestScreenConcurrent screens from several goroutines at once; each
// result must equal the one computed alone (run with -race).
func TestScreenConcurrent(t *testing.T) {
	ix := fullIndex(t)
	queries := []string{"Dmitry Khoroshev", "Muhammad Ali", "Artem Lifshits", "IRAN AIRCRAFT", "Jane Smith"}
	want := make([][]Hit, len(queries))
	for i, q := range queries {
		hits, err := ix.Screen(Query{Name: q, MinScore: 0.5})
		if err != nil {
			t.Fatal(err)
		}
		want[i] = hits
	}
	errs := make(chan error, 4*len(queries))
	var wg sync.WaitGroup
	for range 4 {
		for i, q := range queries {
			wg.Add(1)
			go func() {
				defer wg.Done()
				hits, err := ix.Screen(Query{Name: q, MinScore: 0.5})
				if err == nil && !reflect.DeepEqual(hits, want[i]) {
					err = fmt.Errorf("%q: concurrent result differs", q)
				}
				if err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestScreenPhoneticOnlyGivenName: a given name that shares only a sound
// key with the listed one ("amit" and "ahmet", a spelling of Ahmad, both
// reduce to a-m-t) is a different name, so a shared family name alone
// does not make a hit; a transliteration of the given name still does.
func TestScreenPhoneticOnlyGivenName(t *testing.T) {
	ix := NewIndex(&List{Name: "t", Entries: []Entry{
		{ID: "1", Kind: KindIndividual, Name: "SALIM, Ahmad"},
		{ID: "2", Kind: KindIndividual, Name: "QADHAFI, Muammar"},
	}})
	hits, err := ix.Screen(Query{Name: "Amit SALIM"})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) > 0 {
		t.Errorf("Amit SALIM hits %+v at the default minimum score, want none", hits)
	}
	for _, q := range []struct{ name, id string }{{"Ahmet Salim", "1"}, {"Muammar Gaddafi", "2"}} {
		if h := screenOne(t, ix, Query{Name: q.name}, q.id); h.Score < DefaultMinScore {
			t.Errorf("%s scores %.3f against entry %s, want at least %.2f", q.name, h.Score, q.id, DefaultMinScore)
		}
	}
}

// TestScreenTitleAsName: OFAC writes some names with an honorific in the
// given-name place ("MOHAMMAD, Haji Baz"). Whether a title is recognised
// must not decide a match: the entry is found with the title, without it,
// and with it spelt in a way not recognised as a title, and a list title
// spelt otherwise still matches a query's recognised one. A given name
// merely close to a title ("Hadi") is not taken for it.
func TestScreenTitleAsName(t *testing.T) {
	ix := NewIndex(&List{Name: "t", Entries: []Entry{
		{ID: "1", Kind: KindIndividual, Name: "MOHAMMAD, Haji Baz"},
		{ID: "2", Kind: KindIndividual, Name: "KARIMI, Hajie Abdul Wahid"},
		{ID: "3", Kind: KindIndividual, Name: "NOORI, Haji"},
	}})
	for _, tt := range []struct{ query, id string }{
		{"Haji Baz Mohammad", "1"},
		{"Baz Mohammad", "1"},
		{"MOHAMMAD, Haji Baz", "1"},
		{"Haeji Baz Mohammad", "1"}, // MRZ umlaut spelling
		{"Hadji Baz Mohammad", "1"},
		{"Haji Abdul Wahid Karimi", "2"},
	} {
		if h := screenOne(t, ix, Query{Name: tt.query}, tt.id); h.Score < DefaultMinScore {
			t.Errorf("%q scores %.3f against entry %s, want at least %.2f", tt.query, h.Score, tt.id, DefaultMinScore)
		}
	}
	hits, err := ix.Screen(Query{Name: "Hadi Noori"})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) > 0 {
		t.Errorf("Hadi Noori hits %+v, want none: Hadi is a name, not the title Haji", hits)
	}
}
