package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/openkyc/kyc/engine/device"
)

func TestRun(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, p := range []string{a, b} {
		if err := os.WriteFile(p, []byte("binary "+p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := run(ctx, true, []string{a}); err == nil {
		t.Error("-check passed an unsealed file")
	}
	if err := run(ctx, false, []string{a, b}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{a, b} {
		if st, err := device.VerifySeal(ctx, p); err != nil || st.State != device.SealValid {
			t.Errorf("%s: %+v %v", p, st, err)
		}
	}
	if err := run(ctx, true, []string{a, b}); err != nil {
		t.Errorf("-check on sealed files: %v", err)
	}
	if err := run(ctx, false, []string{filepath.Join(dir, "missing")}); err == nil {
		t.Error("sealing a missing file succeeded")
	}
}
