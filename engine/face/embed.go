package face

import (
	"context"
	"fmt"
	"math"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/ort"
)

// EmbeddingSize is the length of a face embedding.
const EmbeddingSize = 512

// Embedding is an L2-normalised face descriptor.
type Embedding []float32

// Cosine is the cosine similarity of two embeddings, in [-1, 1]; it is the
// dot product since both are unit length. Embeddings of different lengths
// have similarity 0.
func Cosine(a, b Embedding) float64 {
	if len(a) != len(b) {
		return 0
	}
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// Embedder runs the fr_feature model on aligned 112x112 faces. It is safe
// for concurrent use.
type Embedder struct{ sess *ort.Session }

// fr_feature takes RGB scaled as (v-127)/128.
var embedNorm = ort.Normalize{Mean: [3]float32{127, 127, 127}, Scale: [3]float32{1.0 / 128, 1.0 / 128, 1.0 / 128}, SwapRB: true}

// NewEmbedder loads the fr_feature model at path.
func NewEmbedder(path string, opt ort.Options) (*Embedder, error) {
	s, err := ort.NewSession(path, opt)
	if err != nil {
		return nil, fmt.Errorf("loading face embedder: %w", err)
	}
	if out := s.Outputs(); len(s.Inputs()) != 1 || len(out) != 1 || out[0].Shape[len(out[0].Shape)-1] != EmbeddingSize {
		s.Close()
		return nil, fmt.Errorf("loading face embedder %s: want one input and one %d-d output", path, EmbeddingSize)
	}
	return &Embedder{sess: s}, nil
}

// Close releases the model.
func (e *Embedder) Close() error { return e.sess.Close() }

// Embed describes an aligned face (see Align). It also returns the length
// of the model's output before normalisation, which grows with how
// recognisable the face is (as MagFace observed): a face aligned upside
// down or sideways has a short one.
func (e *Embedder) Embed(ctx context.Context, aligned gocv.Mat) (Embedding, float64, error) {
	if err := checkImage(aligned); err != nil {
		return nil, 0, err
	}
	if aligned.Rows() != AlignedSize || aligned.Cols() != AlignedSize {
		return nil, 0, fmt.Errorf("embedding face: crop is %dx%d, want %dx%d (use Align)", aligned.Cols(), aligned.Rows(), AlignedSize, AlignedSize)
	}
	in := ort.NewNCHW(1, 3, AlignedSize, AlignedSize)
	if err := in.SetImage(0, aligned.ToBytes(), AlignedSize, AlignedSize, embedNorm); err != nil {
		return nil, 0, fmt.Errorf("embedding face: %w", err)
	}
	out, err := e.sess.Run(ctx, in)
	if err != nil {
		return nil, 0, fmt.Errorf("embedding face: %w", err)
	}
	v := Embedding(out[0].Data)
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	n = math.Sqrt(n)
	if n == 0 || math.IsNaN(n) {
		return nil, 0, fmt.Errorf("embedding face: model returned a zero or invalid vector")
	}
	for i := range v {
		v[i] = float32(float64(v[i]) / n)
	}
	return v, n, nil
}

// EmbedFace aligns face f of img by its landmarks and describes it.
func (e *Engine) EmbedFace(ctx context.Context, img gocv.Mat, f Face) (Embedding, error) {
	aligned, err := Align(img, f.Landmarks)
	if err != nil {
		return nil, err
	}
	defer aligned.Close()
	v, _, err := e.emb.Embed(ctx, aligned)
	return v, err
}
