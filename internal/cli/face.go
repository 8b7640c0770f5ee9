package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/face/faceeval"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/internal/atomicfile"
	"github.com/openkyc/kyc/internal/engines"
	"github.com/openkyc/kyc/models"
)

// faceEngineFlags are the engine settings face-match and eval faces share.
type faceEngineFlags struct {
	far, liveThreshold float64
	threads            int
}

func (f *faceEngineFlags) register(set interface {
	Float64Var(*float64, string, float64, string)
	IntVar(*int, string, int, string)
}) {
	set.Float64Var(&f.far, "far", face.DefaultFAR, "false-accept target of the match decision (1e-4 .. 1e-2)")
	set.Float64Var(&f.liveThreshold, "live-threshold", face.DefaultLiveThreshold, "live probability at or above which a selfie is live")
	set.IntVar(&f.threads, "threads", 1, "ONNX Runtime threads per model (the two images already run in parallel)")
}

// openFaceEngine loads the runtime and the installed face models.
func openFaceEngine(f faceEngineFlags, liveness bool) (*face.Engine, error) {
	m, err := face.NewMatcher(f.far)
	if err != nil {
		return nil, Errorf(ExitUsage, "usage", "--far: %v", err)
	}
	if f.liveThreshold <= 0 || f.liveThreshold > 1 {
		return nil, Errorf(ExitUsage, "usage", "--live-threshold must be in (0, 1]")
	}
	store, err := models.DefaultStore()
	if err != nil {
		return nil, err
	}
	return engines.OpenFace(store, engines.FaceOptions{Matcher: m, LiveThreshold: f.liveThreshold, Threads: f.threads, Liveness: liveness})
}

// faceMatchResult is what `kyc face-match` prints.
type faceMatchResult struct {
	face.Decision
	Liveness *face.LivenessResult     `json:"liveness"`
	Faces    map[string]face.Analysis `json:"faces"`
	Timings  face.Timings             `json:"timings_ms"`
}

