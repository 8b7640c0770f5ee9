package agent_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/agent"
)

func TestBackoff(t *testing.T) {
	lo, hi := 100*time.Millisecond, 10*time.Second
	apart := time.Now().AddDate(5, 0, 0)
	cases := []struct {
		name       string
		attempt    int
		resp       *http.Response
		minD, maxD time.Duration
	}{
		{"first retry", 0, nil, lo / 2, lo},
		{"third retry", 2, nil, 200 * time.Millisecond, 400 * time.Millisecond},
		{"capped", 30, nil, hi / 2, hi},
		{"500 ignores Retry-After", 0, resp(500, "5"), lo / 2, lo},
		{"429 Retry-After seconds", 0, resp(429, "3"), 3 * time.Second, 3 * time.Second},
		{"503 Retry-After date", 0, resp(503, time.Now().Add(20*time.Second).UTC().Format(http.TimeFormat)), 18 * time.Second, 20 * time.Second},
		{"unparseable Retry-After", 1, resp(429, "soon"), lo, 2 * lo},
		{"Retry-After 0", 0, resp(503, "0"), lo / 2, lo},
		{"Retry-After negative", 1, resp(503, "-30"), lo, 2 * lo},
		{"Retry-After date past", 0, resp(429, time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)), lo / 2, lo},
		// The server's clock, or the device's, is five years off: the
		// date is measured from the answer's own Date, not the device's.
		{"503 Retry-After date, clocks apart", 0, dated(resp(503, apart.Add(20*time.Minute).UTC().Format(http.TimeFormat)), apart), 20 * time.Minute, 20 * time.Minute},
	}
	for _, c := range cases {
		seen := map[time.Duration]bool{}
		for range 50 {
			d := agent.Backoff(lo, hi, c.attempt, c.resp)
			if d < c.minD || d > c.maxD {
				t.Errorf("%s: %v outside [%v, %v]", c.name, d, c.minD, c.maxD)
			}
			seen[d] = true
		}
		if c.resp == nil && len(seen) < 2 {
			t.Errorf("%s: no jitter", c.name)
		}
	}
}

func resp(code int, retryAfter string) *http.Response {
	return &http.Response{StatusCode: code, Header: http.Header{"Retry-After": {retryAfter}}}
}

func dated(r *http.Response, at time.Time) *http.Response {
	r.Header.Set("Date", at.UTC().Format(http.TimeFormat))
	return r
}

func TestOutboxBackoff(t *testing.T) {
	b := agent.OutboxBackoff(30*time.Second, time.Hour)
	for _, c := range []struct {
		attempts   int
		minD, maxD time.Duration
	}{{1, 15 * time.Second, 30 * time.Second}, {3, 60 * time.Second, 120 * time.Second}, {20, 30 * time.Minute, time.Hour}} {
		for range 20 {
			if d := b(c.attempts); d < c.minD || d > c.maxD {
				t.Errorf("attempt %d: %v outside [%v, %v]", c.attempts, d, c.minD, c.maxD)
			}
		}
	}
}
