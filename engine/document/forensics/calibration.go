package forensics

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
)

// Calibration is where the decisions meet the measured evidence: for each
// check, the score below which it fires and whether it may reject a case
// on its own. It is the one place the operating points live; the
// detectors' own thresholds (Options) stay as their authors set them, and
// this only ever makes a check less eager than its detector's 0.5, never
// more.
//
// The defaults (DefaultCalibration) are measured by `kyc eval documents
// --fit` on the calibration half of the forgery benchmark
// (internal/forgery: the PassportEye specimens unchanged, re-saved at JPEG
// q75-q95, q95 then q75 and through a webcam's MJPEG, and forged), to the
// operating point of issue 16: at most 2% of genuine documents flagged by
// any check. A change to a detector's score calls for the fit to be run
// again and the table below replaced with what it prints; the report half
// then tells how the new defaults hold on documents they were not fitted
// on. Owned by the evaluation, not by the detectors.
type Calibration map[string]CheckCalibration

// CheckCalibration is one check's operating point.
type CheckCalibration struct {
	// Cut: the check fires when it is applicable and its score is below
	// Cut (at most 0.5, the detector's own threshold).
	Cut float64 `json:"cut"`
	// GenuineFPR is the share of the calibration half's genuine documents
	// on which the check, at the detector's own threshold (score 0.5),
	// fired; N is how many it was measured on.
	GenuineFPR float64 `json:"genuine_fpr"`
	N          int     `json:"n"`
	// Rejects says the check may reject a case on its own: its GenuineFPR
	// is at most RejectMaxFPR, and it is not one of ReviewOnly. A check that
	// may not sends the case to review when it fires.
	Rejects bool `json:"rejects"`
}

// RejectMaxFPR is the largest false-positive rate on genuine documents of
// a check that may reject on its own.
const RejectMaxFPR = 0.01

// ReviewOnly are the checks that never reject on their own, whatever their
// measured rate: double compression and editing software say how a file
// was saved, which honest customers' phones and apps do as well; the
// portrait's apparent sex is a weak signal (a model's guess about a
// person, who may look otherwise than the document states); a portrait not
// found may be glare or a poor photo; a portrait's resampling traces may be
// the issuer's own (a digital specimen's designer resized its portrait, and
// an issuer may as well); bit-identical characters on a digitally made
// page were measured on a handful of such pages; the portrait's apparent
// age against the holder's dates is a model's guess too
// ("portrait_age", engine/document).
var ReviewOnly = []string{CheckDoubleJPEG, CheckMetadata, CheckPortraitSex, CheckPortraitMissing, CheckPortraitResampling, CheckIdenticalGlyphs, "portrait_age"}

// uncalibrated is the operating point of a check the fit has not measured
// (a detector added since): its detector's threshold, review only.
var uncalibrated = CheckCalibration{Cut: 0.5}

// calibrated is the output of `kyc eval documents --fit` (seed 1; the 14
// calibration-half specimens unchanged and re-saved seven ways, 112
// genuine samples), run on the detectors of 2026-12-02 00:00 UTC and again
// at 00:43 with the new text recognisers (the same table), and at 03:10
// after the portrait boundary learnt to take off a page line running on
// past the portrait (the same table again), and at 06:10 (session 10)
// with the portrait boundary's third-side reading and the portrait's
// apparent sex (the same table, portrait_sex added: no genuine flag) (the
// portrait JPEG-grid check removed, the portrait sharpness ratio floored
// for pixel-sharp digital pages, the field reader's labels and dates
// reworked for the MRZ-vs-visual-zone check, the benchmark's JPEG and PNG
// specimens of one document rendered apart) and pasted here, and at 10:35
// (session 12) with portrait_missing added (no genuine flag on the 56 TD3
// fronts it judged; review only whatever its rate) and an outline holding no
// text no longer taken for the page (the same table otherwise).
// portrait_resampling's row (session 13) is written by hand as the fit
// would: measured on the kept samples of that half, it flagged none of
// the 71 genuine documents whose portrait was found; review only whatever
// its rate. Run again on 2026-12-04 at 14:20 (session 27) after the
// portrait boundary learnt to read a side's step where it stands out once
// what runs on is taken off, and to count the weakest of four sides: the
// same table. identical_glyphs's row (session 27) is the fit's of 12-04:
// it applied to 31 of the 112 (the digitally made pages kept as JPEGs)
// and flagged none; review only whatever its rate. Double compression, block grid and error level are cut to 0 (they never fire):
// at their detectors' thresholds they flagged 37%, 17% and 1.8% of those
// genuine documents, and the 2% budget is spent on checks that find
// forgeries. The checks of the detectors' own names that are not
// constants here are spelled out, so a renamed check falls back to
// uncalibrated (review only) rather than breaking the build.
var calibrated = Calibration{
	"cloned_glyphs":              {Cut: 0.5, GenuineFPR: 0, N: 112, Rejects: true},
	CheckCopyMove:                {Cut: 0.0769, GenuineFPR: 0.0357, N: 112, Rejects: false},
	CheckMetadata:                {Cut: 0.1, GenuineFPR: 0.0536, N: 112, Rejects: false},
	CheckELA:                     {Cut: 0, GenuineFPR: 0.0179, N: 112, Rejects: false},
	CheckIdenticalGlyphs:         {Cut: 0.5, GenuineFPR: 0, N: 112, Rejects: false},
	CheckBlockGrid:               {Cut: 0, GenuineFPR: 0.1696, N: 112, Rejects: false},
	CheckDoubleJPEG:              {Cut: 0, GenuineFPR: 0.3661, N: 112, Rejects: false},
	"mrz_visual_consistency":     {Cut: 0.5, GenuineFPR: 0.0089, N: 112, Rejects: true},
	"page_coverage":              {Cut: 0.5, GenuineFPR: 0, N: 112, Rejects: true},
	CheckPhotocopy:               {Cut: 0.5, GenuineFPR: 0, N: 112, Rejects: true},
	"portrait_boundary":          {Cut: 0.5, GenuineFPR: 0, N: 112, Rejects: true},
	"portrait_ghost":             {Cut: 0.5, GenuineFPR: 0, N: 112, Rejects: true},
	"portrait_jpeg_quantisation": {Cut: 0.5, GenuineFPR: 0, N: 112, Rejects: true},
	CheckPortraitMissing:         {Cut: 0.5, GenuineFPR: 0, N: 112, Rejects: false},
	"portrait_noise":             {Cut: 0.5, GenuineFPR: 0, N: 112, Rejects: true},
	CheckPortraitResampling:      {Cut: 0.5, GenuineFPR: 0, N: 112, Rejects: false},
	"portrait_sharpness":         {Cut: 0.5, GenuineFPR: 0, N: 112, Rejects: true},
	CheckPortraitSex:             {Cut: 0.5, GenuineFPR: 0, N: 112, Rejects: false},
	CheckPrint:                   {Cut: 0.5, GenuineFPR: 0, N: 112, Rejects: true},
	"printed_dither":             {Cut: 0.5, GenuineFPR: 0, N: 112, Rejects: true},
	CheckScreen:                  {Cut: 0.5, GenuineFPR: 0, N: 112, Rejects: true},
}

