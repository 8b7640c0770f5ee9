package cli

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"slices"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/capture/source"
	"github.com/openkyc/kyc/engine/device"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/internal/deviceconf"
	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/vault"
)

// deviceResult is the report; a blocked device exits non-zero with the
// report (not an error) on stdout, since the report says why.
type deviceResult struct {
	device.Report
	// Watchlists is the age of the lists a verification would screen
	// against, under the risk configuration sync installed. Stale lists
	// send verifications to review; they do not change the verdict, which
	// is the device's integrity.
	Watchlists risk.ScreeningAge `json:"watchlists"`
	// Configuration says whether verifications decide with central's
	// signed configuration, verified, or an unsigned one.
	Configuration configStatus `json:"configuration"`
}

// configStatus is where the configuration verifications use comes from.
type configStatus struct {
	Source deviceconf.Source `json:"source,omitempty"`
	// Warning says what to do about an unsigned configuration.
	Warning string `json:"warning,omitempty"`
	// Refused says why verifications refuse the configuration (changed
	// on disk, or none from central on an enrolled device); Source is
	// then empty.
	Refused string `json:"refused,omitempty"`
}

func (d deviceResult) ExitCode() int {
	if d.Verdict == device.VerdictBlock || d.Configuration.Refused != "" {
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
	framesFrom := fs.String("frames-from", "", "a camera, stream or video file whose first frames the frame check judges: repeated frames or no sensor noise (a virtual camera)")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	pol, err := loadDevicePolicy(*profile, *policyFile)
	if err != nil {
		return nil, err
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
	if *framesFrom != "" {
		frames, err := readLumas(ctx, *framesFrom, checkFrames)
		if e := noCamera(err); e != nil {
			return nil, e
		} else if err != nil {
			return nil, Errorf(ExitInput, "camera_unreadable", "--frames-from %s: %v", source.ForLog(*framesFrom), err)
		}
		opts.Frames = frames
	}
	rep, err := device.Run(ctx, opts)
	if err != nil {
		return nil, Errorf(ExitInput, "invalid_policy", "%v", err)
	}
	res := deviceResult{Report: rep}
	dev := deviceconf.FromEnv()
	conf, err := loadDeviceConfig(ctx, env, dev, dev.VaultPins())
	var coded *Error
	switch {
	case errors.As(err, &coded) && slices.Contains(refusedCodes, coded.Code):
		res.Configuration.Refused = err.Error()
		return res, nil
	case err != nil:
		return nil, err
	}
	res.Configuration = configStatus{Source: conf.Source, Warning: conf.Warning}
	res.Watchlists = watchlistAge(env, dev, conf, time.Now())
	return res, nil
}

// refusedCodes are loadDeviceConfig's codes for a configuration
// verifications refuse: device-check reports them (exit 4).
var refusedCodes = []string{"config_altered", "config_not_synced", "enrollment_removed", "config_rollback", "vault_missing"}

// loadDeviceConfig loads the configuration verifications on dev decide
// with, as the app does (deviceconf.Device.Load), with what the vault
// keeps of the enrolment from pins, and says on stderr what was left out
// or needs doing. One changed on disk is refused, and so is an enrolled
// device's without central's, one older than the newest sync installed,
// and a device whose enrolment was removed.
func loadDeviceConfig(ctx context.Context, env *Env, dev deviceconf.Device, pins deviceconf.Pins) (*deviceconf.Config, error) {
	c, err := dev.Load(ctx, nil, pins)
	switch {
	case errors.Is(err, agent.ErrConfigAltered):
		return nil, Errorf(ExitRejected, "config_altered", "%v", err)
	case errors.Is(err, deviceconf.ErrNotSynced):
		return nil, Errorf(ExitRejected, "config_not_synced", "%v", err)
	case errors.Is(err, agent.ErrEnrollmentRemoved):
		return nil, Errorf(ExitRejected, "enrollment_removed", "%v", err)
	case errors.Is(err, agent.ErrConfigRollback):
		return nil, Errorf(ExitRejected, "config_rollback", "%v", err)
	case errors.Is(err, vault.ErrMissing):
		return nil, Errorf(ExitRejected, "vault_missing", "%v; to acknowledge the loss: kyc vault reset --i-understand --dir %s", err, dev.Dir)
	case errors.Is(err, vault.ErrLocked):
		return nil, Errorf(ExitUnavailable, "vault_in_use", "%v: a running `kyc sync` or the app holds it, and the enrolment it records must be read before verifying", err)
	case errors.Is(err, vault.ErrWrongKey), errors.Is(err, deviceconf.ErrKeyMissing):
		return nil, Errorf(ExitRejected, "vault_key", "%v", err)
	case enrollmentInvalid(err) != nil:
		return nil, enrollmentInvalid(err)
	case err != nil:
		return nil, err
	}
	for _, p := range c.Watchlists.Problems {
		fmt.Fprintf(env.Stderr, "kyc: watchlist left out: %s\n", p)
	}
	for _, p := range []string{c.Risk.Problem, c.Warning} {
		if p != "" {
			fmt.Fprintf(env.Stderr, "kyc: %s\n", p)
		}
	}
	return c, nil
}

// watchlistAge judges the age of the lists a verification with c would
// screen against at now, and warns on stderr when they are stale.
func watchlistAge(env *Env, dev deviceconf.Device, c *deviceconf.Config, now time.Time) risk.ScreeningAge {
	age := c.Risk.Config.ScreeningAge(*dev.ScreeningData(c.Watchlists, now))
	if age.Stale {
		fmt.Fprintf(env.Stderr, "kyc: the watchlists are stale, so verifications go to review (sync with central): %s\n", age.Problem)
	}
	return age
}

// checkFrames is how many consecutive frames --frames-from reads.
const checkFrames = 8

// readLumas reads the first n frames of a camera, stream or video file as
// grey levels; a finite source may give fewer.
func readLumas(ctx context.Context, src string, n int) ([]*image.Gray, error) {
	spec, err := source.Parse(src)
	if err != nil {
		return nil, err
	}
	s, err := source.Open(ctx, spec, source.Options{})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	m := gocv.NewMat()
	defer m.Close()
	var out []*image.Gray
	for len(out) < n {
		err := s.Read(ctx, &m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		g, err := imageio.GreyImage(m)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	if len(out) == 0 {
		return nil, errors.New("no frames")
	}
	return out, nil
}
