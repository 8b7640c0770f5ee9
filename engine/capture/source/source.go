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

// ErrNoCamera is wrapped by Open's error for a camera whose device node
// is missing (unplugged, or never there) or is no device: OpenCV's own
// error says only "Error opening device: N".
var ErrNoCamera = errors.New("no camera")

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
//
// An address with an @ past the end of its authority (a password holding
// an unescaped / ? or #: rtsp://user:pa/ss@camera/stream) is read with
// its user info reaching that @ (splitStream), so that no part of such a
// password is shown either; CheckAddress refuses such an address.
func Redact(s string) string {
	p, ok := splitStream(s)
	if !ok || !p.hasUser {
		return s
	}
	user, _, hasPass := strings.Cut(p.userinfo, ":")
	if !hasPass {
		return s
	}
	return p.scheme + user + ":xxxxx@" + p.after
}

// ForLog is source s as a log line or an error may carry it: a stream URL
// as scheme://host[:port]/path, without the user info, query or fragment
// (cameras take a password or a token in either); one whose user info may
// have spilled past the host (an @ past the end of its authority: a
// password with an unescaped / ? or #) is not shown. Anything but a URL
// is s.
func ForLog(s string) string {
	p, ok := splitStream(s)
	if !ok {
		return s
	}
	if p.spilled {
		return p.scheme + "(address not shown)"
	}
	shown := p.after
	if j := strings.IndexAny(shown, "?#"); j >= 0 {
		shown = shown[:j]
	}
	return p.scheme + shown
}

// ErrAmbiguousAddress is returned by CheckAddress for a stream URL with an
// @ past the end of its authority.
var ErrAmbiguousAddress = errors.New("camera address with an @ after its host")

// CheckAddress refuses a stream URL that ffmpeg and the screens would read
// differently: one with an @ past the end of its authority (the first / ?
// or # after the scheme). ffmpeg ends the authority there, so a password
// holding / ? or # unescaped never reaches the camera, and no reading
// shows such an address without risking part of a password; an @ in the
// path or query is as ambiguous. Percent-encoded (%2F %3F %23 %40) they
// are what the camera meant. Settings refuse such an address when it is
// entered; one kept from before is still opened, and shown as Redact and
// ForLog read it.
func CheckAddress(s string) error {
	if p, ok := splitStream(s); ok && p.spilled {
		return fmt.Errorf("%w: %s: percent-encode / ? # and @ in the user name or password (%%2F %%3F %%23 %%40), and an @ in the path or query (%%40)", ErrAmbiguousAddress, ForLog(s))
	}
	return nil
}

// streamParts is a URL split for showing: scheme ("rtsp://"), user info
// (before its @), and what follows it (host, port, path, query, fragment).
type streamParts struct {
	scheme, userinfo, after string
	hasUser                 bool
	// spilled: an @ follows the end of the authority, and the user info
	// is read up to it rather than as ffmpeg reads it.
	spilled bool
}

// splitStream splits a URL once, for Redact, ForLog and CheckAddress
// alike. The authority ends at the first / ? or # and the user info at its
// last @, as ffmpeg splits it, unless an @ comes later: then the user info
// is read as everything before the last such @ followed by what may be a
// host (else before the last @), so that a password holding / ? # or @
// stays in it. ok is false for anything but a URL.
func splitStream(s string) (p streamParts, ok bool) {
	i := strings.Index(s, "://")
	if i < 0 {
		return p, false
	}
	p.scheme = s[:i+3]
	rest := s[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if j := strings.LastIndex(rest[end:], "@"); j >= 0 {
		p.spilled, at = true, end+j
		for k := at; k >= end; k-- {
			if rest[k] == '@' && k+1 < len(rest) && !strings.ContainsRune("/?#@", rune(rest[k+1])) {
				at = k
				break
			}
		}
	}
	if at >= 0 {
		p.userinfo, p.hasUser, rest = rest[:at], true, rest[at+1:]
	}
	p.after = rest
	return p, true
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
