package verify

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/openkyc/kyc/engine/device"
	"github.com/openkyc/kyc/engine/document"
	"github.com/openkyc/kyc/engine/document/fields"
	"github.com/openkyc/kyc/engine/document/forensics"
	"github.com/openkyc/kyc/engine/document/mrz"
	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/engine/screening"
)

// emb is the selfie's embedding, and the portrait's when they match.
var emb = face.Embedding{0.6, 0.8, 0}

// goodStages is a verification whose every stage went well: a live,
// usable selfie whose embedding equals the portrait's, a readable KTP
// without traces of tampering or reproduction, screened without hits, on a
// device that passed its check.
func goodStages() stageResults {
	return stageResults{
		doc: &document.Result{
			Type:      fields.TypeKTP,
			Fields:    map[string]fields.Field{fields.FieldExpiryDate: {Value: fields.Lifetime}},
			NIK:       &fields.NIK{Valid: true},
			Forensics: forensics.Authenticity{Score: 0.9},
			Liveness:  forensics.Liveness{Score: 0.8},
		},
		dev:       &device.Report{Verdict: device.VerdictOK},
		selfie:    face.Analysis{Embedding: emb, Quality: face.Quality{OK: true}},
		live:      face.LivenessResult{Score: 0.97, Threshold: 0.5, Live: true},
		ref:       face.Analysis{Embedding: emb},
		refOK:     true,
		screening: ScreeningReport{Screened: true, Name: "SITI", Hits: []screening.Hit{}},
	}
}

