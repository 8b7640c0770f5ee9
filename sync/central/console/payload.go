package console

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// The payload a device seals (internal/submission.Payload: the session
// context, engine/verify.Report and the signed device check) is read here
// through local view structs holding what the case view shows: central
// must not import the engine's packages (they pull in cgo), and a field the
// engine adds later is simply not shown until a view names it.

type payloadView struct {
	SessionID   string           `json:"session_id"`
	Attempt     int              `json:"attempt"`
	Operator    string           `json:"operator"`
	DocType     string           `json:"doc_type"`
	Country     string           `json:"country"`
	AppVersion  string           `json:"app_version"`
	Report      *reportView      `json:"report"`
	Attestation *attestationView `json:"attestation"`
}

type reportView struct {
	Decision     string        `json:"decision"`
	Score        float64       `json:"score"`
	Reasons      []reasonView  `json:"reasons"`
	NextAction   string        `json:"next_action"`
	RetryStep    string        `json:"retry_step"`
	LivenessPath string        `json:"liveness_path"`
	UserMessage  string        `json:"user_message"`
	Risk         riskView      `json:"risk"`
	Document     *documentView `json:"document"`
	Face         faceView      `json:"face"`
	Screening    screeningView `json:"screening"`
	Device       *deviceView   `json:"device"`
}

type reasonView struct {
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

type riskView struct {
	Coverage      float64            `json:"coverage"`
	Contributions []contributionView `json:"contributions"`
}

type contributionView struct {
	Signal    string  `json:"signal"`
	Present   bool    `json:"present"`
	Value     float64 `json:"value"`
	Weight    float64 `json:"weight"`
	Points    float64 `json:"points"`
	MaxPoints float64 `json:"max_points"`
}

type documentView struct {
	Type       string               `json:"type"`
	Country    string               `json:"country"`
	Confidence float64              `json:"confidence"`
	Fields     map[string]fieldView `json:"fields"`
	MRZ        *mrzView             `json:"mrz"`
	Mismatches []mismatchView       `json:"mismatches"`
	Expired    bool                 `json:"expired"`
	Forensics  *checksView          `json:"forensics"`
	Liveness   *checksView          `json:"liveness"`
	Front      *sideView            `json:"front"` // where the page is in the photo (evidence.go)
	Portrait   *struct {
		Box   boxView `json:"box"`
		Score float64 `json:"score"`
	} `json:"portrait"`
}

type fieldView struct {
	Value      string  `json:"value"`
	Source     string  `json:"source"`
	Confidence float64 `json:"confidence"`
}

type mrzView struct {
	Format      string         `json:"format"`
	Lines       []string       `json:"lines"`
	ValidScore  float64        `json:"valid_score"`
	Checks      []mrzCheckView `json:"checks"`
	Corrections []struct {
		Line   int    `json:"line"`
		Column int    `json:"column"`
		From   string `json:"from"`
		To     string `json:"to"`
		Reason string `json:"reason"`
	} `json:"corrections"`
	Expired  bool     `json:"expired"`
	Warnings []string `json:"warnings"`
}

type mrzCheckView struct {
	Name     string `json:"name"`
	Text     string `json:"text"`
	Expected string `json:"expected"`
	Found    string `json:"found"`
	Valid    bool   `json:"valid"`
}

type mismatchView struct {
	Field  string `json:"field"`
	Source string `json:"source"`
	Value  string `json:"value"`
	Visual string `json:"visual"`
}

type checksView struct {
	Score  float64     `json:"score"`
	Attack string      `json:"attack"`
	Checks []checkView `json:"checks"`
}

type checkView struct {
	Name       string                     `json:"name"`
	Score      float64                    `json:"score"`
	Applicable bool                       `json:"applicable"`
	Advisory   bool                       `json:"advisory"`
	Evidence   map[string]json.RawMessage `json:"evidence"`
}

type boxView struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
	W float64 `json:"w"`
	H float64 `json:"h"`
}

