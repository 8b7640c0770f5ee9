package runtimeinfo

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	restore := TuneGC()
	if got := debug.SetGCPercent(GCPercent); got != GCPercent {
		t.Errorf("GC percent %d after TuneGC, want %d", got, GCPercent)
	}
	if got := debug.SetMemoryLimit(-1); got != MemoryLimit {
		t.Errorf("memory limit %d after TuneGC, want %d", got, MemoryLimit)
	}
	restore()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GC percent %d after restore, want 100", got)
	}
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("memory limit %d after restore, want none", got)
	}
	t.Setenv("GOGC", "50")
	t.Setenv("GOMEMLIMIT", "1GiB")
	TuneGC()()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("TuneGC overrode GOGC: percent %d", got)
	}
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("TuneGC overrode GOMEMLIMIT: limit %d", got)
	}
}

// TestTuneServerGC: central gets the collector's percent but no soft
// memory limit, which its load-dependent heap would keep hitting.
func TestTuneServerGC(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	restore := TuneServerGC()
	defer restore()
	if got := debug.SetGCPercent(GCPercent); got != GCPercent {
		t.Errorf("GC percent %d after TuneServerGC, want %d", got, GCPercent)
	}
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("TuneServerGC set a memory limit: %d", got)
	}
}

// TestReleaseMemory: a large block dropped is no longer held by Go's heap
// once ReleaseMemory returns.
func TestReleaseMemory(t *testing.T) {
	const size = 64 << 20
	garbage := make([]byte, size)
	for i := range garbage {
		garbage[i] = byte(i)
	}
	runtime.KeepAlive(garbage)
	garbage = nil
	ReleaseMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if held := ms.HeapSys - ms.HeapReleased; held >= size {
		t.Errorf("Go's heap holds %d MB after ReleaseMemory, a %d MB block was dropped", held>>20, size>>20)
	}
}
