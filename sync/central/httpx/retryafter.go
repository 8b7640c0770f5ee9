package httpx

import (
	"math"
	"net/http"
	"strconv"
	"time"
)

// ParseRetryAfter is the wait a Retry-After value asks for at now
// (RFC 9110 10.2.3: seconds, or an HTTP date); 0 when it asks none or
// does not parse. Central's outbound deliveries (the webhook worker's own
// requests and the enterprise push's) share it, so an endpoint's 429 or
// 503 is read the same way whichever of them it answers.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, int64(math.MaxInt64/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}
