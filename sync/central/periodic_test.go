package central

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestEvery checks the periodic goroutine: a call at once (or once after
// is closed), more on the ticks, none once stopped, and a goroutine that
// ends whether stop is called or the parent context ends.
func TestEvery(t *testing.T) {
	for _, test := range []struct {
		name string
		// cancelParent ends the parent context before stop is called
		// (which must still return).
		cancelParent bool
		// after: nil, open (never closed) or closed before start.
		after     string
		wantCalls bool
	}{
		{"stopped", false, "nil", true},
		{"parent context ended", true, "nil", true},
		{"after closed", false, "closed", true},
		{"stopped while waiting for after", false, "open", false},
		{"parent ended while waiting for after", true, "open", false},
	} {
		t.Run(test.name, func(t *testing.T) {
			var after chan struct{}
			switch test.after {
			case "open":
				after = make(chan struct{})
			case "closed":
				after = make(chan struct{})
				close(after)
			}
			parent, cancelParent := context.WithCancel(context.Background())
			defer cancelParent()
			var n atomic.Int64
			calls := make(chan context.Context)
			stop := every(parent, time.Millisecond, after, func(ctx context.Context) {
				n.Add(1)
				select {
				case calls <- ctx:
				case <-ctx.Done():
				}
			})
			var last context.Context
			if test.wantCalls {
				for range 3 { // the call at once and two ticks
					select {
					case last = <-calls:
					case <-time.After(time.Minute):
						t.Fatal("fn was not called three times")
					}
				}
			}
			if test.cancelParent {
				cancelParent()
			}
			stopped := make(chan struct{})
			go func() { stop(); close(stopped) }()
			select {
			case <-stopped:
			case <-time.After(time.Minute):
				t.Fatal("stop did not return: the goroutine did not end")
			}
			if !test.wantCalls && n.Load() != 0 {
				t.Error("fn was called before after was closed")
			}
			if last != nil && last.Err() == nil {
				t.Error("fn's context is not done once stopped")
			}
		})
	}
}
