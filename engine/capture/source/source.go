// Package source opens the frame sources a capture session reads: V4L2
// cameras, network streams (RTSP, HTTP MJPEG), video files and folders of
// images, all behind one interface, and keeps a live source alive across
// an unplugged cable with Reconnecting.
package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"strings"

	"gocv.io/x/gocv"
)

// Kind says what a source reads from.
type Kind string

// Source kinds.
const (
	KindDevice Kind = "device" // a V4L2 camera
	KindStream Kind = "stream" // a network stream URL
	KindFile   Kind = "file"   // a video file
	KindFolder Kind = "folder" // a folder of still images
)

// Live reports whether frames of this kind arrive on the camera's clock
// (and are lost if nobody reads them) rather than on demand.
func (k Kind) Live() bool { return k == KindDevice || k == KindStream }

// Info describes an open source.
type Info struct {
	Kind   Kind    `json:"kind"`
	Name   string  `json:"name"`
	Width  int     `json:"width"`
	Height int     `json:"height"`
	FPS    float64 `json:"fps"`
}

// Source yields BGR frames.
type Source interface {
	// Info describes the source as opened.
	Info() Info
	// Read fills dst with the next frame. It returns io.EOF when a finite
	// source has no more frames and an error wrapping ErrReadFailed when a
	// live source stopped delivering (an unplugged camera, a dropped
	// stream).
	Read(ctx context.Context, dst *gocv.Mat) error
	// Close releases the source.
	Close() error
}

// ErrReadFailed is wrapped by Read errors of a source that stopped
// delivering frames; reopening it may help.
var ErrReadFailed = errors.New("frame read failed")

// ErrUnknownSource is returned by Parse for a spec that names no device,
// URL, file or folder.
var ErrUnknownSource = errors.New("unknown source")

// Options choose what a source delivers. Zero fields keep the source's own
// setting.
type Options struct {
	Width, Height int     // requested camera resolution
	FPS           float64 // requested camera frame rate; a folder's nominal rate
}

// DefaultFolderFPS is the nominal frame rate of an image folder.
const DefaultFolderFPS = 10

// Spec is a parsed source description.
type Spec struct {
	Kind   Kind
	Device int    // for KindDevice
	Target string // URL, file or folder path
}

var devicePath = regexp.MustCompile(`^/dev/video([0-9]+)$`)

// Parse reads a source description: a device index ("0") or node
// ("/dev/video2"), an rtsp://, http:// or https:// URL, a folder of images or
// a video file.
func Parse(s string) (Spec, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Spec{}, fmt.Errorf("%w: empty source", ErrUnknownSource)
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 {
			return Spec{}, fmt.Errorf("%w: negative device index %d", ErrUnknownSource, n)
		}
		return Spec{Kind: KindDevice, Device: n}, nil
	}
	if m := devicePath.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[1])
		return Spec{Kind: KindDevice, Device: n, Target: s}, nil
	}
	lower := strings.ToLower(s)
	for _, scheme := range []string{"rtsp://", "rtsps://", "http://", "https://"} {
		if strings.HasPrefix(lower, scheme) {
			return Spec{Kind: KindStream, Target: s}, nil
		}
	}
	st, err := os.Stat(s)
	if err != nil {
		// The path error repeats s: an address of a scheme not read here
		// (rtmp://user:password@...) stat'ed as a file.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return Spec{}, fmt.Errorf("%w: %s: %v", ErrUnknownSource, ForLog(s), err)
	}
	if st.IsDir() {
		return Spec{Kind: KindFolder, Target: s}, nil
	}
	if err := regularFile(s); err != nil {
		return Spec{}, err
	}
	return Spec{Kind: KindFile, Target: s}, nil
}

// Redact is source s as the settings screen shows it and takes it back:
// a stream URL's password (rtsp://user:password@camera/stream, as IP
// cameras are commonly addressed) is replaced by xxxxx, and the rest kept,
// user name and query too, so that the address sent back as shown is
// recognised and the password kept restored. Logs and errors take ForLog.
// Anything but a URL is s.
func Redact(s string) string { return redact(s, false) }

// ForLog is source s as a log line or an error may carry it: a stream URL
// as scheme://host[:port]/path, without the user info, query or fragment
// (cameras take a password or a token in either); one whose user info may
// have spilled past the host (a password with an unescaped / ? or #) is
// not shown. Anything but a URL is s.
func ForLog(s string) string { return redact(s, true) }

// redact is Redact, or ForLog when forLog is set: the address is split
// once, here, as ffmpeg splits it (the authority ends at the first / ? or
// #, the user info at its last @).
func redact(s string, forLog bool) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	scheme, rest := s[:i+3], s[i+3:]
	authority, tail := rest, ""
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		authority, tail = rest[:j], rest[j:]
	}
	at := strings.LastIndex(authority, "@")
	host := authority[at+1:]
	if forLog {
		if at < 0 && strings.Contains(tail, "@") {
			return scheme + "(address not shown)"
		}
		path := tail
		if j := strings.IndexAny(tail, "?#"); j >= 0 {
			path = tail[:j]
		}
		return scheme + host + path
	}
	if at < 0 {
		return s
	}
	user, _, hasPass := strings.Cut(authority[:at], ":")
	if !hasPass {
		return s
	}
	return scheme + user + ":xxxxx@" + host + tail
}

// regularFile refuses a video file path that is no regular file (a
// symbolic link to one is): ffmpeg opening a FIFO waits for a writer
// forever, in a call no context ends, and a device such as /dev/zero
// (camera nodes are KindDevice) holds no video.
func regularFile(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrUnknownSource, path, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a video file (%v)", ErrUnknownSource, path, st.Mode().Type())
	}
	return nil
}

// Open opens the source spec describes.
func Open(ctx context.Context, spec Spec, opt Options) (Source, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch spec.Kind {
	case KindDevice:
		return openDevice(spec.Device, opt)
	case KindFile:
		if err := regularFile(spec.Target); err != nil {
			return nil, err
		}
		return openURI(spec.Kind, spec.Target)
	case KindStream:
		return openURI(spec.Kind, spec.Target)
	case KindFolder:
		return OpenFolder(spec.Target, opt.FPS)
	}
	return nil, fmt.Errorf("%w: kind %q", ErrUnknownSource, spec.Kind)
}
