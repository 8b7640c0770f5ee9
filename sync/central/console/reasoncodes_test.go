package console

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestEveryEngineReasonCodeKnown: each reason code the risk engine
// declares is in the queue's filter with words for the reviewer (a code
// added to the engine alone reached reviewers bare); so is each central
// declares for a device decision it does not trust (central.Reason*).
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
	central := centralReasonCodes(t)
	if len(central) < 5 {
		t.Fatalf("read %d reason codes from central (%v), want them all", len(central), central)
	}
	for _, code := range central {
		if !slices.Contains(distrustCodes, code) {
			t.Errorf("central's reason code %s is not in the console's distrustCodes", code)
		}
	}
}

// centralReasonCodes are the string constants named Reason... that
// package central declares.
func centralReasonCodes(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../*.go")
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(node ast.Node) bool {
			vs, ok := node.(*ast.ValueSpec)
			if !ok || len(vs.Names) != 1 || len(vs.Values) != 1 || !strings.HasPrefix(vs.Names[0].Name, "Reason") {
				return true
			}
			if lit, ok := vs.Values[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				code, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				codes = append(codes, code)
			}
			return true
		})
	}
	return codes
}
