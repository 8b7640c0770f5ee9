package device

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/openkyc/kyc/attest"
)

// Profile names a deployment profile (see package attest).
type Profile = attest.Profile

// Deployment profiles.
const (
	// ProfileKiosk is an unattended kiosk: nobody watches the session, so
	// anything that could let someone tamper with it blocks.
	ProfileKiosk = attest.ProfileKiosk
	// ProfileField is a field laptop operated by staff, who see the
	// applicant; softer findings warn instead of blocking.
	ProfileField = attest.ProfileField
)

// Verdict is the policy's decision on a report (see package attest).
type Verdict = attest.Verdict

// Verdicts, from harmless to blocking.
const (
	VerdictOK    = attest.VerdictOK
	VerdictWarn  = attest.VerdictWarn
	VerdictBlock = attest.VerdictBlock
)

// Action is what a policy does with a finding.
type Action string

// Actions. The empty Action means the default: block on fail, warn on warn.
const (
	ActionIgnore Action = "ignore"
	ActionWarn   Action = "warn"
	ActionBlock  Action = "block"
)

// Rule maps a check's outcome to an action.
type Rule struct {
	OnFail Action `json:"on_fail,omitempty"`
	OnWarn Action `json:"on_warn,omitempty"`
}

// Policy decides a verdict from check results and holds the checks'
// thresholds.
type Policy struct {
	Profile Profile `json:"profile"`
	// Rules are keyed by check name; a check without a rule blocks on fail
	// and warns on warn.
	Rules map[string]Rule `json:"rules,omitempty"`
	// MinCamera is the minimum capture mode.
	MinCamera CameraMode `json:"min_camera"`
	// ClockTolerance is how far the clock may be behind the last central
	// contact (clock drift, server skew) before it counts as turned back.
	ClockTolerance Duration `json:"clock_tolerance"`
	// MaxOffline is how long after the last central contact the device may
	// go on without a warning.
	MaxOffline Duration `json:"max_offline"`
}

// ErrUnknownProfile is returned by DefaultPolicy for a profile it does not
// define.
var ErrUnknownProfile = errors.New("unknown deployment profile")

// ErrInvalidPolicy is returned by Validate, and so by Run, for a policy
// with an unknown action or a negative threshold.
var ErrInvalidPolicy = errors.New("invalid device policy")

// DefaultPolicy returns the policy for profile p.
//
// Both profiles keep the default rule (block on fail, warn on warn) for
// virtual machines, virtual cameras, synthetic frames, debuggers, hooking,
// a broken seal, a clock turned back, root and a camera below 1280x720 at
// 15 fps. They differ where a person is present: a kiosk also blocks an
// unsealed binary, since stripping the seal must not be a way around it; a
// field laptop, whose operator sees the applicant, only warns on
// remote-desktop or recording software or a virtual machine (staff laptops
// run in managed VDI; the finding still travels in the signed attestation),
// and may stay offline for a week instead of a day.
func DefaultPolicy(p Profile) (Policy, error) {
	pol := Policy{
		Profile:        p,
		MinCamera:      CameraMode{Width: 1280, Height: 720, FPS: 15},
		ClockTolerance: Duration(5 * time.Minute),
	}
	switch p {
	case ProfileKiosk:
		pol.MaxOffline = Duration(24 * time.Hour)
		pol.Rules = map[string]Rule{CheckBinaryIntegrity: {OnWarn: ActionBlock}}
	case ProfileField:
		pol.MaxOffline = Duration(7 * 24 * time.Hour)
		pol.Rules = map[string]Rule{CheckRemoteAccess: {OnFail: ActionWarn}, CheckVirtualMachine: {OnFail: ActionWarn}}
	default:
		return Policy{}, fmt.Errorf("%w: %q", ErrUnknownProfile, p)
	}
	return pol, nil
}

// Validate reports whether every action is known and every threshold
// non-negative.
func (p Policy) Validate() error {
	if p.Profile == "" {
		return fmt.Errorf("%w: no profile", ErrInvalidPolicy)
	}
	for name, r := range p.Rules {
		for _, a := range []Action{r.OnFail, r.OnWarn} {
			switch a {
			case "", ActionIgnore, ActionWarn, ActionBlock:
			default:
				return fmt.Errorf("%w: rule %s: unknown action %q", ErrInvalidPolicy, name, a)
			}
		}
	}
	m := p.MinCamera
	if m.Width < 0 || m.Height < 0 || m.FPS < 0 || p.ClockTolerance < 0 || p.MaxOffline < 0 {
		return fmt.Errorf("%w: negative threshold", ErrInvalidPolicy)
	}
	return nil
}

// Verdict decides: block if any finding's action is block, else warn if
// any is warn, else ok.
func (p Policy) Verdict(results []Result) Verdict {
	v := VerdictOK
	for _, r := range results {
		switch p.action(r) {
		case ActionBlock:
			return VerdictBlock
		case ActionWarn:
			v = VerdictWarn
		}
	}
	return v
}

func (p Policy) action(r Result) Action {
	rule := p.Rules[r.Name]
	switch r.Status {
	case StatusFail:
		return cmp.Or(rule.OnFail, ActionBlock)
	case StatusWarn:
		return cmp.Or(rule.OnWarn, ActionWarn)
	}
	return ActionIgnore
}

// Duration is a time.Duration written in JSON as a Go duration string
// ("24h0m0s"), which a person editing a policy file can read.
type Duration time.Duration

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string such as "90m" or "168h".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"24h\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
