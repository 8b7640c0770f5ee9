package verify

import (
	"errors"
	"fmt"
	"math"

	"github.com/openkyc/kyc/engine/device"
	"github.com/openkyc/kyc/engine/document"
	"github.com/openkyc/kyc/engine/document/fields"
	"github.com/openkyc/kyc/engine/document/forensics"
	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/risk"
)

// stageResults is what the stages of one verification produced: the
// document, the device report, the selfie's analysis and liveness, the
// document portrait's analysis (refOK: a portrait was found) and the
// screening of the holder's name.
type stageResults struct {
	doc *document.Result
	// docUnread: the document photo could not be read at all (too small
	// or thin to hold a document): doc is empty, and no document signal
	// is measured.
	docUnread          bool
	dev                *device.Report
	selfie             face.Analysis
	selfieErr, liveErr error
	live               face.LivenessResult
	ref                face.Analysis
	refErr             error
	refOK              bool
	screening          ScreeningReport
	// calibration holds the document checks' operating points; nil means
	// forensics.DefaultCalibration().
	calibration forensics.Calibration
	// challenge are the faces of the frames that met an active challenge's
	// prompts, compared with the selfie's at challengeSimilarity, and their
	// trace checks, when the challenge is said to be passed.
	challenge           []challengeFace
	challengeSimilarity float64
}

// riskInput turns the stages' results into the risk engine's input and
// the face half of the report; it runs no model. matcher decides the
// match, confirm is the screening score from which a hit is confirmed,
// challenge the outcome of an active liveness challenge already done: a
// passed one whose frames (st.challenge) do not all show the selfie's
// person, or show a screen's or a print's traces, is failed, with the
// evidence (risk.FaceChallengeIdentity, risk.FaceChallengeReproduction). Selfie
// problems a new capture can fix are capture issues; any other stage error
// is returned.
func riskInput(st stageResults, matcher face.Matcher, confirm float64, attempt int, challenge risk.ChallengeOutcome) (risk.Input, FaceReport, error) {
	in := risk.Input{Signals: map[risk.SignalName]float64{}, Attempt: attempt, LivenessChallenge: challenge}
	var rep FaceReport

	// The selfie.
	switch {
	case errors.Is(st.selfieErr, face.ErrNoFace):
		in.CaptureIssues = append(in.CaptureIssues, risk.CaptureNoFace)
		rep.Problem = "no face in the selfie"
	case errors.Is(st.selfieErr, face.ErrMultipleFaces):
		in.CaptureIssues = append(in.CaptureIssues, risk.CaptureMultipleFaces)
		rep.Problem = "several faces in the selfie"
	case st.selfieErr != nil:
		return in, rep, fmt.Errorf("selfie: %w", st.selfieErr)
	case st.liveErr != nil:
		return in, rep, fmt.Errorf("selfie liveness: %w", st.liveErr)
	default:
		selfie, live := st.selfie, st.live
		rep.Selfie, rep.Liveness = &selfie, &live
		in.Signals[risk.FaceLiveness] = live.Score
		if !selfie.Quality.OK {
			in.CaptureIssues = append(in.CaptureIssues, risk.CaptureSelfieQuality)
		}
		if challenge == risk.ChallengePassed && len(st.challenge) > 0 {
			cr, identity, reproduction, err := challengeEvidence(selfie, st.challenge, st.challengeSimilarity)
			if err != nil {
				return in, rep, err
			}
			rep.Challenge = cr
			if identity != "" || reproduction != "" {
				in.LivenessChallenge, in.ChallengeIdentity, in.ChallengeReproduction = risk.ChallengeFailed, identity, reproduction
			}
		}
	}

	// The match.
	switch {
	case st.selfieErr != nil:
	case !st.refOK:
		rep.Problem = "no portrait found on the document"
	case st.refErr != nil:
		return in, rep, fmt.Errorf("face match: %w", st.refErr)
	default:
		ref := st.ref
		d := matcher.Decide(face.Cosine(st.selfie.Embedding, ref.Embedding))
		rep.Reference, rep.Match = &ref, &d
		in.Signals[risk.FaceMatch] = d.Score
	}

	// The document.
	doc := st.doc
	if !st.docUnread {
		documentEvidence(doc, st.calibration, &in)
	}
	in.DocExpired = doc.Expired
	if a := doc.Age; a != nil {
		in.HolderAge = &risk.HolderAge{Years: a.Years, Vouched: a.Vouched}
	}
	if v, ok := dataChecks(doc); ok {
		in.Signals[risk.DataChecks] = v
	}
	if doc.Type == fields.TypeUnknown && doc.MRZ == nil {
		// Nothing readable: ask for the document again.
		in.CaptureIssues = append(in.CaptureIssues, risk.CaptureDocQuality)
	}

	// Screening.
	if st.screening.Screened {
		in.Signals[risk.Sanctions] = 1
		for _, h := range st.screening.Hits {
			if h.Score >= confirm {
				in.WatchlistHits++
			} else {
				in.WatchlistPotentialMatches++
			}
		}
		if len(st.screening.Hits) > 0 {
			in.Signals[risk.Sanctions] = 0
		}
	}

	// The device.
	if st.dev != nil {
		in.Device = risk.DeviceVerdict(st.dev.Verdict)
		in.Signals[risk.DeviceIntegrity] = map[device.Verdict]float64{device.VerdictOK: 1, device.VerdictWarn: 0.5}[st.dev.Verdict]
	}
	return in, rep, nil
}

