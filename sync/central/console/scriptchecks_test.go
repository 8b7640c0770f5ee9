package console

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openkyc/kyc/internal/browsertest"
)

// ScriptCheck is one check a browser script reports.
type ScriptCheck struct {
	Name, Detail string
	Pass         bool
}

// RunBrowserChecks (exported for the package's external tests) runs web/e2e/<script> (under the module root) with env, answers
// its requests with answer (nil: it makes none), reports each failed check
// and a script that stopped, and returns the checks its last line lists,
// for the caller to count.
func RunBrowserChecks(t *testing.T, ctx context.Context, root, script string, env []string, answer func(req string) string) []ScriptCheck {
	t.Helper()
	if answer == nil {
		answer = func(string) string { return `{"error":"no requests"}` }
	}
	var last string
	stderr, err := browsertest.RunScript(t, ctx, filepath.Join(root, "sync", "central", "console", "web", "e2e", script), env, answer,
		func(line string) {
			if strings.TrimSpace(line) != "" {
				last = line
			}
		})
	if err != nil {
		t.Errorf("%s: %v\n%s", script, err, stderr)
	}
	var res struct {
		Checks []ScriptCheck `json:"checks"`
		Error  string        `json:"error"`
	}
	if err := json.Unmarshal([]byte(last), &res); err != nil {
		t.Fatalf("%s output %q: %v\n%s", script, last, err, stderr)
	}
	if res.Error != "" {
		t.Errorf("%s stopped: %s", script, res.Error)
	}
	for _, c := range res.Checks {
		t.Logf("%t: %s", c.Pass, c.Name)
		if !c.Pass {
			t.Errorf("%s: %s", c.Name, c.Detail)
		}
	}
	return res.Checks
}