func runFaceMatch(ctx context.Context, env *Env, args []string) (any, error) {
	fs := newFlags(env, "face-match")
	selfiePath := fs.String("selfie", "", "the selfie: must show exactly one dominant face")
	refPath := fs.String("reference", "", "the reference portrait (ID document, passport, badge): its largest face is used")
	noLive := fs.Bool("no-liveness", false, "skip passive liveness (reference-to-reference comparison)")
	var ef faceEngineFlags
	ef.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if *selfiePath == "" || *refPath == "" || fs.NArg() > 0 {
		return nil, Errorf(ExitUsage, "usage", "kyc face-match --selfie A --reference B [--no-liveness] [--far F]")
	}
	start := time.Now()
	eng, err := openFaceEngine(ef, !*noLive)
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	loaded := time.Now()
	selfie, err := readFaceImage("selfie", *selfiePath)
	if err != nil {
		return nil, err
	}
	defer selfie.Close()
	ref, err := readFaceImage("reference", *refPath)
	if err != nil {
		return nil, err
	}
	defer ref.Close()
	decoded := time.Now()
	res, err := eng.Match(ctx, selfie, ref, !*noLive)
	if err != nil {
		return nil, faceError(err)
	}
	res.Timings["load_models"] = ms(loaded.Sub(start))
	res.Timings["decode_images"] = ms(decoded.Sub(loaded))
	return faceMatchResult{
		Decision: res.Decision,
		Liveness: res.Liveness,
		Faces:    map[string]face.Analysis{"selfie": res.Selfie, "reference": res.Reference},
		Timings:  res.Timings,
	}, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// readFaceImage decodes an input image, turning each way it can be unusable
// into its own error code.
func readFaceImage(role, path string) (gocv.Mat, error) {
	m, err := imageio.ReadFile(path, imageio.DefaultMaxPixels)
	if err == nil {
		return m, nil
	}
	m.Close() // the empty Mat imageio returns with an error
	return m, imageInputError(role, err)
}

// imageInputError gives each way an input image can be unusable its own
// code: every command that reads images reports them alike.
func imageInputError(role string, err error) error {
	for _, c := range []struct {
		target error
		code   string
	}{
		{fs.ErrNotExist, "file_not_found"},
		{imageio.ErrNotImage, "not_an_image"},
		{imageio.ErrTruncated, "truncated_image"},
		{imageio.ErrTooLarge, "image_too_large"},
	} {
		if errors.Is(err, c.target) {
			return Errorf(ExitInput, c.code, "%s: %v", role, err)
		}
	}
	return Errorf(ExitInput, "unreadable_image", "%s: %v", role, err)
}

// faceError gives the engine's input errors their codes.
func faceError(err error) error {
	switch {
	case errors.Is(err, face.ErrNoFace):
		return Errorf(ExitInput, "no_face", "%v", err)
	case errors.Is(err, face.ErrMultipleFaces):
		return Errorf(ExitInput, "multiple_faces", "%v", err)
	}
	return err
}

// faceEvalResult is what `kyc eval faces` prints.
type faceEvalResult struct {
	Data       []string `json:"data"`
	Identities []string `json:"identities,omitempty"`
	PairsFile  string   `json:"pairs_file,omitempty"`
	faceeval.Result
	DETPlot string `json:"det_plot,omitempty"`
}

func runEval(ctx context.Context, env *Env, args []string) (any, error) {
	if len(args) == 0 || args[0] != "faces" {
		return nil, Errorf(ExitUsage, "usage", "kyc eval faces --data DIR [--pairs CSV | --documents [--seed N]] [--identities PATTERNS] [--out DIR]")
	}
	fs := newFlags(env, "eval faces")
	data := fs.String("data", "", "comma-separated folder-per-identity face sets (or the base folder of --pairs)")
	pairsPath := fs.String("pairs", "", "pairs CSV with columns file_x,file_y,Decision")
	ids := fs.String("identities", "", "comma-separated identity folder patterns to keep (e.g. 's2[1-9],s3?,s40')")
	out := fs.String("out", "", "folder to write det.png into")
	label := fs.String("label", "", "curve label on the DET plot (default: the data folders)")
	documents := fs.Bool("documents", false, "print each photo on an ID card, photograph it on a desk and match the portrait the document pipeline cuts out against the other photos")
	seed := fs.Uint64("seed", 1, "with --documents: seed of the cards' placement on the desk")
	var ef faceEngineFlags
	ef.register(fs)
	if err := parseFlags(fs, args[1:]); err != nil {
		return nil, err
	}
	if *data == "" && *pairsPath == "" {
		return nil, Errorf(ExitUsage, "usage", "eval faces needs --data or --pairs")
	}
	if *documents {
		// The product's engines decide at the shipped threshold.
		if *data == "" || *pairsPath != "" || ef.far != face.DefaultFAR {
			return nil, Errorf(ExitUsage, "usage", "eval faces --documents needs --data, and takes neither --pairs nor --far")
		}
		return runEvalDocumentFaces(ctx, env, splitList(*data), splitList(*ids), *seed, *out, *label)
	}
	res := faceEvalResult{Data: splitList(*data), Identities: splitList(*ids), PairsFile: *pairsPath}
	var pairs []faceeval.Pair
	if *pairsPath != "" {
		base := filepath.Dir(*pairsPath)
		if len(res.Data) == 1 {
			base = res.Data[0]
		}
		f, err := atomicfile.Open(*pairsPath)
		if err != nil {
			return nil, Errorf(ExitInput, "file_not_found", "%v", err)
		}
		pairs, err = faceeval.ReadPairsCSV(f, base)
		f.Close()
		if err != nil {
			return nil, Errorf(ExitInput, "bad_pairs_file", "%s: %v", *pairsPath, err)
		}
	} else {
		var images []faceeval.Image
		for _, d := range res.Data {
			im, err := faceeval.LoadFolders(d, res.Identities)
			if err != nil {
				return nil, Errorf(ExitInput, "bad_face_set", "%v", err)
			}
			images = append(images, im...)
		}
		pairs = faceeval.AllPairs(images)
	}
	eng, err := openFaceEngine(ef, false)
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	fmt.Fprintf(env.Stderr, "eval faces: %d pairs\n", len(pairs))
	r, err := faceeval.Run(ctx, eng, pairs, imageio.DefaultMaxPixels)
	if errors.Is(err, faceeval.ErrNoPairs) {
		return nil, Errorf(ExitInput, "no_pairs", "%v", err)
	}
	if err != nil {
		return nil, err
	}
	res.Result = r
	if *out != "" {
		name := *label
		if name == "" {
			name = strings.Join(baseNames(res.Data), "+")
		}
		png, err := faceeval.DETPNG("DET: "+name, []faceeval.Curve{{Label: name, Genuine: r.GenuineScores, Impostor: r.ImpostorScores, Threshold: &r.Engine.Threshold}})
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(*out, 0o755); err != nil {
			return nil, fmt.Errorf("creating %s: %w", *out, err)
		}
		res.DETPlot = filepath.Join(*out, "det.png")
		if err := faceeval.WriteFile(res.DETPlot, png); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func baseNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.Base(p)
	}
	return out
}
