package console

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"testing"
)

// TestEveryEngineReasonCodeKnown: each reason code the risk engine
// declares is in the queue's filter with words for the reviewer (a code
// added to the engine alone reached reviewers bare).
func TestEveryEngineReasonCodeKnown(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "../../../engine/risk/reason.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	ast.Inspect(f, func(node ast.Node) bool {
		vs, ok := node.(*ast.ValueSpec)
		if !ok || vs.Type == nil || len(vs.Values) != 1 {
			return true
		}
		if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "ReasonCode" {
			return true
		}
		lit, ok := vs.Values[0].(*ast.BasicLit)
		if !ok {
			return true
		}
		code, err := strconv.Unquote(lit.Value)
		if err != nil {
			t.Fatal(err)
		}
		n++
		if !slices.Contains(reasonCodes, code) {
			t.Errorf("the engine's reason code %s is not in the console's reasonCodes", code)
		}
		return true
	})
	if n < 30 {
		t.Fatalf("read %d reason codes from the engine, want them all", n)
	}
}
