package vault

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// fastArgon2 keeps tests quick; never for a real vault.
var fastArgon2 = Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}

const testPassphrase = "correct horse battery staple"

// fakeClock is an injectable clock tests can move.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// openTest opens (creating) a passphrase vault in a fresh directory.
func openTest(t *testing.T, opts Options) *Vault {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "vault.db"), Passphrase(testPassphrase), opts)
}

func openAt(t *testing.T, path string, key KeySource, opts Options) *Vault {
	t.Helper()
	if opts.Argon2 == (Argon2Params{}) {
		opts.Argon2 = fastArgon2
	}
	v, err := Open(context.Background(), path, key, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// newKeyFile provisions a key file in dir with GenerateKeyFile.
func newKeyFile(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := GenerateKeyFile(p); err != nil {
		t.Fatalf("GenerateKeyFile: %v", err)
	}
	return p
}

// testSubmission builds a submission whose content is a pure function of id,
// so another process (or a later check) can regenerate and compare it.
func testSubmission(id string, imageSize int) Submission {
	s := Submission{
		ID:        id,
		CreatedAt: time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC),
		Payload:   fmt.Appendf(nil, `{"id":%q,"form":{"full_name":"Test Person %s","doc_type":"KTP"}}`, id, id),
	}
	if imageSize > 0 {
		s.Images = map[string][]byte{"selfie": derivedBytes("selfie/"+id, imageSize), "document": derivedBytes("doc/"+id, imageSize)}
	}
	return s
}

// derivedBytes expands seed into n pseudo-random bytes.
func derivedBytes(seed string, n int) []byte {
	out := make([]byte, 0, n+sha256.Size)
	block := sha256.Sum256([]byte(seed))
	for len(out) < n {
		out = append(out, block[:]...)
		block = sha256.Sum256(block[:])
	}
	return out[:n]
}

func assertSameSubmission(t *testing.T, got, want Submission) {
	t.Helper()
	if got.ID != want.ID || !got.CreatedAt.Equal(want.CreatedAt) || !bytes.Equal(got.Payload, want.Payload) {
		t.Fatalf("submission %s: got id=%q created=%v payload=%q", want.ID, got.ID, got.CreatedAt, got.Payload)
	}
	if len(got.Images) != len(want.Images) {
		t.Fatalf("submission %s: %d images, want %d", want.ID, len(got.Images), len(want.Images))
	}
	for name, img := range want.Images {
		if !bytes.Equal(got.Images[name], img) {
			t.Fatalf("submission %s: image %q differs", want.ID, name)
		}
	}
}

// rawFile reads the vault file as an attacker who copied the disk would.
func rawFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawUpdate edits the open vault's bbolt file directly, bypassing all
// encryption, to play an attacker with write access to the disk.
func rawUpdate(t *testing.T, v *Vault, fn func(tx *bbolt.Tx) error) {
	t.Helper()
	if err := v.db.Update(fn); err != nil {
		t.Fatalf("raw edit: %v", err)
	}
}

func rawGet(t *testing.T, v *Vault, bucket string, key []byte) []byte {
	t.Helper()
	var out []byte
	if err := v.db.View(func(tx *bbolt.Tx) error {
		out = clone(tx.Bucket([]byte(bucket)).Get(key))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if out == nil {
		t.Fatalf("no raw value in %s", bucket)
	}
	return out
}
