package agent

import (
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/protocol"
)

// clockSamples is how many of central's Date headers the offset is the
// median of.
const clockSamples = 5

// clock is the device clock corrected by its offset from central's, as
// measured from the Date header of central's answers. Requests are signed
// with it, so a device whose clock is minutes off is still accepted.
//
// A Date header is only as trustworthy as the channel: it arrives over TLS
// from the central the device enrolled with (or over loopback), so only
// that central can move it. Even so, the offset is bounded:
//   - the median of the last five answers is used, so one odd answer (a
//     proxy's, a cached one, a second central instance with a bad clock)
//     does not move it;
//   - a 401 stale, where central itself says the device's time is wrong,
//     replaces the samples with that answer's Date at once, so a device
//     whose clock jumps needs one retry, not three;
//   - an offset beyond identity.MaxClockCorrection (a day) is ignored:
//     such a device clock needs fixing by a person, and the status report
//     shows it.
//
// The corrected time is used only to sign requests to central and to age
// records for the retention sweep (centralOffset): the vault, attestations
// and every record keep the device's own clock.
type clock struct {
	local   func() time.Time
	mu      sync.Mutex
	samples []time.Duration
	offset  time.Duration
	// far is the last answer's offset when it was beyond
	// MaxClockCorrection (farSeen): signing ignores it, the retention
	// sweep does not.
	far     time.Duration
	farSeen bool
	// outside: since the last answer, central's certificate was outside
	// the device clock's validity (markOutside): the clock is wrong by an
	// unknown amount.
	outside bool
}

// Now is the local time corrected by the measured offset.
func (c *clock) Now() time.Time { return c.local().Add(c.Offset()) }

// Offset is central's clock minus the device's, as last measured.
func (c *clock) Offset() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offset
}

// observe takes the Date of an answer that just arrived; stale says
// central refused the request's timestamp.
func (c *clock) observe(h http.Header, stale bool) {
	d, ok := protocol.DateOffset(h, c.local())
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.outside = false
	if c.farSeen = d.Abs() > identity.MaxClockCorrection; c.farSeen {
		c.far = d
		return
	}
	if stale {
		c.samples = c.samples[:0]
	}
	c.samples = append(c.samples, d)
	if len(c.samples) > clockSamples {
		c.samples = slices.Delete(c.samples, 0, len(c.samples)-clockSamples)
	}
	sorted := slices.Clone(c.samples)
	slices.Sort(sorted)
	c.offset = sorted[len(sorted)/2]
}

// markOutside records that central's certificate was refused for lying
// outside the device clock's validity (ErrClockWrong).
func (c *clock) markOutside() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.outside = true
}

// centralOffset is central's clock minus the device's as far as its
// answers tell: the last offset measured, however far (0 before any
// answer); ok is false when central's certificate says the device clock
// is wrong and no answer since has said by how much. The retention sweep
// ages records by it too (Agent.sweep).
func (c *clock) centralOffset() (d time.Duration, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.outside:
		return 0, false
	case c.farSeen:
		return c.far, true
	}
	return c.offset, true
}
