package device

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// virtualCameraModules are kernel modules whose only purpose is to expose
// something other than a sensor as a video device. vivid is the kernel's
// virtual test driver.
var virtualCameraModules = []string{"v4l2loopback", "v4l2loopback_dc", "akvcam", "vivid"}

// virtualCameraNames are lower-case substrings of the names virtual camera
// software gives its devices. DroidCam and Iriun are included although a
// phone's sensor is behind them: the frames arrive over the network through
// a loopback device, where anything can replace them.
var virtualCameraNames = []string{
	"obs virtual camera", "obs-camera", "obs cam", "manycam", "dummy video device",
	"virtual camera", "virtualcam", "snap camera", "xsplit", "camtwist", "e2esoft",
	"droidcam", "iriun", "akvcam", "webcamoid", "loopback", "ndi webcam", "mmhmm",
	"splitcam", "unity video capture", "facerig",
}

// checkVirtualCamera looks for virtual camera drivers and devices, the
// usual way pre-recorded or deepfake video is injected.
func checkVirtualCamera(_ context.Context, e env) Result {
	r := newResult(CheckVirtualCamera, SeverityCritical)
	for _, m := range virtualCameraModules {
		if _, err := os.Stat(e.path(filepath.Join("sys/module", m))); err == nil {
			r.Flag(StatusFail, "module."+m, "loaded")
		}
	}
	const class = "sys/class/video4linux"
	devs, err := os.ReadDir(e.path(class))
	if err != nil && !os.IsNotExist(err) {
		r.Evidence["video4linux"] = "unreadable: " + err.Error()
	}
	r.Evidence["video_devices"] = fmt.Sprint(len(devs))
	for _, d := range devs {
		name, _ := e.readLine(filepath.Join(class, d.Name(), "name")) // a nameless node is judged by its path alone
		var why []string
		if matchMarker(name, virtualCameraNames) != "" {
			why = append(why, "virtual camera name")
		}
		// A sensor sits on a bus (USB, PCI, MIPI platform device); loopback
		// drivers register under devices/virtual whatever they call themselves.
		if target, err := os.Readlink(e.path(filepath.Join(class, d.Name()))); err == nil &&
			strings.Contains(filepath.ToSlash(target), "devices/virtual/") {
			why = append(why, "no hardware behind it")
		}
		if len(why) > 0 {
			r.Flag(StatusFail, d.Name(), fmt.Sprintf("%q: %s", name, strings.Join(why, ", ")))
		}
	}
	return r
}

// checkCameraCapability compares the selected camera mode with the
// policy's minimum. Orientation does not matter: a portrait-mounted
// 720x1280 camera meets a 1280x720 minimum.
func checkCameraCapability(_ context.Context, e env) Result {
	r := newResult(CheckCameraCapability, SeverityMedium)
	minMode := e.policy.MinCamera
	r.Evidence["minimum"] = minMode.String()
	cam := e.opts.Camera
	if cam == nil {
		r.Severity = SeverityLow
		r.Flag(StatusWarn, "camera", "not described by the caller")
		return r
	}
	r.Evidence["camera"] = cam.String()
	short, long := min(cam.Width, cam.Height), max(cam.Width, cam.Height)
	if short < min(minMode.Width, minMode.Height) || long < max(minMode.Width, minMode.Height) {
		r.Flag(StatusFail, "resolution", "below minimum")
	}
	if cam.FPS < minMode.FPS {
		r.Flag(StatusFail, "fps", "below minimum")
	}
	return r
}

func (m CameraMode) String() string {
	return fmt.Sprintf("%dx%d@%gfps", m.Width, m.Height, m.FPS)
}
