// Package testenv finds the shared test data and model mirror that live
// outside the repository (../shared beside the checkout by default).
// Tests fail, rather than skip, when the data is missing: a test that
// silently skips proves nothing.
package testenv

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/openkyc/kyc/engine/ort"
	"github.com/openkyc/kyc/models"
)

// SharedEnv names the environment variable that overrides the shared folder.
const SharedEnv = "KYC_SHARED_DIR"

// SharedDir returns the shared folder: $KYC_SHARED_DIR, or ../shared beside
// the module root. It returns "" when neither exists.
func SharedDir() string {
	if d := os.Getenv(SharedEnv); d != "" {
		return d
	}
	root, ok := ModuleRoot()
	if !ok {
		return ""
	}
	d := filepath.Join(filepath.Dir(root), "shared")
	if _, err := os.Stat(d); err != nil {
		return ""
	}
	return d
}

// ModuleRoot walks up from the working directory to the folder holding go.mod.
func ModuleRoot() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// Data returns the path of elem inside the shared data folder, failing the
// test when it does not exist.
func Data(t testing.TB, elem ...string) string {
	t.Helper()
	return shared(t, append([]string{"data"}, elem...)...)
}

// Mirror returns the path of elem inside the shared model mirror.
func Mirror(t testing.TB, elem ...string) string {
	t.Helper()
	return shared(t, append([]string{"models"}, elem...)...)
}

func shared(t testing.TB, elem ...string) string {
	t.Helper()
	dir := SharedDir()
	if dir == "" {
		t.Fatalf("shared folder not found: set %s or place it at ../shared beside the checkout", SharedEnv)
	}
	p := filepath.Join(append([]string{dir}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("shared test input missing: %v", err)
	}
	return p
}

// installed is the store of installed models, opened once per test binary:
// hashing every model for every test would dominate the run time.
var installed = sync.OnceValues(models.DefaultStore)

// Model returns the verified path of an installed model, failing the test
// when it is missing or corrupt (run `make setup`).
func Model(t testing.TB, name string) string {
	t.Helper()
	s, err := installed()
	if err != nil {
		t.Fatalf("model store: %v", err)
	}
	p, err := s.Path(name)
	if err != nil {
		t.Fatalf("model %s: %v (run `make setup` to install models)", name, err)
	}
	return p
}

// ORT initialises ONNX Runtime from the installed library (idempotent).
func ORT(t testing.TB) {
	t.Helper()
	s, err := installed()
	if err != nil {
		t.Fatalf("model store: %v", err)
	}
	lib, err := s.RuntimeLibrary()
	if err != nil {
		t.Fatalf("onnxruntime: %v (run `make setup`)", err)
	}
	if err := ort.Init(lib); err != nil {
		t.Fatalf("onnxruntime: %v", err)
	}
}
