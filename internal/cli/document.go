package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/openkyc/kyc/engine/document"
	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/engine/ocr"
	"github.com/openkyc/kyc/engine/ort"
	"github.com/openkyc/kyc/internal/runtimeinfo"
	"github.com/openkyc/kyc/models"
)

// documentEngine is the document analyzer with the components it owns.
type documentEngine struct {
	*document.Analyzer
	ocr   *ocr.Engine
	yunet *face.YuNet
}

func (d *documentEngine) Close() error {
	d.yunet.Close()
	return d.ocr.Close()
}

// openDocumentEngine loads the runtime, the OCR models and the face
// detector (for the printed portrait) from the installed store.
func openDocumentEngine(threads int) (*documentEngine, error) {
	store, err := models.DefaultStore()
	if err != nil {
		return nil, err
	}
	if err := runtimeinfo.LoadRuntime(store); err != nil {
		return nil, err
	}
	// Two recognition runs at once, one thread each: on a small CPU that
	// beats one run with two threads (see STACK.md on ORT spinning).
	cfg := ocr.Config{Threads: threads, Workers: 2}
	for name, dst := range map[string]*string{"ppocr-det": &cfg.DetModel, "ppocr-rec": &cfg.RecModel, "ppocr-keys": &cfg.Keys, "ppocr-cls": &cfg.ClsModel} {
		if *dst, err = store.Path(name); err != nil {
			return nil, err
		}
	}
	o, err := ocr.New(cfg)
	if err != nil {
		return nil, err
	}
	yp, err := store.Path("yunet")
	if err != nil {
		o.Close()
		return nil, err
	}
	y, err := face.NewYuNet(yp, face.YuNetConfig{}, ort.Options{IntraOpThreads: 1})
	if err != nil {
		o.Close()
		return nil, err
	}
	a, err := document.New(document.Config{OCR: o, Faces: y})
	if err != nil {
		o.Close()
		y.Close()
		return nil, err
	}
	return &documentEngine{Analyzer: a, ocr: o, yunet: y}, nil
}

// readDocumentImage reads a document photo: its bytes for forensics and
// its decoded pixels, with the same error codes as every image input.
func readDocumentImage(role, path string) (document.Image, error) {
	raw, err := readLimited(path, imageio.MaxFileBytes)
	if err != nil {
		return document.Image{}, imageInputError(role, err)
	}
	m, err := imageio.Decode(raw, imageio.DefaultMaxPixels)
	if err != nil {
		m.Close()
		return document.Image{}, imageInputError(role, fmt.Errorf("image %s: %w", path, err))
	}
	return document.Image{Raw: raw, Mat: m}, nil
}

func runDocument(ctx context.Context, env *Env, args []string) (any, error) {
	fs := newFlags(env, "document")
	front := fs.String("image", "", "the document photo (front, or the data page)")
	back := fs.String("back", "", "the back of the card, when it has one")
	threads := fs.Int("threads", 1, "ONNX Runtime threads per model (the pipelines already run in parallel)")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if *front == "" || fs.NArg() > 0 {
		return nil, Errorf(ExitUsage, "usage", "kyc document --image F [--back F]")
	}
	start := time.Now()
	img, err := readDocumentImage("image", *front)
	if err != nil {
		return nil, err
	}
	defer img.Mat.Close()
	var backImg *document.Image
	if *back != "" {
		b, err := readDocumentImage("back", *back)
		if err != nil {
			return nil, err
		}
		defer b.Mat.Close()
		backImg = &b
	}
	eng, err := openDocumentEngine(max(*threads, 1))
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	loaded := time.Now()
	res, err := eng.Analyze(ctx, img, backImg)
	if err != nil {
		return nil, fmt.Errorf("analysing the document: %w", err)
	}
	defer res.Close()
	res.TimingsMS["load_models"] = ms(loaded.Sub(start))
	return res, nil
}

// readLimited reads a file of at most limit bytes (one more is read to
// tell a file at the limit from a larger one, which imageio refuses).
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit+1))
}
