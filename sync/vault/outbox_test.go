package vault

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestMarkStateTransitions(t *testing.T) {
	ctx := context.Background()
	backoff := func(attempts int) time.Duration { return time.Duration(attempts) * time.Minute }
	const lease = 10 * time.Minute
	tests := []struct {
		name  string
		steps []State
		// want is the error of the last step; nil means all steps succeed.
		want     error
		state    State
		attempts int
		nextIn   time.Duration // NextAttempt relative to the clock; -1 means zero time
	}{
		{"claim", []State{StateSending}, nil, StateSending, 1, lease},
		{"synced", []State{StateSending, StateSynced}, nil, StateSynced, 1, -1},
		{"failed attempt backs off", []State{StateSending, StateQueued}, nil, StateQueued, 1, 1 * time.Minute},
		{"second failure backs off longer", []State{StateSending, StateQueued, StateSending, StateQueued}, nil, StateQueued, 2, 2 * time.Minute},
		{"rejected while sending", []State{StateSending, StateRejected}, nil, StateRejected, 1, -1},
		{"rejected locally", []State{StateRejected}, nil, StateRejected, 0, -1},
		{"operator re-queues rejected", []State{StateRejected, StateQueued}, nil, StateQueued, 0, 0},
		{"double claim refused", []State{StateSending, StateSending}, ErrInvalidTransition, StateSending, 1, lease},
		{"synced is terminal", []State{StateSending, StateSynced, StateSending}, ErrInvalidTransition, StateSynced, 1, -1},
		{"synced cannot be re-queued", []State{StateSending, StateSynced, StateQueued}, ErrInvalidTransition, StateSynced, 1, -1},
		{"queued to synced skips sending", []State{StateSynced}, ErrInvalidTransition, StateQueued, 0, 0},
		{"queued to queued", []State{StateQueued}, ErrInvalidTransition, StateQueued, 0, 0},
		{"unknown state", []State{"lost"}, ErrInvalidTransition, StateQueued, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			v := openTest(t, Options{Now: clock.Now, Backoff: backoff, SendLease: lease})
			if err := v.PutSubmission(ctx, testSubmission("s", 0)); err != nil {
				t.Fatal(err)
			}
			var err error
			for i, s := range tc.steps {
				clock.Advance(time.Second)
				err = v.MarkState(ctx, "s", s, "reason")
				if i < len(tc.steps)-1 && err != nil {
					t.Fatalf("step %d (%s): %v", i, s, err)
				}
			}
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("last step err = %v, want %v", err, tc.want)
			}
			e, err := v.OutboxStatus(ctx, "s")
			if err != nil {
				t.Fatal(err)
			}
			if e.State != tc.state || e.Attempts != tc.attempts {
				t.Fatalf("entry = %s after %d attempts, want %s after %d", e.State, e.Attempts, tc.state, tc.attempts)
			}
			if tc.want == nil {
				wantNext := time.Time{}
				if tc.nextIn >= 0 {
					wantNext = clock.Now().Add(tc.nextIn)
				}
				if !e.NextAttempt.Equal(wantNext) {
					t.Fatalf("NextAttempt = %v, want %v", e.NextAttempt, wantNext)
				}
			}
		})
	}
	t.Run("unknown submission", func(t *testing.T) {
		v := openTest(t, Options{})
		if err := v.MarkState(ctx, "nope", StateSending, ""); !errors.Is(err, ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
}

func TestNextPending(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	const lease = 5 * time.Minute
	v := openTest(t, Options{Now: clock.Now, SendLease: lease, Backoff: func(int) time.Duration { return time.Hour }})
	next := func() string {
		t.Helper()
		e, ok, err := v.NextPending(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return ""
		}
		return e.SubmissionID
	}
	if got := next(); got != "" {
		t.Fatalf("empty outbox: NextPending = %q", got)
	}
	for _, id := range []string{"first", "second", "third"} {
		if err := v.PutSubmission(ctx, testSubmission(id, 0)); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Second)
	}
	if got := next(); got != "first" {
		t.Fatalf("NextPending = %q, want oldest (first)", got)
	}
	// A claimed entry is not offered while its lease runs.
	if err := v.MarkState(ctx, "first", StateSending, ""); err != nil {
		t.Fatal(err)
	}
	if got := next(); got != "second" {
		t.Fatalf("NextPending = %q, want second", got)
	}
	// A failed attempt waits out its backoff.
	if err := v.MarkState(ctx, "second", StateSending, ""); err != nil {
		t.Fatal(err)
	}
	if err := v.MarkState(ctx, "second", StateQueued, "timeout"); err != nil {
		t.Fatal(err)
	}
	if err := v.MarkState(ctx, "third", StateSending, ""); err != nil {
		t.Fatal(err)
	}
	if err := v.MarkState(ctx, "third", StateSynced, ""); err != nil {
		t.Fatal(err)
	}
	if got := next(); got != "" {
		t.Fatalf("nothing due: NextPending = %q", got)
	}
	// The sender of "first" crashed: after the lease lapses it is offered
	// again, and a new sender can claim it.
	clock.Advance(lease)
	if got := next(); got != "first" {
		t.Fatalf("after lease: NextPending = %q, want first", got)
	}
	if err := v.MarkState(ctx, "first", StateSending, ""); err != nil {
		t.Fatalf("re-claiming after lease: %v", err)
	}
	if e, _ := v.OutboxStatus(ctx, "first"); e.Attempts != 2 {
		t.Fatalf("attempts = %d, want 2", e.Attempts)
	}
	if err := v.MarkState(ctx, "first", StateSynced, ""); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	if got := next(); got != "second" {
		t.Fatalf("after backoff: NextPending = %q, want second", got)
	}
	if e, _ := v.OutboxStatus(ctx, "second"); e.Reason != "timeout" {
		t.Fatalf("reason = %q, want timeout", e.Reason)
	}
}

// TestNextPendingClockPutBack: a clock that ran ahead (set forward by
// hand, a year here) and is put right does not hold submissions until it
// catches up: a backoff or a lease measured from a write the clock now
// reads as in its future is over. A step back of seconds (NTP) keeps a
// live lease.
func TestNextPendingClockPutBack(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	v := openTest(t, Options{Now: clock.Now, SendLease: 5 * time.Minute, Backoff: func(int) time.Duration { return time.Hour }})
	for _, id := range []string{"backoff", "lease"} {
		if err := v.PutSubmission(ctx, testSubmission(id, 0)); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(365 * 24 * time.Hour) // the clock is set a year ahead
	for _, id := range []string{"backoff", "lease"} {
		if err := v.MarkState(ctx, id, StateSending, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.MarkState(ctx, "backoff", StateQueued, "central unreachable"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(-10 * time.Second) // an NTP step back
	if err := v.MarkState(ctx, "lease", StateSending, ""); !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("claiming a live lease after a step back of seconds: %v, want ErrInvalidTransition", err)
	}
	if e, ok, err := v.NextPending(ctx); err != nil || ok {
		t.Fatalf("NextPending = %q, %v, %v; want nothing due yet", e.SubmissionID, ok, err)
	}
	clock.Advance(-365 * 24 * time.Hour) // and put right
	due := map[string]bool{}
	for range 2 {
		e, ok, err := v.NextPending(ctx)
		if err != nil || !ok {
			t.Fatalf("after the clock was put right, NextPending = %v, %v; want %v due", ok, err, []string{"backoff", "lease"})
		}
		if err := v.MarkState(ctx, e.SubmissionID, StateSending, ""); err != nil {
			t.Fatalf("claiming %s: %v", e.SubmissionID, err)
		}
		due[e.SubmissionID] = true
	}
	if !due["backoff"] || !due["lease"] {
		t.Errorf("due after the clock was put right: %v", due)
	}
}

// TestNextPendingStartedFirst: a submission whose upload central holds
// open (MarkStarted) comes before older ones central has not seen, once
// due; a synced one cannot be marked started.
func TestNextPendingStartedFirst(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	v := openTest(t, Options{Now: clock.Now, Backoff: func(int) time.Duration { return time.Minute }})
	for _, id := range []string{"first", "second", "started"} {
		if err := v.PutSubmission(ctx, testSubmission(id, 0)); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Second)
	}
	if err := v.MarkState(ctx, "started", StateSending, ""); err != nil {
		t.Fatal(err)
	}
	if err := v.MarkStarted(ctx, "started"); err != nil {
		t.Fatal(err)
	}
	if err := v.MarkState(ctx, "started", StateQueued, "link lost"); err != nil {
		t.Fatal(err)
	}
	if e, ok, err := v.NextPending(ctx); err != nil || !ok || e.SubmissionID != "first" {
		t.Fatalf("during the started one's backoff: NextPending = %q, %v, %v; want first", e.SubmissionID, ok, err)
	}
	clock.Advance(time.Minute)
	if e, ok, err := v.NextPending(ctx); err != nil || !ok || e.SubmissionID != "started" || !e.Started {
		t.Fatalf("NextPending = %+v, %v, %v; want started", e, ok, err)
	}
	if err := v.MarkState(ctx, "started", StateSending, ""); err != nil {
		t.Fatal(err)
	}
	if err := v.MarkState(ctx, "started", StateSynced, ""); err != nil {
		t.Fatal(err)
	}
	if err := v.MarkStarted(ctx, "started"); !errors.Is(err, ErrInvalidTransition) {
		t.Errorf("MarkStarted on a synced submission: %v, want ErrInvalidTransition", err)
	}
}

func TestDefaultBackoff(t *testing.T) {
	tests := []struct {
		attempts int
		want     time.Duration
	}{
		{0, 30 * time.Second},
		{1, 30 * time.Second},
		{2, time.Minute},
		{3, 2 * time.Minute},
		{7, 32 * time.Minute},
		{8, time.Hour},
		{1000, time.Hour},
	}
	for _, tc := range tests {
		if got := DefaultBackoff(tc.attempts); got != tc.want {
			t.Errorf("DefaultBackoff(%d) = %v, want %v", tc.attempts, got, tc.want)
		}
	}
}
