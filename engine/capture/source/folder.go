package source

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/imageio"
)

// folder plays the images of a folder in name order, one frame each.
type folder struct {
	paths []string
	next  int
	info  Info
}

// imageExts are the still-image files a folder source plays: those
// imageio decodes safely.
var imageExts = map[string]bool{".jpg": true, ".jpeg": true, ".png": true}

// OpenFolder opens a folder of images as a source running at fps (the
// default when fps <= 0). Its size is that of the first image; later images
// may differ.
func OpenFolder(dir string, fps float64) (Source, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("opening image folder %s: %w", dir, err)
	}
	var paths []string
	for _, e := range entries {
		if !e.IsDir() && imageExts[strings.ToLower(filepath.Ext(e.Name()))] {
			paths = append(paths, filepath.Join(dir, e.Name()))
		}
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("opening image folder %s: no images", dir)
	}
	sort.Strings(paths)
	if fps <= 0 {
		fps = DefaultFolderFPS
	}
	first, err := imageio.ReadFile(paths[0], 0)
	if err != nil {
		return nil, fmt.Errorf("opening image folder %s: %w", dir, err)
	}
	defer first.Close()
	return &folder{paths: paths, info: Info{Kind: KindFolder, Name: dir, Width: first.Cols(), Height: first.Rows(), FPS: fps}}, nil
}

func (f *folder) Info() Info { return f.info }

func (f *folder) Read(ctx context.Context, dst *gocv.Mat) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if f.next >= len(f.paths) {
		return io.EOF
	}
	p := f.paths[f.next]
	f.next++
	img, err := imageio.ReadFile(p, 0)
	if err != nil {
		return fmt.Errorf("reading frame %s: %w", p, err)
	}
	defer img.Close()
	img.CopyTo(dst)
	return nil
}

func (f *folder) Close() error { return nil }
