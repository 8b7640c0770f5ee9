package central

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestBoxKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "box.key")
	k, err := LoadOrCreateBoxKey(path)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreateBoxKey(path)
	if err != nil || *again != *k {
		t.Fatalf("reloaded key differs: %v", err)
	}
	if k.Public == [32]byte{} || k.Public == k.Private {
		t.Error("public key not derived")
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateBoxKey(path); !errors.Is(err, ErrBadBoxKey) {
		t.Errorf("world-readable key file: %v, want ErrBadBoxKey", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.key")
	os.WriteFile(bad, []byte("garbage"), 0o600)
	if _, err := LoadOrCreateBoxKey(bad); !errors.Is(err, ErrBadBoxKey) {
		t.Errorf("garbage key file: %v, want ErrBadBoxKey", err)
	}
}
