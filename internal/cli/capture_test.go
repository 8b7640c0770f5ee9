package cli

import (
	"encoding/json"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/internal/synth"
)

// documentVideo writes a video: four empty frames, then a card held
// steady for seven frames, all softened but frame sharp.
func documentVideo(t *testing.T, sharp int) string {
	t.Helper()
	bg := synth.Background(1280, 720, 9)
	defer bg.Close()
	card := synth.Card(synth.CardOptions{Lines: []string{"NIK 3171012345678901", "NAMA SITI AMINAH"}, Seed: 12})
	defer card.Close()
	path := filepath.Join(t.TempDir(), "doc.avi")
	err := synth.WriteVideo(path, 15, 11, func(i int) gocv.Mat {
		if i < 4 {
			return bg.Clone()
		}
		m, _ := synth.Place(bg, card, synth.Placement{CenterX: 0.5, CenterY: 0.52, WidthFrac: 0.62, Rotate: 2})
		if i != sharp {
			gocv.GaussianBlur(m, &m, image.Pt(0, 0), 0.8, 0, gocv.BorderDefault)
		}
		return m
	})
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCaptureDocument(t *testing.T) {
	video := documentVideo(t, 7)
	out := filepath.Join(t.TempDir(), "out")
	r := kyc(t, nil, "capture", "--source", video, "--mode", "document", "--out", out, "--lang", "id")
	if r.exit != 0 {
		t.Fatalf("exit %d: %s %s", r.exit, r.stdout, r.stderr)
	}
	var res captureResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("decoding %q: %v", r.stdout, err)
	}
	if !res.Complete || len(res.Captured) != 1 {
		t.Fatalf("complete=%v captured=%+v", res.Complete, res.Captured)
	}
	// The first steady frame has no previous outline to judge motion by;
	// the next five fill the window, whose sharpest frame is 7.
	c := res.Captured[0]
	if c.Name != "front" || c.Frame != 7 || c.File != filepath.Join(out, "front.jpg") {
		t.Errorf("captured %+v, want front frame 7", c)
	}
	img := gocv.IMRead(c.File, gocv.IMReadColor)
	if img.Cols() != 1280 || img.Rows() != 720 {
		t.Errorf("saved capture is %dx%d", img.Cols(), img.Rows())
	}
	img.Close()
	want := []messageCount{
		{Key: "move_into_frame", Text: "Arahkan dokumen ke dalam bingkai", Count: 4},
		{Key: "hold_steady", Text: "Tahan agar tidak bergerak", Count: 1},
		{Key: "capturing", Text: "Mengambil gambar…", Count: 5},
	}
	if len(res.Messages) != len(want) {
		t.Fatalf("messages %+v, want %+v", res.Messages, want)
	}
	for i := range want {
		if res.Messages[i] != want[i] {
			t.Errorf("message %d = %+v, want %+v", i, res.Messages[i], want[i])
		}
	}
	if res.Seen < 10 || res.Analysed != 10 || res.FPS <= 0 || res.Source.Kind != "file" || res.Source.Width != 1280 {
		t.Errorf("summary %+v", res)
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != 1 {
		t.Errorf("out holds %d files, want only front.jpg (no temporary files)", len(entries))
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("out folder: %v, %v; want 0700 (it holds a document)", fi.Mode().Perm(), err)
	}
}

func TestCaptureUsageErrors(t *testing.T) {
	video := filepath.Join(t.TempDir(), "missing.avi")
	out := t.TempDir()
	for _, args := range [][]string{
		{"capture", "--source", out, "--mode", "passport", "--out", out},
		{"capture", "--source", out, "--out", out, "--lang", "fr"},
		{"capture", "--source", out},
		{"capture", "--source", video, "--out", out},
		{"capture", "--source", out, "--out", out, "--sides", "3"},
		{"capture", "--source", out, "--mode", "selfie", "--challenges", "wink", "--out", out},
	} {
		r := kyc(t, nil, args...)
		if r.exit != ExitUsage || decodeError(t, r).Code != "usage" {
			t.Errorf("%v: exit %d %s", args, r.exit, r.stdout)
		}
	}
}

// TestSourceSecretsNotPrinted: an IP camera's user, password and the
// token in its query are in neither the output nor stderr (ffmpeg's own
// lines included) when the stream does not open (a closed port), nor when
// its scheme is not one read.
func TestSourceSecretsNotPrinted(t *testing.T) {
	out := t.TempDir()
	const stream = "rtsp://admin:hunter2@127.0.0.1:1/cam?token=SECRET#frag"
	for _, c := range []struct {
		args []string
		code string
	}{
		{[]string{"capture", "--source", stream, "--out", out}, "source_unavailable"},
		{[]string{"capture", "--source", "rtmp://admin:hunter2@127.0.0.1:1/cam?token=SECRET", "--out", out}, "usage"},
		{[]string{"device-check", "--frames-from", stream}, "camera_unreadable"},
	} {
		r := kyc(t, nil, c.args...)
		if e := decodeError(t, r); e.Code != c.code {
			t.Errorf("%v: %+v, want %s", c.args, e, c.code)
		}
		if c.code == "source_unavailable" && r.exit != ExitUnavailable {
			t.Errorf("%v: exit %d, want %d (a source that could not be reached, as the README's table says)", c.args, r.exit, ExitUnavailable)
		}
		if !strings.Contains(r.stdout, "127.0.0.1:1/cam") {
			t.Errorf("%v: the error does not say which source: %s", c.args, r.stdout)
		}
		for _, s := range []string{"admin", "hunter2", "SECRET", "frag"} {
			if strings.Contains(r.stdout, s) || strings.Contains(r.stderr, s) {
				t.Errorf("%v: %q printed: %s %s", c.args, s, r.stdout, r.stderr)
			}
		}
	}
}

// TestNoCamera: a camera whose /dev/videoN is not there (unplugged, or a
// wrong index) is no_camera (exit 6) naming the node, for capture's
// --source and device-check's --frames-from alike, not source_unavailable
// or camera_unreadable, which a stream that does not answer stays.
func TestNoCamera(t *testing.T) {
	const node = "/dev/video97"
	if _, err := os.Stat(node); err == nil {
		t.Skipf("%s exists here", node)
	}
	out := t.TempDir()
	for _, args := range [][]string{
		{"capture", "--source", node, "--out", out},
		{"device-check", "--frames-from", node},
	} {
		r := kyc(t, nil, args...)
		e := decodeError(t, r)
		if r.exit != ExitUnavailable || e.Code != "no_camera" {
			t.Errorf("%v: exit %d %+v, want %d no_camera", args, r.exit, e, ExitUnavailable)
		}
		if !strings.Contains(e.Message, node) || !strings.Contains(e.Message, "plugged in") {
			t.Errorf("%v: %q does not say which camera and what to check", args, e.Message)
		}
	}
}