type faceView struct {
	Match *struct {
		Similarity float64 `json:"similarity"`
		Score      float64 `json:"score"`
		Threshold  float64 `json:"threshold"`
		FARTarget  float64 `json:"far_target"`
		Decision   string  `json:"decision"`
	} `json:"match"`
	Liveness *struct {
		Score     float64 `json:"score"`
		Threshold float64 `json:"threshold"`
		Live      bool    `json:"live"`
	} `json:"liveness"`
	// Selfie and Reference say whether a still came turned
	// (engine/face.Analysis.Turned: the degrees clockwise it was turned to
	// find its face upright).
	Selfie    *turnedView    `json:"selfie"`
	Reference *turnedView    `json:"reference"`
	Challenge *challengeView `json:"challenge"`
	Problem   string         `json:"problem"`
}

type turnedView struct {
	Turned int `json:"turned"`
}

// challengeView is the active challenge's evidence
// (engine/verify.ChallengeReport): each frame that met a prompt against
// the selfie.
type challengeView struct {
	Threshold    float64              `json:"threshold"`
	SamePerson   bool                 `json:"same_person"`
	Reproduction bool                 `json:"reproduction"`
	Frames       []challengeFrameView `json:"frames"`
}

type challengeFrameView struct {
	Prompt     string  `json:"prompt"`
	FaceFound  bool    `json:"face_found"`
	Similarity float64 `json:"similarity"`
	Yaw        float64 `json:"yaw"`
	SamePerson bool    `json:"same_person"`
	TraceMass  float64 `json:"trace_mass"`
	// TraceScore is nil in the reports of engines that ran no trace check
	// on the challenge's frames: shown as not measured, not as a score 0.
	TraceScore   *float64 `json:"trace_score"`
	Reproduction bool     `json:"reproduction"`
}

// challengePrompts are the prompts the catalogues name (prompt.*); a frame
// named otherwise (kyc verify --challenge-frame's file) shows its name.
var challengePrompts = []string{"turn_left", "turn_right", "blink", "smile"}

// PromptKey is the catalogue key of the frame's prompt, "" for another name.
func (f challengeFrameView) PromptKey() string {
	if slices.Contains(challengePrompts, f.Prompt) {
		return "prompt." + f.Prompt
	}
	return ""
}

// Score is the frame's trace score; meaningful only with TraceScore set.
func (f challengeFrameView) Score() float64 {
	if f.TraceScore == nil {
		return 0
	}
	return *f.TraceScore
}

// Failed: the frame fails the challenge (no face, another person, or a
// reproduction's traces).
func (f challengeFrameView) Failed() bool { return !f.FaceFound || !f.SamePerson || f.Reproduction }

type screeningView struct {
	Screened bool      `json:"screened"`
	Name     string    `json:"name"`
	Hits     []hitView `json:"hits"`
}

type hitView struct {
	Name    string `json:"name"`
	List    string `json:"list"`
	EntryID string `json:"entry_id"`
	Kind    string `json:"kind"`
	Score   float64
	Matched []struct {
		Query string  `json:"query"`
		Entry string  `json:"entry"`
		Score float64 `json:"score"`
	} `json:"matched"`
	Alias   string `json:"alias"`
	DOB     string `json:"dob"`
	Country string `json:"country"`
}

type deviceView struct {
	Checks []struct {
		Name     string            `json:"name"`
		Status   string            `json:"status"`
		Severity string            `json:"severity"`
		Evidence map[string]string `json:"evidence"`
	} `json:"checks"`
	Verdict string    `json:"verdict"`
	Profile string    `json:"profile"`
	Time    time.Time `json:"time"`
	OS      string    `json:"os"`
	Arch    string    `json:"arch"`
}

type attestationView struct {
	DeviceID   string     `json:"device_id"`
	AppVersion string     `json:"app_version"`
	Nonce      string     `json:"nonce"`
	Report     deviceView `json:"report"`
}

