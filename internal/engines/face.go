package engines

import (
	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/internal/runtimeinfo"
	"github.com/openkyc/kyc/models"
)

// FaceOptions are the settings of a face engine for 1:1 comparison: the
// engine `kyc face-match`, `kyc eval faces` and central's Face Match API
// run.
type FaceOptions struct {
	// Matcher decides; the zero value means face.DefaultMatcher().
	Matcher face.Matcher
	// LiveThreshold is the live probability at or above which a selfie is
	// live; 0 means face.DefaultLiveThreshold.
	LiveThreshold float64
	// Threads is the ONNX Runtime intra-op thread count per model; 0 means
	// 1 (Match already works on its two images in parallel).
	Threads int
	// Liveness loads the selfie's passive liveness: the same fused models
	// `kyc verify` and the app run (MiniFASNetV2-SE with minivision's pair).
	Liveness bool
}

// faceModels are the store names of the comparison's models, and those of
// the fused passive liveness.
var (
	faceModels     = []string{"yunet", "fr-feature"}
	livenessModels = []string{"minifasnet-v2se", "minifasnet-v2-2.7", "minifasnet-v1se-4.0"}
)

// OpenFace loads ONNX Runtime and the face models from the verified store
// into a face engine for 1:1 comparison. A model that is not installed
// gives an error wrapping models.ErrNotInstalled; one altered on disk,
// models.ErrCorrupt.
func OpenFace(store *models.Store, opt FaceOptions) (*face.Engine, error) {
	// Errors go out as they are: the store's and the runtime's name the
	// file, and `kyc face-match` reports them unchanged.
	if err := runtimeinfo.LoadRuntime(store); err != nil {
		return nil, err
	}
	cfg := face.Config{Threads: max(opt.Threads, 1), Matcher: opt.Matcher, LiveThreshold: opt.LiveThreshold}
	names := faceModels
	if opt.Liveness {
		names = append(append([]string(nil), faceModels...), livenessModels...)
	}
	paths := map[string]string{}
	for _, name := range names {
		p, err := store.Path(name)
		if err != nil {
			return nil, err
		}
		paths[name] = p
	}
	cfg.DetectorModel, cfg.EmbedderModel = paths["yunet"], paths["fr-feature"]
	cfg.LivenessModel, cfg.MiniFASV2Model, cfg.MiniFASV1SEModel = paths["minifasnet-v2se"], paths["minifasnet-v2-2.7"], paths["minifasnet-v1se-4.0"]
	return face.New(cfg)
}
