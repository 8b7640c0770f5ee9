package vault

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// benchPayload is a ~2 KB submission document.
func benchPayload(id string) []byte {
	return fmt.Appendf(nil, `{"id":%q,"form":{"full_name":"Benchmark Person","nik":"3171234567890123","address":%q},"checks":%q}`,
		id, strings.Repeat("Jl. Contoh No. 1, ", 40), strings.Repeat("liveness:0.97;", 80))
}

// benchPut measures PutSubmission end to end, fsync of every commit
// included (the per-submission durability guarantee costs exactly that).
func benchPut(b *testing.B, images map[string][]byte) {
	ctx := context.Background()
	v, err := Open(ctx, filepath.Join(b.TempDir(), "vault.db"), Passphrase(testPassphrase), Options{Argon2: fastArgon2})
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	var bytes int64
	for _, img := range images {
		bytes += int64(len(img))
	}
	b.SetBytes(bytes + int64(len(benchPayload("sub-000000"))))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		id := fmt.Sprintf("sub-%06d", i)
		if err := v.PutSubmission(ctx, Submission{ID: id, Payload: benchPayload(id), Images: images}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPutSubmission(b *testing.B) {
	benchPut(b, nil)
}

func BenchmarkPutSubmissionImage300KB(b *testing.B) {
	benchPut(b, map[string][]byte{"selfie": randomBytes(300 << 10)})
}

func BenchmarkGetSubmissionImage300KB(b *testing.B) {
	ctx := context.Background()
	v, err := Open(ctx, filepath.Join(b.TempDir(), "vault.db"), Passphrase(testPassphrase), Options{Argon2: fastArgon2})
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	if err := v.PutSubmission(ctx, Submission{ID: "s", Payload: benchPayload("s"), Images: map[string][]byte{"selfie": randomBytes(300 << 10)}}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := v.GetSubmission(ctx, "s"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenDefaultArgon2 is the unlock cost an operator waits for with
// the production KDF parameters.
func BenchmarkOpenDefaultArgon2(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "vault.db")
	v, err := Open(ctx, path, Passphrase(testPassphrase), Options{})
	if err != nil {
		b.Fatal(err)
	}
	v.Close()
	for b.Loop() {
		v, err := Open(ctx, path, Passphrase(testPassphrase), Options{})
		if err != nil {
			b.Fatal(err)
		}
		v.Close()
	}
}
