// Package timing records how long the stages of a pipeline took, from
// goroutines running side by side, for the timings_ms of a result.
package timing

import (
	"context"
	"sync"
	"time"
)

// Recorder collects stage durations in milliseconds. It is safe for
// concurrent use.
type Recorder struct {
	mu sync.Mutex
	m  map[string]float64
}

// New returns an empty Recorder.
func New() *Recorder { return &Recorder{m: map[string]float64{}} }

// Set records ms milliseconds under stage (a stage timed elsewhere).
func (r *Recorder) Set(stage string, ms float64) {
	r.mu.Lock()
	r.m[stage] = ms
	r.mu.Unlock()
}

// Since records the time from start to now under stage.
func (r *Recorder) Since(stage string, start time.Time) {
	r.mu.Lock()
	r.m[stage] = float64(time.Since(start).Microseconds()) / 1000
	r.mu.Unlock()
}

// Map returns the recorded stages. Read it once the stages are done: it is
// the Recorder's own map, handed out so results can carry it as they are.
func (r *Recorder) Map() map[string]float64 { return r.m }

// SleepUntil waits until t or until ctx is done, whichever comes first,
// and returns ctx's error in the second case.
func SleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
