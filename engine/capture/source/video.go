package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/camera"
	"github.com/openkyc/kyc/engine/imageio"
)

// video reads frames through OpenCV's VideoCapture: V4L2 for devices,
// FFmpeg for files and network streams.
type video struct {
	vc   *gocv.VideoCapture
	info Info
}

func openDevice(index int, opt Options) (Source, error) {
	node := fmt.Sprintf("/dev/video%d", index)
	if st, err := os.Stat(node); err != nil {
		return nil, fmt.Errorf("opening camera %s: %w: %v", node, ErrNoCamera, err)
	} else if st.Mode()&os.ModeDevice == 0 {
		return nil, fmt.Errorf("opening camera %s: %w: not a device node (%v)", node, ErrNoCamera, st.Mode().Type())
	}
	vc, err := gocv.VideoCaptureDeviceWithAPI(index, gocv.VideoCaptureV4L2)
	if err != nil || !vc.IsOpened() {
		closeCapture(vc)
		return nil, fmt.Errorf("opening camera /dev/video%d: %w", index, orNotOpened(err))
	}
	// MJPG lets USB 2 cameras deliver HD at full rate; cameras without it
	// ignore the request and keep their raw format.
	vc.Set(gocv.VideoCaptureFOURCC, vc.ToCodec("MJPG"))
	if opt.Width > 0 && opt.Height > 0 {
		vc.Set(gocv.VideoCaptureFrameWidth, float64(opt.Width))
		vc.Set(gocv.VideoCaptureFrameHeight, float64(opt.Height))
	}
	if opt.FPS > 0 {
		vc.Set(gocv.VideoCaptureFPS, opt.FPS)
	}
	return newVideo(vc, KindDevice, deviceName(index)), nil
}

// deviceName is the camera's sysfs name with its node, or the node alone.
func deviceName(index int) string {
	node := fmt.Sprintf("/dev/video%d", index)
	devs, _ := camera.List("/")
	for _, d := range devs {
		if d.Index == index && d.Name != "" {
			return d.Name + " (" + node + ")"
		}
	}
	return node
}

func openURI(kind Kind, uri string) (Source, error) {
	vc, err := gocv.VideoCaptureFileWithAPI(uri, gocv.VideoCaptureFFmpeg)
	if err != nil || !vc.IsOpened() {
		closeCapture(vc)
		// gocv's error says no more than the address, password, token and
		// all: it is left out.
		return nil, fmt.Errorf("opening %s %s: %w", kind, ForLog(uri), orNotOpened(nil))
	}
	// Info.Name goes into errors, logs and the CLI's output.
	v := newVideo(vc, kind, ForLog(uri))
	if err := CheckFrameSize(v.info.Width, v.info.Height); err != nil {
		vc.Close()
		return nil, fmt.Errorf("opening %s %s: %w", kind, v.info.Name, err)
	}
	return v, nil
}

// CheckFrameSize refuses frames larger than a still image may be
// (imageio.DefaultMaxPixels, imageio.MaxSide): a video file of a few
// kilobytes may declare frames of 16000x16000, each decoded into 768 MB of
// BGR, several of which a guide keeps (4.5 MB of MJPEG took 2 GB). It is
// imageio.ErrTooLarge.
func CheckFrameSize(w, h int) error {
	if int64(w)*int64(h) > imageio.DefaultMaxPixels || max(w, h) > imageio.MaxSide {
		return fmt.Errorf("%w: frames of %dx%d, over %d pixels or %d on a side",
			imageio.ErrTooLarge, w, h, imageio.DefaultMaxPixels, imageio.MaxSide)
	}
	return nil
}

func closeCapture(vc *gocv.VideoCapture) {
	if vc != nil {
		vc.Close()
	}
}

func orNotOpened(err error) error {
	if err != nil {
		return err
	}
	return errors.New("not opened (missing, unreadable or unsupported)")
}

func newVideo(vc *gocv.VideoCapture, kind Kind, name string) *video {
	return &video{vc: vc, info: Info{
		Kind:   kind,
		Name:   name,
		Width:  int(vc.Get(gocv.VideoCaptureFrameWidth)),
		Height: int(vc.Get(gocv.VideoCaptureFrameHeight)),
		FPS:    vc.Get(gocv.VideoCaptureFPS),
	}}
}

func (v *video) Info() Info { return v.info }

func (v *video) Read(ctx context.Context, dst *gocv.Mat) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if v.vc.Read(dst) && !dst.Empty() {
		return nil
	}
	// A file that stops delivering has ended; a camera or a stream that
	// stops has failed.
	if v.info.Kind == KindFile {
		return io.EOF
	}
	return fmt.Errorf("reading %s: %w", v.info.Name, ErrReadFailed)
}

func (v *video) Close() error { return v.vc.Close() }
