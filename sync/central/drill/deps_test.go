package drill

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDrillLinksNoValidator: kyc-drill builds its submissions with
// sync/internal/testsub, not synctest, whose OpenAPI validator
// (partnerapi/apitest and libopenapi, 3.4 MiB) a drill has no use for.
func TestDrillLinksNoValidator(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/openkyc/kyc/cmd/kyc-drill").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "github.com/openkyc/kyc/sync/internal/synctest" || strings.HasSuffix(pkg, "/apitest") || strings.HasPrefix(pkg, "github.com/pb33f/") {
			t.Errorf("kyc-drill links %s", pkg)
		}
	}
}
