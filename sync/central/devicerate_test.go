package central

import (
	"testing"
	"time"

	"github.com/openkyc/kyc/internal/handoff"
	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/central/httpx"
)

// The agent's own bounds that the worst case below counts; unexported
// there, so restated here with where they are set.
const (
	agentAttempts   = 5  // agent.NewUploader: go-retryablehttp RetryMax 4, so five tries of a call
	agentReviewPage = 20 // agent's maxReviewPages: review pages one pass fetches
	agentLists      = 10 // watchlists fetched in one pass: every one changed
)

// TestDeviceRequestBudgetFitsTheAgent drives the default request budget
// through two hours of the heaviest traffic a real device sends that it
// counts, on the agent's and the hand-off client's own cadence: a first
// pass in which every call is tried agentAttempts times, then a pass every
// agent.DefaultPollInterval as if each were kicked (configuration and
// every watchlist fetched) with a full backlog of review pages, and all
// the while a kiosk hand-off polled every handoff.DefaultPoll, a new one
// opened each minute. None of it may be refused.
func TestDeviceRequestBudgetFitsTheAgent(t *testing.T) {
	now := time.Date(2026, 12, 3, 23, 0, 0, 0, time.UTC)
	b := httpx.NewFailureLimiter(DefaultRequestBurst, DefaultRequestInterval, func() time.Time { return now })
	const dev = "0123456789abcdef0123456789abcdef"
	pass := 1 + agentReviewPage + 1 + agentLists // status, reviews, config, lists
	spend := func(n int, what string) {
		t.Helper()
		for range n {
			if ok, wait := b.Take(dev); !ok {
				t.Fatalf("%s at %s refused (next in %s)", what, now.Format(time.TimeOnly), wait)
			}
		}
	}
	spend(pass*agentAttempts, "the first pass, every call tried five times")
	start, sent := now, pass*agentAttempts
	for step := time.Duration(0); step < 2*time.Hour; step += handoff.DefaultPoll {
		now = start.Add(step)
		spend(1, "a hand-off poll")
		sent++
		if step%time.Minute == 0 {
			spend(1, "a new hand-off")
			sent++
		}
		if step%agent.DefaultPollInterval == 0 {
			spend(pass, "an agent pass")
			sent += pass
		}
	}
	rate := float64(sent) / now.Sub(start).Seconds()
	if limit := float64(time.Second) / float64(DefaultRequestInterval); rate >= limit {
		t.Errorf("the device sent %.2f requests a second, at or over the budget's %.0f", rate, limit)
	}
	t.Logf("%d requests in %s: %.2f a second against a budget of %d then %s each", sent, now.Sub(start), rate, DefaultRequestBurst, DefaultRequestInterval)
}