// documentEvidence turns the document's forensics into the risk input, at
// the operating points of cal (the checks' calibration, measured by `kyc
// eval documents`): every check that fires becomes a finding naming it
// with its evidence, which rejects only when the check may reject on its
// own (its false-positive rate on genuine documents at most 1%, and not a
// check of how the file was saved) and otherwise sends the case to review.
// The doc_authenticity and doc_liveness signals are the lowest normalised
// score of the checks that may reject (below 0.5 exactly when one fires),
// so a review-only check never lowers them into a reject; a report
// without checks keeps its own scores and named attack.
func documentEvidence(doc *document.Result, cal forensics.Calibration, in *risk.Input) {
	if cal == nil {
		cal = forensics.DefaultCalibration()
	}
	if len(doc.Forensics.Checks) == 0 && len(doc.Liveness.Checks) == 0 {
		in.Signals[risk.DocAuthenticity] = doc.Forensics.Score
		in.Signals[risk.DocLiveness] = doc.Liveness.Score
		switch doc.Liveness.Attack {
		case forensics.AttackScreen:
			in.DocAttack = risk.DocAttackScreen
		case forensics.AttackPrint, forensics.AttackPhotocopy:
			in.DocAttack = risk.DocAttackPrint
		}
		return
	}
	auth, live := 1.0, 1.0
	for _, part := range []struct {
		checks []forensics.Check
		signal *float64
	}{{doc.Forensics.Checks, &auth}, {doc.Liveness.Checks, &live}} {
		for _, c := range part.checks {
			if !c.Applicable {
				continue
			}
			cc := cal.For(c.Name)
			if cc.Rejects {
				*part.signal = math.Min(*part.signal, cc.Normalized(c.Score))
			}
			if !cal.Fired(c) {
				continue
			}
			kind := risk.DocFindingTamper
			switch c.Name {
			case forensics.CheckScreen:
				kind = risk.DocFindingScreen
			case forensics.CheckPrint, forensics.CheckPhotocopy:
				kind = risk.DocFindingPrint
			}
			measured := "not calibrated yet"
			if cc.N > 0 {
				measured = fmt.Sprintf("%.1f%% of %d genuine documents flagged at the detector's threshold", 100*cc.GenuineFPR, cc.N)
			}
			in.DocFindings = append(in.DocFindings, risk.DocFinding{Check: c.Name, Kind: kind, Rejects: cc.Rejects,
				WhyReviewOnly: cal.WhyReviewOnly(c.Name), Evidence: cal.Summary(c) + "; " + measured})
		}
	}
	in.Signals[risk.DocAuthenticity] = auth
	in.Signals[risk.DocLiveness] = live
}
