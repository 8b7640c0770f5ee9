package runtimeinfo

import (
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	t.Setenv("GOGC", "")
	restore := TuneGC()
	if got := debug.SetGCPercent(GCPercent); got != GCPercent {
		t.Errorf("GC percent %d after TuneGC, want %d", got, GCPercent)
	}
	restore()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GC percent %d after restore, want 100", got)
	}
	t.Setenv("GOGC", "50")
	TuneGC()()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("TuneGC overrode GOGC: percent %d", got)
	}
}