func TestRiskInput(t *testing.T) {
	matcher := face.DefaultMatcher()
	differ := face.Embedding{0, 0, 1}
	same := matcher.Decide(face.Cosine(emb, emb)).Score
	machinery := errors.New("session closed")
	tests := []struct {
		name      string
		mod       func(*stageResults)
		challenge risk.ChallengeOutcome
		// want is the expected input; Attempt and LivenessChallenge are
		// filled in from the case.
		want    risk.Input
		problem string
		err     error
	}{
		{
			name: "all good",
			want: risk.Input{Signals: map[risk.SignalName]float64{risk.FaceLiveness: 0.97, risk.FaceMatch: same,
				risk.DocAuthenticity: 0.9, risk.DocLiveness: 0.8, risk.DataChecks: 1, risk.Sanctions: 1, risk.DeviceIntegrity: 1}, Device: risk.DeviceOK},
		},
		{
			name:      "challenge outcome passed on",
			challenge: risk.ChallengePassed,
			mod:       func(s *stageResults) { s.live.Score = 0.3 },
			want: risk.Input{Signals: map[risk.SignalName]float64{risk.FaceLiveness: 0.3, risk.FaceMatch: same,
				risk.DocAuthenticity: 0.9, risk.DocLiveness: 0.8, risk.DataChecks: 1, risk.Sanctions: 1, risk.DeviceIntegrity: 1}, Device: risk.DeviceOK},
		},
		{
			name: "no face in the selfie: no face signals",
			mod:  func(s *stageResults) { s.selfieErr = face.ErrNoFace },
			want: risk.Input{Signals: map[risk.SignalName]float64{risk.DocAuthenticity: 0.9, risk.DocLiveness: 0.8, risk.DataChecks: 1,
				risk.Sanctions: 1, risk.DeviceIntegrity: 1}, Device: risk.DeviceOK, CaptureIssues: []risk.CaptureIssue{risk.CaptureNoFace}},
			problem: "no face in the selfie",
		},
		{
			name: "two people in the selfie",
			mod:  func(s *stageResults) { s.selfieErr = face.ErrMultipleFaces },
			want: risk.Input{Signals: map[risk.SignalName]float64{risk.DocAuthenticity: 0.9, risk.DocLiveness: 0.8, risk.DataChecks: 1,
				risk.Sanctions: 1, risk.DeviceIntegrity: 1}, Device: risk.DeviceOK, CaptureIssues: []risk.CaptureIssue{risk.CaptureMultipleFaces}},
			problem: "several faces in the selfie",
		},
		{
			name: "blurred selfie, another person's portrait",
			mod: func(s *stageResults) {
				s.selfie.Quality = face.Quality{Failures: []string{face.FailBlurry}}
				s.ref.Embedding = differ
			},
			want: risk.Input{Signals: map[risk.SignalName]float64{risk.FaceLiveness: 0.97, risk.FaceMatch: matcher.Decide(face.Cosine(emb, differ)).Score,
				risk.DocAuthenticity: 0.9, risk.DocLiveness: 0.8, risk.DataChecks: 1, risk.Sanctions: 1, risk.DeviceIntegrity: 1},
				Device: risk.DeviceOK, CaptureIssues: []risk.CaptureIssue{risk.CaptureSelfieQuality}},
		},
		{
			name: "no portrait on the document: no match signal",
			mod:  func(s *stageResults) { s.refOK = false },
			want: risk.Input{Signals: map[risk.SignalName]float64{risk.FaceLiveness: 0.97, risk.DocAuthenticity: 0.9, risk.DocLiveness: 0.8,
				risk.DataChecks: 1, risk.Sanctions: 1, risk.DeviceIntegrity: 1}, Device: risk.DeviceOK},
			problem: "no portrait found on the document",
		},
		{
			name: "screen replay of an expired passport, one MRZ mismatch",
			mod: func(s *stageResults) {
				s.doc = &document.Result{Type: fields.TypePassport, Expired: true, MRZ: &mrz.Result{ValidScore: 100},
					Fields:     map[string]fields.Field{fields.FieldExpiryDate: {Value: "2020-01-01"}},
					Mismatches: []fields.Mismatch{{Field: fields.FieldSurname}},
					Forensics:  forensics.Authenticity{Score: 1}, Liveness: forensics.Liveness{Score: 0.1, Attack: forensics.AttackScreen}}
			},
			want: risk.Input{Signals: map[risk.SignalName]float64{risk.FaceLiveness: 0.97, risk.FaceMatch: same, risk.DocAuthenticity: 1,
				risk.DocLiveness: 0.1, risk.DataChecks: 2.0 / 3, risk.Sanctions: 1, risk.DeviceIntegrity: 1},
				Device: risk.DeviceOK, DocAttack: risk.DocAttackScreen, DocExpired: true},
		},
		{
			name: "photocopy counts as print; nothing readable",
			mod: func(s *stageResults) {
				s.doc = &document.Result{Type: fields.TypeUnknown, Liveness: forensics.Liveness{Score: 0.2, Attack: forensics.AttackPhotocopy},
					Forensics: forensics.Authenticity{Score: 1}}
			},
			want: risk.Input{Signals: map[risk.SignalName]float64{risk.FaceLiveness: 0.97, risk.FaceMatch: same, risk.DocAuthenticity: 1,
				risk.DocLiveness: 0.2, risk.Sanctions: 1, risk.DeviceIntegrity: 1},
				Device: risk.DeviceOK, DocAttack: risk.DocAttackPrint, CaptureIssues: []risk.CaptureIssue{risk.CaptureDocQuality}},
		},
		{
			name: "one confirmed and one potential hit, warned device",
			mod: func(s *stageResults) {
				s.screening.Hits = []screening.Hit{{Score: 0.99}, {Score: 0.8}}
				s.dev = &device.Report{Verdict: device.VerdictWarn}
			},
			want: risk.Input{Signals: map[risk.SignalName]float64{risk.FaceLiveness: 0.97, risk.FaceMatch: same, risk.DocAuthenticity: 0.9,
				risk.DocLiveness: 0.8, risk.DataChecks: 1, risk.Sanctions: 0, risk.DeviceIntegrity: 0.5},
				Device: risk.DeviceWarn, WatchlistHits: 1, WatchlistPotentialMatches: 1},
		},
		{
			name: "not screened, no device check",
			mod: func(s *stageResults) {
				s.screening = ScreeningReport{Hits: []screening.Hit{}}
				s.dev = nil
			},
			want: risk.Input{Signals: map[risk.SignalName]float64{risk.FaceLiveness: 0.97, risk.FaceMatch: same, risk.DocAuthenticity: 0.9,
				risk.DocLiveness: 0.8, risk.DataChecks: 1}},
		},
		{
			name: "document photo too small to read",
			mod: func(s *stageResults) {
				s.doc, s.docUnread = &document.Result{Type: fields.TypeUnknown}, true
				s.refOK = false
			},
			want: risk.Input{Signals: map[risk.SignalName]float64{risk.FaceLiveness: 0.97, risk.Sanctions: 1, risk.DeviceIntegrity: 1},
				Device: risk.DeviceOK, CaptureIssues: []risk.CaptureIssue{risk.CaptureDocQuality}},
			problem: "no portrait found on the document",
		},
		{
			name: "holder's age, vouched",
			mod:  func(s *stageResults) { s.doc.Age = &fields.Age{Years: 16, Vouched: true} },
			want: risk.Input{Signals: map[risk.SignalName]float64{risk.FaceLiveness: 0.97, risk.FaceMatch: same, risk.DocAuthenticity: 0.9,
				risk.DocLiveness: 0.8, risk.DataChecks: 1, risk.Sanctions: 1, risk.DeviceIntegrity: 1}, Device: risk.DeviceOK,
				HolderAge: &risk.HolderAge{Years: 16, Vouched: true}},
		},
		{
			name: "blocked device",
			mod:  func(s *stageResults) { s.dev = &device.Report{Verdict: device.VerdictBlock} },
			want: risk.Input{Signals: map[risk.SignalName]float64{risk.FaceLiveness: 0.97, risk.FaceMatch: same, risk.DocAuthenticity: 0.9,
				risk.DocLiveness: 0.8, risk.DataChecks: 1, risk.Sanctions: 1, risk.DeviceIntegrity: 0}, Device: risk.DeviceBlock},
		},
		{name: "selfie analysis failed", mod: func(s *stageResults) { s.selfieErr = machinery }, err: machinery},
		{name: "liveness failed", mod: func(s *stageResults) { s.liveErr = machinery }, err: machinery},
		{name: "portrait analysis failed", mod: func(s *stageResults) { s.refErr = machinery }, err: machinery},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := goodStages()
			if tt.mod != nil {
				tt.mod(&st)
			}
			got, rep, err := riskInput(st, matcher, DefaultConfirmScore, 2, tt.challenge)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Attempt, tt.want.LivenessChallenge = 2, tt.challenge
			for k, v := range got.Signals {
				if w, ok := tt.want.Signals[k]; ok && max(v-w, w-v) < 1e-12 {
					got.Signals[k] = w // fractions may differ in the last bit
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("input\n got %+v\nwant %+v", got, tt.want)
			}
			if rep.Problem != tt.problem {
				t.Errorf("problem %q, want %q", rep.Problem, tt.problem)
			}
			// The report carries what the input was made of.
			if _, ok := got.Signals[risk.FaceMatch]; ok != (rep.Match != nil && rep.Reference != nil) {
				t.Errorf("match signal %v, report match %+v", ok, rep.Match)
			}
			if _, ok := got.Signals[risk.FaceLiveness]; ok != (rep.Liveness != nil && rep.Selfie != nil) {
				t.Errorf("liveness signal %v, report liveness %+v", ok, rep.Liveness)
			}
			// Each input is a valid one for the risk engine.
			if _, err := risk.Evaluate(risk.DefaultConfig(), got); err != nil {
				t.Errorf("risk.Evaluate: %v", err)
			}
			if slices.Contains(got.CaptureIssues, "") {
				t.Errorf("empty capture issue in %v", got.CaptureIssues)
			}
		})
	}
}