// parsePayload reads a payload; a payload it cannot read gives a nil
// view (the case view then says so and shows what the summary has).
func parsePayload(raw []byte) *payloadView {
	if len(raw) == 0 {
		return nil
	}
	var p payloadView
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil
	}
	if p.Report != nil && p.Report.Device == nil && p.Attestation != nil {
		p.Report.Device = &p.Attestation.Report
	}
	return &p
}

// evidenceText writes a check's evidence compactly, keys sorted, for the
// evidence table (the drawable parts are also drawn: overlays).
func evidenceText(ev map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(ev))
	for k := range ev {
		if k == "heatmap" || k == "pairs" {
			continue // drawn, and too long to read as numbers
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		v := string(ev[k])
		if len(v) > 160 {
			v = v[:160] + "…"
		}
		out = append(out, k+": "+v)
	}
	return out
}

// shape is one piece of forensic evidence drawn over the document image,
// in the image's pixel coordinates.
type shape struct {
	Kind       string // rect, line, cell, poly
	X, Y, W, H float64
	X2, Y2     float64 // line end
	Points     string  // poly: "x,y x,y ..."
	Label      string  // the check's name
	Class      string  // region, source, target, pair, heat
	Opacity    float64
}

// overlays turns what the forensic checks report into shapes: regions,
// copy-move source/target and pairs, heatmap cells. A check that found
// nothing (score 1) draws nothing, and a heatmap is drawn only for a check
// that finds the page suspect (under 0.5): a clean page's noise map would
// only distract.
func overlays(checks []checkView) []shape {
	var out []shape
	for _, c := range checks {
		if !c.Applicable || c.Score >= 1 {
			continue
		}
		for key, raw := range c.Evidence {
			switch key {
			case "region", "source_region", "target_region", "portrait_region":
				var b boxView
				if json.Unmarshal(raw, &b) == nil && b.W > 0 && b.H > 0 {
					cls := strings.TrimSuffix(key, "_region")
					if cls == "portrait" {
						cls = "region"
					}
					out = append(out, shape{Kind: "rect", X: b.X, Y: b.Y, W: b.W, H: b.H, Label: c.Name, Class: cls})
				}
			case "pairs":
				var ps [][4]float64
				if json.Unmarshal(raw, &ps) == nil {
					for _, p := range ps {
						out = append(out, shape{Kind: "line", X: p[0], Y: p[1], X2: p[2], Y2: p[3], Label: c.Name, Class: "pair"})
					}
				}
			case "heatmap":
				if c.Score >= 0.5 {
					continue
				}
				var h struct {
					Region boxView   `json:"region"`
					Cols   int       `json:"cols"`
					Rows   int       `json:"rows"`
					Values []float64 `json:"values"`
				}
				if json.Unmarshal(raw, &h) != nil || h.Cols <= 0 || h.Rows <= 0 || len(h.Values) != h.Cols*h.Rows {
					continue
				}
				hi := 0.0
				for _, v := range h.Values {
					hi = max(hi, v)
				}
				if hi <= 0 {
					continue
				}
				cw, ch := h.Region.W/float64(h.Cols), h.Region.H/float64(h.Rows)
				for i, v := range h.Values {
					if v <= 0 {
						continue
					}
					out = append(out, shape{Kind: "cell", X: roundTenth(h.Region.X + float64(i%h.Cols)*cw), Y: roundTenth(h.Region.Y + float64(i/h.Cols)*ch),
						W: roundTenth(cw), H: roundTenth(ch), Label: c.Name, Class: "heat", Opacity: math.Round(60*v/hi) / 100})
				}
			}
		}
	}
	return out
}

func roundTenth(f float64) float64 { return math.Round(f*10) / 10 }

// pct100 writes a [0,1] value as a percentage.
func pct100(f float64) string { return fmt.Sprintf("%.1f%%", f*100) }
