package device

import (
	"context"
	"time"
)

// checkClock compares the wall clock with the last time central answered.
// A clock behind that moment was turned back, typically to reuse expired
// documents, certificates or tokens; a clock far ahead means the device was
// offline longer than the policy allows, or the clock jumped forward.
func checkClock(_ context.Context, e env) Result {
	r := newResult(CheckClock, SeverityHigh)
	r.Evidence["now"] = e.now.UTC().Format(time.RFC3339)
	last := e.opts.LastCentralContact
	if last.IsZero() {
		r.Severity = SeverityLow
		r.Flag(StatusWarn, "last_central_contact", "never")
		return r
	}
	r.Evidence["last_central_contact"] = last.UTC().Format(time.RFC3339)
	elapsed := e.now.Sub(last)
	switch {
	case elapsed < -time.Duration(e.policy.ClockTolerance):
		r.Flag(StatusFail, "clock_behind_by", (-elapsed).Round(time.Second).String())
	case elapsed > time.Duration(e.policy.MaxOffline):
		r.Severity = SeverityMedium
		r.Flag(StatusWarn, "offline_for", elapsed.Round(time.Second).String())
	}
	return r
}
