package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/capture/source"
	"github.com/openkyc/kyc/engine/device"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/internal/deviceconf"
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
	framesFrom := fs.String("frames-from", "", "a camera, stream or video file whose first frames the frame check judges: repeated frames or no sensor noise (a virtual camera)")
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
	if *framesFrom != "" {
		frames, err := readLumas(ctx, *framesFrom, checkFrames)
		if err != nil {
			return nil, Errorf(ExitInput, "camera_unreadable", "--frames-from %s: %v", *framesFrom, err)
		}
		opts.Frames = frames
	}
	rep, err := device.Run(ctx, opts)
	if err != nil {
		return nil, Errorf(ExitInput, "invalid_policy", "%v", err)
	}
	age, err := watchlistAge(ctx, env, deviceconf.FromEnv(), time.Now())
	if err != nil {
		return nil, err
	}
	return deviceResult{Report: rep, Watchlists: age}, nil
}

// watchlistAge judges the age of the lists a verification on dev would
// screen against at now, under the risk configuration sync installed, and
// warns on stderr when they are stale.
func watchlistAge(ctx context.Context, env *Env, dev deviceconf.Device, now time.Time) (risk.ScreeningAge, error) {
	lists, err := loadWatchlists(ctx, env, dev.WatchlistDirs())
	if err != nil {
		return risk.ScreeningAge{}, err
	}
	age := deviceconf.LoadRisk(dev.ConfigDir(), nil).Config.ScreeningAge(*dev.ScreeningData(lists, now))
	if age.Stale {
		fmt.Fprintf(env.Stderr, "kyc: the watchlists are stale, so verifications go to review (sync with central): %s\n", age.Problem)
	}
	return age, nil
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
