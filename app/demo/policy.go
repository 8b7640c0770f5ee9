package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/openkyc/kyc/engine/device"
)

// WriteBenchPolicy writes to path the device policy of a test bench that
// verifies demo scenarios on whatever machine runs them: the field
// profile, ignoring every finding this machine has (a VM without cameras,
// a development build; each reported through logf when it is not nil), as
// a deployment accepting its own hardware would, and remote access. The
// end-to-end tests grab the window with ffmpeg's x11grab for their
// screenshots, which is what a screen recorder does: a grab that overlaps
// a verification's device check is rightly found (it sent a genuine person
// to review once), so the bench accepts its own recorder. The device
// checks themselves are engine/device's tests.
func WriteBenchPolicy(ctx context.Context, path string, logf func(format string, args ...any)) error {
	pol, err := device.DefaultPolicy(device.ProfileField)
	if err != nil {
		return fmt.Errorf("bench policy: %w", err)
	}
	rep, err := device.Run(ctx, device.Options{Policy: pol})
	if err != nil {
		return fmt.Errorf("bench policy: running the device checks: %w", err)
	}
	ignore := device.Rule{OnFail: device.ActionIgnore, OnWarn: device.ActionIgnore}
	for _, c := range rep.Checks {
		if c.Status != device.StatusPass {
			if logf != nil {
				logf("bench device finding ignored: %s %s", c.Name, c.Status)
			}
			pol.Rules[c.Name] = ignore
		}
	}
	pol.Rules[device.CheckRemoteAccess] = ignore
	b, err := json.Marshal(pol)
	if err != nil {
		return fmt.Errorf("bench policy: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("bench policy: %w", err)
	}
	return nil
}
