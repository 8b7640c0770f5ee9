package risk

import (
	"errors"
	"strings"
	"testing"
)

func findings(fs ...DocFinding) func(*Input) {
	return func(in *Input) { in.DocFindings = append(in.DocFindings, fs...) }
}

// TestDocFindings: a document check that fired rejects only when its
// measured false-positive rate allows; otherwise it caps at review. Either
// way the reason names the check and carries its evidence.
func TestDocFindings(t *testing.T) {
	dq := DocFinding{Check: "jpeg_double_compression", Kind: DocFindingTamper, Evidence: "jpeg_double_compression score 0.000 (fires below 0.500): excess 2.4"}
	meta := DocFinding{Check: "editing_software", Kind: DocFindingTamper, Evidence: `editing_software score 0.000 (fires below 0.500): editors [Adobe Photoshop]`}
	copyMove := DocFinding{Check: "copy_move", Kind: DocFindingTamper, Rejects: true, Evidence: "copy_move score 0.000 (fires below 0.500): pairs 41"}
	screenNoisy := DocFinding{Check: "screen_replay", Kind: DocFindingScreen, Evidence: "screen_replay score 0.200 (fires below 0.500): prominence 11"}
	print := DocFinding{Check: "printed_copy", Kind: DocFindingPrint, Rejects: true, Evidence: "printed_copy score 0.100 (fires below 0.500): luma_mass 40"}
	screen := DocFinding{Check: "screen_replay", Kind: DocFindingScreen, Rejects: true, Evidence: "screen_replay score 0.100 (fires below 0.500): prominence 14"}
	tests := []struct {
		name   string
		in     Input
		want   route
		lead   ReasonCode
		detail string // in the lead's detail
	}{
		{"double compression alone: review", clean(findings(dq)), inReview, DocTamperSuspected, "excess 2.4"},
		{"editing software alone: review", clean(findings(meta)), inReview, DocTamperSuspected, "Adobe Photoshop"},
		{"both, still review", clean(findings(dq, meta)), inReview, DocTamperSuspected, "jpeg_double_compression"},
		{"a noisy screen check: review", clean(findings(screenNoisy)), inReview, DocReproductionSuspected, "prominence 11"},
		{"a check that may reject: reject", clean(findings(dq, copyMove)), finalReject, DocTampered, "copy_move fired: copy_move score 0.000"},
		{"print that may reject", clean(findings(print)), finalReject, DocPrintedCopy, "luma_mass 40"},
		{"screen that may reject", clean(findings(screen)), finalReject, DocScreenReplay, "prominence 14"},
		// The finding replaces the generic rule of its kind: one reason.
		{"no duplicate tamper reason", clean(findings(copyMove), set(DocAuthenticity, 0.2)), finalReject, DocTampered, "copy_move"},
		{"no duplicate attack reason", clean(findings(screen), docAttack(DocAttackScreen)), finalReject, DocScreenReplay, "screen_replay"},
		// A review-only finding does not keep the generic rule from
		// rejecting on a low signal (the caller's business to set it).
		{"review finding beside a low signal", clean(findings(dq), set(DocAuthenticity, 0.2)), finalReject, DocTampered, "doc_authenticity 0.200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := evaluate(t, DefaultConfig(), tt.in)
			if got := routeOf(res); got != tt.want {
				t.Errorf("route = %+v, want %+v (reasons %v)", got, tt.want, res.Reasons)
			}
			if len(res.Reasons) == 0 || res.Reasons[0].Code != tt.lead {
				t.Fatalf("reasons = %v, want %s first", res.Reasons, tt.lead)
			}
			if !strings.Contains(res.Reasons[0].Detail, tt.detail) {
				t.Errorf("detail %q, want it to contain %q", res.Reasons[0].Detail, tt.detail)
			}
			n := 0
			for _, r := range res.Reasons {
				if r.Code == tt.lead {
					n++
				}
			}
			if want := countLead(tt.in, tt.lead); n != want {
				t.Errorf("%s listed %d times, want %d: %v", tt.lead, n, want, res.Reasons)
			}
		})
	}
}

// countLead is how many reasons of code the findings make (one each).
func countLead(in Input, code ReasonCode) int {
	n := 0
	for _, f := range in.DocFindings {
		switch {
		case code == DocTamperSuspected && !f.Rejects && f.Kind == DocFindingTamper,
			code == DocReproductionSuspected && !f.Rejects && f.Kind != DocFindingTamper,
			code == DocTampered && f.Rejects && f.Kind == DocFindingTamper,
			code == DocScreenReplay && f.Rejects && f.Kind == DocFindingScreen,
			code == DocPrintedCopy && f.Rejects && f.Kind == DocFindingPrint:
			n++
		}
	}
	return max(n, 1)
}

func TestDocFindingsInvalid(t *testing.T) {
	for _, f := range []DocFinding{{Check: "x", Kind: "weird"}, {Kind: DocFindingTamper}} {
		if _, err := Evaluate(DefaultConfig(), clean(findings(f))); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%+v: err %v, want ErrInvalidInput", f, err)
		}
	}
}
