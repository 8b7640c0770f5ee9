package cli

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/app/demo"
	"github.com/openkyc/kyc/engine/document"
	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/face/faceeval"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/internal/engines"
	"github.com/openkyc/kyc/internal/synth"
)

// faceDocEvalResult is what `kyc eval faces --documents` prints: the
// product's comparison, a photo printed on a card, the card photographed
// on a desk and its portrait cut out by the document pipeline, against
// another photo taken as a selfie; and, on the same pairs, the photo
// itself taken as the reference, for contrast.
type faceDocEvalResult struct {
	Data         []string        `json:"data"`
	Identities   []string        `json:"identities,omitempty"`
	Seed         uint64          `json:"seed"`
	CardVsPhoto  faceeval.Result `json:"card_vs_photo"`
	PhotoVsPhoto faceeval.Result `json:"photo_vs_photo"`
	DETPlot      string          `json:"det_plot,omitempty"`
}

// errNoPortrait is a card whose portrait the document pipeline did not
// find: a failure to enrol, which counts against the TAR.
var errNoPortrait = errors.New("the document pipeline found no portrait on the card")

// evalDocumentFaces scores every photo of images printed on a card against
// every other photo (faceeval.CrossPairs), each side taken as
// verify.Engine takes it: the card's portrait as the document pipeline
// hands it on (document.PortraitCrop, described as found), the other photo
// as a selfie (its dominant face, turned upright if need be).
func evalDocumentFaces(ctx context.Context, eng *engines.Engines, images []faceeval.Image, seed uint64) (faceDocEvalResult, error) {
	pairs := faceeval.CrossPairs(images)
	selfie := func(ctx context.Context, path string) (face.Embedding, error) {
		return embedStill(ctx, eng.Face, path, face.Dominant)
	}
	reference := func(ctx context.Context, path string) (face.Embedding, error) {
		return embedStill(ctx, eng.Face, path, face.Largest)
	}
	card := func(ctx context.Context, path string) (face.Embedding, error) {
		return embedCard(ctx, eng, path, seed)
	}
	res := faceDocEvalResult{Seed: seed}
	var err error
	if res.CardVsPhoto, err = faceeval.RunWith(ctx, eng.Face.Matcher(), pairs, card, selfie); err != nil {
		return res, err
	}
	res.PhotoVsPhoto, err = faceeval.RunWith(ctx, eng.Face.Matcher(), pairs, reference, selfie)
	return res, err
}

// embedStill embeds a photo as verify.Engine embeds a selfie (pick
// face.Dominant) or a partner's reference image (face.Largest).
func embedStill(ctx context.Context, eng *face.Engine, path string, pick face.Selection) (face.Embedding, error) {
	img, err := imageio.ReadFile(path, imageio.DefaultMaxPixels)
	defer img.Close()
	if err != nil {
		return nil, err
	}
	a, up, err := eng.AnalyzeStill(ctx, img, pick, face.Timings{}, "")
	up.Close()
	if err != nil {
		return nil, err
	}
	return a.Embedding, nil
}

// embedCard embeds the portrait the document pipeline cuts from
// cardPhoto's photo of the card, as verify.Engine does the moment the
// portrait is found.
func embedCard(ctx context.Context, eng *engines.Engines, path string, seed uint64) (face.Embedding, error) {
	raw, err := cardPhoto(ctx, eng.Guide, path, seed)
	if err != nil {
		return nil, err
	}
	m, err := imageio.Decode(raw, imageio.DefaultMaxPixels)
	defer m.Close()
	if err != nil {
		return nil, fmt.Errorf("decoding the card photo: %w", err)
	}
	// The rest of the document (text, MRZ, forensics) does not bear on
	// the match: the analysis is stopped once the portrait is embedded.
	docCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var emb face.Embedding
	embErr := errNoPortrait
	res, err := eng.Document.Analyze(docCtx, document.Image{Raw: raw, Mat: m}, nil, func(p document.PortraitCrop) {
		var a face.Analysis
		a, embErr = eng.Face.Describe(ctx, p.Image, p.Face, face.Timings{}, "")
		emb = a.Embedding
		cancel()
	})
	res.Close()
	if err != nil && docCtx.Err() == nil {
		return nil, fmt.Errorf("analysing the card: %w", err)
	}
	if embErr != nil {
		return nil, embErr
	}
	return emb, nil
}

