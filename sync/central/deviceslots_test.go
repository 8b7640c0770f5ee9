package central_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/protocol"
)

// TestDeviceShareOfSlots: devices sending their bodies as slowly as they
// may each hold at most their share of central's slots. One device's
// uploads beyond MaxPerDevice get 429 device_busy; once half the slots are
// taken, a device holds one at most, so a handful of stolen devices cannot
// hold them all; another device still gets through.
func TestDeviceShareOfSlots(t *testing.T) {
	c := start(t, central.Config{Store: openBolt(t), MaxInFlight: 8, MaxPerDevice: 4, BodyFloor: time.Minute})
	a, b, other := c.enrol(t), c.enrol(t), c.enrol(t)
	body := make([]byte, 1000)
	n := 0
	slow := func(d *dev) *slowConn {
		t.Helper()
		n++
		req := d.request(t, http.MethodPut, protocol.SubmissionPath(protocol.SubmissionKey(fmt.Sprint("held-", n))), body, time.Now())
		return startSlow(t, c, req, int64(len(body)), time.Hour)
	}
	busy := func(s *slowConn, what string) {
		t.Helper()
		status, code, closed, err := s.answer(10 * time.Second)
		if err != nil || status != http.StatusTooManyRequests || code != "device_busy" || !closed {
			t.Errorf("%s: %d %q closed=%v %v, want 429 device_busy", what, status, code, closed, err)
		}
	}
	for range 4 {
		slow(a)
	}
	waitHealth(t, c, func(h central.Health) bool { return h.InFlight == 4 })
	busy(slow(a), "a fifth slow upload of one device")

	// Half the slots are taken: b gets one, not a second.
	slow(b)
	waitHealth(t, c, func(h central.Health) bool { return h.InFlight == 5 })
	busy(slow(b), "a second slow upload of a device once half the slots are taken")

	if resp, e := other.do(t, http.MethodGet, protocol.PathConfig, nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("another device: %d %+v", resp.StatusCode, e)
	}
	if _, h := waitHealth(t, c, func(h central.Health) bool { return h.InFlight == 5 }); h.Status != "ok" {
		t.Errorf("healthz: %+v", h)
	}
}
