package httpx

import (
	"math"
	"net/http"
	"testing"
	"time"
)

// TestParseRetryAfter: seconds and HTTP dates are read as waits from now;
// nothing, a past date, a negative or unparsable value ask for none, and
// a huge count of seconds does not overflow.
func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"120", 120 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"soon", 0},
		{now.Add(3 * time.Hour).Format(http.TimeFormat), 3 * time.Hour},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"99999999999999999", time.Duration(math.MaxInt64/time.Second) * time.Second},
	} {
		if got := ParseRetryAfter(c.v, now); got != c.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", c.v, got, c.want)
		}
	}
}
