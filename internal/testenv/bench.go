package testenv

import (
	"slices"
	"syscall"
	"testing"
	"time"
)

// ReportCPU reports, when b ends, the CPU time (user and system, all
// threads) the process spent per iteration as cpu-ms/op. The pipelines
// run stages side by side, so on a busy or throttled machine their wall
// time swings more than the CPU they need; the two together tell a slower
// machine from a slower program.
func ReportCPU(b *testing.B) {
	b.Helper()
	start := processCPU(b)
	b.Cleanup(func() {
		if b.N > 0 {
			b.ReportMetric(float64(processCPU(b)-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
		}
	})
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("reading the process CPU time: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ReportStages returns add, which records one iteration's stage timings
// (milliseconds by stage name); when b ends, each stage's median is
// reported as <stage>-ms. The stages of a pipeline overlap, so their
// medians, not their sum, say where the time goes.
func ReportStages(b *testing.B) (add func(map[string]float64)) {
	b.Helper()
	stages := map[string][]float64{}
	b.Cleanup(func() {
		for k, v := range stages {
			slices.Sort(v)
			b.ReportMetric(v[len(v)/2], k+"-ms")
		}
	})
	return func(m map[string]float64) {
		for k, v := range m {
			stages[k] = append(stages[k], v)
		}
	}
}
