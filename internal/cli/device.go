package cli

import (
	"context"
	"encoding/json"
	"os"
	"time"

	"github.com/openkyc/kyc/engine/device"
)

// deviceResult is the report; a blocked device exits non-zero with the
// report (not an error) on stdout, since the report says why.
type deviceResult struct {
	device.Report
}

func (d deviceResult) ExitCode() int {
	if d.Verdict == device.VerdictBlock {
		return ExitRejected
	}
	return ExitOK
}

func runDeviceCheck(ctx context.Context, env *Env, args []string) (any, error) {
	fs := newFlags(env, "device-check")
	profile := fs.String("profile", string(device.ProfileField), "deployment profile: kiosk or field")
	policyFile := fs.String("policy", "", "a JSON policy file replacing the profile's default")
	root := fs.String("root", "/", "filesystem root to inspect (a fake sysfs/procfs tree in tests)")
	lastContact := fs.String("last-contact", "", "RFC 3339 time central last answered this device")
	width := fs.Int("camera-width", 0, "selected camera mode: width in pixels")
	height := fs.Int("camera-height", 0, "selected camera mode: height in pixels")
	fps := fs.Float64("camera-fps", 0, "selected camera mode: frames per second")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	pol, err := device.DefaultPolicy(device.Profile(*profile))
	if err != nil {
		return nil, Errorf(ExitUsage, "usage", "%v", err)
	}
	if *policyFile != "" {
		b, err := os.ReadFile(*policyFile)
		if err != nil {
			return nil, Errorf(ExitInput, "invalid_policy", "reading policy: %v", err)
		}
		if err := json.Unmarshal(b, &pol); err != nil {
			return nil, Errorf(ExitInput, "invalid_policy", "decoding policy %s: %v", *policyFile, err)
		}
	}
	opts := device.Options{Root: *root, Policy: pol}
	if *lastContact != "" {
		t, err := time.Parse(time.RFC3339, *lastContact)
		if err != nil {
			return nil, Errorf(ExitUsage, "usage", "--last-contact: %v", err)
		}
		opts.LastCentralContact = t
	}
	if *width > 0 || *height > 0 || *fps > 0 {
		opts.Camera = &device.CameraMode{Width: *width, Height: *height, FPS: *fps}
	}
	rep, err := device.Run(ctx, opts)
	if err != nil {
		return nil, Errorf(ExitInput, "invalid_policy", "%v", err)
	}
	return deviceResult{rep}, nil
}
