package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// BenchmarkEraseFlows measures one EraseFlows among n partner sessions of
// one partner, each holding one submission and with one event: retention
// and bulk erasures call it once per submission.
func BenchmarkEraseFlows(b *testing.B, s central.Store, n int) {
	ctx := context.Background()
	ref := func(i int) central.SubmissionRef {
		return central.SubmissionRef{DeviceID: "d1", Key: fmt.Sprintf("k%07d", i)}
	}
	id := func(i int) string { return fmt.Sprintf("s%07d", i) }
	const workers = 4
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				f := flow("pa", id(i), t0.Add(time.Hour))
				f.Status, f.Submissions = central.FlowCompleted, []central.SubmissionRef{ref(i)}
				if err := s.CreateFlow(ctx, f); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	for from := 0; from < n; from += 1000 {
		var evs []central.WebhookEvent
		for i := from; i < min(from+1000, n); i++ {
			evs = append(evs, event("e"+id(i), "pa", id(i), t0))
		}
		if err := s.AppendEvents(ctx, evs); err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	for b.Loop() {
		if flows, events, err := s.EraseFlows(ctx, ref(i%n), t0.Add(2*time.Hour)); err != nil || flows != 1 || events != 1 {
			b.Fatalf("EraseFlows = %d sessions, %d events, %v; want 1, 1", flows, events, err)
		}
		i++
	}
}
