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

// TuneGC sets GCPercent unless the GOGC environment variable chose a
// setting, and returns a function that restores the previous one.
func TuneGC() (restore func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	old := debug.SetGCPercent(GCPercent)
	return func() { debug.SetGCPercent(old) }
}
