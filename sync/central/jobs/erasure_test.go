package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/openkyc/kyc/sync/central/jobs"
)

// TestErasureOutOfTimeBounded: an erasure run out of time is snoozed (goes
// on in the next run, no attempt counted), but only ErasureSnoozes times:
// past them it is a failed attempt, so an erasure that never ends within
// its bound ends failed after ErasureAttempts (visible in its record)
// instead of running, "running", for ever. A run that fails otherwise is
// a failed attempt at once.
func TestErasureOutOfTimeBounded(t *testing.T) {
	slow := jobs.ErasureWorker(func(ctx context.Context, _ string, _ bool) error {
		<-ctx.Done()
		return fmt.Errorf("erasing submissions: %w", ctx.Err())
	}, time.Millisecond)
	for _, tc := range []struct {
		name    string
		snoozes int
		snooze  bool
	}{
		{"first run", 0, true},
		{"last snooze", jobs.ErasureSnoozes - 1, true},
		{"snoozes spent", jobs.ErasureSnoozes, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			job := &river.Job[jobs.Erasure]{JobRow: &rivertype.JobRow{ID: 1, Attempt: 1, MaxAttempts: jobs.ErasureAttempts,
				Metadata: fmt.Appendf(nil, `{"snoozes":%d}`, tc.snoozes)}, Args: jobs.Erasure{ID: "req_1"}}
			ctx, cancel := context.WithTimeout(context.Background(), slow.Timeout(job))
			defer cancel()
			err := slow.Work(ctx, job)
			var snooze *rivertype.JobSnoozeError
			if got := errors.As(err, &snooze); got != tc.snooze || err == nil {
				t.Errorf("after %d snoozes a run out of time = %v; want a snooze: %v", tc.snoozes, err, tc.snooze)
			}
		})
	}
}
