// Package loadtest drives simulated devices against a central over real
// HTTP and measures ingest throughput and latency. Its benchmarks compare
// the bbolt and PostgreSQL stores; Run is the reusable driver.
package loadtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/vault"
)

// Result is the outcome of a load run.
type Result struct {
	Submissions int
	Elapsed     time.Duration
	// Latencies of each submission's upload (manifest and image chunks,
	// until central reports it complete), sorted.
	Latencies []time.Duration
}

// Rate is submissions ingested per second.
func (r Result) Rate() float64 { return float64(r.Submissions) / r.Elapsed.Seconds() }

// Percentile returns the p-th percentile latency (0 < p <= 100), nearest rank.
func (r Result) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(float64(len(r.Latencies))*p/100+0.5) - 1
	return r.Latencies[min(max(i, 0), len(r.Latencies)-1)]
}

func (r Result) String() string {
	return fmt.Sprintf("%d submissions in %v: %.1f/s, p50 %v, p99 %v", r.Submissions, r.Elapsed.Round(time.Millisecond), r.Rate(),
		r.Percentile(50).Round(10*time.Microsecond), r.Percentile(99).Round(10*time.Microsecond))
}

// Device is one simulated device: an uploader and the submissions it sends.
type Device struct {
	ID          string
	Uploader    *agent.Uploader
	Submissions []vault.Submission
}

// Run has every device upload its submissions concurrently, each device
// one submission at a time as the agent does, and times each upload.
func Run(ctx context.Context, devices []Device) (Result, error) {
	var (
		mu   sync.Mutex
		res  Result
		errs []error
		wg   sync.WaitGroup
	)
	start := time.Now()
	for _, d := range devices {
		wg.Go(func() {
			lat := make([]time.Duration, 0, len(d.Submissions))
			for _, s := range d.Submissions {
				t0 := time.Now()
				if err := d.Uploader.Upload(ctx, s); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("submission %s: %w", s.ID, err))
					mu.Unlock()
					return
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			res.Latencies = append(res.Latencies, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Submissions = len(res.Latencies)
	slices.Sort(res.Latencies)
	return res, errors.Join(errs...)
}
