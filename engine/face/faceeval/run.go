package faceeval

import (
	"context"
	"fmt"

	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/imageio"
)

// unusableScore is what a pair with an image the engine could not use
// scores: a sure reject, so failures to enrol count against the TAR rather
// than vanishing from it.
const unusableScore = -1

// Failure is an image the engine could not use.
type Failure struct {
	Path  string `json:"path"`
	Error string `json:"error"`
}

// AtThreshold is how a fixed threshold fares on the evaluated pairs.
type AtThreshold struct {
	Threshold float64 `json:"threshold"`
	FARTarget float64 `json:"far_target"`
	TAR       float64 `json:"tar"`
	FAR       float64 `json:"far"`
}

// Result is one evaluation run.
type Result struct {
	Images   int       `json:"images"`
	Failures []Failure `json:"failed_images"`
	Pairs    int       `json:"pairs"`
	Report
	// Engine is the engine's own threshold applied to these pairs.
	Engine AtThreshold `json:"engine_threshold"`
	// Scores are kept for plotting.
	GenuineScores  []float64 `json:"-"`
	ImpostorScores []float64 `json:"-"`
}

// Run embeds every image the pairs name once (the largest face of each)
// and scores every pair with the engine.
func Run(ctx context.Context, eng *face.Engine, pairs []Pair, maxPixels int) (Result, error) {
	return RunWith(ctx, eng.Matcher(), pairs, func(ctx context.Context, path string) (face.Embedding, error) {
		return embedFile(ctx, eng, path, maxPixels)
	}, nil)
}

// Embedder embeds the image at path as one side of a comparison takes it.
type Embedder func(ctx context.Context, path string) (face.Embedding, error)

// RunWith scores every pair with the matcher, its A side embedded by
// embedA and its B side by embedB (nil: by embedA, sharing its
// embeddings), each image once per side. The two sides may take the same
// photo differently, such as printed on a card and photographed.
func RunWith(ctx context.Context, m face.Matcher, pairs []Pair, embedA, embedB Embedder) (Result, error) {
	sides := []map[string]face.Embedding{{}, {}}
	shared := embedB == nil
	if shared {
		embedB, sides[1] = embedA, sides[0]
	}
	var res Result
	for _, p := range pairs {
		for i, side := range []struct {
			path  string
			embed Embedder
		}{{p.A, embedA}, {p.B, embedB}} {
			if _, seen := sides[i][side.path]; seen {
				continue
			}
			e, err := side.embed(ctx, side.path)
			if ctx.Err() != nil {
				return res, fmt.Errorf("evaluating faces: %w", ctx.Err())
			}
			if err != nil {
				res.Failures = append(res.Failures, Failure{Path: side.path, Error: err.Error()})
			}
			sides[i][side.path] = e // nil marks a failure
		}
	}
	res.Images, res.Pairs = len(sides[0]), len(pairs)
	if !shared {
		for path := range sides[1] {
			if _, ok := sides[0][path]; !ok {
				res.Images++
			}
		}
	}
	for _, p := range pairs {
		s := float64(unusableScore)
		if a, b := sides[0][p.A], sides[1][p.B]; a != nil && b != nil {
			s = face.Cosine(a, b)
		}
		if p.Same {
			res.GenuineScores = append(res.GenuineScores, s)
		} else {
			res.ImpostorScores = append(res.ImpostorScores, s)
		}
	}
	rep, err := Evaluate(res.GenuineScores, res.ImpostorScores)
	if err != nil {
		return res, err
	}
	res.Report = rep
	g, im := sorted(res.GenuineScores), sorted(res.ImpostorScores)
	res.Engine = AtThreshold{Threshold: m.Threshold, FARTarget: m.FAR, TAR: rateAtOrAbove(g, m.Threshold), FAR: rateAtOrAbove(im, m.Threshold)}
	return res, nil
}

func embedFile(ctx context.Context, eng *face.Engine, path string, maxPixels int) (face.Embedding, error) {
	img, err := imageio.ReadFile(path, maxPixels)
	defer img.Close() // imageio returns a Mat to close even with an error
	if err != nil {
		return nil, err
	}
	a, err := eng.Analyze(ctx, img, face.Largest, face.Timings{}, "")
	if err != nil {
		return nil, err
	}
	return a.Embedding, nil
}