// DefaultCalibration returns a copy of the calibrated operating points.
func DefaultCalibration() Calibration { return maps.Clone(calibrated) }

// For returns the operating point of the check named name.
func (c Calibration) For(name string) CheckCalibration {
	if cc, ok := c[name]; ok {
		return cc
	}
	return uncalibrated
}

// Fired reports whether ch fires at its operating point.
func (c Calibration) Fired(ch Check) bool {
	return ch.Applicable && ch.Score < c.For(ch.Name).Cut
}

// WhyReviewOnly says in a few words why the check named name may not
// reject a case on its own ("" when it may), so a reviewer reading a review
// cap can tell a signal weak by design from one too often wrong.
func (c Calibration) WhyReviewOnly(name string) string {
	cc := c.For(name)
	switch {
	case cc.Rejects:
		return ""
	case slices.Contains(ReviewOnly, name):
		return "a weak or indirect signal, never a reject alone whatever its rate"
	case cc.N == 0:
		return "not calibrated yet"
	case cc.GenuineFPR > RejectMaxFPR:
		return fmt.Sprintf("flags %.1f%% of genuine documents, over the %.0f%% a rejecting check may", 100*cc.GenuineFPR, 100*RejectMaxFPR)
	}
	return "its operating point does not reject"
}

// Normalized maps a check's score so that its Cut lands on 0.5: below 0.5
// it fires, and scores from different checks compare (1 stays 1, 0 stays
// 0).
func (cc CheckCalibration) Normalized(score float64) float64 {
	cut := cc.Cut
	switch {
	case cut <= 0:
		return 0.5 + 0.5*score
	case cut >= 1:
		return 0.5 * score
	case score < cut:
		return 0.5 * score / cut
	}
	return 0.5 + 0.5*(score-cut)/(1-cut)
}

// RejectAllowed reports whether a check measured at fpr on genuine
// documents may reject on its own.
func RejectAllowed(name string, fpr float64) bool {
	return fpr <= RejectMaxFPR && !slices.Contains(ReviewOnly, name)
}

// Summary is the evidence of ch in one line for a reviewer: its score
// against its cut and its numbers (regions as x,y wxh), keys sorted.
func (c Calibration) Summary(ch Check) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s score %.3f (fires below %.3f)", ch.Name, ch.Score, c.For(ch.Name).Cut)
	keys := slices.Sorted(maps.Keys(ch.Evidence))
	for i, k := range keys {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(k + " " + evidenceValue(ch.Evidence[k]))
	}
	return b.String()
}

// maxEvidence bounds one evidence value in a Summary: maps of cells and
// long lists are for the console's drawing, not for a line of text.
const maxEvidence = 120

func evidenceValue(v any) string {
	s := evidenceText(v)
	if len(s) > maxEvidence {
		return fmt.Sprintf("(%d characters, in the report)", len(s))
	}
	return s
}

func evidenceText(v any) string {
	switch x := v.(type) {
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e9 {
			return fmt.Sprintf("%.0f", x)
		}
		return fmt.Sprintf("%.4g", x)
	case float32:
		return fmt.Sprintf("%.4g", x)
	case Region:
		return fmt.Sprintf("%d,%d %dx%d", x.X, x.Y, x.W, x.H)
	case []Region:
		parts := make([]string, len(x))
		for i, r := range x {
			parts[i] = evidenceValue(r)
		}
		return "[" + strings.Join(parts, "; ") + "]"
	case []string:
		return "[" + strings.Join(x, ", ") + "]"
	case string:
		return fmt.Sprintf("%q", x)
	}
	return fmt.Sprint(v)
}
