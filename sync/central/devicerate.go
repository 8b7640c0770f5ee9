package central

import (
	"errors"
	"net/http"
	"time"

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

// spendRequest answers 429 too_many_requests with Retry-After once the
// device has spent its budget of requests (Config.RequestBurst).
func (s *Server) spendRequest(w http.ResponseWriter, deviceID string) error {
	ok, wait := s.reqRate.Take(deviceID)
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
	spent, wait := s.resends.Blocked(deviceID)
	if !spent {
		return nil
	}
	s.metrics.shed.WithLabelValues("resends").Inc()
	httpx.CutOff(w)
	return &httpx.Error{Status: http.StatusTooManyRequests, Code: "too_many_resends", RetryAfter: wait,
		Message: "this device has resent more uploads than central answers one device: wait and send again"}
}

// refusedUpload spends a unit of the device's resend budget on an upload
// refused for what the device sent (4xx but 429: a chunk of a submission
// or image central does not hold, a manifest that does not open, a
// rejection), as resent does on a resend: each wrote a nonce row, and
// without it a device key sending such uploads without pause wrote them
// as fast as central answered. A real device meets them rarely (a 404
// after central lost a submission, then it sends the manifest again).
func (s *Server) refusedUpload(deviceID string, err error) {
	var e *httpx.Error
	if errors.As(err, &e) && e.Status >= 400 && e.Status < 500 && e.Status != http.StatusTooManyRequests {
		s.resends.Fail(deviceID)
	}
}

// resent counts an upload answered as a resend of kind (the retries
// metric) against the device's resend budget.
func (s *Server) resent(deviceID, kind string) {
	s.metrics.retry(kind)
	s.resends.Fail(deviceID)
}
