package screening

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// Seeds of the tuning data. The sample-entry tests and the false-hit
// report use other seeds and the other name pool.
const (
	tuneVariantSeed  = 1
	tuneOrdinarySeed = 2
)

// tuningPositives perturbs names of bench entries that are not in the
// sample list: individuals and organisations (no vessels or aircraft,
// whose names are codes).
func tuningPositives(t *testing.T) (queries []Query, want []string, kinds []string) {
	t.Helper()
	bench, sample := benchList(t), sampleList(t)
	inSample := map[string]bool{}
	for _, e := range sample.Entries {
		inSample[e.ID] = true
	}
	r := rand.New(rand.NewPCG(tuneVariantSeed, 0))
	picked := map[Kind]int{}
	quota := map[Kind]int{KindIndividual: 200, KindEntity: 100}
	for _, i := range r.Perm(len(bench.Entries)) {
		e := bench.Entries[i]
		if inSample[e.ID] || picked[e.Kind] >= quota[e.Kind] {
			continue
		}
		picked[e.Kind]++
		for _, v := range variants(r, e.Name, e.Kind == KindIndividual, 1) {
			queries = append(queries, Query{Name: v.query, Entity: e.Kind != KindIndividual, MinScore: 1e-9, MaxHits: 5})
			want = append(want, e.ID)
			kinds = append(kinds, v.kind)
		}
	}
	return queries, want, kinds
}

// TestCalibrateMinScore documents how DefaultMinScore was chosen, on
// tuning data only: perturbed names of 300 bench entries (which should
// score above it) and ordinary names from pool 0 (which should not). Run
// with -v to see recall and ordinary-name hits per threshold, recall per
// perturbation, and the ordinary names scoring 0.75 or more.
func TestCalibrateMinScore(t *testing.T) {
	ix := fullIndex(t)
	queries, want, kinds := tuningPositives(t)
	posScore := make([]float64, len(queries)) // score of the right entry, 0 if absent
	byKind := map[string][]float64{}
	for i, q := range queries {
		hits, err := ix.Screen(q)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hits {
			if h.EntryID == want[i] && h.List == ListOFAC {
				posScore[i] = h.Score
				break
			}
		}
		byKind[kinds[i]] = append(byKind[kinds[i]], posScore[i])
	}
	ordinary := ordinaryNames(0, 15, tuneOrdinarySeed)
	negScore := make([]float64, len(ordinary)) // best score of any entry
	for i, o := range ordinary {
		hits, err := ix.Screen(Query{Name: o.name, MinScore: 1e-9, MaxHits: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) > 0 {
			negScore[i] = hits[0].Score
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "threshold  recall(%d variants)  ordinary hits(%d names)\n", len(posScore), len(negScore))
	for th := 0.70; th <= 0.951; th += 0.01 {
		fmt.Fprintf(&b, "%.2f       %.3f               %d\n", th, fraction(posScore, th), count(negScore, th))
	}
	kindNames := make([]string, 0, len(byKind))
	for k := range byKind {
		kindNames = append(kindNames, k)
	}
	slices.Sort(kindNames)
	for _, k := range kindNames {
		s := slices.Sorted(slices.Values(byKind[k]))
		fmt.Fprintf(&b, "%-26s n=%3d p5=%.3f p10=%.3f median=%.3f recall@default=%.3f\n",
			k, len(s), s[len(s)*5/100], s[len(s)/10], s[len(s)/2], fraction(s, DefaultMinScore))
	}
	for i, o := range ordinary {
		if negScore[i] >= 0.75 {
			hits, _ := ix.Screen(Query{Name: o.name, MinScore: 1e-9, MaxHits: 1})
			fmt.Fprintf(&b, "ordinary %-12s %-28q %.3f %s %q\n", o.culture, o.name, negScore[i], hits[0].Name, hits[0].Alias)
		}
	}
	t.Log("\n" + b.String())

	// What DefaultMinScore was chosen for on this data (see its comment).
	if got := fraction(posScore, DefaultMinScore); got < 0.97 {
		t.Errorf("recall of perturbed names at DefaultMinScore %.2f = %.3f, want >= 0.97", DefaultMinScore, got)
	}
	if got := count(negScore, DefaultMinScore); got > 4 {
		t.Errorf("%d of %d ordinary tuning names score >= DefaultMinScore %.2f, want at most 4", got, len(negScore), DefaultMinScore)
	}
}

func fraction(scores []float64, th float64) float64 {
	return float64(count(scores, th)) / float64(len(scores))
}

func count(scores []float64, th float64) int {
	n := 0
	for _, s := range scores {
		if s >= th {
			n++
		}
	}
	return n
}
