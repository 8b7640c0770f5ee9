package console

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/openkyc/kyc/engine/risk"
)

// The payload a device seals holds the engine's report, whose risk part is
// risk.Result: every signal's value and presence (Contributions) and every
// rule that fired (Reasons), but not risk.Input itself. The input is
// rebuilt from them: the signals as measured, and the facts that no
// threshold decides (a watchlist hit, the device verdict, capture issues,
// an expired document, the liveness challenge, the document findings) from
// the reason codes that reported them, the holder's age from the document,
// and the watchlists' dates from the lists' ages the result records. What
// thresholds decide (face mismatch, liveness failed, low data checks, a
// minimum age, the lists' maximum age, the score band) is left for
// the new settings to decide again. The preview checks the rebuild by
// deciding each case again under the current settings too, and says how
// many came out as recorded.

// riskPayload is what the rebuild reads of a payload.
type riskPayload struct {
	Attempt           int    `json:"attempt"`
	LivenessChallenge string `json:"liveness_challenge"`
	Report            *struct {
		Decision string        `json:"decision"`
		Reasons  []risk.Reason `json:"reasons"`
		Risk     *struct {
			Contributions []risk.Contribution `json:"contributions"`
			Reasons       []risk.Reason       `json:"reasons"`
			// Screening holds each list's dates and the time of the
			// screening (risk.ScreeningAge), which a new maximum age
			// judges again; absent from results of devices older than it.
			Screening *risk.ScreeningAge `json:"screening"`
		} `json:"risk"`
		Device *struct {
			Verdict string `json:"verdict"`
		} `json:"device"`
		// Document holds the holder's age, which a minimum age decides
		// again (the engine reports fields.Age as risk.HolderAge reads it).
		Document *struct {
			Age *risk.HolderAge `json:"age"`
		} `json:"document"`
	} `json:"report"`
}

// riskInputFrom rebuilds the risk input of a payload; false when the
// payload has no engine risk result (expired fields, an old app, not a
// report at all).
func riskInputFrom(payload []byte) (risk.Input, bool) {
	var p riskPayload
	if len(payload) == 0 || json.Unmarshal(payload, &p) != nil || p.Report == nil || p.Report.Risk == nil || len(p.Report.Risk.Contributions) == 0 {
		return risk.Input{}, false
	}
	in := risk.Input{Signals: map[risk.SignalName]float64{}, Attempt: max(p.Attempt, 1)}
	for _, c := range p.Report.Risk.Contributions {
		if c.Present {
			in.Signals[c.Signal] = c.Value
		}
	}
	switch risk.ChallengeOutcome(p.LivenessChallenge) {
	case risk.ChallengePassed, risk.ChallengeFailed, risk.ChallengeUnavailable:
		in.LivenessChallenge = risk.ChallengeOutcome(p.LivenessChallenge)
	}
	if sc := p.Report.Risk.Screening; sc != nil {
		in.Screening = &risk.ScreeningData{At: sc.At, Lists: make([]risk.WatchlistDates, 0, len(sc.Lists))}
		for _, l := range sc.Lists {
			in.Screening.Lists = append(in.Screening.Lists, l.WatchlistDates)
		}
	}
	if d := p.Report.Document; d != nil && d.Age != nil && d.Age.Years >= 0 {
		in.HolderAge = d.Age
	}
	if d := p.Report.Device; d != nil {
		switch v := risk.DeviceVerdict(d.Verdict); v {
		case risk.DeviceOK, risk.DeviceWarn, risk.DeviceBlock:
			in.Device = v
		}
	}
	reasons := p.Report.Risk.Reasons
	if len(reasons) == 0 {
		reasons = p.Report.Reasons
	}
	for _, r := range reasons {
		finding := func(kind risk.DocFindingKind, rejects bool) {
			check, evidence, ok := strings.Cut(r.Detail, " fired")
			if !ok || check == "" {
				check = string(r.Code)
			}
			var why string
			if rest, ok := strings.CutPrefix(strings.TrimLeft(evidence, " "), "(review only"); ok {
				if inner, after, ok := strings.Cut(rest, "):"); ok {
					why, evidence = strings.TrimPrefix(inner, ": "), after
				}
			}
			in.DocFindings = append(in.DocFindings, risk.DocFinding{Check: check, Kind: kind, Rejects: rejects, WhyReviewOnly: why, Evidence: strings.TrimLeft(evidence, " :")})
		}
		fired := strings.Contains(r.Detail, " fired")
		switch r.Code {
		case risk.WatchlistHit:
			in.WatchlistHits = max(1, riskLeadingInt(r.Detail))
		case risk.WatchlistPotentialMatch:
			in.WatchlistPotentialMatches = max(1, riskLeadingInt(r.Detail))
		case risk.DeviceBlocked:
			in.Device = risk.DeviceBlock
		case risk.DeviceWarning:
			in.Device = risk.DeviceWarn
		case risk.DocImageQuality:
			in.CaptureIssues = append(in.CaptureIssues, risk.CaptureDocQuality)
		case risk.SelfieImageQuality:
			in.CaptureIssues = append(in.CaptureIssues, risk.CaptureSelfieQuality)
		case risk.NoFace:
			in.CaptureIssues = append(in.CaptureIssues, risk.CaptureNoFace)
		case risk.MultipleFaces:
			in.CaptureIssues = append(in.CaptureIssues, risk.CaptureMultipleFaces)
		case risk.DocExpired:
			in.DocExpired = true
		case risk.FaceChallengeFailed:
			in.LivenessChallenge = risk.ChallengeFailed
		case risk.FaceChallengeIdentity:
			// The comparison of the challenge's frames with the selfie is a
			// fact the settings do not decide: kept with its evidence.
			in.LivenessChallenge, in.ChallengeIdentity = risk.ChallengeFailed, r.Detail
		case risk.FaceChallengeReproduction:
			// So are the traces on the challenge's frames.
			in.LivenessChallenge, in.ChallengeReproduction = risk.ChallengeFailed, r.Detail
		case risk.FaceFeedSuspect:
			// Where the selfie came from is a fact too.
			in.FeedSuspect = r.Detail
		case risk.FaceChallengePassed:
			if in.LivenessChallenge == risk.ChallengeNone {
				in.LivenessChallenge = risk.ChallengePassed
			}
		case risk.DocScreenReplay:
			if fired {
				finding(risk.DocFindingScreen, true)
			} else {
				in.DocAttack = risk.DocAttackScreen
			}
		case risk.DocPrintedCopy:
			if fired {
				finding(risk.DocFindingPrint, true)
			} else {
				in.DocAttack = risk.DocAttackPrint
			}
		case risk.DocTampered:
			if fired { // else the authenticity threshold fired: decided again
				finding(risk.DocFindingTamper, true)
			}
		case risk.DocTamperSuspected:
			finding(risk.DocFindingTamper, false)
		case risk.DocReproductionSuspected:
			finding(risk.DocFindingScreen, false)
		}
	}
	return in, true
}

// leadingInt is the number a reason detail starts with ("2 confirmed
// watchlist hit(s)"); 0 when none.
func riskLeadingInt(s string) int {
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil || n < 0 {
		return 0
	}
	return n
}
