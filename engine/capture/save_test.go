package capture

import (
	"os"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/imageio"
)

// TestSaveJPEG: an 8-bit grey or BGR capture is written whole and reads
// back at its size; an empty image, or one of another depth, is an error
// and leaves no file (OpenCV's encoder aborted the process on an empty
// one).
func TestSaveJPEG(t *testing.T) {
	for _, c := range []struct {
		name string
		img  func() gocv.Mat
		ok   bool
	}{
		{"BGR", func() gocv.Mat { return gocv.NewMatWithSize(48, 64, gocv.MatTypeCV8UC3) }, true},
		{"grey", func() gocv.Mat { return gocv.NewMatWithSize(48, 64, gocv.MatTypeCV8UC1) }, true},
		{"empty", gocv.NewMat, false},
		{"16-bit", func() gocv.Mat { return gocv.NewMatWithSize(48, 64, gocv.MatTypeCV16UC3) }, false},
		{"float", func() gocv.Mat { return gocv.NewMatWithSize(48, 64, gocv.MatTypeCV32FC3) }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := c.img()
			defer img.Close()
			path := filepath.Join(t.TempDir(), "capture.jpg")
			err := SaveJPEG(path, img)
			if (err == nil) != c.ok {
				t.Fatalf("SaveJPEG = %v, want success %v", err, c.ok)
			}
			if !c.ok {
				if _, err := os.Stat(path); !os.IsNotExist(err) {
					t.Errorf("a refused capture left %s: %v", path, err)
				}
				return
			}
			m, err := imageio.ReadFile(path, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if m.Cols() != 64 || m.Rows() != 48 {
				t.Errorf("read back %dx%d, want 64x48", m.Cols(), m.Rows())
			}
		})
	}
}
