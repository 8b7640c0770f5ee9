package screening

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"
)

// benchQueries mixes what a screening service sees: perturbed listed names
// and ordinary names that should not hit.
func benchQueries(b *testing.B, l *List) []Query {
	b.Helper()
	r := rand.New(rand.NewPCG(7, 7))
	var qs []Query
	for _, i := range r.Perm(len(l.Entries))[:200] {
		e := l.Entries[i]
		vs := variants(r, e.Name, e.Kind == KindIndividual, 1)
		qs = append(qs, Query{Name: vs[r.IntN(len(vs))].query, Entity: e.Kind != KindIndividual})
	}
	for _, o := range ordinaryNames(1, 12, 7) {
		qs = append(qs, Query{Name: o.name})
	}
	r.Shuffle(len(qs), func(i, j int) { qs[i], qs[j] = qs[j], qs[i] })
	return qs
}

// BenchmarkScreen screens against the 8,976-entry OFAC bench list. Run with
// -cpu 1; it reports the median and 95th percentile latency per query.
func BenchmarkScreen(b *testing.B) {
	l := benchList(b)
	ix := NewIndex(l)
	qs := benchQueries(b, l)
	lat := make([]time.Duration, 0, b.N)
	runtime.GC() // collect the import's garbage now, not inside the timed loop
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := ix.Screen(qs[i%len(qs)]); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*95/100].Nanoseconds()), "p95-ns")
}

// BenchmarkNewIndex measures building the index over the bench list, which
// happens once per list update.
func BenchmarkNewIndex(b *testing.B) {
	l := benchList(b)
	b.ReportAllocs()
	for b.Loop() {
		NewIndex(l)
	}
}
