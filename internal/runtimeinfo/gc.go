package runtimeinfo

import (
	"os"
	"runtime/debug"
)

// GCPercent is the Go collector's target in the binaries that run the
// engines (kyc and kyc-desktop). The models live in native memory and the
// Go heap keeps only a few MB alive, while a verification allocates tens of
// MB of short-lived tensors; at Go's default of 100 the collector ran about
// fifteen times a verification. At 400 it runs a quarter as often, for a
// heap of a few tens of MB beside several hundred MB of models (kyc verify
// measured some 45 ms faster at the median in alternating runs).
const GCPercent = 400

// MemoryLimit is the Go runtime's soft memory limit in those binaries:
// GCPercent lets the heap grow to five times what is live, which while
// the models load (their files read and rewritten in Go memory before ORT
// copies them) reached some 160 MB of garbage; past this limit the
// collector runs however far the heap is from its GCPercent target. A
// verification keeps well under it live (internal/engines' TestMemory:
// `kyc document` peaked at 310 MB resident with it, 430-490 MB without).
const MemoryLimit = 128 << 20

// TuneGC sets GCPercent and MemoryLimit unless the GOGC or GOMEMLIMIT
// environment variable chose a setting, and returns a function that
// restores the previous ones. For kyc and kyc-desktop.
func TuneGC() (restore func()) { return tune(true) }

// TuneServerGC sets GCPercent only (unless GOGC chose one): kyc-central
// runs the engines too, but its live heap grows with its load (uploads in
// flight, hosted captures), and past a fixed soft limit the collector
// would run without pause. GOMEMLIMIT remains the operator's to set.
func TuneServerGC() (restore func()) { return tune(false) }

func tune(limit bool) (restore func()) {
	oldPercent, oldLimit := int(-2), int64(-1)
	if os.Getenv("GOGC") == "" {
		oldPercent = debug.SetGCPercent(GCPercent)
	}
	if limit && os.Getenv("GOMEMLIMIT") == "" {
		oldLimit = debug.SetMemoryLimit(MemoryLimit)
	}
	return func() {
		if oldPercent != -2 {
			debug.SetGCPercent(oldPercent)
		}
		if oldLimit >= 0 {
			debug.SetMemoryLimit(oldLimit)
		}
	}
}
