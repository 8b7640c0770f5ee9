package central

import (
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/openkyc/kyc/sync/central/httpx"
)

// Defaults of Config.RequestBurst and RequestInterval: a device's requests
// other than its uploads (configuration, watchlists, status, review
// changes, kiosk hand-offs). The real device's heaviest steady use is a
// kiosk following a hand-off (one poll a second, internal/handoff) while
// its agent passes every 15 s (status, up to 20 pages of review changes,
// the configuration and every watchlist when kicked): about 3.1 a second
// with ten lists (TestDeviceRequestBudgetFitsTheAgent). Four a second
// leaves room above that; the burst covers a pass in which every call is
// tried five times (go-retryablehttp's RetryMax 4) and an operator's
// "Sync now" pressed again and again. Each request writes a nonce row
// kept 2×MaxSkew, so a device can hold at most about burst + 4 × 600 of
// them, not as many as central answers in ten minutes.
const (
	DefaultRequestBurst    = 600
	DefaultRequestInterval = 250 * time.Millisecond
)

// Defaults of Config.ResendBurst and ResendInterval. A device resends an
// upload when an answer was lost (the manifest or a chunk central holds)
// or its offset went astray (409 with where central is): a few per lost
// answer. A burst of 1000 covers a flaky link's day; ten a second after
// it keeps a device key that replays a held manifest without pause (200
// and a receipt each time, a nonce row each) to some 6000 rows kept at a
// time, where it wrote over 100,000.
const (
	DefaultResendBurst    = 1000
	DefaultResendInterval = 100 * time.Millisecond
)

// deviceRequests budgets each device's requests other than its uploads,
// spent after the signature verified (so only the device spends its own)
// and before the nonce is recorded (so a refused request writes nothing).
//
// It is kept in this instance's memory, not in the store: a store budget
// would add a write to every request, the cost it is there to bound. With
// several instances behind a balancer a device gets up to one budget per
// instance, which still bounds it.
type deviceRequests struct {
	every rate.Limit
	burst int
	now   func() time.Time

	mu    sync.Mutex
	m     map[string]*rate.Limiter
	swept time.Time
}

func newDeviceRequests(burst int, interval time.Duration, now func() time.Time) *deviceRequests {
	return &deviceRequests{every: rate.Every(interval), burst: burst, now: now, m: map[string]*rate.Limiter{}}
}

// spend spends one of the device's requests, or reports false and how
// long until one is there. Only enrolled devices that signed a request
// are keys, so the map is bounded by the fleet; keys whose budget is full
// again are forgotten.
func (b *deviceRequests) spend(deviceID string) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.sweep(now)
	l, ok := b.m[deviceID]
	if !ok {
		l = rate.NewLimiter(b.every, b.burst)
		b.m[deviceID] = l
	}
	if l.AllowN(now, 1) {
		return true, 0
	}
	tok := l.TokensAt(now)
	return false, time.Duration((1 - tok) / float64(b.every) * float64(time.Second))
}

// spent reports whether the device has no request left, and how long
// until one is there, without spending one.
func (b *deviceRequests) spent(deviceID string) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l, ok := b.m[deviceID]
	if !ok {
		return false, 0
	}
	tok := l.TokensAt(b.now())
	if tok >= 1 {
		return false, 0
	}
	return true, time.Duration((1 - tok) / float64(b.every) * float64(time.Second))
}

// sweep forgets full budgets, at most once a minute.
func (b *deviceRequests) sweep(now time.Time) {
	if now.Sub(b.swept) < time.Minute {
		return
	}
	b.swept = now
	for k, l := range b.m {
		if l.TokensAt(now) >= float64(b.burst) {
			delete(b.m, k)
		}
	}
}

// spendRequest answers 429 too_many_requests with Retry-After once the
// device has spent its budget of requests (Config.RequestBurst).
func (s *Server) spendRequest(w http.ResponseWriter, deviceID string) error {
	ok, wait := s.reqRate.spend(deviceID)
	if ok {
		return nil
	}
	s.metrics.shed.WithLabelValues("requests").Inc()
	httpx.CutOff(w)
	return &httpx.Error{Status: http.StatusTooManyRequests, Code: "too_many_requests", RetryAfter: wait,
		Message: "this device has sent more requests than central answers one device: wait and ask again"}
}

// checkResends answers 429 too_many_resends with Retry-After to an upload
// of a device whose resend budget is spent (Config.ResendBurst): checked
// before the nonce is recorded, spent by resent once the handler knows.
func (s *Server) checkResends(w http.ResponseWriter, deviceID string) error {
	spent, wait := s.resends.spent(deviceID)
	if !spent {
		return nil
	}
	s.metrics.shed.WithLabelValues("resends").Inc()
	httpx.CutOff(w)
	return &httpx.Error{Status: http.StatusTooManyRequests, Code: "too_many_resends", RetryAfter: wait,
		Message: "this device has resent more uploads than central answers one device: wait and send again"}
}

// resent counts an upload answered as a resend of kind (the retries
// metric) against the device's resend budget.
func (s *Server) resent(deviceID, kind string) {
	s.metrics.retry(kind)
	s.resends.spend(deviceID)
}
