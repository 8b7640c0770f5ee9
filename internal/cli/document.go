package cli

import (
	"context"
	"fmt"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/document"
	"github.com/openkyc/kyc/engine/document/forensics"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/internal/engines"
	"github.com/openkyc/kyc/models"
)

// openEngines loads the runtime and every installed model, and the
// watchlists in watchlistDir ("" for none).
func openEngines(ctx context.Context, watchlistDir string) (*engines.Engines, error) {
	store, err := models.DefaultStore()
	if err != nil {
		return nil, err
	}
	return engines.Open(ctx, store, watchlistDir)
}

// readDocumentImage reads a document photo: its bytes for forensics and
// its decoded pixels, with the same error codes as every image input.
func readDocumentImage(role, path string) (document.Image, error) {
	raw, m, err := readImage(role, path)
	if err != nil {
		return document.Image{}, err
	}
	// Said before the models load, as the engine would say it after.
	if forensics.Narrow(m.Cols(), m.Rows()) {
		w, h := m.Cols(), m.Rows()
		m.Close()
		return document.Image{}, Errorf(ExitInput, "image_too_small", "%s: image %s is %dx%d, need %d pixels on each side and at most %d times as long as wide",
			role, path, w, h, forensics.MinSide, forensics.MaxAspect)
	}
	return document.Image{Raw: raw, Mat: m}, nil
}

// readImage reads and decodes the picture at path (role names it in
// errors): its bytes and the decoded image. A picture of a person (a
// selfie, a challenge's frame) is read so; a document's also has to meet
// its least size (readDocumentImage).
func readImage(role, path string) ([]byte, gocv.Mat, error) {
	raw, err := imageio.ReadBytes(path)
	if err != nil {
		return nil, gocv.Mat{}, imageInputError(role, err)
	}
	m, err := imageio.Decode(raw, imageio.DefaultMaxPixels)
	if err != nil {
		m.Close()
		return nil, gocv.Mat{}, imageInputError(role, fmt.Errorf("image %s: %w", path, err))
	}
	return raw, m, nil
}

func runDocument(ctx context.Context, env *Env, args []string) (any, error) {
	fs := newFlags(env, "document")
	front := fs.String("image", "", "the document photo (front, or the data page)")
	back := fs.String("back", "", "the back of the card, when it has one")
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
	eng, err := openEngines(ctx, "")
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	loaded := time.Now()
	res, err := eng.Document.Analyze(ctx, img, backImg, nil)
	if err != nil {
		return nil, fmt.Errorf("analysing the document: %w", err)
	}
	defer res.Close()
	res.TimingsMS["load_models"] = ms(loaded.Sub(start))
	return res, nil
}
