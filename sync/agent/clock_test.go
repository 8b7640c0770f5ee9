package agent

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/vault"
)

func dateHeader(t time.Time) http.Header {
	h := http.Header{}
	h.Set("Date", t.UTC().Format(http.TimeFormat))
	return h
}

// TestClockOffset: the offset follows central's Date, one odd answer does
// not move it, a stale refusal does at once, and an absurd Date is ignored.
func TestClockOffset(t *testing.T) {
	local := time.Date(2025, 6, 1, 8, 6, 0, 0, time.UTC) // 6 minutes fast
	central := local.Add(-6 * time.Minute)
	c := &clock{local: func() time.Time { return local }}
	near := func(got, want time.Duration) bool { return (got - want).Abs() <= time.Second }
	if c.Offset() != 0 || !c.Now().Equal(local) {
		t.Fatalf("before any answer: offset %v", c.Offset())
	}
	for range 3 {
		c.observe(dateHeader(central), false)
	}
	if !near(c.Offset(), -6*time.Minute) || !near(c.Now().Sub(central), 0) {
		t.Fatalf("offset %v after three answers, want -6m", c.Offset())
	}
	// A hostile or broken answer (a proxy's Date, a cached page) alone
	// cannot move the median.
	c.observe(dateHeader(central.Add(3*time.Hour)), false)
	if !near(c.Offset(), -6*time.Minute) {
		t.Errorf("one odd Date moved the offset to %v", c.Offset())
	}
	// Nor can one beyond a day, ever.
	c.observe(dateHeader(central.Add(72*time.Hour)), true)
	if !near(c.Offset(), -6*time.Minute) {
		t.Errorf("a Date three days off moved the offset to %v", c.Offset())
	}
	// The clock is put right; central refuses the corrected time as
	// stale: its Date is taken at once.
	local = central
	c.observe(dateHeader(central), true)
	if !near(c.Offset(), 0) {
		t.Errorf("after a stale refusal, offset %v, want 0", c.Offset())
	}
	c.observe(http.Header{}, false) // no Date: nothing learnt
	if !near(c.Offset(), 0) {
		t.Errorf("an answer without Date moved the offset to %v", c.Offset())
	}
}

func TestLinkEstimate(t *testing.T) {
	l := newLink()
	if got := l.chunkSize(5 * time.Second); got != initialRate*5 {
		t.Errorf("first chunk %d, want %d", got, initialRate*5)
	}
	// 50 KB/s measured: chunks of about 5 s, timeouts that allow 3x.
	l.observe(250<<10, 5*time.Second)
	if got := l.chunkSize(5 * time.Second); got != 250<<10 {
		t.Errorf("chunk at 50 KB/s = %d, want 250 KB", got)
	}
	if got := l.timeout(250<<10, 30*time.Second); got != 45*time.Second {
		t.Errorf("timeout for 250 KB at 50 KB/s = %v, want 45s", got)
	}
	if got := l.timeout(0, 30*time.Second); got != 30*time.Second {
		t.Errorf("timeout without a body = %v, want the floor", got)
	}
	// A fast LAN: capped at the protocol's chunk limit.
	for range 10 {
		l.observe(4<<20, 40*time.Millisecond)
	}
	if got := l.chunkSize(5 * time.Second); got != MaxChunkSize {
		t.Errorf("chunk on a LAN = %d, want %d", got, MaxChunkSize)
	}
	// A timeout halves the rate, or drops it to what the failed transfer
	// achieved.
	r := l.Rate()
	l.failed(64<<10, 8*time.Second)
	if got := l.Rate(); got != 8<<10 {
		t.Errorf("rate after a timeout that moved 64 KB in 8 s = %.0f, want 8 KB/s (was %.0f)", got, r)
	}
	for range 20 {
		l.failed(0, time.Second)
	}
	if got := l.Rate(); got != minRate {
		t.Errorf("rate floor %.0f, want %d", got, minRate)
	}
	if got := l.chunkSize(5 * time.Second); got != MinChunkSize {
		t.Errorf("chunk at the floor = %d, want %d", got, MinChunkSize)
	}
	// Losses bound the chunk, whatever the rate; successes lift it.
	l = newLink()
	for range 5 {
		l.observe(4<<20, 100*time.Millisecond)
	}
	l.lost(4 << 20)
	if got := l.chunkSize(5 * time.Second); got != 2<<20 {
		t.Errorf("chunk after a lost 4 MB transfer = %d, want 2 MB", got)
	}
	l.lost(1 << 10) // a small request says nothing
	if got := l.chunkSize(5 * time.Second); got != 2<<20 {
		t.Errorf("chunk after a lost small request = %d, want 2 MB", got)
	}
	l.observe(2<<20, 50*time.Millisecond)
	if got := l.chunkSize(5 * time.Second); got != 3<<20 {
		t.Errorf("chunk after a success = %d, want 3 MB", got)
	}
}

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{&CentralError{Status: 401, Code: "unknown_device"}, "does not know this device"},
		{&CentralError{Status: 403, Code: "revoked"}, "revoked"},
		{&CentralError{Status: 401, Code: "stale"}, "clock"},
		{&CentralError{Status: 401, Code: "bad_signature", Message: "no"}, "signature"},
		{&CentralError{Status: 503, Code: "overloaded"}, "busy"},
		{&CentralError{Status: 400, Code: "malformed", Message: "bad key"}, "400 malformed: bad key"},
		{&RetryLaterError{After: time.Hour}, "1h0m0s"},
		{&RejectionError{Status: 422, Code: "attestation", Message: "stale attestation"}, "refused this submission (attestation)"},
		{netError("PUT /v1/x", errors.New("dial tcp: connection refused")), "unreachable (connection refused)"},
		{fmt.Errorf("reading: %w", vault.ErrCorrupt), "vault"},
	} {
		got := Describe(tc.err)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("Describe(%v) = %q, want it to say %q", tc.err, got, tc.want)
		}
	}
	if !errors.Is(&CentralError{Status: 401, Code: "unknown_device"}, ErrUnknownDevice) || errors.Is(&CentralError{Status: 401, Code: "unknown_device"}, ErrRevoked) {
		t.Error("CentralError does not map to its sentinel")
	}
	if errors.Is(&CentralError{Status: 401, Code: "stale"}, ErrRejected) {
		t.Error("a 401 counts as a rejection")
	}
}
