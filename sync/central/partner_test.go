package central

import (
	"testing"
	"time"
)

// TestPartnerSetDisabled: the periods a partner is disabled add up in
// HeldFor once they end; disabling it again, or enabling an enabled one,
// changes no time; a period whose start was never recorded adds nothing.
func TestPartnerSetDisabled(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	h := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Hour) }
	type step struct {
		disabled bool
		at       time.Time
	}
	for _, tc := range []struct {
		name    string
		from    Partner
		steps   []step
		wantAt  time.Time
		wantFor time.Duration
	}{
		{"disabled", Partner{}, []step{{true, h(0)}}, h(0), 0},
		{"disabled and enabled", Partner{}, []step{{true, h(0)}, {false, h(5)}}, time.Time{}, 5 * time.Hour},
		{"two periods", Partner{}, []step{{true, h(0)}, {false, h(5)}, {true, h(10)}, {false, h(12)}}, time.Time{}, 7 * time.Hour},
		{"disabled twice", Partner{}, []step{{true, h(0)}, {true, h(3)}, {false, h(5)}}, time.Time{}, 5 * time.Hour},
		{"enabled while enabled", Partner{HeldFor: time.Hour}, []step{{false, h(5)}}, time.Time{}, time.Hour},
		{"start unknown", Partner{Disabled: true, HeldFor: time.Hour}, []step{{false, h(5)}}, time.Time{}, time.Hour},
		{"clock back", Partner{}, []step{{true, h(5)}, {false, h(4)}}, time.Time{}, 0},
	} {
		p := tc.from
		for _, s := range tc.steps {
			p.SetDisabled(s.disabled, s.at)
		}
		last := tc.steps[len(tc.steps)-1].disabled
		if p.Disabled != last || !p.DisabledAt.Equal(tc.wantAt) || p.HeldFor != tc.wantFor {
			t.Errorf("%s: disabled %v at %v, held for %v; want %v at %v, held for %v", tc.name, p.Disabled, p.DisabledAt, p.HeldFor, last, tc.wantAt, tc.wantFor)
		}
	}
}

// TestFlowStatusClockPutBack: a session made, or an attempt of it started,
// while central's clock read later than it does now (set years ahead, then
// corrected) neither lives nor holds its expiry for as long as the clock
// was off; within a minute (instances' clocks) nothing changes.
func TestFlowStatusClockPutBack(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	const years = 5 * 365 * 24 * time.Hour
	for _, c := range []struct {
		name string
		f    FlowSession
		want FlowStatus
	}{
		{"made years ahead", FlowSession{Status: FlowCreated, CreatedAt: now.Add(years), ExpiresAt: now.Add(years + time.Hour)}, FlowExpired},
		{"made a second ahead", FlowSession{Status: FlowInProgress, CreatedAt: now.Add(time.Second), ExpiresAt: now.Add(time.Hour)}, FlowInProgress},
		{"verifying since years ahead, expired", FlowSession{Status: FlowInProgress, CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(-time.Minute),
			Hosted: &HostedFlow{Stage: HostedStageProcessing, ProcessingAt: now.Add(years)}}, FlowExpired},
		{"verifying since a second ahead, expired", FlowSession{Status: FlowInProgress, CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(-time.Minute),
			Hosted: &HostedFlow{Stage: HostedStageProcessing, ProcessingAt: now.Add(time.Second)}}, FlowInProgress},
		{"made years ahead, completed", FlowSession{Status: FlowCompleted, CreatedAt: now.Add(years), ExpiresAt: now.Add(years + time.Hour)}, FlowCompleted},
	} {
		if got := c.f.StatusAt(now); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}