// cardPhoto prints the photo at path on an identity card as the demo
// camera does (demo.Portrait, demo.Card), lays the card on a desk turned,
// tilted and placed by a generator seeded from seed and the photo's name
// (so a photo's card is the same in any subset), and photographs it: a
// JPEG at quality 90.
func cardPhoto(ctx context.Context, det face.Detector, path string, seed uint64) ([]byte, error) {
	photo, err := imageio.ReadFile(path, imageio.DefaultMaxPixels)
	defer photo.Close()
	if err != nil {
		return nil, err
	}
	portrait, err := demo.Portrait(ctx, det, photo)
	defer portrait.Close()
	if err != nil {
		return nil, fmt.Errorf("cutting the portrait to print: %w", err)
	}
	card := demo.Card(portrait, demo.CardLines("SEUMUR HIDUP"))
	defer card.Close()
	h := fnv.New64a()
	h.Write([]byte(filepath.Join(filepath.Base(filepath.Dir(path)), filepath.Base(path))))
	rng := rand.New(rand.NewPCG(seed, h.Sum64()))
	bg := synth.Background(1600, 1000, rng.Uint64())
	defer bg.Close()
	scene, _ := synth.Place(bg, card, synth.Placement{
		CenterX: 0.5 + 0.06*(rng.Float64()-0.5), CenterY: 0.5 + 0.06*(rng.Float64()-0.5),
		WidthFrac: 0.6 + 0.15*rng.Float64(), Rotate: 12 * (rng.Float64() - 0.5), Tilt: 10 * rng.Float64(),
	})
	defer scene.Close()
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, scene, []int{gocv.IMWriteJpegQuality, 90})
	if err != nil {
		return nil, fmt.Errorf("encoding the card photo: %w", err)
	}
	defer buf.Close()
	return append([]byte(nil), buf.GetBytes()...), nil
}

func runEvalDocumentFaces(ctx context.Context, env *Env, data, ids []string, seed uint64, out, label string) (any, error) {
	var images []faceeval.Image
	for _, d := range data {
		im, err := faceeval.LoadFolders(d, ids)
		if err != nil {
			return nil, Errorf(ExitInput, "bad_face_set", "%v", err)
		}
		images = append(images, im...)
	}
	eng, err := openEngines(ctx, "")
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	fmt.Fprintf(env.Stderr, "eval faces --documents: %d photos, %d cards, %d pairs each way\n", len(images), len(images), len(images)*(len(images)-1))
	res, err := evalDocumentFaces(ctx, eng, images, seed)
	if errors.Is(err, faceeval.ErrNoPairs) {
		return nil, Errorf(ExitInput, "no_pairs", "%v", err)
	}
	if err != nil {
		return nil, err
	}
	res.Data, res.Identities = data, ids
	if out == "" {
		return res, nil
	}
	if label == "" {
		label = strings.Join(baseNames(data), "+")
	}
	t := res.CardVsPhoto.Engine.Threshold
	png, err := faceeval.DETPNG("DET: "+label+", printed card vs photo", []faceeval.Curve{
		{Label: "card vs photo", Genuine: res.CardVsPhoto.GenuineScores, Impostor: res.CardVsPhoto.ImpostorScores, Threshold: &t},
		{Label: "photo vs photo", Genuine: res.PhotoVsPhoto.GenuineScores, Impostor: res.PhotoVsPhoto.ImpostorScores, Threshold: &t},
	})
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", out, err)
	}
	res.DETPlot = filepath.Join(out, "det.png")
	if err := faceeval.WriteFile(res.DETPlot, png); err != nil {
		return nil, err
	}
	return res, nil
}
