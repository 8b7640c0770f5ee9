package source

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/imageio"
)

func TestParse(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "clip.avi")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in   string
		want Spec
		err  bool
	}{
		{in: "0", want: Spec{Kind: KindDevice, Device: 0}},
		{in: " 3 ", want: Spec{Kind: KindDevice, Device: 3}},
		{in: "/dev/video2", want: Spec{Kind: KindDevice, Device: 2, Target: "/dev/video2"}},
		{in: "rtsp://cam.local/stream", want: Spec{Kind: KindStream, Target: "rtsp://cam.local/stream"}},
		{in: "HTTP://10.0.0.5:8080/video.mjpg", want: Spec{Kind: KindStream, Target: "HTTP://10.0.0.5:8080/video.mjpg"}},
		{in: dir, want: Spec{Kind: KindFolder, Target: dir}},
		{in: file, want: Spec{Kind: KindFile, Target: file}},
		{in: "", err: true},
		{in: "-1", err: true},
		{in: filepath.Join(dir, "missing.mp4"), err: true},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if tt.err {
			if !errors.Is(err, ErrUnknownSource) {
				t.Errorf("Parse(%q) error = %v, want ErrUnknownSource", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

// frame returns a w x h frame filled with grey level v.
func frame(w, h int, v uint8) gocv.Mat {
	return gocv.NewMatWithSizeFromScalar(gocv.NewScalar(float64(v), float64(v), float64(v), 0), h, w, gocv.MatTypeCV8UC3)
}

// readAll reads src to its end and returns the mean grey level of each frame.
func readAll(t *testing.T, src Source) []int {
	t.Helper()
	var levels []int
	m := gocv.NewMat()
	defer m.Close()
	for {
		err := src.Read(context.Background(), &m)
		if errors.Is(err, io.EOF) {
			return levels
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		levels = append(levels, int(m.Mean().Val1+0.5))
	}
}

func TestFolder(t *testing.T) {
	dir := t.TempDir()
	for i, v := range []uint8{30, 90, 150} {
		m := frame(64, 48, v)
		gocv.PutText(&m, "x", image.Pt(2, 40), gocv.FontHersheyPlain, 0.5, color.RGBA{v, v, v, 255}, 1)
		if !gocv.IMWrite(filepath.Join(dir, string(rune('c'-i))+".png"), m) {
			t.Fatal("writing test image")
		}
		m.Close()
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not an image"), 0o600); err != nil {
		t.Fatal(err)
	}
	spec, err := Parse(dir)
	if err != nil {
		t.Fatal(err)
	}
	src, err := Open(context.Background(), spec, Options{FPS: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if got := src.Info(); got != (Info{Kind: KindFolder, Name: dir, Width: 64, Height: 48, FPS: 5}) {
		t.Errorf("Info = %+v", got)
	}
	// Name order: a.png (150), b.png (90), c.png (30).
	if got := readAll(t, src); len(got) != 3 || got[0] != 150 || got[1] != 90 || got[2] != 30 {
		t.Errorf("levels = %v, want [150 90 30]", got)
	}
	if _, err := OpenFolder(t.TempDir(), 0); err == nil {
		t.Error("empty folder opened without error")
	}
}

func TestVideoFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clip.avi")
	vw, err := gocv.VideoWriterFile(path, "MJPG", 15, 160, 120, true)
	if err != nil {
		t.Fatal(err)
	}
	levels := []uint8{20, 60, 100, 140, 180, 220}
	for _, v := range levels {
		m := frame(160, 120, v)
		if err := vw.Write(m); err != nil {
			t.Fatal(err)
		}
		m.Close()
	}
	vw.Close()
	spec, err := Parse(path)
	if err != nil {
		t.Fatal(err)
	}
	src, err := Open(context.Background(), spec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	info := src.Info()
	if info.Kind != KindFile || info.Width != 160 || info.Height != 120 || info.FPS != 15 {
		t.Errorf("Info = %+v", info)
	}
	got := readAll(t, src)
	if len(got) != len(levels) {
		t.Fatalf("read %d frames, want %d", len(got), len(levels))
	}
	for i, v := range levels {
		if d := got[i] - int(v); d < -3 || d > 3 {
			t.Errorf("frame %d level %d, want %d", i, got[i], v)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	garbage := filepath.Join(t.TempDir(), "garbage.mp4")
	if err := os.WriteFile(garbage, []byte("definitely not a video"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, spec := range []Spec{
		{Kind: KindFile, Target: garbage},
		{Kind: KindFolder, Target: filepath.Join(t.TempDir(), "none")},
		{Kind: "tape"},
	} {
		if s, err := Open(context.Background(), spec, Options{}); err == nil {
			s.Close()
			t.Errorf("Open(%+v) succeeded", spec)
		}
	}
}

// TestOpenMissingCamera: a camera whose node is gone (unplugged, or never
// there) is ErrNoCamera, saying so, not OpenCV's "Error opening device: N
// with api backend: 200".
func TestOpenMissingCamera(t *testing.T) {
	index := 0
	for ; index < 1000; index++ {
		if _, err := os.Stat(fmt.Sprintf("/dev/video%d", index)); os.IsNotExist(err) {
			break
		}
	}
	s, err := Open(context.Background(), Spec{Kind: KindDevice, Device: index}, Options{})
	if err == nil {
		s.Close()
		t.Fatalf("Open(/dev/video%d) succeeded", index)
	}
	if !errors.Is(err, ErrNoCamera) || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("Open(/dev/video%d): %v, want ErrNoCamera saying the node is missing", index, err)
	}
}

// flaky is a live source whose reads fail from read failFrom on (never when
// failFrom is 0).
type flaky struct {
	n, failFrom int
	closed      bool
}

func (f *flaky) Info() Info {
	return Info{Kind: KindDevice, Name: "fake", Width: 8, Height: 8, FPS: 30}
}
func (f *flaky) Read(ctx context.Context, dst *gocv.Mat) error {
	f.n++
	if f.failFrom > 0 && f.n >= f.failFrom {
		return ErrReadFailed
	}
	m := frame(8, 8, uint8(f.n))
	defer m.Close()
	m.CopyTo(dst)
	return nil
}
func (f *flaky) Close() error { f.closed = true; return nil }

func TestReconnecting(t *testing.T) {
	var opens, refusals atomic.Int32
	refusals.Store(-1) // the first open must succeed
	first := &flaky{failFrom: 4}
	open := func(ctx context.Context) (Source, error) {
		opens.Add(1)
		if opens.Load() == 1 {
			return first, nil
		}
		if refusals.Add(1) < 3 {
			return nil, errors.New("no such device")
		}
		return &flaky{}, nil
	}
	b := Backoff{Min: time.Millisecond, Max: 4 * time.Millisecond}
	r, err := NewReconnecting(context.Background(), open, b)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	m := gocv.NewMat()
	defer m.Close()
	var states []State
	var disconnectedReads int
	for ok := 0; ok < 6; {
		err := r.Read(context.Background(), &m)
		states = append(states, r.State())
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrDisconnected):
			disconnectedReads++
		default:
			t.Fatalf("read: %v", err)
		}
		if len(states) > 50 {
			t.Fatal("source never came back")
		}
	}
	if !first.closed {
		t.Error("failed source was not closed")
	}
	// 3 good reads, the failing read, 3 refused reopens, then good again.
	if disconnectedReads != 4 || r.Disconnects() != 1 {
		t.Errorf("disconnected reads = %d, disconnects = %d; want 4 and 1", disconnectedReads, r.Disconnects())
	}
	if states[3] != StateDisconnected || states[len(states)-1] != StateConnected {
		t.Errorf("states = %v", states)
	}
	if _, err := NewReconnecting(context.Background(), open, Backoff{}); err == nil {
		t.Error("zero backoff accepted")
	}
}

func TestReconnectingHonoursContext(t *testing.T) {
	open := func(ctx context.Context) (Source, error) { return &flaky{failFrom: 1}, nil }
	r, err := NewReconnecting(context.Background(), open, Backoff{Min: time.Hour, Max: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	m := gocv.NewMat()
	defer m.Close()
	if err := r.Read(context.Background(), &m); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("first read: %v, want disconnected", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := r.Read(ctx, &m); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("read during an hour's backoff: %v, want the context's deadline", err)
	}
}

// TestNotARegularFile: a path that is no video file, folder or camera
// node is refused before ffmpeg opens it. Opening a FIFO would wait for a
// writer forever in a call no context ends (the app's preview, its
// capture and its shutdown waiting on them), and a device such as
// /dev/zero is no video.
func TestNotARegularFile(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "clip.mp4")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{fifo, os.DevNull, "/dev/zero"} {
		if spec, err := Parse(path); !errors.Is(err, ErrUnknownSource) {
			t.Errorf("Parse(%q) = %+v, %v; want ErrUnknownSource", path, spec, err)
		}
		done := make(chan error, 1)
		go func() {
			s, err := Open(context.Background(), Spec{Kind: KindFile, Target: path}, Options{})
			if err == nil {
				s.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, ErrUnknownSource) {
				t.Errorf("Open(%q): %v, want ErrUnknownSource", path, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("Open(%q) did not return", path)
		}
	}
}

// TestRedact: the settings screen's form of an IP camera's address hides
// its password and keeps the rest (the screen takes it back as shown);
// the log form keeps no user, query or fragment. Neither shows any part
// of a password that holds / ? # @ or :, escaped or not: one with an @
// past the end of the authority (a password with an unescaped / ? or #)
// is read with its user info reaching that @, and not logged at all.
func TestRedact(t *testing.T) {
	for _, c := range []struct {
		in, screen, log string
		secrets         []string // shown by neither
	}{
		{"rtsp://admin:hunter2@10.0.0.7:554/stream1", "rtsp://admin:xxxxx@10.0.0.7:554/stream1", "rtsp://10.0.0.7:554/stream1", []string{"hunter2"}},
		{"http://u:p@ss:w@cam.local/video.mjpg?x=1", "http://u:xxxxx@cam.local/video.mjpg?x=1", "http://cam.local/video.mjpg", []string{"p@ss", "ss:w"}},
		{"rtsp://user:pass@cam/stream?token=SECRET#frag", "rtsp://user:xxxxx@cam/stream?token=SECRET#frag", "rtsp://cam/stream", []string{"pass"}},
		{"rtsp://cam/stream?token=SECRET", "rtsp://cam/stream?token=SECRET", "rtsp://cam/stream", nil},
		{"rtsp://[::1]:554/s#k", "rtsp://[::1]:554/s#k", "rtsp://[::1]:554/s", nil},
		{"https://cam.local/video.mjpg", "https://cam.local/video.mjpg", "https://cam.local/video.mjpg", nil},
		{"rtsp://viewer@cam.local/stream", "rtsp://viewer@cam.local/stream", "rtsp://cam.local/stream", nil},
		{"rtsp://admin:pa:ss:w@cam/stream", "rtsp://admin:xxxxx@cam/stream", "rtsp://cam/stream", []string{"pa:ss", "ss:w"}},
		{"rtsp://:hunter2@cam/stream", "rtsp://:xxxxx@cam/stream", "rtsp://cam/stream", []string{"hunter2"}},
		{"rtsp://admin:hunter2@[fe80::1%25eth0]:554/s", "rtsp://admin:xxxxx@[fe80::1%25eth0]:554/s", "rtsp://[fe80::1%25eth0]:554/s", []string{"hunter2"}},
		{"rtsp://admin:pa%2Fss%40w%3F@cam/stream", "rtsp://admin:xxxxx@cam/stream", "rtsp://cam/stream", []string{"pa%2F", "ss%40", "w%3F"}},
		// A password with an unescaped / ? or # ends ffmpeg's authority
		// early; the user info is read up to the @ that follows.
		{"rtsp://admin:pa/ss@cam/stream", "rtsp://admin:xxxxx@cam/stream", "rtsp://(address not shown)", []string{"pa/ss", "pa", "ss@"}},
		{"rtsp://admin:pa?ss@cam:554/stream", "rtsp://admin:xxxxx@cam:554/stream", "rtsp://(address not shown)", []string{"pa?ss", "pa", "ss@"}},
		{"rtsp://admin:pa#ss@cam/stream", "rtsp://admin:xxxxx@cam/stream", "rtsp://(address not shown)", []string{"pa#ss", "pa", "ss@"}},
		{"RTSP://admin:pa/ss@cam/stream", "RTSP://admin:xxxxx@cam/stream", "RTSP://(address not shown)", []string{"pa/ss", "pa"}},
		{"rtsp://admin:h@nt/er2@cam/stream?x=@", "rtsp://admin:xxxxx@cam/stream?x=@", "rtsp://(address not shown)", []string{"nt/er2", "er2", "h@nt"}},
		{"rtsp://admin:pa/ss@[2001:db8::7]:554/s?t=1", "rtsp://admin:xxxxx@[2001:db8::7]:554/s?t=1", "rtsp://(address not shown)", []string{"pa/ss", "pa"}},
		{"rtsp://admin:pa/ss@", "rtsp://admin:xxxxx@", "rtsp://(address not shown)", []string{"pa/ss", "pa"}},
		{"http://u:p@ss:w@cam.local/video.mjpg?x=@", "http://u:xxxxx@", "http://(address not shown)", []string{"p@ss", "ss:w"}},
		// An @ in the path or query is as ambiguous: hidden from logs.
		{"rtsp://cam.local/stream?user=a@b.example", "rtsp://cam.local/stream?user=a@b.example", "rtsp://(address not shown)", nil},
		{"rtsp://cam.local:554/s?token=S3CRET@x", "rtsp://cam.local:xxxxx@x", "rtsp://(address not shown)", []string{"S3CRET"}},
		{"/dev/video0", "/dev/video0", "/dev/video0", nil},
		{"/home/op/captures", "/home/op/captures", "/home/op/captures", nil},
	} {
		screen, log := Redact(c.in), ForLog(c.in)
		if screen != c.screen {
			t.Errorf("Redact(%q) = %q, want %q", c.in, screen, c.screen)
		}
		if log != c.log {
			t.Errorf("ForLog(%q) = %q, want %q", c.in, log, c.log)
		}
		for _, s := range c.secrets {
			if strings.Contains(screen, s) || strings.Contains(log, s) {
				t.Errorf("%q shown as %q and logged as %q: %q in it", c.in, screen, log, s)
			}
		}
	}
}

// TestCheckAddress: an address with an @ past the end of its authority is
// refused, with what to percent-encode and none of the address's secrets;
// the same address percent-encoded, and every ordinary one, passes.
func TestCheckAddress(t *testing.T) {
	for _, c := range []struct {
		in      string
		refused bool
	}{
		{"rtsp://admin:hunter2@10.0.0.7:554/stream1", false},
		{"rtsp://admin:pa%2Fss@10.0.0.7:554/stream1", false},
		{"rtsp://admin:p@ss:w@cam/stream?token=SECRET", false},
		{"rtsp://admin:hunter2@[2001:db8::7]:554/s", false},
		{"rtsp://viewer@cam/stream", false},
		{"rtsp://cam/stream?user=a%40b.example", false},
		{"0", false},
		{"/dev/video2", false},
		{"/home/op/captures", false},
		{"/home/op/a@b.mp4", false},
		{"rtsp://admin:pa/ss@10.0.0.7:554/stream1", true},
		{"rtsp://admin:pa?ss@10.0.0.7/stream1", true},
		{"https://admin:pa#ss@cam/video.mjpg", true},
		{"rtsp://admin:pa/ss@[2001:db8::7]:554/s", true},
		{"rtsp://cam/stream?user=a@b.example", true},
	} {
		err := CheckAddress(c.in)
		if !c.refused {
			if err != nil {
				t.Errorf("CheckAddress(%q) = %v, want nil", c.in, err)
			}
			continue
		}
		if !errors.Is(err, ErrAmbiguousAddress) || !strings.Contains(err.Error(), "percent-encode") {
			t.Errorf("CheckAddress(%q) = %v, want ErrAmbiguousAddress saying what to percent-encode", c.in, err)
			continue
		}
		for _, s := range []string{"pa/ss", "pa?ss", "pa#ss", "admin", "a@b"} {
			if strings.Contains(err.Error(), s) {
				t.Errorf("CheckAddress(%q): %q in %q", c.in, s, err)
			}
		}
	}
}

// TestOpenErrorsCarryNoSecret: a stream with a user, a password and a
// token that does not open (a closed port) is refused with an error that
// holds none of them, and ffmpeg's own stderr (fd 2, where OpenCV lets it
// write its errors) holds none either; nor does Parse's refusal of an
// address of a scheme it does not read.
func TestOpenErrorsCarryNoSecret(t *testing.T) {
	secrets := []string{"admin", "hunter2", "SECRET", "frag"}
	for _, uri := range []string{
		"rtsp://admin:hunter2@127.0.0.1:1/none?token=SECRET#frag",
		"http://admin:hunter2@127.0.0.1:1/none?token=SECRET#frag",
	} {
		var err error
		stderr := captureStderr(t, func() {
			_, err = Open(context.Background(), Spec{Kind: KindStream, Target: uri}, Options{})
		})
		if err == nil {
			t.Fatalf("opening %s: no error", uri)
		}
		if !strings.Contains(err.Error(), "127.0.0.1:1/none") {
			t.Errorf("the error does not say which stream: %v", err)
		}
		// ffmpeg says why, naming the host it could not reach.
		if !strings.Contains(stderr, "127.0.0.1") {
			t.Errorf("ffmpeg's stderr not captured: %q", stderr)
		}
		for _, s := range secrets {
			if strings.Contains(err.Error(), s) || strings.Contains(stderr, s) {
				t.Errorf("opening %s: %q in the error %q or ffmpeg's stderr %q", uri, s, err, stderr)
			}
		}
	}
	_, err := Parse("rtmp://admin:hunter2@127.0.0.1:1/none?token=SECRET#frag")
	if err == nil {
		t.Fatal("Parse of an rtmp address: no error")
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("Parse: %q in %q", s, err)
		}
	}
}

// captureStderr runs f with file descriptor 2 (where native code writes)
// sent to a file, and returns what was written there.
func captureStderr(t *testing.T, f func()) string {
	t.Helper()
	tmp, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer tmp.Close()
	saved, err := syscall.Dup(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Dup3(int(tmp.Fd()), 2, 0); err != nil {
		t.Fatal(err)
	}
	f()
	if err := syscall.Dup3(saved, 2, 0); err != nil {
		t.Fatal(err)
	}
	syscall.Close(saved)
	b, err := os.ReadFile(tmp.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestOpenRefusesHugeFrames: a video file whose headers and frames declare
// frames larger than a still image may be (8000x6000, 48 MP, in 6 KB of
// MJPEG) is refused at Open, before any frame is decoded into memory; one
// of the size of a camera's opens.
func TestOpenRefusesHugeFrames(t *testing.T) {
	for _, c := range []struct {
		w, h     uint16
		tooLarge bool
	}{{160, 120, false}, {8000, 6000, true}, {8000, 5000, false}} {
		path := filepath.Join(t.TempDir(), "clip.avi")
		vw, err := gocv.VideoWriterFile(path, "MJPG", 15, 160, 120, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []uint8{20, 120, 220} {
			m := frame(160, 120, v)
			if err := vw.Write(m); err != nil {
				t.Fatal(err)
			}
			m.Close()
		}
		vw.Close()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// Each frame's JPEG frame header, the stream's BITMAPINFOHEADER
		// and the file's main header say the size.
		for i := 0; i+9 < len(b); i++ {
			if b[i] == 0xFF && b[i+1] == 0xC0 {
				binary.BigEndian.PutUint16(b[i+5:], c.h)
				binary.BigEndian.PutUint16(b[i+7:], c.w)
			}
		}
		for tag, off := range map[string]int{"strf": 12, "avih": 40} {
			k := bytes.Index(b, []byte(tag))
			if k < 0 {
				t.Fatalf("no %s in the AVI", tag)
			}
			binary.LittleEndian.PutUint32(b[k+off:], uint32(c.w))
			binary.LittleEndian.PutUint32(b[k+off+4:], uint32(c.h))
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		src, err := Open(context.Background(), Spec{Kind: KindFile, Target: path}, Options{})
		if errors.Is(err, imageio.ErrTooLarge) != c.tooLarge || !c.tooLarge && err != nil {
			t.Errorf("%dx%d: Open = %v, want ErrTooLarge %v", c.w, c.h, err, c.tooLarge)
		}
		if err == nil {
			if info := src.Info(); info.Width != int(c.w) || info.Height != int(c.h) {
				t.Errorf("%dx%d: the file opened as %dx%d", c.w, c.h, info.Width, info.Height)
			}
			src.Close()
		}
	}
}
