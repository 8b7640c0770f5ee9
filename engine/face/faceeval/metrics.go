// Package faceeval measures 1:1 face verification: it builds genuine and
// impostor pairs from a folder-per-identity set or a pairs CSV, scores them
// with the face engine, and reports AUC, EER, TAR at fixed FARs, the
// thresholds behind them, a logistic calibration and a DET curve.
package faceeval

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// ErrNoPairs is returned when there are no genuine or no impostor scores
// to measure.
var ErrNoPairs = errors.New("need at least one genuine and one impostor pair")

// reportFARs are the false-accept rates every report gives TAR at.
var reportFARs = []float64{1e-2, 1e-3, 1e-4}

// Point is the verification rate at one false-accept target.
type Point struct {
	FAR       float64 `json:"far"`
	Threshold float64 `json:"threshold"`  // similarity at or above which a pair is accepted
	TAR       float64 `json:"tar"`        // genuine pairs accepted at Threshold
	Measured  float64 `json:"far_actual"` // impostor pairs accepted at Threshold
	// Supported is false when there are fewer than 1/FAR impostor pairs: the
	// threshold then only rejects every impostor seen, it does not measure
	// the rate.
	Supported bool `json:"supported"`
}

// Calibration maps a similarity s to 1/(1+exp(-(A*s+B))).
type Calibration struct {
	A float64 `json:"a"`
	B float64 `json:"b"`
}

// Stats summarises one score distribution.
type Stats struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
	// Percentiles are the scores below which 1, 5, 10, 50, 90 and 99% of
	// the pairs fall (nearest rank): the genuine tail is what the
	// threshold cuts into.
	Percentiles map[string]float64 `json:"percentiles"`
}

// statsPercentiles are the percentiles Stats gives.
var statsPercentiles = []float64{1, 5, 10, 50, 90, 99}

// Report is the accuracy of a set of genuine and impostor similarities.
type Report struct {
	Genuine      Stats       `json:"genuine"`
	Impostor     Stats       `json:"impostor"`
	AUC          float64     `json:"auc"`
	EER          float64     `json:"eer"`
	EERThreshold float64     `json:"eer_threshold"`
	Points       []Point     `json:"tar_at_far"`
	Calibration  Calibration `json:"calibration"`
}

// Evaluate measures the two score sets; neither may be empty.
func Evaluate(genuine, impostor []float64) (Report, error) {
	if len(genuine) == 0 || len(impostor) == 0 {
		return Report{}, ErrNoPairs
	}
	g, im := sorted(genuine), sorted(impostor)
	r := Report{Genuine: stats(g), Impostor: stats(im), AUC: auc(g, im)}
	r.EER, r.EERThreshold = eer(g, im)
	for _, far := range reportFARs {
		r.Points = append(r.Points, AtFAR(g, im, far))
	}
	r.Calibration = FitCalibration(g, im)
	return r, nil
}

func sorted(v []float64) []float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s
}

func stats(s []float64) Stats {
	st := Stats{N: len(s), Min: s[0], Max: s[len(s)-1], Percentiles: map[string]float64{}}
	for _, p := range statsPercentiles {
		rank := int(math.Ceil(p / 100 * float64(len(s))))
		st.Percentiles[fmt.Sprintf("p%g", p)] = s[max(rank, 1)-1]
	}
	for _, v := range s {
		st.Mean += v / float64(len(s))
	}
	for _, v := range s {
		st.Std += (v - st.Mean) * (v - st.Mean) / float64(len(s))
	}
	st.Std = math.Sqrt(st.Std)
	return st
}

// rateAtOrAbove is the fraction of the ascending scores s that are >= t.
func rateAtOrAbove(s []float64, t float64) float64 {
	return float64(len(s)-sort.SearchFloat64s(s, t)) / float64(len(s))
}

// AtFAR finds the lowest threshold that accepts at most far of the
// impostors and the genuine rate it keeps; g and im are ascending.
func AtFAR(g, im []float64, far float64) Point {
	k := int(math.Floor(far * float64(len(im)))) // impostors we may accept
	// Accept strictly above the (k+1)-th highest impostor score.
	t := math.Nextafter(im[len(im)-1-min(k, len(im)-1)], math.Inf(1))
	return Point{FAR: far, Threshold: t, TAR: rateAtOrAbove(g, t), Measured: rateAtOrAbove(im, t), Supported: float64(len(im))*far >= 1}
}

// auc is the Mann-Whitney probability that a genuine score beats an
// impostor score, ties counting half.
func auc(g, im []float64) float64 {
	var wins float64
	for _, v := range g {
		below := sort.SearchFloat64s(im, v)
		equal := sort.SearchFloat64s(im, math.Nextafter(v, math.Inf(1))) - below
		wins += float64(below) + float64(equal)/2
	}
	return wins / (float64(len(g)) * float64(len(im)))
}

// eer is the error rate where false rejects and false accepts meet,
// swept over every observed score as a threshold.
func eer(g, im []float64) (rate, threshold float64) {
	best := math.Inf(1)
	for _, s := range [][]float64{g, im} {
		for _, t := range s {
			frr := 1 - rateAtOrAbove(g, t)
			far := rateAtOrAbove(im, t)
			if d := math.Abs(frr - far); d < best {
				best, rate, threshold = d, (frr+far)/2, t
			}
		}
	}
	return rate, threshold
}

// FitCalibration fits the logistic map from similarity to the probability
// of a genuine pair, weighting both classes equally so the result holds at
// even prior odds (Newton's method on the weighted log-loss, with a slight
// penalty on the slope).
func FitCalibration(genuine, impostor []float64) Calibration {
	wg, wi := 0.5/float64(len(genuine)), 0.5/float64(len(impostor))
	a, b := 1.0, 0.0
	for iter := 0; iter < 100; iter++ {
		var ga, gb, haa, hab, hbb float64
		add := func(s, y, w float64) {
			p := 1 / (1 + math.Exp(-(a*s + b)))
			ga += w * (p - y) * s
			gb += w * (p - y)
			h := w * p * (1 - p)
			haa += h * s * s
			hab += h * s
			hbb += h
		}
		for _, s := range genuine {
			add(s, 1, wg)
		}
		for _, s := range impostor {
			add(s, 0, wi)
		}
		// A small L2 penalty on the slope keeps the fit finite when the
		// classes do not overlap at all.
		const ridge = 1e-4
		ga += ridge * a
		haa, hbb = haa+ridge, hbb+1e-12
		det := haa*hbb - hab*hab
		da, db := (hbb*ga-hab*gb)/det, (haa*gb-hab*ga)/det
		a, b = a-da, b-db
		if math.Abs(da)+math.Abs(db) < 1e-9 {
			break
		}
	}
	return Calibration{A: a, B: b}
}
