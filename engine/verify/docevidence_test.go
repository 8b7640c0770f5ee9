package verify

import (
	"strings"
	"testing"

	"github.com/openkyc/kyc/engine/document"
	"github.com/openkyc/kyc/engine/document/forensics"
	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/risk"
)

// TestDocumentEvidence: the forensics report becomes findings at the
// calibration's operating points; only checks whose measured
// false-positive rate allows it reject, double compression and editing
// software never do, and each finding carries the check's numbers.
func TestDocumentEvidence(t *testing.T) {
	cal := forensics.Calibration{
		forensics.CheckCopyMove:   {Cut: 0.5, GenuineFPR: 0, N: 100, Rejects: true},
		forensics.CheckELA:        {Cut: 0.2, GenuineFPR: 0.04, N: 100},
		forensics.CheckDoubleJPEG: {Cut: 0.5, GenuineFPR: 0, N: 100}, // rejects false: ReviewOnly
		forensics.CheckMetadata:   {Cut: 0.5, GenuineFPR: 0, N: 100},
		forensics.CheckScreen:     {Cut: 0.5, GenuineFPR: 0.03, N: 100},
		forensics.CheckPrint:      {Cut: 0.5, GenuineFPR: 0, N: 100, Rejects: true},
	}
	check := func(name string, score float64) forensics.Check {
		return forensics.Check{Name: name, Score: score, Applicable: true, Evidence: map[string]any{"mass": 31.5, "region": forensics.Region{X: 1, Y: 2, W: 3, H: 4}}}
	}
	doc := func(auth []forensics.Check, live []forensics.Check) *document.Result {
		return &document.Result{Forensics: forensics.Authenticity{Score: 0, Checks: auth}, Liveness: forensics.Liveness{Score: 0, Checks: live}}
	}
	tests := []struct {
		name      string
		doc       *document.Result
		want      []risk.DocFinding // Evidence checked for the numbers only
		auth      float64
		live      float64
		route     risk.Decision
		leadCode  risk.ReasonCode
		evidences []string
	}{
		{name: "nothing fires", doc: doc([]forensics.Check{check(forensics.CheckCopyMove, 0.9), check(forensics.CheckELA, 0.3)}, nil),
			auth: 0.9, live: 1, route: risk.Approve},
		{name: "double compression alone", doc: doc([]forensics.Check{check(forensics.CheckDoubleJPEG, 0)}, nil),
			want: []risk.DocFinding{{Check: forensics.CheckDoubleJPEG, Kind: risk.DocFindingTamper}}, auth: 1, live: 1,
			route: risk.Review, leadCode: risk.DocTamperSuspected, evidences: []string{"jpeg_double_compression score 0.000", "mass 31.5", "region 1,2 3x4", "(review only: a weak or indirect signal"}},
		{name: "editing software alone", doc: doc([]forensics.Check{check(forensics.CheckMetadata, 0)}, nil),
			want: []risk.DocFinding{{Check: forensics.CheckMetadata, Kind: risk.DocFindingTamper}}, auth: 1, live: 1,
			route: risk.Review, leadCode: risk.DocTamperSuspected},
		{name: "noisy ELA below its cut: review", doc: doc([]forensics.Check{check(forensics.CheckELA, 0.1)}, nil),
			want: []risk.DocFinding{{Check: forensics.CheckELA, Kind: risk.DocFindingTamper}}, auth: 1, live: 1,
			route: risk.Review, leadCode: risk.DocTamperSuspected, evidences: []string{"4.0% of 100 genuine", "(review only: flags 4.0% of genuine documents, over the 1% a rejecting check may)"}},
		{name: "copy-move may reject", doc: doc([]forensics.Check{check(forensics.CheckCopyMove, 0.1), check(forensics.CheckDoubleJPEG, 0)}, nil),
			want: []risk.DocFinding{{Check: forensics.CheckCopyMove, Kind: risk.DocFindingTamper, Rejects: true}, {Check: forensics.CheckDoubleJPEG, Kind: risk.DocFindingTamper}},
			auth: 0.1, live: 1, route: risk.Reject, leadCode: risk.DocTampered, evidences: []string{"copy_move score 0.100 (fires below 0.500)"}},
		{name: "noisy screen check: review", doc: doc(nil, []forensics.Check{check(forensics.CheckScreen, 0.2)}),
			want: []risk.DocFinding{{Check: forensics.CheckScreen, Kind: risk.DocFindingScreen}}, auth: 1, live: 1,
			route: risk.Review, leadCode: risk.DocReproductionSuspected},
		{name: "print may reject", doc: doc(nil, []forensics.Check{check(forensics.CheckPrint, 0.2)}),
			want: []risk.DocFinding{{Check: forensics.CheckPrint, Kind: risk.DocFindingPrint, Rejects: true}}, auth: 1, live: 0.2,
			route: risk.Reject, leadCode: risk.DocPrintedCopy},
		{name: "a check not calibrated yet: review only at 0.5", doc: doc([]forensics.Check{check("portrait_new_check", 0.1)}, nil),
			want: []risk.DocFinding{{Check: "portrait_new_check", Kind: risk.DocFindingTamper}}, auth: 1, live: 1,
			route: risk.Review, leadCode: risk.DocTamperSuspected, evidences: []string{"(review only: not calibrated yet)"}},
		{name: "not applicable is silent", doc: doc([]forensics.Check{{Name: forensics.CheckCopyMove, Score: 0}}, nil),
			auth: 1, live: 1, route: risk.Approve},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := goodStages()
			st.doc.Forensics, st.doc.Liveness = tt.doc.Forensics, tt.doc.Liveness
			st.calibration = cal
			in, _, err := riskInput(st, face.DefaultMatcher(), DefaultConfirmScore, 1, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(in.DocFindings) != len(tt.want) {
				t.Fatalf("findings %+v, want %+v", in.DocFindings, tt.want)
			}
			for i, f := range in.DocFindings {
				w := tt.want[i]
				if f.Check != w.Check || f.Kind != w.Kind || f.Rejects != w.Rejects {
					t.Errorf("finding %d = %+v, want %+v", i, f, w)
				}
			}
			if g := in.Signals[risk.DocAuthenticity]; g < tt.auth-1e-9 || g > tt.auth+1e-9 {
				t.Errorf("doc_authenticity %v, want %v", g, tt.auth)
			}
			if g := in.Signals[risk.DocLiveness]; g < tt.live-1e-9 || g > tt.live+1e-9 {
				t.Errorf("doc_liveness %v, want %v", g, tt.live)
			}
			if in.DocAttack != risk.DocAttackNone {
				t.Errorf("doc_attack %q: the findings name attacks", in.DocAttack)
			}
			res, err := risk.Evaluate(risk.DefaultConfig(), in)
			if err != nil {
				t.Fatal(err)
			}
			if res.Decision != tt.route {
				t.Errorf("decision %s, want %s (%v)", res.Decision, tt.route, res.Reasons)
			}
			if tt.leadCode != "" {
				if res.Reasons[0].Code != tt.leadCode {
					t.Errorf("reasons %v, want %s first", res.Reasons, tt.leadCode)
				}
				for _, e := range tt.evidences {
					if !strings.Contains(res.Reasons[0].Detail, e) {
						t.Errorf("detail %q, want %q in it", res.Reasons[0].Detail, e)
					}
				}
			}
		})
	}
}

// TestDefaultCalibrationRules: the shipped operating points keep the rules
// of issue 16 whatever the fit measured.
func TestDefaultCalibrationRules(t *testing.T) {
	for name, cc := range forensics.DefaultCalibration() {
		if cc.Rejects && (cc.GenuineFPR > forensics.RejectMaxFPR || name == forensics.CheckDoubleJPEG || name == forensics.CheckMetadata) {
			t.Errorf("%s may reject with %.1f%% false positives", name, 100*cc.GenuineFPR)
		}
		if cc.Cut > 0.5 || cc.Cut < 0 {
			t.Errorf("%s: cut %v outside [0, 0.5]", name, cc.Cut)
		}
	}
}
