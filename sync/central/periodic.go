package central

import (
	"context"
	"time"
)

// every calls fn at once and then every interval until ctx ends or stop
// is called; stop waits for the goroutine to end. A non-nil after holds
// back the first call until it is closed (ending ctx ends the wait too).
// fn gets the context stop cancels.
func every(ctx context.Context, interval time.Duration, after <-chan struct{}, fn func(context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if after != nil {
			select {
			case <-ctx.Done():
				return
			case <-after:
			}
		}
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			fn(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
