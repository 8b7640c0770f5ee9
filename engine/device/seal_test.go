package device

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "app")
	if err := os.WriteFile(p, []byte(content), 0o750); err != nil {
		t.Fatal(err)
	}
	return p
}

func verify(t *testing.T, path string) SealStatus {
	t.Helper()
	st, err := VerifySeal(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestSealRoundTrip(t *testing.T) {
	const content = "\x7fELF pretend binary"
	p := writeTemp(t, content)
	sum := sha256.Sum256([]byte(content))
	want := hex.EncodeToString(sum[:])

	if st := verify(t, p); st.State != SealAbsent || st.Digest != want || st.Recorded != "" {
		t.Fatalf("before sealing: %+v", st)
	}
	ctx := context.Background()
	if err := Seal(ctx, p); err != nil {
		t.Fatal(err)
	}
	if st := verify(t, p); st.State != SealValid || st.Digest != want || st.Recorded != want {
		t.Fatalf("after sealing: %+v", st)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != int64(len(content))+sealTrailerLen || fi.Mode().Perm() != 0o750 {
		t.Errorf("sealed file: size %d mode %v", fi.Size(), fi.Mode().Perm())
	}

	// Sealing again replaces the trailer instead of stacking a second one.
	if err := Seal(ctx, p); err != nil {
		t.Fatal(err)
	}
	if fi2, _ := os.Stat(p); fi2.Size() != fi.Size() {
		t.Errorf("resealing changed size %d -> %d", fi.Size(), fi2.Size())
	}
	if entries, _ := os.ReadDir(filepath.Dir(p)); len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestSealDetectsChanges(t *testing.T) {
	const content = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
	tests := []struct {
		name   string
		change func(b []byte) []byte
		want   SealState
	}{
		{"first byte", func(b []byte) []byte { b[0] ^= 1; return b }, SealBroken},
		{"last content byte", func(b []byte) []byte { b[len(content)-1] ^= 1; return b }, SealBroken},
		{"recorded hash", func(b []byte) []byte { b[len(content)] ^= 1; return b }, SealBroken},
		{"bytes inserted", func(b []byte) []byte { return append([]byte("x"), b...) }, SealBroken},
		{"bytes appended after the seal", func(b []byte) []byte { return append(b, 'x') }, SealAbsent},
		{"magic damaged", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, SealAbsent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeTemp(t, content)
			if err := Seal(context.Background(), p); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, tt.change(b), 0o644); err != nil {
				t.Fatal(err)
			}
			if st := verify(t, p); st.State != tt.want {
				t.Errorf("state %s, want %s", st.State, tt.want)
			}
		})
	}
}

func TestSealBadInput(t *testing.T) {
	ctx := context.Background()
	if err := Seal(ctx, writeTemp(t, "")); !errors.Is(err, ErrEmptyFile) {
		t.Errorf("empty file: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	if err := Seal(ctx, missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := VerifySeal(ctx, missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("verify missing file: %v", err)
	}
	// A file shorter than a trailer is simply unsealed.
	if st := verify(t, writeTemp(t, "abc")); st.State != SealAbsent {
		t.Errorf("short file: %s", st.State)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := VerifySeal(cancelled, writeTemp(t, "abc")); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled verify: %v", err)
	}
}
